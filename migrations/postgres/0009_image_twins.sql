-- Twins: photos whose scrubbed bytes are identical (the same picture uploaded again with other
-- metadata) are found by blake3 whenever an image is retired, so a deletion reaches every copy.
CREATE INDEX photos_blake3 ON photos (blake3);

-- Personal data kept only as long as it is needed (issue 14).

-- The date a learner left, as the MIS gives it (ISO 8601, compared as text): from that day their
-- photos are held for new use, and the retention rules count from it.
ALTER TABLE learners ADD COLUMN left_on TEXT;
CREATE INDEX learners_left_on ON learners (left_on) WHERE left_on IS NOT NULL;

-- When any purpose of a photo first reached the queue: `held_photo` deletes only images that
-- never did. Photos on record already count as released when any purpose is past `held` now or a
-- publication was ever recorded (a photo queued once and held again since cannot be told apart
-- from one never queued; counting it released keeps its image, the safe side of the doubt).
ALTER TABLE photos ADD COLUMN first_released_at INTEGER;
UPDATE photos SET first_released_at = created_at
WHERE id IN (SELECT photo_id FROM photo_purposes WHERE state <> 'held')
   OR id IN (SELECT photo_id FROM publications);
CREATE INDEX photos_never_released ON photos (created_at) WHERE first_released_at IS NULL AND image_deleted_at IS NULL;

-- Why an image was deleted: NULL when a tagged learner's own "no" made it unusable (its twins go
-- with it), otherwise the retention rule that deleted it (`held_photo`, `after_leaving`), which
-- concerns that photo alone.
ALTER TABLE photos ADD COLUMN image_deleted_rule TEXT;

-- Erasure (on request): `erasure_started_at` marks an erasure under way, which the maintenance loop
-- finishes if it was cut short; `erased_at` is set in the transaction that replaces the learner's
-- personal data with a tombstone. The reason is the admin's, refused when it names the learner.
ALTER TABLE learners ADD COLUMN erasure_started_at INTEGER;
ALTER TABLE learners ADD COLUMN erasure_reason TEXT;
ALTER TABLE learners ADD COLUMN erased_at INTEGER;
CREATE INDEX learners_erasure_under_way ON learners (erasure_started_at) WHERE erasure_started_at IS NOT NULL AND erased_at IS NULL;

-- A recipient whose address refused a message for good is not reminded at that address again.
CREATE INDEX outbox_recipient ON outbox (recipient_id, state);

-- A subject access export reads the audit rows about a learner and their photos.
CREATE INDEX audit_log_subject ON audit_log (subject, seq);

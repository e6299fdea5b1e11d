//! PNG scrubbing: critical and colour chunks are copied, every other chunk is dropped.

use std::collections::BTreeSet;

use super::parts::{be32, clean_profile};
use super::parts::{Removed, Scrubbed};
use crate::media::error::MediaError;
use crate::media::icc;
use crate::media::limits::Limits;
use crate::media::orient::Orientation;
use crate::media::orient::{inspect_exif, orientation_only_tiff, orientation_to_keep};
use crate::media::sniff::Format;
use crate::media::sniff::PNG_SIGNATURE;

const FORMAT: &str = "png";

/// Chunks that carry colour information needed to show the pixels as intended. `cICP`, `mDCV` and
/// `cLLI` (PNG third edition) describe colour space and HDR mastering and hold no free text.
const COLOUR_CHUNKS: &[&[u8; 4]] =
    &[b"PLTE", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs", b"cICP", b"mDCV", b"cLLI"];

/// The neutral name written in place of an embedded colour profile's free-text name.
const NEUTRAL_PROFILE_NAME: &[u8] = b"ICC profile";

/// One chunk, with ranges into the input.
struct Chunk<'a> {
    kind: [u8; 4],
    data: &'a [u8],
    /// The whole chunk: length, type, data and CRC.
    raw: &'a [u8],
}

/// Splits a PNG into chunks up to IEND, checking lengths and CRCs. Returns the chunks and the
/// number of bytes after IEND.
fn chunks(bytes: &[u8]) -> Result<(Vec<Chunk<'_>>, usize), MediaError> {
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(MediaError::corrupt(FORMAT, "missing PNG signature"));
    }
    let mut at = PNG_SIGNATURE.len();
    let mut out = Vec::new();
    loop {
        if at + 12 > bytes.len() {
            return Err(MediaError::corrupt(FORMAT, "the file ends before its IEND chunk (truncated)"));
        }
        let length = be32(bytes, at) as usize;
        let kind: [u8; 4] = bytes[at + 4..at + 8].try_into().expect("four bytes");
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(MediaError::corrupt(FORMAT, format!("invalid chunk type at byte {at}")));
        }
        let end = (at + 12).checked_add(length).filter(|&end| end <= bytes.len());
        let Some(end) = end else {
            return Err(MediaError::corrupt(FORMAT, "a chunk runs past the end of the file (truncated)"));
        };
        let data = &bytes[at + 8..at + 8 + length];
        let crc = be32(bytes, end - 4);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&kind);
        hasher.update(data);
        if hasher.finalize() != crc {
            return Err(MediaError::corrupt(
                FORMAT,
                format!("the {} chunk fails its checksum", String::from_utf8_lossy(&kind)),
            ));
        }
        out.push(Chunk { kind, data, raw: &bytes[at..end] });
        at = end;
        if &kind == b"IEND" {
            return Ok((out, bytes.len() - at));
        }
    }
}

/// Width and height from IHDR.
pub(crate) fn probe(bytes: &[u8]) -> Result<(u32, u32), MediaError> {
    // Signature, then IHDR's length and type, then width and height.
    if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
        return Err(MediaError::corrupt(FORMAT, "the first chunk is not IHDR"));
    }
    Ok((be32(bytes, 16), be32(bytes, 20)))
}

/// Writes one chunk with a fresh CRC.
fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(kind);
    hasher.update(data);
    out.extend_from_slice(&hasher.finalize().to_be_bytes());
}

/// Scrubs a PNG without touching its image data.
pub(crate) fn scrub(bytes: &[u8], limits: &Limits) -> Result<Scrubbed, MediaError> {
    let (width, height) = probe(bytes)?;
    limits.check_dimensions(FORMAT, u64::from(width), u64::from(height))?;
    let (chunks, trailing) = chunks(bytes)?;

    let mut removed = BTreeSet::new();
    if trailing > 0 {
        removed.insert(Removed::TrailingData);
    }
    // Orientation lives in eXIf; find it first so it can be written before the image data.
    let mut orientation = None;
    if let Some(exif) = chunks.iter().find(|c| &c.kind == b"eXIf") {
        orientation = orientation_to_keep(&inspect_exif(exif.data));
    }

    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(PNG_SIGNATURE);
    let mut seen_idat = false;
    for chunk in &chunks {
        match &chunk.kind {
            b"IHDR" | b"IEND" => out.extend_from_slice(chunk.raw),
            b"IDAT" => {
                if !seen_idat {
                    seen_idat = true;
                    if let Some(o) = orientation {
                        write_chunk(&mut out, b"eXIf", &orientation_only_tiff(o));
                    }
                }
                out.extend_from_slice(chunk.raw);
            }
            b"iCCP" => {
                let Some(name_end) = chunk.data.iter().position(|&b| b == 0) else {
                    return Err(MediaError::corrupt(FORMAT, "the iCCP chunk has no profile name terminator"));
                };
                if &chunk.data[..name_end] != NEUTRAL_PROFILE_NAME {
                    removed.insert(Removed::ProfileName);
                }
                // Name, NUL, compression method 0 (zlib), then the compressed profile.
                let compressed = chunk.data.get(name_end + 2..).filter(|_| chunk.data.get(name_end + 1) == Some(&0));
                let profile = compressed.and_then(|z| {
                    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(z, icc::MAX_PROFILE_BYTES).ok()
                });
                match profile.and_then(|p| clean_profile(&p, &mut removed)) {
                    Some(clean) => {
                        let mut data = NEUTRAL_PROFILE_NAME.to_vec();
                        data.extend_from_slice(&[0, 0]);
                        data.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(&clean, 9));
                        write_chunk(&mut out, b"iCCP", &data);
                    }
                    None => {
                        removed.insert(Removed::ColourProfile);
                    }
                }
            }
            kind if COLOUR_CHUNKS.contains(&kind) => out.extend_from_slice(chunk.raw),
            b"eXIf" => {
                let summary = inspect_exif(chunk.data);
                removed.insert(Removed::Exif);
                if summary.has_gps {
                    removed.insert(Removed::Gps);
                }
                if summary.has_maker_note {
                    removed.insert(Removed::MakerNotes);
                }
                if summary.has_thumbnail {
                    removed.insert(Removed::Thumbnail);
                }
            }
            b"iTXt" if chunk.data.starts_with(b"XML:com.adobe.xmp\0") => {
                removed.insert(Removed::Xmp);
            }
            b"tEXt" | b"zTXt" | b"iTXt" => {
                removed.insert(Removed::Text);
            }
            b"tIME" => {
                removed.insert(Removed::Timestamp);
            }
            b"acTL" | b"fcTL" | b"fdAT" => {
                removed.insert(Removed::Animation);
            }
            kind if kind[0].is_ascii_uppercase() => {
                // A critical chunk we do not know: a decoder must refuse the file, so do we.
                return Err(MediaError::UnsupportedFormat(format!(
                    "a PNG with an unknown critical chunk {}",
                    String::from_utf8_lossy(kind)
                )));
            }
            _ => {
                removed.insert(Removed::ApplicationData);
            }
        }
    }
    if !seen_idat {
        return Err(MediaError::corrupt(FORMAT, "it has no image data"));
    }

    Ok(Scrubbed {
        bytes: out,
        format: Format::Png,
        source_format: Format::Png,
        stored_width: width,
        stored_height: height,
        orientation: orientation.unwrap_or(Orientation::NoTransforms),
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_chunk(&mut out, kind, data);
        out
    }

    fn png(middle: &[Vec<u8>], trailing: &[u8]) -> Vec<u8> {
        let mut f = PNG_SIGNATURE.to_vec();
        f.extend(chunk(b"IHDR", &[0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0]));
        for c in middle {
            f.extend_from_slice(c);
        }
        f.extend(chunk(b"IDAT", b"pixels"));
        f.extend(chunk(b"IEND", b""));
        f.extend_from_slice(trailing);
        f
    }

    #[test]
    fn keeps_colour_chunks_and_drops_the_rest() {
        let input = png(
            &[
                chunk(b"gAMA", &[0, 0, 0xB1, 0x8F]),
                chunk(b"sRGB", &[0]),
                chunk(b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
                chunk(b"tEXt", b"Author\0Jane Smith"),
                chunk(b"zTXt", b"Comment\0\0x"),
                chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x/>"),
                chunk(b"iTXt", b"Title\0\0\0\0\0hello"),
                chunk(b"tIME", &[7, 0xE8, 1, 1, 0, 0, 0]),
                chunk(b"eXIf", b"MM\0*garbage"),
                chunk(b"prVt", b"vendor"),
            ],
            b"after the end",
        );
        let out = scrub(&input, &Limits::default()).unwrap();
        let expected = png(
            &[
                chunk(b"gAMA", &[0, 0, 0xB1, 0x8F]),
                chunk(b"sRGB", &[0]),
                chunk(b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
            ],
            b"",
        );
        assert_eq!(out.bytes, expected);
        use Removed::*;
        assert_eq!(
            out.removed.into_iter().collect::<Vec<_>>(),
            vec![Exif, Xmp, TrailingData, ApplicationData, Text, Timestamp]
        );
    }

    #[test]
    fn rebuilds_the_colour_profile_under_a_neutral_name_and_keeps_orientation() {
        let profile = crate::media::icc::tests::identifying_profile(2);
        let mut iccp = b"Jane's MacBook\0\0".to_vec();
        iccp.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(&profile, 6));
        let exif = orientation_only_tiff(Orientation::Rotate270);
        let out = scrub(&png(&[chunk(b"iCCP", &iccp), chunk(b"eXIf", &exif)], b""), &Limits::default()).unwrap();
        let mut clean = b"ICC profile\0\0".to_vec();
        clean.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(&icc::sanitize(&profile).unwrap(), 9));
        let expected =
            png(&[chunk(b"iCCP", &clean), chunk(b"eXIf", &orientation_only_tiff(Orientation::Rotate270))], b"");
        assert_eq!(out.bytes, expected);
        assert_eq!(out.orientation, Orientation::Rotate270);
        assert!(out.removed.contains(&Removed::ProfileName) && out.removed.contains(&Removed::ProfileDetails));

        // A profile that does not inflate, or is not a profile, is dropped whole.
        for junk in [b"not zlib at all".to_vec(), miniz_oxide::deflate::compress_to_vec_zlib(b"not a profile", 6)] {
            let mut iccp = b"x\0\0".to_vec();
            iccp.extend_from_slice(&junk);
            let out = scrub(&png(&[chunk(b"iCCP", &iccp)], b""), &Limits::default()).unwrap();
            assert_eq!(out.bytes, png(&[], b""));
            assert!(out.removed.contains(&Removed::ColourProfile));
        }
    }

    #[test]
    fn rejects_bad_checksums_truncation_and_bombs() {
        let good = png(&[], b"");
        for cut in 0..good.len() {
            assert!(scrub(&good[..cut], &Limits::default()).is_err(), "cut at {cut}");
        }
        let mut flipped = good.clone();
        flipped[40] ^= 1;
        assert_eq!(scrub(&flipped, &Limits::default()).unwrap_err().code(), "corrupt_image");
        let mut bomb = PNG_SIGNATURE.to_vec();
        bomb.extend(chunk(b"IHDR", &[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60, 8, 2, 0, 0, 0]));
        assert_eq!(scrub(&bomb, &Limits::default()).unwrap_err().code(), "image_too_large");
    }
}

//! Lossless JPEG scrubbing: segments are copied or dropped, entropy-coded data is never touched.

use std::collections::BTreeSet;
use std::ops::Range;

use super::parts::{be16, clean_profile};
use super::parts::{Removed, Scrubbed};
use crate::media::error::MediaError;
use crate::media::limits::Limits;
use crate::media::orient::Orientation;
use crate::media::orient::{inspect_exif, orientation_only_tiff, orientation_to_keep};
use crate::media::sniff::Format;

const FORMAT: &str = "jpeg";

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DQT: u8 = 0xDB;
const DNL: u8 = 0xDC;
const DRI: u8 = 0xDD;
const DHT: u8 = 0xC4;
const DAC: u8 = 0xCC;
const COM: u8 = 0xFE;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP13: u8 = 0xED;
const APP14: u8 = 0xEE;

const EXIF_ID: &[u8] = b"Exif\0\0";
const XMP_ID: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXTENSION_ID: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
const ICC_ID: &[u8] = b"ICC_PROFILE\0";
const MPF_ID: &[u8] = b"MPF\0";
const JFIF_ID: &[u8] = b"JFIF\0";
const JFXX_ID: &[u8] = b"JFXX\0";
const ADOBE_ID: &[u8] = b"Adobe";

/// Start-of-frame markers: C0–CF except DHT (C4), JPG (C8) and DAC (CC).
fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, DHT | 0xC8 | DAC)
}

/// One marker segment, or a scan (SOS header plus its entropy-coded data).
struct Piece {
    marker: u8,
    /// The whole piece in the input, from its 0xFF to its last byte.
    range: Range<usize>,
    /// The segment's payload, after the length field (empty for standalone markers).
    payload: Range<usize>,
}

/// Walks the marker structure of a JPEG. Yields pieces up to and including EOI.
struct Walker<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Walker<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, MediaError> {
        if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != SOI {
            return Err(MediaError::corrupt(FORMAT, "it does not start with a JPEG start-of-image marker"));
        }
        Ok(Walker { bytes, pos: 2, done: false })
    }

    fn truncated() -> MediaError {
        MediaError::corrupt(FORMAT, "the file ends before its end-of-image marker (truncated)")
    }

    fn next_piece(&mut self) -> Result<Option<Piece>, MediaError> {
        if self.done {
            return Ok(None);
        }
        let bytes = self.bytes;
        let start = self.pos;
        if start >= bytes.len() {
            return Err(Self::truncated());
        }
        if bytes[start] != 0xFF {
            return Err(MediaError::corrupt(FORMAT, format!("expected a marker at byte {start}")));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        let mut at = start + 1;
        while at < bytes.len() && bytes[at] == 0xFF {
            at += 1;
        }
        let Some(&marker) = bytes.get(at) else { return Err(Self::truncated()) };
        at += 1;
        match marker {
            0x00 => Err(MediaError::corrupt(FORMAT, format!("invalid marker at byte {start}"))),
            EOI => {
                self.done = true;
                self.pos = at;
                Ok(Some(Piece { marker, range: start..at, payload: at..at }))
            }
            SOI => Err(MediaError::corrupt(FORMAT, "a second start-of-image marker")),
            // Standalone markers carry no length: TEM and stray restart markers.
            0x01 | 0xD0..=0xD7 => {
                self.pos = at;
                Ok(Some(Piece { marker, range: start..at, payload: at..at }))
            }
            _ => {
                if at + 2 > bytes.len() {
                    return Err(Self::truncated());
                }
                let length = usize::from(be16(bytes, at));
                if length < 2 {
                    return Err(MediaError::corrupt(FORMAT, format!("a segment at byte {start} has length {length}")));
                }
                let end = at + length;
                if end > bytes.len() {
                    return Err(Self::truncated());
                }
                let payload = at + 2..end;
                let end = if marker == SOS { scan_entropy_data(bytes, end)? } else { end };
                self.pos = end;
                Ok(Some(Piece { marker, range: start..end, payload }))
            }
        }
    }

    /// The bytes after EOI.
    fn trailing(&self) -> &'a [u8] {
        &self.bytes[self.pos.min(self.bytes.len())..]
    }
}

/// Finds the end of entropy-coded data starting at `from`: the first 0xFF that is neither byte
/// stuffing (FF 00), a restart marker (FF D0–D7) nor fill (FF FF).
fn scan_entropy_data(bytes: &[u8], mut from: usize) -> Result<usize, MediaError> {
    loop {
        let Some(offset) = memchr::memchr(0xFF, &bytes[from..]) else { return Err(Walker::truncated()) };
        let ff = from + offset;
        match bytes.get(ff + 1) {
            None => return Err(Walker::truncated()),
            Some(0x00 | 0xD0..=0xD7) => from = ff + 2,
            Some(0xFF) => from = ff + 1,
            Some(_) => return Ok(ff),
        }
    }
}

/// The frame size from the first start-of-frame segment, read without decoding anything.
pub(crate) fn probe(bytes: &[u8]) -> Result<(u32, u32), MediaError> {
    let mut walker = Walker::new(bytes)?;
    while let Some(piece) = walker.next_piece()? {
        if is_sof(piece.marker) {
            return sof_dimensions(&bytes[piece.payload]);
        }
        if piece.marker == SOS {
            break;
        }
    }
    Err(MediaError::corrupt(FORMAT, "no frame header before the image data"))
}

fn sof_dimensions(payload: &[u8]) -> Result<(u32, u32), MediaError> {
    if payload.len() < 6 {
        return Err(MediaError::corrupt(FORMAT, "the frame header is too short"));
    }
    // Precision (1 byte), then height and width. A zero height means "given later by DNL", which
    // we refuse: the size must be known before decoding.
    Ok((u32::from(be16(payload, 3)), u32::from(be16(payload, 1))))
}

/// What to do with one segment.
enum Verdict {
    Keep,
    /// Rewritten and placed right after SOI, where decoders look for it.
    MovedToFront,
    Drop(&'static [Removed]),
}

/// Scrubs a JPEG losslessly.
pub(crate) fn scrub(bytes: &[u8], limits: &Limits) -> Result<Scrubbed, MediaError> {
    let (width, height) = probe(bytes)?;
    limits.check_dimensions(FORMAT, u64::from(width), u64::from(height))?;

    let mut kept: Vec<Range<usize>> = Vec::new();
    let mut removed = BTreeSet::new();
    let mut jfif: Option<Vec<u8>> = None;
    let mut orientation = None;
    let mut seen_exif = false;
    let (mut seen_frame, mut seen_scan) = (false, false);

    // ICC profiles can span several APP2 segments: gathered by sequence number, rebuilt, re-split.
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut adobe: Option<Vec<u8>> = None;
    let mut scans = 0usize;
    let mut walker = Walker::new(bytes)?;
    while let Some(piece) = walker.next_piece()? {
        let payload = &bytes[piece.payload.clone()];
        let verdict = match piece.marker {
            EOI => {
                if !seen_frame || !seen_scan {
                    return Err(MediaError::corrupt(FORMAT, "it has no image data"));
                }
                Verdict::Keep
            }
            APP0 if payload.starts_with(JFIF_ID) => {
                if jfif.is_none() && payload.len() >= 14 {
                    let (segment, had_thumbnail) = jfif_without_thumbnail(payload);
                    if had_thumbnail {
                        removed.insert(Removed::Thumbnail);
                    }
                    jfif = Some(segment);
                }
                Verdict::MovedToFront
            }
            APP0 if payload.starts_with(JFXX_ID) => Verdict::Drop(&[Removed::Thumbnail]),
            APP1 if payload.starts_with(EXIF_ID) => {
                let summary = inspect_exif(&payload[EXIF_ID.len()..]);
                // Viewers honour the first Exif block only; so do we.
                if !seen_exif {
                    seen_exif = true;
                    orientation = orientation_to_keep(&summary);
                }
                for (present, what) in [
                    (summary.has_gps, Removed::Gps),
                    (summary.has_maker_note, Removed::MakerNotes),
                    (summary.has_thumbnail, Removed::Thumbnail),
                ] {
                    if present {
                        removed.insert(what);
                    }
                }
                Verdict::Drop(&[Removed::Exif])
            }
            APP1 if payload.starts_with(XMP_ID) || payload.starts_with(XMP_EXTENSION_ID) => {
                Verdict::Drop(&[Removed::Xmp])
            }
            APP2 if payload.starts_with(ICC_ID) => {
                if payload.len() > ICC_ID.len() + 2 {
                    icc_chunks.push((payload[ICC_ID.len()], &payload[ICC_ID.len() + 2..]));
                }
                Verdict::MovedToFront
            }
            APP2 if payload.starts_with(MPF_ID) => Verdict::Drop(&[Removed::MultiPicture]),
            APP13 => Verdict::Drop(&[Removed::Iptc]),
            APP14 if payload.starts_with(ADOBE_ID) => {
                // The colour transform is what decoders read; anything past the 12 defined bytes
                // could carry anything, so only those are rewritten.
                if adobe.is_none() && payload.len() >= ADOBE_LEN {
                    let mut segment = vec![0xFF, APP14, 0, (ADOBE_LEN + 2) as u8];
                    segment.extend_from_slice(&payload[..ADOBE_LEN]);
                    adobe = Some(segment);
                }
                if payload.len() != ADOBE_LEN {
                    removed.insert(Removed::ApplicationData);
                }
                Verdict::MovedToFront
            }
            COM => Verdict::Drop(&[Removed::Comment]),
            // DNL holds a 2-byte line count and nothing else; a longer one is not a JPEG we accept.
            DNL if payload.len() != 2 => return Err(MediaError::corrupt(FORMAT, "a DNL segment of the wrong size")),
            DQT | DHT | DRI | DAC | DNL | 0x01 | 0xD0..=0xD7 => Verdict::Keep,
            SOS => {
                if !seen_frame {
                    return Err(MediaError::corrupt(FORMAT, "image data before the frame header"));
                }
                seen_scan = true;
                scans += 1;
                // Progressive files have about ten scans; thousands only make decoders slow.
                if scans > MAX_SCANS {
                    return Err(MediaError::corrupt(FORMAT, "more scans than any real image has"));
                }
                Verdict::Keep
            }
            marker if is_sof(marker) => {
                if seen_frame {
                    return Err(MediaError::corrupt(FORMAT, "more than one frame header"));
                }
                seen_frame = true;
                Verdict::Keep
            }
            // Any other APPn, and the reserved JPGn / extension markers, carry no pixels.
            _ => Verdict::Drop(&[Removed::ApplicationData]),
        };
        match verdict {
            // Adjacent kept pieces become one range, so a flood of two-byte markers cannot make
            // this list larger than the file.
            Verdict::Keep => match kept.last_mut() {
                Some(last) if last.end == piece.range.start => last.end = piece.range.end,
                _ => kept.push(piece.range),
            },
            Verdict::MovedToFront => {}
            Verdict::Drop(what) => removed.extend(what.iter().copied()),
        }
    }
    let trailing = walker.trailing();
    if !trailing.is_empty() {
        // Phones append whole JPEGs (depth maps, gain maps, MPF pictures) with their own Exif.
        removed.insert(Removed::TrailingData);
    }

    let profile = assemble_icc(&mut icc_chunks).and_then(|p| clean_profile(&p, &mut removed));
    if profile.is_none() && !icc_chunks.is_empty() {
        removed.insert(Removed::ColourProfile);
    }

    let orientation_segment = orientation.map(orientation_segment);
    let kept_len: usize = kept.iter().map(Range::len).sum();
    let profile_len = profile.as_ref().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(2 + jfif.as_ref().map_or(0, Vec::len) + 40 + profile_len + 64 + kept_len);
    out.extend_from_slice(&[0xFF, SOI]);
    if let Some(segment) = &jfif {
        out.extend_from_slice(segment);
    }
    if let Some(segment) = &orientation_segment {
        out.extend_from_slice(segment);
    }
    if let Some(profile) = &profile {
        write_icc(&mut out, profile);
    }
    if let Some(segment) = &adobe {
        out.extend_from_slice(segment);
    }
    for range in kept {
        out.extend_from_slice(&bytes[range]);
    }

    Ok(Scrubbed {
        bytes: out,
        format: Format::Jpeg,
        source_format: Format::Jpeg,
        stored_width: width,
        stored_height: height,
        orientation: orientation.unwrap_or(Orientation::NoTransforms),
        removed,
    })
}

/// Most scans accepted in one image.
const MAX_SCANS: usize = 256;
/// "Adobe", version, flags0, flags1, transform.
const ADOBE_LEN: usize = 12;
/// Most profile bytes in one APP2 segment (65535 − length field − "ICC_PROFILE\0" − sequence bytes).
const ICC_CHUNK: usize = 65_519;

/// The profile from its APP2 chunks in sequence order; `None` when there are none, or when the
/// sequence numbers do not make one whole profile.
fn assemble_icc(chunks: &mut [(u8, &[u8])]) -> Option<Vec<u8>> {
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|(seq, _)| *seq);
    let whole = chunks.iter().enumerate().all(|(i, (seq, _))| usize::from(*seq) == i + 1);
    whole.then(|| chunks.iter().flat_map(|(_, data)| data.iter().copied()).collect())
}

/// Writes a profile as APP2 segments of at most [`ICC_CHUNK`] bytes each.
fn write_icc(out: &mut Vec<u8>, profile: &[u8]) {
    let parts: Vec<&[u8]> = profile.chunks(ICC_CHUNK).collect();
    for (i, part) in parts.iter().enumerate() {
        let length = 2 + ICC_ID.len() + 2 + part.len();
        out.extend_from_slice(&[0xFF, APP2]);
        out.extend_from_slice(&(length as u16).to_be_bytes());
        out.extend_from_slice(ICC_ID);
        out.extend_from_slice(&[(i + 1) as u8, parts.len() as u8]);
        out.extend_from_slice(part);
    }
}

/// A JFIF APP0 segment (marker included) with any thumbnail cut off; and whether there was one.
fn jfif_without_thumbnail(payload: &[u8]) -> (Vec<u8>, bool) {
    // "JFIF\0", version (2), units (1), densities (2 + 2), thumbnail width and height (1 + 1).
    let had_thumbnail = payload[12] != 0 || payload[13] != 0 || payload.len() > 14;
    let mut segment = vec![0xFF, APP0, 0, 16];
    segment.extend_from_slice(&payload[..12]);
    segment.extend_from_slice(&[0, 0]);
    (segment, had_thumbnail)
}

/// An APP1 Exif segment (marker included) holding the orientation alone.
pub(crate) fn orientation_segment(orientation: Orientation) -> Vec<u8> {
    let tiff = orientation_only_tiff(orientation);
    let length = 2 + EXIF_ID.len() + tiff.len();
    let mut segment = vec![0xFF, APP1];
    segment.extend_from_slice(&(length as u16).to_be_bytes());
    segment.extend_from_slice(EXIF_ID);
    segment.extend_from_slice(&tiff);
    segment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    /// A structurally valid JPEG skeleton: the scrubber never decodes, so pixels are not needed.
    fn skeleton(extra_headers: &[Vec<u8>], entropy: &[u8], trailing: &[u8]) -> Vec<u8> {
        let mut f = vec![0xFF, SOI];
        for h in extra_headers {
            f.extend_from_slice(h);
        }
        f.extend(segment(DQT, &[0; 65]));
        f.extend(segment(0xC0, &[8, 0, 16, 0, 32, 1, 1, 0x11, 0]));
        f.extend(segment(DHT, &[0; 17]));
        f.extend(segment(SOS, &[1, 1, 0, 0, 63, 0]));
        f.extend_from_slice(entropy);
        f.extend_from_slice(&[0xFF, EOI]);
        f.extend_from_slice(trailing);
        f
    }

    #[test]
    fn probe_reads_the_frame_size() {
        assert_eq!(probe(&skeleton(&[], &[1, 2, 3], &[])), Ok((32, 16)));
    }

    #[test]
    fn drops_every_metadata_segment_and_trailing_data() {
        let headers = vec![
            segment(APP0, b"JFIF\0\x01\x02\0\0\x01\0\x01\x01\x01\xAA\xBB\xCC"),
            segment(APP0, b"JFXX\0\x10thumb"),
            segment(APP1, b"Exif\0\0garbage"),
            segment(APP1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"),
            segment(APP1, b"http://ns.adobe.com/xmp/extension/\0more"),
            segment(APP2, b"ICC_PROFILE\0\x01\x01not a profile"),
            segment(APP2, b"MPF\0index"),
            segment(APP2, b"FPXR\0flashpix"),
            segment(APP13, b"Photoshop 3.0\0iptc"),
            segment(APP14, b"Adobe\0\x64\0\0\0\0\x01GPS 51.5N hidden after the transform"),
            segment(0xEF, b"vendor"),
            segment(COM, b"a comment"),
        ];
        let input = skeleton(&headers, &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56], b"\xFF\xD8appended");
        let out = scrub(&input, &Limits::default()).unwrap();
        let expected = skeleton(
            &[segment(APP0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0"), segment(APP14, b"Adobe\0\x64\0\0\0\0\x01")],
            &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56],
            &[],
        );
        assert_eq!(out.bytes, expected);
        use Removed::*;
        assert_eq!(
            out.removed.into_iter().collect::<Vec<_>>(),
            vec![Exif, Thumbnail, Xmp, Iptc, Comment, MultiPicture, TrailingData, ApplicationData, ColourProfile]
        );
        assert_eq!(out.orientation, Orientation::NoTransforms);
    }

    #[test]
    fn a_profile_split_over_segments_is_rebuilt_and_resplit() {
        let profile = crate::media::icc::tests::identifying_profile(4);
        let (a, b) = profile.split_at(100);
        let mut first = b"ICC_PROFILE\0\x02\x02".to_vec();
        first.extend_from_slice(b);
        let mut second = b"ICC_PROFILE\0\x01\x02".to_vec();
        second.extend_from_slice(a);
        // Out of order on purpose: the sequence numbers decide.
        let out =
            scrub(&skeleton(&[segment(APP2, &first), segment(APP2, &second)], &[1], &[]), &Limits::default()).unwrap();
        let mut whole = b"ICC_PROFILE\0\x01\x01".to_vec();
        whole.extend_from_slice(&crate::media::icc::sanitize(&profile).unwrap());
        assert_eq!(out.bytes, skeleton(&[segment(APP2, &whole)], &[1], &[]));
        assert!(out.removed.contains(&Removed::ProfileDetails));
        // A missing chunk leaves no whole profile: dropped.
        let out = scrub(&skeleton(&[segment(APP2, &first)], &[1], &[]), &Limits::default()).unwrap();
        assert_eq!(out.bytes, skeleton(&[], &[1], &[]));
        assert!(out.removed.contains(&Removed::ColourProfile));
    }

    #[test]
    fn oversized_dnl_scan_floods_and_marker_floods_are_handled() {
        let mut dnl = skeleton(&[], &[1], &[]);
        let eoi = dnl.len() - 2;
        dnl.splice(eoi..eoi, segment(DNL, b"\0\x10GPS 51.5N"));
        assert!(scrub(&dnl, &Limits::default()).is_err());
        let mut dnl_ok = skeleton(&[], &[1], &[]);
        let eoi = dnl_ok.len() - 2;
        dnl_ok.splice(eoi..eoi, segment(DNL, b"\0\x10"));
        assert_eq!(scrub(&dnl_ok, &Limits::default()).unwrap().bytes, dnl_ok);

        let mut flood = skeleton(&[], &[1], &[]);
        let eoi = flood.len() - 2;
        let scans: Vec<u8> = (0..300)
            .flat_map(|_| {
                let mut s = segment(SOS, &[1, 1, 0, 0, 63, 0]);
                s.push(7);
                s
            })
            .collect();
        flood.splice(eoi..eoi, scans);
        assert!(scrub(&flood, &Limits::default()).is_err(), "300 scans");
    }

    #[test]
    fn keeps_orientation_as_a_lone_exif_tag_after_jfif() {
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend_from_slice(&orientation_only_tiff(Orientation::Rotate90));
        let jfif = segment(APP0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        let input = skeleton(&[segment(APP1, &exif), jfif.clone()], &[1], &[]);
        let out = scrub(&input, &Limits::default()).unwrap();
        assert_eq!(out.orientation, Orientation::Rotate90);
        assert_eq!(out.display_dimensions(), (16, 32));
        let expected_prefix = [&[0xFF, SOI][..], &jfif, &orientation_segment(Orientation::Rotate90)].concat();
        assert!(out.bytes.starts_with(&expected_prefix));
    }

    #[test]
    fn rejects_broken_structure() {
        let good = skeleton(&[], &[1, 2, 3], &[]);
        for cut in 0..good.len() - 1 {
            let err = scrub(&good[..cut], &Limits::default()).unwrap_err();
            assert_eq!(err.code(), "corrupt_image", "cut at {cut}");
        }
        let mut no_scan = vec![0xFF, SOI];
        no_scan.extend(segment(0xC0, &[8, 0, 16, 0, 32, 1, 1, 0x11, 0]));
        no_scan.extend_from_slice(&[0xFF, EOI]);
        assert_eq!(scrub(&no_scan, &Limits::default()).unwrap_err().code(), "corrupt_image");
    }

    #[test]
    fn rejects_a_bomb_from_its_header() {
        let mut bomb = vec![0xFF, SOI];
        bomb.extend(segment(0xC0, &[8, 0xEA, 0x60, 0xEA, 0x60, 1, 1, 0x11, 0]));
        assert_eq!(scrub(&bomb, &Limits::default()).unwrap_err().code(), "image_too_large");
    }
}

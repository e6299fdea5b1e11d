//! WebP scrubbing: image chunks are copied, EXIF, XMP and unknown chunks dropped, the VP8X flags and
//! the RIFF size rewritten to match.

use std::collections::BTreeSet;

use super::parts::{clean_profile, le32};
use super::parts::{Removed, Scrubbed};
use crate::media::error::MediaError;
use crate::media::limits::Limits;
use crate::media::orient::Orientation;
use crate::media::orient::{inspect_exif, orientation_only_tiff, orientation_to_keep};
use crate::media::sniff::Format;

const FORMAT: &str = "webp";

const FLAG_ICC: u8 = 0x20;
const FLAG_ALPHA: u8 = 0x10;
const FLAG_EXIF: u8 = 0x08;
const FLAG_ANIMATION: u8 = 0x02;

struct Chunk<'a> {
    fourcc: [u8; 4],
    data: &'a [u8],
}

/// Splits the RIFF container; returns the chunks and the number of bytes after it.
fn chunks(bytes: &[u8]) -> Result<(Vec<Chunk<'_>>, usize), MediaError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WEBP" {
        return Err(MediaError::corrupt(FORMAT, "missing RIFF/WEBP header"));
    }
    let riff_end = (le32(bytes, 4) as usize).checked_add(8).filter(|&end| end <= bytes.len());
    let Some(riff_end) = riff_end else {
        return Err(MediaError::corrupt(FORMAT, "the file is shorter than its RIFF header says (truncated)"));
    };
    let mut at = 12;
    let mut out = Vec::new();
    while at < riff_end {
        if at + 8 > riff_end {
            return Err(MediaError::corrupt(FORMAT, "a chunk header runs past the end of the container"));
        }
        let fourcc: [u8; 4] = bytes[at..at + 4].try_into().expect("four bytes");
        let size = le32(bytes, at + 4) as usize;
        let end = (at + 8).checked_add(size).filter(|&end| end <= riff_end);
        let Some(end) = end else {
            return Err(MediaError::corrupt(FORMAT, "a chunk runs past the end of the container (truncated)"));
        };
        out.push(Chunk { fourcc, data: &bytes[at + 8..end] });
        // Chunks are padded to an even size.
        at = end + (size & 1);
    }
    if out.is_empty() {
        return Err(MediaError::corrupt(FORMAT, "the container holds no chunks"));
    }
    Ok((out, bytes.len() - riff_end))
}

/// Dimensions announced by a VP8 or VP8L bitstream header; and whether VP8L says alpha is used.
fn bitstream_dimensions(chunk: &Chunk<'_>) -> Result<(u32, u32, bool), MediaError> {
    let d = chunk.data;
    match &chunk.fourcc {
        // Frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height with scale bits.
        b"VP8 " if d.len() >= 10 && d[3..6] == [0x9D, 0x01, 0x2A] => Ok((
            u32::from(u16::from_le_bytes([d[6], d[7]]) & 0x3FFF),
            u32::from(u16::from_le_bytes([d[8], d[9]]) & 0x3FFF),
            false,
        )),
        // Signature 0x2F, then 14-bit width − 1, 14-bit height − 1, 1-bit alpha hint.
        b"VP8L" if d.len() >= 5 && d[0] == 0x2F => {
            let bits = le32(d, 1);
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, (bits >> 28) & 1 == 1))
        }
        _ => Err(MediaError::corrupt(FORMAT, "the image bitstream header is invalid")),
    }
}

fn le24(d: &[u8]) -> u32 {
    u32::from(d[0]) | u32::from(d[1]) << 8 | u32::from(d[2]) << 16
}

/// The canvas size: from VP8X when present, else from the single bitstream.
fn canvas(chunks: &[Chunk<'_>]) -> Result<(u32, u32), MediaError> {
    let first = &chunks[0];
    if &first.fourcc == b"VP8X" {
        if first.data.len() < 10 {
            return Err(MediaError::corrupt(FORMAT, "the VP8X chunk is too short"));
        }
        return Ok((le24(&first.data[4..7]) + 1, le24(&first.data[7..10]) + 1));
    }
    let (w, h, _) = bitstream_dimensions(first)?;
    Ok((w, h))
}

/// Scrubs a WebP without touching its bitstreams.
pub(crate) fn scrub(bytes: &[u8], limits: &Limits) -> Result<Scrubbed, MediaError> {
    let (chunks, trailing) = chunks(bytes)?;
    let (width, height) = canvas(&chunks)?;
    limits.check_dimensions(FORMAT, u64::from(width), u64::from(height))?;
    // A bomb can hide a huge bitstream behind a small VP8X canvas: check every announced size.
    for chunk in chunks.iter().filter(|c| matches!(&c.fourcc, b"VP8 " | b"VP8L")) {
        let (w, h, _) = bitstream_dimensions(chunk)?;
        limits.check_dimensions(FORMAT, u64::from(w), u64::from(h))?;
    }

    let mut removed = BTreeSet::new();
    if trailing > 0 {
        removed.insert(Removed::TrailingData);
    }
    let mut orientation = None;
    // Chunks to write, by fourcc and (possibly rebuilt) data.
    let mut kept: Vec<([u8; 4], std::borrow::Cow<'_, [u8]>)> = Vec::new();
    let mut has_profile = false;
    for chunk in &chunks {
        match &chunk.fourcc {
            b"VP8X" | b"ANIM" | b"ALPH" | b"VP8 " | b"VP8L" => kept.push((chunk.fourcc, chunk.data.into())),
            b"ICCP" => {
                if let Some(clean) = clean_profile(chunk.data, &mut removed) {
                    has_profile = true;
                    kept.push((*b"ICCP", clean.into()));
                }
            }
            b"ANMF" => {
                kept.push((*b"ANMF", animation_frame(chunk.data, (width, height), limits, &mut removed)?.into()))
            }
            b"EXIF" => {
                let summary = inspect_exif(strip_exif_prefix(chunk.data));
                if orientation.is_none() {
                    orientation = orientation_to_keep(&summary);
                }
                removed.insert(Removed::Exif);
                for (present, what) in [
                    (summary.has_gps, Removed::Gps),
                    (summary.has_maker_note, Removed::MakerNotes),
                    (summary.has_thumbnail, Removed::Thumbnail),
                ] {
                    if present {
                        removed.insert(what);
                    }
                }
            }
            b"XMP " => {
                removed.insert(Removed::Xmp);
            }
            _ => {
                removed.insert(Removed::ApplicationData);
            }
        }
    }
    if !kept.iter().any(|(fourcc, _)| matches!(fourcc, b"VP8 " | b"VP8L" | b"ANMF")) {
        return Err(MediaError::corrupt(FORMAT, "it has no image data"));
    }

    let mut body = Vec::with_capacity(bytes.len());
    let extended = &chunks[0].fourcc == b"VP8X";
    if extended {
        let vp8x = chunks[0].data;
        let mut flags = vp8x[0] & (FLAG_ALPHA | FLAG_ANIMATION);
        if has_profile {
            flags |= FLAG_ICC;
        }
        if orientation.is_some() {
            flags |= FLAG_EXIF;
        }
        let mut data = [0u8; 10];
        data[0] = flags;
        data[4..10].copy_from_slice(&vp8x[4..10]);
        write_chunk(&mut body, b"VP8X", &data);
    } else if orientation.is_some() {
        // A simple-format file has no place for EXIF: promote it to the extended format.
        let (w, h, alpha) = bitstream_dimensions(&chunks[0])?;
        let mut data = [0u8; 10];
        data[0] = FLAG_EXIF | if alpha { FLAG_ALPHA } else { 0 };
        data[4..7].copy_from_slice(&(w - 1).to_le_bytes()[..3]);
        data[7..10].copy_from_slice(&(h - 1).to_le_bytes()[..3]);
        write_chunk(&mut body, b"VP8X", &data);
    }
    for (fourcc, data) in kept.iter().filter(|(fourcc, _)| fourcc != b"VP8X") {
        write_chunk(&mut body, fourcc, data);
    }
    if let Some(o) = orientation {
        write_chunk(&mut body, b"EXIF", &orientation_only_tiff(o));
    }

    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((4 + body.len()) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&body);

    Ok(Scrubbed {
        bytes: out,
        format: Format::Webp,
        source_format: Format::Webp,
        stored_width: width,
        stored_height: height,
        orientation: orientation.unwrap_or(Orientation::NoTransforms),
        removed,
    })
}

/// An ANMF frame rebuilt from its 16-byte header and its image sub-chunks (ALPH, VP8, VP8L) only:
/// anything else nested in a frame (an EXIF or XMP chunk, say) goes. Every frame's bitstream is
/// checked against the limits and must lie inside the canvas, so a small file cannot announce a
/// huge frame.
fn animation_frame(
    data: &[u8],
    canvas: (u32, u32),
    limits: &Limits,
    removed: &mut BTreeSet<Removed>,
) -> Result<Vec<u8>, MediaError> {
    if data.len() < 16 {
        return Err(MediaError::corrupt(FORMAT, "an animation frame header is too short"));
    }
    let (x, y) = (le24(&data[0..3]) * 2, le24(&data[3..6]) * 2);
    let (w, h) = (le24(&data[6..9]) + 1, le24(&data[9..12]) + 1);
    limits.check_dimensions(FORMAT, u64::from(w), u64::from(h))?;
    if u64::from(x) + u64::from(w) > u64::from(canvas.0) || u64::from(y) + u64::from(h) > u64::from(canvas.1) {
        return Err(MediaError::corrupt(FORMAT, "an animation frame lies outside the canvas"));
    }
    let mut out = data[..16].to_vec();
    let mut at = 16;
    let mut has_image = false;
    while at < data.len() {
        if at + 8 > data.len() {
            return Err(MediaError::corrupt(FORMAT, "a frame's chunk header runs past the frame"));
        }
        let fourcc: [u8; 4] = data[at..at + 4].try_into().expect("four bytes");
        let size = le32(data, at + 4) as usize;
        let Some(end) = (at + 8).checked_add(size).filter(|&end| end <= data.len()) else {
            return Err(MediaError::corrupt(FORMAT, "a frame's chunk runs past the frame"));
        };
        let sub = Chunk { fourcc, data: &data[at + 8..end] };
        match &fourcc {
            b"VP8 " | b"VP8L" => {
                let (bw, bh, _) = bitstream_dimensions(&sub)?;
                limits.check_dimensions(FORMAT, u64::from(bw), u64::from(bh))?;
                if (bw, bh) != (w, h) {
                    return Err(MediaError::corrupt(FORMAT, "a frame's bitstream does not match its size"));
                }
                has_image = true;
                write_chunk(&mut out, &fourcc, sub.data);
            }
            b"ALPH" => write_chunk(&mut out, &fourcc, sub.data),
            b"EXIF" => {
                removed.insert(Removed::Exif);
            }
            b"XMP " => {
                removed.insert(Removed::Xmp);
            }
            _ => {
                removed.insert(Removed::ApplicationData);
            }
        }
        at = end + (size & 1);
    }
    if !has_image {
        return Err(MediaError::corrupt(FORMAT, "an animation frame has no image data"));
    }
    Ok(out)
}

/// Some writers put the JPEG-style `Exif\0\0` prefix in front of the TIFF data; tolerate both.
fn strip_exif_prefix(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"Exif\0\0").unwrap_or(data)
}

/// Writes a chunk with its size and a zero pad byte when the size is odd.
fn write_chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_chunk(&mut out, fourcc, data);
        out
    }

    fn riff(chunks: &[Vec<u8>], trailing: &[u8]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut f = b"RIFF".to_vec();
        f.extend_from_slice(&((4 + body.len()) as u32).to_le_bytes());
        f.extend_from_slice(b"WEBP");
        f.extend(body);
        f.extend_from_slice(trailing);
        f
    }

    fn vp8l(width: u32, height: u32) -> Vec<u8> {
        let bits = (width - 1) | (height - 1) << 14;
        let mut d = vec![0x2F];
        d.extend_from_slice(&bits.to_le_bytes());
        d.extend_from_slice(b"pixels");
        chunk(b"VP8L", &d)
    }

    fn vp8x(flags: u8, width: u32, height: u32) -> Vec<u8> {
        vp8x_with_reserved(flags, [0, 0, 0], width, height)
    }

    fn vp8x_with_reserved(flags: u8, reserved: [u8; 3], width: u32, height: u32) -> Vec<u8> {
        let mut d = vec![flags];
        d.extend_from_slice(&reserved);
        d.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
        d.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
        chunk(b"VP8X", &d)
    }

    #[test]
    fn drops_metadata_chunks_and_fixes_flags_and_size() {
        let profile = crate::media::icc::tests::identifying_profile(2);
        let input = riff(
            &[
                vp8x_with_reserved(FLAG_ICC | FLAG_EXIF | 0x04 | 0xC0, [0xAA, 0xBB, 0xCC], 40, 30),
                chunk(b"ICCP", &profile),
                vp8l(40, 30),
                chunk(b"EXIF", b"MM\0*garbage"),
                chunk(b"XMP ", b"<x:xmpmeta/>"),
                chunk(b"JUNK", b"vendor"),
            ],
            b"appended",
        );
        let out = scrub(&input, &Limits::default()).unwrap();
        let clean = crate::media::icc::sanitize(&profile).unwrap();
        let expected = riff(&[vp8x(FLAG_ICC, 40, 30), chunk(b"ICCP", &clean), vp8l(40, 30)], b"");
        assert_eq!(out.bytes, expected);
        use Removed::*;
        assert_eq!(
            out.removed.into_iter().collect::<Vec<_>>(),
            vec![Exif, Xmp, TrailingData, ApplicationData, ProfileDetails]
        );
        assert_eq!((out.stored_width, out.stored_height), (40, 30));

        // A profile that is not one is dropped, and so is its flag.
        let input = riff(&[vp8x(FLAG_ICC, 40, 30), chunk(b"ICCP", b"not a profile"), vp8l(40, 30)], b"");
        let out = scrub(&input, &Limits::default()).unwrap();
        assert_eq!(out.bytes, riff(&[vp8x(0, 40, 30), vp8l(40, 30)], b""));
    }

    fn frame(x: u32, y: u32, w: u32, h: u32, sub: &[Vec<u8>]) -> Vec<u8> {
        let mut d = Vec::new();
        for v in [x / 2, y / 2, w - 1, h - 1, 100] {
            d.extend_from_slice(&v.to_le_bytes()[..3]);
        }
        d.push(0);
        for s in sub {
            d.extend_from_slice(s);
        }
        chunk(b"ANMF", &d)
    }

    #[test]
    fn animation_frames_keep_only_their_image_chunks() {
        let anim = chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]);
        let hidden = chunk(b"EXIF", b"GPS 51.5N in a frame");
        let input = riff(
            &[
                vp8x(FLAG_ANIMATION, 40, 30),
                anim.clone(),
                frame(0, 0, 40, 30, &[vp8l(40, 30), hidden.clone()]),
                frame(10, 10, 20, 20, &[chunk(b"XMP ", b"<x/>"), vp8l(20, 20)]),
            ],
            b"",
        );
        let out = scrub(&input, &Limits::default()).unwrap();
        let expected = riff(
            &[
                vp8x(FLAG_ANIMATION, 40, 30),
                anim,
                frame(0, 0, 40, 30, &[vp8l(40, 30)]),
                frame(10, 10, 20, 20, &[vp8l(20, 20)]),
            ],
            b"",
        );
        assert_eq!(out.bytes, expected);
        assert!(out.removed.contains(&Removed::Exif) && out.removed.contains(&Removed::Xmp));
    }

    #[test]
    fn a_frame_bigger_than_its_canvas_or_the_limits_is_refused() {
        let bomb = riff(&[vp8x(FLAG_ANIMATION, 40, 30), frame(0, 0, 16_000, 16_000, &[vp8l(16_000, 16_000)])], b"");
        assert!(scrub(&bomb, &Limits::default()).is_err());
        let outside = riff(&[vp8x(FLAG_ANIMATION, 40, 30), frame(30, 0, 20, 20, &[vp8l(20, 20)])], b"");
        assert!(scrub(&outside, &Limits::default()).is_err());
        let lying = riff(&[vp8x(FLAG_ANIMATION, 40, 30), frame(0, 0, 20, 20, &[vp8l(30, 30)])], b"");
        assert!(scrub(&lying, &Limits::default()).is_err());
        let small = Limits { max_pixels: 100, ..Limits::default() };
        let big_frame = riff(&[vp8x(FLAG_ANIMATION, 40, 30), frame(0, 0, 20, 20, &[vp8l(20, 20)])], b"");
        assert!(scrub(&big_frame, &small).is_err());
    }

    #[test]
    fn promotes_a_simple_file_to_keep_orientation() {
        let input = riff(&[vp8l(40, 30), chunk(b"EXIF", &orientation_only_tiff(Orientation::Rotate90))], b"");
        let out = scrub(&input, &Limits::default()).unwrap();
        let expected = riff(
            &[vp8x(FLAG_EXIF, 40, 30), vp8l(40, 30), chunk(b"EXIF", &orientation_only_tiff(Orientation::Rotate90))],
            b"",
        );
        assert_eq!(out.bytes, expected);
        assert_eq!(out.display_dimensions(), (30, 40));
    }

    #[test]
    fn rejects_truncation_and_hidden_bombs() {
        let good = riff(&[vp8l(40, 30)], b"");
        for cut in 0..good.len() {
            assert!(scrub(&good[..cut], &Limits::default()).is_err(), "cut at {cut}");
        }
        let hidden = riff(&[vp8x(0, 10, 10), vp8l(16_000, 16_000)], b"");
        assert_eq!(scrub(&hidden, &Limits::default()).unwrap_err().code(), "image_too_large");
    }
}

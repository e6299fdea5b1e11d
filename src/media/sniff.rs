//! Format detection from magic bytes only.
//!
//! The filename and the declared Content-Type are chosen by the uploader and prove nothing; the first
//! bytes of the file decide which parser sees it.

use serde::Serialize;

use crate::media::error::MediaError;

/// An image format the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// JPEG / JFIF / Exif JPEG.
    Jpeg,
    /// PNG (APNG is accepted as its still default image).
    Png,
    /// WebP, lossy or lossless, simple or extended.
    Webp,
    /// HEIC or another HEIF still image; always transcoded to JPEG.
    Heif,
}

impl Format {
    /// The short lowercase name used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Heif => "heif",
        }
    }

    /// The file extension for this format's scrubbed output.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            // HEIF never leaves the scrubber: it becomes a JPEG.
            Format::Heif => "jpg",
        }
    }

    /// The MIME type of this format.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Heif => "image/heif",
        }
    }
}

/// The PNG signature.
pub(crate) const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// HEIF major or compatible brands whose image items libheif decodes. AVIF (`avif`, `avis`) is
/// deliberately absent: the product accepts HEIC/HEIF, and a generic `mif1` file is accepted only
/// when it also lists a HEVC brand.
const HEIF_BRANDS: &[&[u8; 4]] = &[b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"];

/// Detects the format of `bytes` from its magic numbers.
///
/// Returns [`MediaError::Empty`] for an empty input and [`MediaError::UnsupportedFormat`] (naming
/// what the bytes look like, where that is known) for everything else we do not accept.
pub fn sniff(bytes: &[u8]) -> Result<Format, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(Format::Png);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(Format::Webp);
    }
    if let Some(brands) = ftyp_brands(bytes) {
        if brands.iter().any(|b| HEIF_BRANDS.contains(b)) {
            return Ok(Format::Heif);
        }
        if brands.iter().any(|b| *b == b"avif" || *b == b"avis") {
            return Err(MediaError::UnsupportedFormat("an AVIF image".into()));
        }
        return Err(MediaError::UnsupportedFormat("an ISO media file (video or other)".into()));
    }
    Err(MediaError::UnsupportedFormat(describe_unknown(bytes).into()))
}

/// The major brand and compatible brands of an ISO-BMFF `ftyp` box at the start of `bytes`.
fn ftyp_brands(bytes: &[u8]) -> Option<Vec<&[u8; 4]>> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(bytes[0..4].try_into().ok()?) as usize;
    if size < 16 {
        return None;
    }
    let end = size.min(bytes.len());
    let mut brands = vec![bytes[8..12].try_into().ok()?];
    // Skip the 4-byte minor version.
    let mut at = 16;
    while at + 4 <= end {
        brands.push(bytes[at..at + 4].try_into().ok()?);
        at += 4;
    }
    Some(brands)
}

/// A few common non-image uploads, named so the error tells the user what they sent.
fn describe_unknown(bytes: &[u8]) -> &'static str {
    const KNOWN: &[(&[u8], &str)] = &[
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive or office document"),
        (b"II*\0", "a TIFF or camera raw image"),
        (b"MM\0*", "a TIFF or camera raw image"),
        (b"BM", "a BMP image"),
        (b"\0\0\0\x0cjP  ", "a JPEG 2000 image"),
        (b"\xff\x0a", "a JPEG XL image"),
        (b"<svg", "an SVG drawing"),
        (b"<?xml", "an XML document"),
    ];
    KNOWN.iter().find(|(magic, _)| bytes.starts_with(magic)).map_or("an unrecognised file type", |(_, what)| what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut v = (size as u32).to_be_bytes().to_vec();
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(major);
        v.extend_from_slice(&[0, 0, 0, 0]);
        for b in compatible {
            v.extend_from_slice(*b);
        }
        v.extend_from_slice(&[0; 32]);
        v
    }

    #[test]
    fn recognises_each_accepted_format() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Ok(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"), Ok(Format::Png));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Ok(Format::Webp));
        assert_eq!(sniff(&ftyp(b"heic", &[b"mif1", b"heic"])), Ok(Format::Heif));
        assert_eq!(sniff(&ftyp(b"mif1", &[b"mif1", b"heic"])), Ok(Format::Heif));
    }

    #[test]
    fn rejects_everything_else_with_a_named_reason() {
        assert_eq!(sniff(&[]), Err(MediaError::Empty));
        for (bytes, expected) in [
            (&b"GIF89a"[..], "a GIF image"),
            (b"%PDF-1.7", "a PDF document"),
            (b"hello world", "an unrecognised file type"),
            (b"RIFF\x10\0\0\0WAVEfmt ", "an unrecognised file type"),
            (&[0xFF, 0xD8][..], "an unrecognised file type"),
        ] {
            assert_eq!(sniff(bytes), Err(MediaError::UnsupportedFormat(expected.into())));
        }
        assert_eq!(
            sniff(&ftyp(b"avif", &[b"mif1", b"avif"])),
            Err(MediaError::UnsupportedFormat("an AVIF image".into()))
        );
        assert_eq!(
            sniff(&ftyp(b"isom", &[b"mp41"])),
            Err(MediaError::UnsupportedFormat("an ISO media file (video or other)".into()))
        );
    }

    #[test]
    fn ignores_a_png_signature_that_is_not_at_the_start() {
        let mut bytes = vec![0u8; 4];
        bytes.extend_from_slice(PNG_SIGNATURE);
        assert!(matches!(sniff(&bytes), Err(MediaError::UnsupportedFormat(_))));
    }
}

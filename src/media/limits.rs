//! Size limits, checked against the file length and the header's announced dimensions before any
//! pixel is decoded, so that a decompression bomb costs a few header reads and no allocation.

use serde::{Deserialize, Serialize};

use crate::media::error::MediaError;
use crate::media::sniff::Format;

/// The limits an upload must respect. Every one is a named setting with a safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest accepted file, in bytes (default 40 MiB).
    pub max_bytes: u64,
    /// Largest accepted picture, in pixels (default 100 megapixels).
    pub max_pixels: u64,
    /// Largest accepted width or height, in pixels (default 24 000, enough for phone panoramas).
    pub max_side: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 40 * 1024 * 1024, max_pixels: 100_000_000, max_side: 24_000 }
    }
}

impl Limits {
    /// Rejects a file whose length exceeds [`Limits::max_bytes`].
    pub fn check_bytes(&self, size: u64) -> Result<(), MediaError> {
        if size > self.max_bytes {
            return Err(MediaError::FileTooLarge { size, max: self.max_bytes });
        }
        Ok(())
    }

    /// Rejects dimensions announced by a header that exceed a limit or are zero.
    pub fn check_dimensions(&self, format: &'static str, width: u64, height: u64) -> Result<(), MediaError> {
        if width == 0 || height == 0 {
            return Err(MediaError::corrupt(format, format!("the header announces a {width}×{height} picture")));
        }
        let too_large = |limit: String| MediaError::ImageTooLarge { width, height, limit };
        if width > u64::from(self.max_side) || height > u64::from(self.max_side) {
            return Err(too_large(format!("no side may exceed {} pixels", self.max_side)));
        }
        if width.saturating_mul(height) > self.max_pixels {
            return Err(too_large(format!("the limit is {} pixels", self.max_pixels)));
        }
        Ok(())
    }
}

/// Bytes a full decode takes per pixel: 8-bit RGBA plus a second buffer of that size (a colour
/// conversion, a turn, a luminance plane) at once.
pub const FULL_DECODE_BYTES_PER_PIXEL: u64 = 8;
/// Bytes per stored pixel when a JPEG is decoded at a reduced DCT scale (at most 1/2 per side, so
/// a quarter of the pixels) plus the scrubbed copy: a quarter of the full cost, rounded up.
pub const REDUCED_DECODE_BYTES_PER_PIXEL: u64 = 2;

/// Estimates the memory decoding a `width`×`height` picture of `format` takes, from its header
/// alone, so the caller can reserve it before any pixel is decoded. A JPEG is decoded at reduced
/// size for its perceptual hash and renditions; HEIC, PNG and WebP in full.
pub fn decode_cost(format: Format, width: u64, height: u64) -> u64 {
    let per_pixel = match format {
        Format::Jpeg => REDUCED_DECODE_BYTES_PER_PIXEL,
        Format::Png | Format::Webp | Format::Heif => FULL_DECODE_BYTES_PER_PIXEL,
    };
    width.saturating_mul(height).saturating_mul(per_pixel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_limit_is_inclusive() {
        let limits = Limits { max_bytes: 10, ..Limits::default() };
        assert!(limits.check_bytes(10).is_ok());
        assert_eq!(limits.check_bytes(11), Err(MediaError::FileTooLarge { size: 11, max: 10 }));
    }

    #[test]
    fn dimension_limits() {
        let limits = Limits::default();
        assert!(limits.check_dimensions("png", 4032, 3024).is_ok());
        assert!(limits.check_dimensions("png", 24_000, 4_000).is_ok());
        assert_eq!(limits.check_dimensions("png", 60_000, 60_000).unwrap_err().code(), "image_too_large");
        assert_eq!(limits.check_dimensions("png", 20_000, 20_000).unwrap_err().code(), "image_too_large");
        assert_eq!(limits.check_dimensions("png", 24_001, 10).unwrap_err().code(), "image_too_large");
        assert_eq!(limits.check_dimensions("png", 0, 10).unwrap_err().code(), "corrupt_image");
    }
}

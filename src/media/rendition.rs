//! The renditions of a stored image: the web one marketing downloads with `?rendition=web` (long
//! side at most [`WEB_LONG_SIDE`]) and the thumbnail the pages' grids show with `?rendition=thumb`
//! (long side at most [`THUMB_LONG_SIDE`]). Both are the stored image turned upright, shrunk, and
//! re-encoded as a JPEG that carries nothing but pixels (no Exif, no ICC, no comment). Pure.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, RgbImage};

use super::scrub;
use crate::media::error::MediaError;
use crate::media::limits::Limits;
use crate::media::sniff::{sniff, Format};

/// Longest side of a web rendition, in pixels.
pub const WEB_LONG_SIDE: u32 = 2048;
/// JPEG quality of a web rendition: visually clean, a few hundred kilobytes.
pub const WEB_QUALITY: u8 = 85;

/// Longest side of a thumbnail: sharp on a phone's grid tile at 2× density, a few tens of kilobytes.
pub const THUMB_LONG_SIDE: u32 = 480;
/// JPEG quality of a thumbnail.
pub const THUMB_QUALITY: u8 = 80;

/// Makes the web rendition of a stored (already scrubbed) image.
pub fn web(stored: &[u8], limits: &Limits) -> Result<Vec<u8>, MediaError> {
    shrunk(stored, limits, WEB_LONG_SIDE, WEB_QUALITY)
}

/// Makes the thumbnail of a stored (already scrubbed) image: the same path as [`web`], smaller.
pub fn thumb(stored: &[u8], limits: &Limits) -> Result<Vec<u8>, MediaError> {
    shrunk(stored, limits, THUMB_LONG_SIDE, THUMB_QUALITY)
}

/// The stored image upright, its long side at most `long_side`, as a metadata-free JPEG.
fn shrunk(stored: &[u8], limits: &Limits, long_side: u32, quality: u8) -> Result<Vec<u8>, MediaError> {
    let format = sniff(stored)?;
    let run = || -> Result<Vec<u8>, MediaError> {
        // Scrubbing our own output again is cheap and yields the orientation to apply; it also
        // re-checks the limits before anything is decoded.
        let orientation = scrub::scrub(stored, format, limits)?.orientation;
        let image_format = match format {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Webp => image::ImageFormat::WebP,
            // HEIC is never stored: uploads are transcoded to JPEG.
            Format::Heif => return Err(MediaError::UnsupportedFormat("a stored HEIC image".into())),
        };
        let mut reader = image::ImageReader::with_format(Cursor::new(stored), image_format);
        let mut image_limits = image::Limits::default();
        image_limits.max_image_width = Some(limits.max_side);
        image_limits.max_image_height = Some(limits.max_side);
        image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4));
        reader.limits(image_limits);
        let mut image =
            reader.decode().map_err(|e| MediaError::corrupt(format.name(), format!("cannot decode it: {e}")))?;
        image.apply_orientation(orientation);
        let (w, h) = image.dimensions();
        if w.max(h) > long_side {
            image = image.resize(long_side, long_side, FilterType::Triangle);
        }
        let rgb = on_white(image);
        let mut out = Vec::new();
        let encoder = jpeg_encoder::Encoder::new(&mut out, quality);
        let (w, h) = rgb.dimensions();
        let (w, h) = (u16::try_from(w), u16::try_from(h));
        let (Ok(w), Ok(h)) = (w, h) else {
            return Err(MediaError::corrupt("jpeg", "the rendition is too large to encode"));
        };
        encoder
            .encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
            .map_err(|e| MediaError::corrupt("jpeg", format!("cannot encode the rendition: {e}")))?;
        Ok(out)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .unwrap_or_else(|_| Err(MediaError::corrupt(format.name(), crate::media::error::DECODER_CRASHED)))
}

/// Transparent pixels composed onto white, as a page would show them (JPEG has no alpha).
fn on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a)) + 127) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).unwrap();
        out
    }

    #[test]
    fn large_images_shrink_to_the_web_size_and_small_ones_keep_theirs() {
        let limits = Limits::default();
        let big = web(&jpeg(3000, 1000), &limits).unwrap();
        let decoded = image::load_from_memory(&big).unwrap();
        assert_eq!(decoded.dimensions(), (2048, 683));
        let small = web(&jpeg(640, 480), &limits).unwrap();
        assert_eq!(image::load_from_memory(&small).unwrap().dimensions(), (640, 480));
        // Nothing but JPEG structure: no APPn segment besides none at all (jpeg-encoder writes JFIF).
        assert!(!big.windows(4).any(|w| w == b"Exif"));
    }

    #[test]
    fn thumbnails_fit_in_480_pixels_without_metadata() {
        let limits = Limits::default();
        let thumb = thumb(&jpeg(3000, 1000), &limits).unwrap();
        assert_eq!(image::load_from_memory(&thumb).unwrap().dimensions(), (480, 160));
        assert!(!thumb.windows(4).any(|w| w == b"Exif"));
    }

    #[test]
    fn orientation_is_applied() {
        let limits = Limits::default();
        let stored = jpeg(400, 200);
        // A scrubbed JPEG keeps orientation as a lone Exif tag right after SOI.
        let tagged = crate::media::scrub::scrub(&stored, Format::Jpeg, &limits).unwrap();
        assert_eq!(image::load_from_memory(&web(&tagged.bytes, &limits).unwrap()).unwrap().dimensions(), (400, 200));
        let mut rotated = vec![0xFF, 0xD8];
        rotated
            .extend_from_slice(&crate::media::scrub::jpeg::orientation_segment(image::metadata::Orientation::Rotate90));
        rotated.extend_from_slice(&stored[2..]);
        assert_eq!(image::load_from_memory(&web(&rotated, &limits).unwrap()).unwrap().dimensions(), (200, 400));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(web(b"not an image", &Limits::default()).is_err());
        let mut truncated = jpeg(300, 300);
        truncated.truncate(200);
        assert!(web(&truncated, &Limits::default()).is_err());
    }
}

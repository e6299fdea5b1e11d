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

/// Long side of the small copy kept while a takedown of a deleted image is open: enough to
/// recognise the post, too small to be worth publishing.
pub const TAKEDOWN_LONG_SIDE: u32 = 160;

/// Makes the small copy kept while a takedown is open, from the thumbnail or the stored image.
pub fn takedown_copy(stored: &[u8], limits: &Limits) -> Result<Vec<u8>, MediaError> {
    shrunk(stored, limits, TAKEDOWN_LONG_SIDE, THUMB_QUALITY)
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
        // A large PNG is reduced row by row as it is decoded, upright: memory follows the
        // rendition's size, not the picture's.
        if format == Format::Png {
            let fit = |w: usize, h: usize| fit_within(w, h, long_side as usize);
            if let Some(reduced) =
                super::reduce::png(stored, limits, orientation, super::reduce::Channels::RgbOnWhite, fit)?
            {
                let pixels = reduced.cells.iter().map(|&v| v.round().clamp(0.0, 255.0) as u8).collect();
                let rgb = RgbImage::from_raw(reduced.width as u32, reduced.height as u32, pixels)
                    .ok_or_else(|| MediaError::corrupt("png", "bad dimensions"))?;
                return encode(&rgb, quality);
            }
        }
        // A JPEG is decoded straight at the smallest DCT scale that still covers the rendition,
        // so a 12 MP photo's thumbnail never holds 12 MP; other formats are decoded once in full.
        let reduced = if format == Format::Jpeg { reduced_jpeg(stored, limits, long_side) } else { None };
        let mut image = match reduced {
            Some(image) => image,
            None => {
                let mut reader = image::ImageReader::with_format(Cursor::new(stored), image_format);
                let mut image_limits = image::Limits::default();
                image_limits.max_image_width = Some(limits.max_side);
                image_limits.max_image_height = Some(limits.max_side);
                image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4));
                reader.limits(image_limits);
                reader.decode().map_err(|e| MediaError::corrupt(format.name(), format!("cannot decode it: {e}")))?
            }
        };
        image.apply_orientation(orientation);
        let (w, h) = image.dimensions();
        if w.max(h) > long_side {
            image = image.resize(long_side, long_side, FilterType::Triangle);
        }
        encode(&on_white(image), quality)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .unwrap_or_else(|_| Err(MediaError::corrupt(format.name(), crate::media::error::DECODER_CRASHED)))
}

/// The size of a `w × h` picture shrunk to fit a `long_side` square, keeping its aspect; `(0, 0)`
/// when it fits already (nothing to reduce: it is decoded as it is).
fn fit_within(w: usize, h: usize, long_side: usize) -> (usize, usize) {
    let long = w.max(h);
    if long <= long_side {
        return (0, 0);
    }
    let scale = |n: usize| ((n * long_side + long / 2) / long).max(1);
    (scale(w), scale(h))
}

/// Encodes RGB pixels as a JPEG carrying nothing but pixels (jpeg-encoder writes JFIF only).
fn encode(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    let (w, h) = rgb.dimensions();
    let (Ok(w), Ok(h)) = (u16::try_from(w), u16::try_from(h)) else {
        return Err(MediaError::corrupt("jpeg", "the rendition is too large to encode"));
    };
    encoder
        .encode(rgb.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| MediaError::corrupt("jpeg", format!("cannot encode the rendition: {e}")))?;
    Ok(out)
}

/// Decodes a JPEG to RGB at 1/8, 1/4 or 1/2 scale (the smallest whose long side still reaches
/// `long_side`, or the picture's own), straight from the DCT coefficients with libjpeg-turbo.
/// `None` when this path cannot take it (four-component colour, a header it refuses): the caller
/// then decodes in full, which reports a damaged file properly.
fn reduced_jpeg(bytes: &[u8], limits: &Limits, long_side: u32) -> Option<DynamicImage> {
    use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};
    let mut decompressor = Decompressor::new().ok()?;
    let header = decompressor.read_header(bytes).ok()?;
    limits.check_dimensions("jpeg", header.width as u64, header.height as u64).ok()?;
    if header.is_lossless || matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK) {
        return None;
    }
    let wanted = (long_side as usize).min(header.width.max(header.height));
    let scale = [ScalingFactor::ONE_EIGHTH, ScalingFactor::ONE_QUARTER, ScalingFactor::ONE_HALF]
        .into_iter()
        .find(|f| f.scale(header.width).max(f.scale(header.height)) >= wanted)
        .unwrap_or(ScalingFactor::ONE);
    decompressor.set_scaling_factor(scale).ok()?;
    let scaled = header.scaled(scale);
    let mut pixels = vec![0u8; scaled.width * scaled.height * 3];
    let image = Image {
        pixels: &mut pixels[..],
        width: scaled.width,
        pitch: scaled.width * 3,
        height: scaled.height,
        format: PixelFormat::RGB,
    };
    decompressor.decompress(bytes, image).ok()?;
    RgbImage::from_raw(scaled.width as u32, scaled.height as u32, pixels).map(DynamicImage::ImageRgb8)
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
    fn a_large_jpeg_is_decoded_reduced_to_the_same_rendition() {
        let limits = Limits::default();
        let stored = jpeg(4000, 3000);
        let reduced = reduced_jpeg(&stored, &limits, THUMB_LONG_SIDE).unwrap();
        assert_eq!(reduced.dimensions(), (500, 375), "1/8 scale still covers 480 px");
        assert_eq!(image::load_from_memory(&thumb(&stored, &limits).unwrap()).unwrap().dimensions(), (480, 360));
        // Small pictures are decoded at full size.
        assert_eq!(reduced_jpeg(&jpeg(300, 200), &limits, THUMB_LONG_SIDE).unwrap().dimensions(), (300, 200));
    }

    #[test]
    fn a_large_png_is_reduced_upright_while_decoded() {
        let img = image::RgbaImage::from_fn(3000, 1000, |x, _| image::Rgba([(x % 256) as u8, 10, 200, 255]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(img).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let thumb = thumb(&png, &Limits::default()).unwrap();
        assert_eq!(image::load_from_memory(&thumb).unwrap().dimensions(), (480, 160));
        assert!(!thumb.windows(4).any(|w| w == b"Exif"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(web(b"not an image", &Limits::default()).is_err());
        let mut truncated = jpeg(300, 300);
        truncated.truncate(200);
        assert!(web(&truncated, &Limits::default()).is_err());
    }
}

//! HEIC/HEIF: decoded by libheif and re-encoded as a baseline JPEG. Only the pixels (with the
//! file's rotation, mirror and crop applied) and the ICC colour profile survive; every metadata
//! item, thumbnail, depth map and gain map is left behind.

use std::collections::BTreeSet;

use libheif_rs::{ColorSpace, HeifContext, ImageHandle, LibHeif, RgbChroma, SecurityLimits};

use super::parts::{Removed, Scrubbed};
use crate::media::error::MediaError;
use crate::media::limits::Limits;
use crate::media::orient::inspect_exif;
use crate::media::orient::Orientation;
use crate::media::sniff::Format;

const FORMAT: &str = "heif";

/// JPEG quality of the transcode: visually lossless for photos, about a third of the pixels' size.
pub(crate) const JPEG_QUALITY: u8 = 90;

fn corrupt(err: impl std::fmt::Display) -> MediaError {
    MediaError::corrupt(FORMAT, err.to_string())
}

/// The primary image's size from the container, without decoding any pixel.
pub(crate) fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let context = HeifContext::read_from_bytes(bytes).ok()?;
    let handle = context.primary_image_handle().ok()?;
    Some((handle.width(), handle.height()))
}

/// Decodes, checks against the limits, and transcodes to JPEG.
pub(crate) fn scrub(bytes: &[u8], limits: &Limits) -> Result<Scrubbed, MediaError> {
    let lib = LibHeif::new();
    let mut context = HeifContext::new().map_err(corrupt)?;
    let mut security = SecurityLimits::new();
    security.set_max_image_size_pixels(limits.max_pixels);
    context.set_security_limits(&security).map_err(corrupt)?;
    context.read_bytes(bytes).map_err(corrupt)?;
    let handle = context.primary_image_handle().map_err(corrupt)?;
    let (width, height) = (handle.width(), handle.height());
    limits.check_dimensions(FORMAT, u64::from(width), u64::from(height))?;

    let mut removed = inventory(&context, &handle);

    let image = lib.decode(&handle, ColorSpace::Rgb(RgbChroma::Rgb), None).map_err(corrupt)?;
    let plane =
        image.planes().interleaved.ok_or_else(|| MediaError::corrupt(FORMAT, "the decoder returned no RGB pixels"))?;
    let (width, height) = (plane.width, plane.height);
    limits.check_dimensions(FORMAT, u64::from(width), u64::from(height))?;
    let row_bytes = width as usize * 3;
    let rgb: Vec<u8> = if plane.stride == row_bytes {
        plane.data[..row_bytes * height as usize].to_vec()
    } else {
        plane.data.chunks(plane.stride).take(height as usize).flat_map(|row| &row[..row_bytes]).copied().collect()
    };

    // The profile is rebuilt like any other: its text and device fields never reach the JPEG.
    let profile = handle.color_profile_raw().and_then(|p| super::parts::clean_profile(&p.data, &mut removed));
    let bytes = encode_jpeg(&rgb, width, height, profile.as_deref())?;

    Ok(Scrubbed {
        bytes,
        format: Format::Jpeg,
        source_format: Format::Heif,
        stored_width: width,
        stored_height: height,
        // libheif applied the file's rotation and mirroring while decoding.
        orientation: Orientation::NoTransforms,
        removed,
    })
}

/// Encodes interleaved RGB as a baseline 4:2:0 JPEG carrying `icc_profile` and nothing else but
/// the JFIF header.
pub(crate) fn encode_jpeg(
    rgb: &[u8],
    width: u32,
    height: u32,
    icc_profile: Option<&[u8]>,
) -> Result<Vec<u8>, MediaError> {
    let (w, h) = (
        u16::try_from(width).map_err(|_| MediaError::corrupt(FORMAT, "too wide for JPEG"))?,
        u16::try_from(height).map_err(|_| MediaError::corrupt(FORMAT, "too tall for JPEG"))?,
    );
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    if let Some(profile) = icc_profile {
        encoder.add_icc_profile(profile).map_err(corrupt)?;
    }
    encoder.encode(rgb, w, h, jpeg_encoder::ColorType::Rgb).map_err(corrupt)?;
    Ok(out)
}

/// What the HEIF file carried beside the primary picture: reported, never copied.
fn inventory(context: &HeifContext<'_>, handle: &ImageHandle) -> BTreeSet<Removed> {
    let mut removed = BTreeSet::new();
    for metadata in handle.all_metadata() {
        if metadata.item_type.0 == *b"Exif" {
            removed.insert(Removed::Exif);
            // The Exif item starts with a 4-byte offset to the TIFF header.
            let data = &metadata.raw_data;
            let offset = data.get(..4).map_or(0, |b| u32::from_be_bytes(b.try_into().expect("four bytes")) as usize);
            if let Some(tiff) = data.get(4 + offset..) {
                let summary = inspect_exif(tiff);
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
        } else if metadata.content_type.contains("rdf+xml") {
            removed.insert(Removed::Xmp);
        } else {
            removed.insert(Removed::ApplicationData);
        }
    }
    if handle.number_of_thumbnails() > 0 {
        removed.insert(Removed::Thumbnail);
    }
    if handle.has_depth_image()
        || !handle.auxiliary_images(None).is_empty()
        || context.top_level_image_handles().len() > 1
    {
        removed.insert(Removed::AuxiliaryImages);
    }
    removed
}

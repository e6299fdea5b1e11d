//! Scrubbing: every byte that could identify a person, a place, a device or a moment is dropped;
//! the picture and what is needed to show it correctly (colour profile, orientation) stay.
//!
//! Each format has its own module. They share one rule: keep what is on an allowlist of structure
//! needed to display the picture, drop everything else, and say what was dropped.

pub(crate) mod jpeg;
mod parts;
mod png;
mod webp;

#[cfg(feature = "heic")]
pub(crate) mod heic;

use crate::media::error::MediaError;
use crate::media::limits::Limits;
use crate::media::sniff::Format;

pub use parts::{swaps_axes, Removed, Scrubbed};

/// Scrubs `bytes`, already sniffed as `format`, after checking its header against `limits`.
pub fn scrub(bytes: &[u8], format: Format, limits: &Limits) -> Result<Scrubbed, MediaError> {
    limits.check_bytes(bytes.len() as u64)?;
    match format {
        Format::Jpeg => jpeg::scrub(bytes, limits),
        Format::Png => png::scrub(bytes, limits),
        Format::Webp => webp::scrub(bytes, limits),
        #[cfg(feature = "heic")]
        Format::Heif => heic::scrub(bytes, limits),
        #[cfg(not(feature = "heic"))]
        Format::Heif => {
            Err(MediaError::UnsupportedFormat("a HEIC/HEIF image, and this build has no HEIF support".into()))
        }
    }
}

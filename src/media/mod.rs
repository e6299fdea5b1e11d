//! The media core: format detection, limits, scrubbing and fingerprinting. Pure: bytes in, bytes
//! and facts out, no file system, network or clock.

mod error;
pub mod fingerprint;
pub mod icc;
pub mod limits;
pub mod orient;
mod reduce;
pub mod rendition;
pub mod scrub;
pub mod sniff;

use std::panic::{catch_unwind, AssertUnwindSafe};

pub use error::{MediaError, DECODER_CRASHED};
pub use fingerprint::{ContentHash, Fingerprint, PerceptualHash};
pub use limits::Limits;
pub use orient::Orientation;
pub use scrub::{Removed, Scrubbed};
pub use sniff::{sniff, Format};

/// An upload after scrubbing and fingerprinting: everything the rest of the system may keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// The scrubbed image.
    pub scrubbed: Scrubbed,
    /// Its fingerprints.
    pub fingerprint: Fingerprint,
}

/// The format and stored size of a picture read from its header alone (no pixel decoded), or
/// `None` when the header cannot be read (the scrub then reports why). What a caller reserves
/// memory by before decoding ([`limits::decode_cost`]).
pub fn dimensions(bytes: &[u8]) -> Option<(Format, u32, u32)> {
    let format = sniff(bytes).ok()?;
    let read = || -> Option<(u32, u32)> {
        let image_format = match format {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Webp => image::ImageFormat::WebP,
            #[cfg(feature = "heic")]
            Format::Heif => return scrub::heic::dimensions(bytes),
            #[cfg(not(feature = "heic"))]
            Format::Heif => return None,
        };
        image::ImageReader::with_format(std::io::Cursor::new(bytes), image_format).into_dimensions().ok()
    };
    let (width, height) = catch_unwind(AssertUnwindSafe(read)).ok().flatten()?;
    Some((format, width, height))
}

/// Sniffs, checks limits, scrubs and fingerprints one upload.
///
/// The original bytes are only read: nothing of them survives in the result but their blake3.
/// Third-party decoders run inside `catch_unwind`, so a decoder bug on hostile input is reported as
/// a damaged file instead of taking the process down.
pub fn process(original: &[u8], limits: &Limits) -> Result<Processed, MediaError> {
    limits.check_bytes(original.len() as u64)?;
    let format = sniff(original)?;
    let run = || -> Result<Processed, MediaError> {
        let scrubbed = scrub::scrub(original, format, limits)?;
        let phash = fingerprint::perceptual_hash(&scrubbed, limits)?;
        let fingerprint =
            Fingerprint { blake3: ContentHash::of(&scrubbed.bytes), original_blake3: ContentHash::of(original), phash };
        Ok(Processed { scrubbed, fingerprint })
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| Err(MediaError::corrupt(format.name(), DECODER_CRASHED)))
}

//! The one error type of the media core.

use thiserror::Error;

/// Why an upload was rejected by the media core.
///
/// Every variant is a fault of the input, never of the service: the HTTP layer maps them all to 4xx
/// responses and the CLI prints them as `{"error":{"code","message"}}`. Messages never quote the
/// input's bytes or name, so they are safe to log.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// Nothing was uploaded.
    #[error("the file is empty")]
    Empty,
    /// The magic bytes match no format we accept (JPEG, PNG, WebP, HEIC/HEIF).
    #[error("not an image we accept: {0}; send a JPEG, PNG, WebP or HEIC/HEIF photo")]
    UnsupportedFormat(String),
    /// The upload is larger than the configured byte limit.
    #[error("the file is {size} bytes; the limit is {max} bytes")]
    FileTooLarge {
        /// Size of the upload in bytes.
        size: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The header announces a picture too large to decode safely (a decompression bomb or a
    /// panorama beyond the configured limits).
    #[error("the image is {width}×{height} pixels; {limit}")]
    ImageTooLarge {
        /// Width announced by the header.
        width: u64,
        /// Height announced by the header.
        height: u64,
        /// Which limit was exceeded, in words.
        limit: String,
    },
    /// The file claims to be a supported format but its structure or pixel data is broken.
    #[error("the {format} file is damaged: {reason}")]
    Corrupt {
        /// The format the magic bytes announced.
        format: &'static str,
        /// What was wrong, in words.
        reason: String,
    },
}

impl MediaError {
    /// A stable, machine-readable code for this error, used in JSON error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Empty => "empty_file",
            MediaError::UnsupportedFormat(_) => "unsupported_format",
            MediaError::FileTooLarge { .. } => "file_too_large",
            MediaError::ImageTooLarge { .. } => "image_too_large",
            MediaError::Corrupt { .. } => "corrupt_image",
        }
    }

    pub(crate) fn corrupt(format: &'static str, reason: impl Into<String>) -> Self {
        MediaError::Corrupt { format, reason: reason.into() }
    }
}

/// The reason given when a decoder panicked; tests look for it to catch such bugs.
pub const DECODER_CRASHED: &str = "a decoder failed on this file";

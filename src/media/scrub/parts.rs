//! What every format's scrubber shares: the names of what can be removed, the scrubbed output,
//! the colour-profile cleaner and the byte readers.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::media::orient::Orientation;
use crate::media::sniff::Format;

/// A kind of data the scrubber removed, reported so that a user can see what their upload carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Removed {
    /// An Exif block (camera, time, settings).
    Exif,
    /// GPS coordinates inside an Exif block.
    Gps,
    /// Vendor MakerNotes inside an Exif block (serial numbers, sometimes location).
    MakerNotes,
    /// An embedded preview image (Exif IFD1, JFIF/JFXX thumbnail, HEIF thumbnail item).
    Thumbnail,
    /// XMP packets, including extended XMP.
    Xmp,
    /// IPTC or other Photoshop resource blocks.
    Iptc,
    /// Free-text comments.
    Comment,
    /// Multi-picture (MPF) index and the extra pictures it points to.
    MultiPicture,
    /// Bytes after the end of the image (depth maps, gain maps, appended files).
    TrailingData,
    /// Other application segments or chunks (FlashPix, vendor blocks, unknown ancillary chunks).
    ApplicationData,
    /// PNG text chunks (tEXt, zTXt, iTXt).
    Text,
    /// A last-modification time.
    Timestamp,
    /// Extra images of a HEIF file (depth maps, gain maps, alpha, other views).
    AuxiliaryImages,
    /// Animation frames beyond the still default image.
    Animation,
    /// The free-text name of a colour profile (the profile itself is kept).
    ProfileName,
    /// A colour profile's identifying parts: its description, copyright, device manufacturer and
    /// model, creator, date and viewing conditions (the colour transform is kept).
    ProfileDetails,
    /// A colour profile that could not be read, dropped whole (the image then shows as sRGB).
    ColourProfile,
}

/// A colour profile rebuilt with only its colour tags, noting what went; `None` when it cannot be
/// read and must be dropped whole.
pub(crate) fn clean_profile(profile: &[u8], removed: &mut BTreeSet<Removed>) -> Option<Vec<u8>> {
    match crate::media::icc::sanitize(profile) {
        Ok(clean) => {
            if clean != profile {
                removed.insert(Removed::ProfileDetails);
            }
            Some(clean)
        }
        Err(_) => {
            removed.insert(Removed::ColourProfile);
            None
        }
    }
}

/// The result of scrubbing one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    /// The scrubbed file, ready to store and publish.
    pub bytes: Vec<u8>,
    /// The format of [`Scrubbed::bytes`] (HEIF input becomes JPEG).
    pub format: Format,
    /// The format the upload arrived in.
    pub source_format: Format,
    /// Stored width in pixels, before orientation is applied.
    pub stored_width: u32,
    /// Stored height in pixels, before orientation is applied.
    pub stored_height: u32,
    /// The orientation a viewer must apply; kept as an Exif tag when it is not the identity.
    pub orientation: Orientation,
    /// What was removed, without duplicates, in a stable order.
    pub removed: BTreeSet<Removed>,
}

impl Scrubbed {
    /// Width and height as displayed, with the orientation applied.
    pub fn display_dimensions(&self) -> (u32, u32) {
        if swaps_axes(self.orientation) {
            (self.stored_height, self.stored_width)
        } else {
            (self.stored_width, self.stored_height)
        }
    }
}

/// Whether an orientation turns the picture by a quarter, swapping width and height.
pub fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// Reads a big-endian u16 at `at`; callers have checked the bounds.
pub(super) fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Reads a big-endian u32 at `at`; callers have checked the bounds.
pub(super) fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads a little-endian u32 at `at`; callers have checked the bounds.
pub(super) fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

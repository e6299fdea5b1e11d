//! EXIF orientation: reading it from an Exif block we are about to drop, and writing the one
//! block we keep, which holds the Orientation tag and nothing else.
//!
//! Keeping orientation as a tag (rather than rotating pixels) lets JPEG scrubbing stay lossless;
//! every viewer that honoured the original's tag honours ours, so the picture looks the same.

pub use image::metadata::Orientation;

/// What an Exif block contained, for the `removed` report and for orientation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExifSummary {
    /// The Orientation tag of the primary image, if present and valid (1–8).
    pub orientation: Option<Orientation>,
    /// A GPS IFD was present.
    pub has_gps: bool,
    /// A MakerNote (vendor-private data, often serial numbers and more GPS) was present.
    pub has_maker_note: bool,
    /// An embedded thumbnail (IFD1) was present.
    pub has_thumbnail: bool,
}

/// Reads the parts of a TIFF-structured Exif block (without the `Exif\0\0` prefix) that matter to
/// the scrubber. A block too damaged to parse yields an empty summary: it is dropped all the same.
pub fn inspect_exif(tiff: &[u8]) -> ExifSummary {
    let Ok(parsed) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return ExifSummary::default();
    };
    let orientation = parsed
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u8::try_from(v).ok())
        .and_then(Orientation::from_exif);
    let mut summary = ExifSummary { orientation, ..ExifSummary::default() };
    for field in parsed.fields() {
        summary.has_gps |= field.tag.context() == exif::Context::Gps || field.tag == exif::Tag::GPSInfoIFDPointer;
        summary.has_maker_note |= field.tag == exif::Tag::MakerNote;
        summary.has_thumbnail |= field.ifd_num == exif::In::THUMBNAIL;
    }
    summary
}

/// The Exif value (1–8) of an orientation.
pub fn exif_value(orientation: Orientation) -> u8 {
    match orientation {
        Orientation::NoTransforms => 1,
        Orientation::FlipHorizontal => 2,
        Orientation::Rotate180 => 3,
        Orientation::FlipVertical => 4,
        Orientation::Rotate90FlipH => 5,
        Orientation::Rotate90 => 6,
        Orientation::Rotate270FlipH => 7,
        Orientation::Rotate270 => 8,
    }
}

/// A big-endian TIFF structure with one IFD holding one entry, Orientation, and no next IFD:
/// 8 bytes of header, 2 of count, 12 of entry, 4 of next-IFD offset.
pub fn orientation_only_tiff(orientation: Orientation) -> [u8; 26] {
    let mut tiff = [0u8; 26];
    tiff[0..8].copy_from_slice(b"MM\0\x2a\0\0\0\x08");
    tiff[8..10].copy_from_slice(&1u16.to_be_bytes());
    tiff[10..12].copy_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff[12..14].copy_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff[14..18].copy_from_slice(&1u32.to_be_bytes()); // one value
    tiff[18..20].copy_from_slice(&u16::from(exif_value(orientation)).to_be_bytes());
    // Bytes 20..22 pad the inline value; 22..26 is the zero next-IFD offset.
    tiff
}

/// The orientation an output must carry: `None` when the picture needs no transform.
pub fn orientation_to_keep(summary: &ExifSummary) -> Option<Orientation> {
    summary.orientation.filter(|o| *o != Orientation::NoTransforms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_only_block_reads_back_as_that_orientation_alone() {
        for value in 1..=8u8 {
            let orientation = Orientation::from_exif(value).unwrap();
            let tiff = orientation_only_tiff(orientation);
            let parsed = exif::Reader::new().read_raw(tiff.to_vec()).unwrap();
            assert_eq!(parsed.fields().count(), 1);
            let field = parsed.get_field(exif::Tag::Orientation, exif::In::PRIMARY).unwrap();
            assert_eq!(field.value.get_uint(0), Some(u32::from(value)));
            assert_eq!(inspect_exif(&tiff).orientation, Some(orientation));
            assert_eq!(exif_value(orientation), value);
        }
    }

    #[test]
    fn garbage_exif_yields_an_empty_summary() {
        assert_eq!(inspect_exif(b"not a tiff"), ExifSummary::default());
        assert_eq!(inspect_exif(&[]), ExifSummary::default());
    }

    #[test]
    fn only_a_real_transform_is_kept() {
        let keep = |o| orientation_to_keep(&ExifSummary { orientation: o, ..Default::default() });
        assert_eq!(keep(None), None);
        assert_eq!(keep(Some(Orientation::NoTransforms)), None);
        assert_eq!(keep(Some(Orientation::Rotate90)), Some(Orientation::Rotate90));
    }
}

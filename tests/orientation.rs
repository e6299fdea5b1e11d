//! Orientation stays visually right: for every EXIF orientation, the original with its orientation
//! applied and the scrubbed output with its orientation applied show the same picture, and that
//! picture is the one the upright (`_1`) file shows.

mod common;

use consentgate::media::{self, Limits};
use image::{DynamicImage, ImageDecoder, RgbImage};

/// Decodes with the image crate and applies the orientation the file itself declares.
fn decode_oriented(bytes: &[u8]) -> RgbImage {
    let mut decoder =
        image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().unwrap().into_decoder().unwrap();
    let orientation = decoder.orientation().unwrap();
    let mut img = DynamicImage::from_decoder(decoder).unwrap();
    img.apply_orientation(orientation);
    img.into_rgb8()
}

#[test]
fn all_eight_orientations_look_the_same_after_scrubbing() {
    let files = common::corpus_files("jpg/orientation");
    assert_eq!(files.len(), 16, "expected landscape_1..8 and portrait_1..8");
    for kind in ["landscape", "portrait"] {
        let upright = decode_oriented(
            &std::fs::read(common::corpus_dir().join(format!("jpg/orientation/{kind}_1.jpg"))).unwrap(),
        );
        for n in 1..=8 {
            let path = common::corpus_dir().join(format!("jpg/orientation/{kind}_{n}.jpg"));
            let original = std::fs::read(&path).unwrap();
            let processed = media::process(&original, &Limits::default()).unwrap();
            let before = decode_oriented(&original);
            let after = decode_oriented(&processed.scrubbed.bytes);
            assert_eq!(after.dimensions(), before.dimensions(), "{kind}_{n}");
            assert_eq!(processed.scrubbed.display_dimensions(), after.dimensions(), "{kind}_{n}");
            // Scrubbing JPEG is lossless: the very same pixels.
            assert_eq!(common::mean_abs_diff(&before, &after), 0.0, "{kind}_{n}: pixels changed");
            // And the picture is the upright one. Each corpus file shows its own number, so the
            // pictures are not identical: instead, of the eight ways to turn and flip the output,
            // the identity must be by far the closest to the upright file.
            let diffs = dihedral_differences(&after, &upright);
            let identity = diffs[0];
            let best_other = diffs[1..].iter().copied().fold(f64::INFINITY, f64::min);
            assert!(identity * 1.5 < best_other, "{kind}_{n}: not upright; differences {diffs:.1?}");
        }
    }
}

/// Mean difference between `upright` and each of the 8 dihedral transforms of `img` (identity
/// first); transforms whose dimensions do not match count as infinitely different.
fn dihedral_differences(img: &RgbImage, upright: &RgbImage) -> Vec<f64> {
    use image::imageops::{flip_horizontal, rotate180, rotate270, rotate90};
    let candidates = [
        img.clone(),
        flip_horizontal(img),
        rotate180(img),
        flip_horizontal(&rotate180(img)),
        rotate90(img),
        flip_horizontal(&rotate90(img)),
        rotate270(img),
        flip_horizontal(&rotate270(img)),
    ];
    candidates
        .iter()
        .map(|c| if c.dimensions() == upright.dimensions() { common::mean_abs_diff(c, upright) } else { f64::INFINITY })
        .collect()
}

#[test]
fn a_wrongly_applied_orientation_would_be_caught() {
    // The check above must be able to fail: rotating the upright picture is a large difference.
    let upright =
        decode_oriented(&std::fs::read(common::corpus_dir().join("jpg/orientation/landscape_1.jpg")).unwrap());
    let flipped = image::imageops::flip_horizontal(&upright);
    assert!(common::mean_abs_diff(&upright, &flipped) > 20.0);
}

#[test]
fn generated_fixtures_keep_their_orientation_in_every_format() {
    use common::fixtures;
    for (label, bytes) in [
        ("jpeg", fixtures::jpeg_everything()),
        ("png", fixtures::png_everything()),
        ("webp", fixtures::webp_everything()),
    ] {
        let processed = media::process(&bytes, &Limits::default()).unwrap();
        let before = decode_oriented(&bytes);
        let after = decode_oriented(&processed.scrubbed.bytes);
        assert!(before.height() > before.width(), "{label}: orientation 6 must show the picture upright");
        assert_eq!(after.dimensions(), before.dimensions(), "{label}");
        assert_eq!(common::mean_abs_diff(&before, &after), 0.0, "{label}: pixels changed");
    }
}

//! The perceptual hash recognises a photo after re-encoding, resizing and format conversion, and
//! tells different photos apart.

mod common;

use std::path::PathBuf;

use consentgate::media::{self, Limits, PerceptualHash};
use image::{DynamicImage, ImageDecoder, RgbImage};

fn phash(bytes: &[u8]) -> PerceptualHash {
    media::process(bytes, &Limits::default()).unwrap().fingerprint.phash
}

/// The picture as a viewer shows it (orientation applied), decoded from the scrubbed output.
fn displayed(bytes: &[u8]) -> RgbImage {
    let scrubbed = media::process(bytes, &Limits::default()).unwrap().scrubbed.bytes;
    let mut decoder =
        image::ImageReader::new(std::io::Cursor::new(&scrubbed)).with_guessed_format().unwrap().into_decoder().unwrap();
    let orientation = decoder.orientation().unwrap();
    let mut img = DynamicImage::from_decoder(decoder).unwrap();
    img.apply_orientation(orientation);
    img.into_rgb8()
}

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    common::fixtures::encode_jpeg(img, quality)
}

fn png(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img.clone())
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Distinct photos of the corpus: one of each orientation set (the sixteen files show two
/// pictures) and no broken files.
fn distinct_photos() -> Vec<PathBuf> {
    common::valid_corpus_images()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !(name.starts_with("landscape_") || name.starts_with("portrait_")) || name.ends_with("_1.jpg")
        })
        .collect()
}

#[test]
fn copies_of_a_photo_still_match() {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for path in distinct_photos() {
        let original = std::fs::read(&path).unwrap();
        let reference = phash(&original);
        let img = displayed(&original);
        let half =
            image::imageops::resize(&img, img.width() / 2, img.height() / 2, image::imageops::FilterType::Triangle);
        let variants = [("quality 50", jpeg(&img, 50)), ("50 % size", jpeg(&half, 85)), ("as PNG", png(&img))];
        for (what, bytes) in variants {
            let d = reference.distance(&phash(&bytes));
            report.push(format!("{} {what}: {d}", common::short(&path)));
            if d > PerceptualHash::MATCH_THRESHOLD {
                failures.push(format!("{} {what}: distance {d}", common::short(&path)));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "copies no longer match:\n{}", failures.join("\n"));
}

#[test]
fn every_orientation_of_the_same_picture_has_the_same_hash() {
    for kind in ["landscape", "portrait"] {
        let hashes: Vec<_> = (1..=8)
            .map(|n| {
                phash(&std::fs::read(common::corpus_dir().join(format!("jpg/orientation/{kind}_{n}.jpg"))).unwrap())
            })
            .collect();
        for (n, h) in hashes.iter().enumerate() {
            assert!(h.matches(&hashes[0]), "{kind}_{}: distance {}", n + 1, h.distance(&hashes[0]));
        }
    }
}

#[test]
fn distinct_photos_do_not_match() {
    let photos = distinct_photos();
    let hashes: Vec<_> = photos.iter().map(|p| phash(&std::fs::read(p).unwrap())).collect();
    let mut closest = u32::MAX;
    for i in 0..photos.len() {
        for j in i + 1..photos.len() {
            let d = hashes[i].distance(&hashes[j]);
            closest = closest.min(d);
            assert!(
                !hashes[i].matches(&hashes[j]),
                "{} and {} match (distance {d})",
                common::short(&photos[i]),
                common::short(&photos[j])
            );
        }
    }
    eprintln!("closest pair of distinct photos: distance {closest}");
}

//! Privacy invariants, checked by an independent oracle: exiftool reads every scrubbed output back
//! and only an allowlist of structure and colour tags may remain.

mod common;

use std::path::{Path, PathBuf};

use common::fixtures::{self, SECRETS};
use common::oracle::{assert_all_allowlisted, disallowed, exiftool};
use consentgate::media::{self, Limits, Orientation, Removed};

/// Scrubs each input into `dir`, returning (input label, output path) pairs.
fn scrub_all(inputs: &[(String, Vec<u8>)], dir: &Path) -> Vec<(String, PathBuf)> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, (label, bytes))| {
            let processed = media::process(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{label}: {e}"));
            let path = dir.join(format!("{i}.{}", processed.scrubbed.format.extension()));
            std::fs::write(&path, &processed.scrubbed.bytes).unwrap();
            (label.clone(), path)
        })
        .collect()
}

fn label_of(pairs: &[(String, PathBuf)]) -> impl Fn(&Path) -> String + '_ {
    move |p: &Path| pairs.iter().find(|(_, out)| out == p).map_or_else(|| p.display().to_string(), |(l, _)| l.clone())
}

#[test]
fn every_corpus_photo_comes_out_allowlisted() {
    let files = common::valid_corpus_images();
    // The oracle must see what it is meant to catch: many corpus files carry GPS.
    let originals = exiftool(&files);
    let with_gps = originals.iter().filter(|(_, tags)| tags.keys().any(|k| k.starts_with("GPS:"))).count();
    assert!(with_gps >= 10, "only {with_gps} corpus files have GPS according to exiftool");
    assert!(originals.iter().all(|(_, tags)| !disallowed(tags).is_empty()), "every corpus file carries some metadata");

    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<_> = files.iter().map(|p| (common::short(p), std::fs::read(p).unwrap())).collect();
    let outputs = scrub_all(&inputs, dir.path());
    let paths: Vec<PathBuf> = outputs.iter().map(|(_, p)| p.clone()).collect();
    assert_all_allowlisted(&paths, label_of(&outputs));
}

#[test]
fn corpus_gps_is_reported_as_removed() {
    for path in common::valid_corpus_images() {
        let tags = &exiftool(std::slice::from_ref(&path))[0].1;
        let processed = media::process(&std::fs::read(&path).unwrap(), &Limits::default()).unwrap();
        if tags.keys().any(|k| k.starts_with("GPS:")) {
            assert!(processed.scrubbed.removed.contains(&Removed::Gps), "{}: GPS not reported", common::short(&path));
        }
        if tags.keys().any(|k| k.starts_with("XMP")) && path.extension().is_some_and(|e| e == "jpg") {
            assert!(processed.scrubbed.removed.contains(&Removed::Xmp), "{}: XMP not reported", common::short(&path));
        }
    }
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    vec![
        ("jpeg_everything".into(), fixtures::jpeg_everything()),
        ("png_everything".into(), fixtures::png_everything()),
        ("webp_everything".into(), fixtures::webp_everything()),
        ("jpeg_with_gps".into(), fixtures::jpeg_with_gps(200, 150)),
        ("webp_animated_everything".into(), fixtures::webp_animated_everything()),
    ]
}

#[test]
fn fixtures_carry_what_they_claim_to() {
    // If a fixture stopped carrying its metadata, the tests below would pass for nothing.
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (label, bytes) in fixtures() {
        let p = dir.path().join(format!("{label}.bin"));
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let tags = exiftool(&paths);
    let has = |i: usize, prefix: &str| tags[i].1.keys().any(|k| k.starts_with(prefix));
    let icc = ["ICC_Profile:ProfileCopyright", "ICC_Profile:DeviceModelDesc", "ICC-header:DeviceManufacturer"];
    for (i, (path, fixture)) in tags.iter().take(3).enumerate() {
        for key in icc {
            assert!(has(i, key), "{} lacks {key}: {:?}", path.display(), fixture.keys().collect::<Vec<_>>());
        }
        assert!(fixture["ICC_Profile:ProfileDescription"].as_str().unwrap().contains("Jane Smith"));
    }
    for prefix in ["GPS:", "XMP-", "IPTC:", "IFD1:", "ExifIFD:", "JFXX:", "File:Comment", "IFD0:Artist"] {
        assert!(has(0, prefix), "jpeg_everything lacks {prefix}: {:?}", tags[0].1.keys().collect::<Vec<_>>());
    }
    for prefix in ["GPS:", "XMP-", "PNG:Author", "PNG:ModifyDate", "PNG:ProfileName", "IFD0:Artist"] {
        assert!(has(1, prefix), "png_everything lacks {prefix}: {:?}", tags[1].1.keys().collect::<Vec<_>>());
    }
    for prefix in ["GPS:", "XMP-", "IFD1:", "IFD0:Artist"] {
        assert!(has(2, prefix), "webp_everything lacks {prefix}: {:?}", tags[2].1.keys().collect::<Vec<_>>());
    }
    assert!(has(3, "GPS:"));
    // exiftool does not look inside animation frames; the raw byte check below does.
    assert!(fixtures::webp_animated_everything().windows(10).any(|w| w == b"Jane Smith"));
}

#[test]
fn fixtures_with_metadata_everywhere_come_out_allowlisted() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = fixtures();
    let outputs = scrub_all(&inputs, dir.path());
    let paths: Vec<PathBuf> = outputs.iter().map(|(_, p)| p.clone()).collect();
    assert_all_allowlisted(&paths, label_of(&outputs));
}

#[test]
fn no_planted_secret_survives_in_the_bytes() {
    for (label, bytes) in fixtures() {
        let out = media::process(&bytes, &Limits::default()).unwrap().scrubbed.bytes;
        for secret in SECRETS {
            let found = out.windows(secret.len()).any(|w| w == secret.as_bytes());
            let planted = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{label}: {secret:?} survived");
            if *secret == "Jane Smith" {
                assert!(planted, "{label}: the fixture does not carry {secret:?}");
            }
        }
    }
}

#[test]
fn fixtures_report_what_was_removed_and_keep_orientation() {
    use Removed::*;
    let expectations: [(&str, Vec<u8>, &[Removed]); 3] = [
        (
            "jpeg",
            fixtures::jpeg_everything(),
            &[
                Exif,
                Gps,
                MakerNotes,
                Thumbnail,
                Xmp,
                Iptc,
                Comment,
                MultiPicture,
                TrailingData,
                ApplicationData,
                ProfileDetails,
            ],
        ),
        (
            "png",
            fixtures::png_everything(),
            &[Exif, Gps, MakerNotes, Xmp, Text, Timestamp, TrailingData, ApplicationData, ProfileName, ProfileDetails],
        ),
        (
            "webp",
            fixtures::webp_everything(),
            &[Exif, Gps, MakerNotes, Thumbnail, Xmp, TrailingData, ApplicationData, ProfileDetails],
        ),
    ];
    for (label, bytes, expected) in expectations {
        let processed = media::process(&bytes, &Limits::default()).unwrap();
        let removed: Vec<_> = processed.scrubbed.removed.iter().copied().collect();
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(removed, expected, "{label}");
        assert_eq!(processed.scrubbed.orientation, Orientation::Rotate90, "{label}");
        // Orientation 6 turns the stored picture a quarter: displayed dimensions swap.
        let (w, h) = processed.scrubbed.display_dimensions();
        assert!(h > w, "{label}: {w}×{h}");
    }
}

#[test]
fn heic_becomes_a_jpeg_with_nothing_carried_over_but_colour() {
    let files = common::corpus_files("heic");
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<_> = files.iter().map(|p| (common::short(p), std::fs::read(p).unwrap())).collect();
    for (label, bytes) in &inputs {
        let processed = media::process(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(processed.scrubbed.format, media::Format::Jpeg, "{label}");
        assert_eq!(processed.scrubbed.source_format, media::Format::Heif, "{label}");
        assert!(processed.scrubbed.removed.contains(&Removed::Exif), "{label}");
        let decoded = image::load_from_memory(&processed.scrubbed.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), processed.scrubbed.display_dimensions(), "{label}");
    }
    let outputs = scrub_all(&inputs, dir.path());
    let paths: Vec<PathBuf> = outputs.iter().map(|(_, p)| p.clone()).collect();
    assert_all_allowlisted(&paths, label_of(&outputs));
}

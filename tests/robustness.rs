//! Bad input never panics, hangs or half-succeeds: every broken, truncated or mutated file gives a
//! clean error or a valid, allowlisted, re-scrubbable output.

mod common;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use common::oracle::assert_all_allowlisted;
use consentgate::media::{self, Limits, MediaError, Processed, DECODER_CRASHED};

/// A case gets this long before it counts as a hang (generous: CI machines are slow and shared).
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Runs the media core on `bytes` in its own thread, failing the test on a hang.
fn process_with_watchdog(label: &str, bytes: Vec<u8>) -> Result<Processed, MediaError> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(media::process(&bytes, &Limits::default()));
    });
    rx.recv_timeout(HANG_LIMIT).unwrap_or_else(|_| panic!("{label}: no answer within {HANG_LIMIT:?}"))
}

/// Checks one outcome; returns the output bytes when the input was accepted.
fn check(label: &str, outcome: Result<Processed, MediaError>) -> Option<Vec<u8>> {
    match outcome {
        Ok(processed) => {
            // The output is itself a valid image, and scrubbing it again changes nothing.
            let again = media::process(&processed.scrubbed.bytes, &Limits::default())
                .unwrap_or_else(|e| panic!("{label}: the scrubbed output is rejected: {e}"));
            assert_eq!(again.scrubbed.bytes, processed.scrubbed.bytes, "{label}: scrubbing is not idempotent");
            Some(processed.scrubbed.bytes)
        }
        Err(e) => {
            assert!(!e.to_string().contains(DECODER_CRASHED), "{label}: a decoder panicked");
            assert!(
                ["corrupt_image", "unsupported_format", "image_too_large", "empty_file"].contains(&e.code()),
                "{label}: unexpected error {e:?}"
            );
            assert!(!e.to_string().is_empty());
            None
        }
    }
}

/// A small deterministic generator (SplitMix64) so that failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Writes accepted outputs to a directory and runs the exiftool oracle over all of them.
fn assert_outputs_allowlisted(outputs: Vec<(String, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    for (i, (label, bytes)) in outputs.into_iter().enumerate() {
        let p = dir.path().join(format!("{i}.img"));
        std::fs::write(&p, bytes).unwrap();
        paths.push((label, p));
    }
    let files: Vec<PathBuf> = paths.iter().map(|(_, p)| p.clone()).collect();
    assert_all_allowlisted(&files, |p| paths.iter().find(|(_, q)| q == p).unwrap().0.clone());
}

#[test]
fn broken_corpus_files_are_handled_cleanly() {
    let mut outputs = Vec::new();
    for path in common::corpus_files("jpg/invalid") {
        let label = common::short(&path);
        if let Some(out) = check(&label, process_with_watchdog(&label, std::fs::read(&path).unwrap())) {
            outputs.push((label, out));
        }
    }
    assert_outputs_allowlisted(outputs);
}

/// Inputs for mutation: every corpus file and every generated fixture.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<_> =
        common::corpus_files("").into_iter().map(|p| (common::short(&p), std::fs::read(&p).unwrap())).collect();
    seeds.retain(|(l, _)| !l.ends_with(".md"));
    seeds.push(("jpeg_everything".into(), common::fixtures::jpeg_everything()));
    seeds.push(("png_everything".into(), common::fixtures::png_everything()));
    seeds.push(("webp_everything".into(), common::fixtures::webp_everything()));
    seeds
}

/// HEIF decoding costs hundreds of milliseconds a file; fewer mutants of those keep the suite fast.
fn mutants_for(label: &str, many: usize) -> usize {
    if label.to_lowercase().ends_with(".heic") || label.to_lowercase().ends_with(".heif") {
        many / 4
    } else {
        many
    }
}

#[test]
fn truncated_files_never_panic_and_never_leak() {
    let mut outputs = Vec::new();
    let mut cases = 0;
    for (label, bytes) in seeds() {
        let n = mutants_for(&label, 40);
        let mut offsets: Vec<usize> = (0..n).map(|i| bytes.len() * i / n).collect();
        // The headers are where parsers go wrong: cut densely there, and just before the end.
        offsets.extend([1, 2, 3, 4, 8, 12, 16, 20, 30, 64, 100, 200, 500]);
        offsets.extend((1..=4).map(|k| bytes.len().saturating_sub(k)));
        offsets.retain(|&o| o < bytes.len());
        offsets.sort_unstable();
        offsets.dedup();
        for cut in offsets {
            let case = format!("{label} cut at {cut}");
            cases += 1;
            if let Some(out) = check(&case, process_with_watchdog(&case, bytes[..cut].to_vec())) {
                outputs.push((case, out));
            }
        }
    }
    eprintln!("{cases} truncations, {} accepted", outputs.len());
    assert_outputs_allowlisted(outputs);
}

#[test]
fn random_byte_flips_never_panic_and_never_leak() {
    let mut rng = Rng(0x5EED_C0DE);
    let mut outputs = Vec::new();
    let mut cases = 0;
    for (label, bytes) in seeds() {
        for m in 0..mutants_for(&label, 24) {
            let mut mutant = bytes.clone();
            let flips = 1 + rng.below(8);
            // Half the mutants hit the first 2 KiB, where the structure is.
            let span = if m % 2 == 0 { mutant.len().min(2048) } else { mutant.len() };
            for _ in 0..flips {
                let at = rng.below(span);
                mutant[at] ^= 1 << rng.below(8);
            }
            let case = format!("{label} mutant {m}");
            cases += 1;
            if let Some(out) = check(&case, process_with_watchdog(&case, mutant)) {
                outputs.push((case, out));
            }
        }
    }
    eprintln!("{cases} mutants, {} accepted", outputs.len());
    assert_outputs_allowlisted(outputs);
}

#[test]
fn wrong_types_behind_image_extensions_are_refused() {
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("text", b"just some text pretending to be a .jpg".to_vec()),
        ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec()),
        ("pdf", b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec()),
        ("zip", b"PK\x03\x04\x14\x00\x00\x00".to_vec()),
    ] {
        let err = media::process(&bytes, &Limits::default()).unwrap_err();
        let expected = if bytes.is_empty() { "empty_file" } else { "unsupported_format" };
        assert_eq!(err.code(), expected, "{what}");
    }
}

#[test]
fn limits_are_enforced_before_decoding() {
    let photo = std::fs::read(common::corpus_dir().join("jpg/gps/DSCN0010.jpg")).unwrap();
    let tight = Limits { max_bytes: 1000, ..Limits::default() };
    assert_eq!(media::process(&photo, &tight).unwrap_err().code(), "file_too_large");
    let few_pixels = Limits { max_pixels: 640 * 480 - 1, ..Limits::default() };
    assert_eq!(media::process(&photo, &few_pixels).unwrap_err().code(), "image_too_large");
    let narrow = Limits { max_side: 639, ..Limits::default() };
    assert_eq!(media::process(&photo, &narrow).unwrap_err().code(), "image_too_large");
    let exact = Limits { max_bytes: photo.len() as u64, max_pixels: 640 * 480, max_side: 640 };
    assert!(media::process(&photo, &exact).is_ok());
    let heic = std::fs::read(common::corpus_dir().join("heic/mobile/iphone_13_pro_max.HEIC")).unwrap();
    let small = Limits { max_pixels: 1_000_000, ..Limits::default() };
    assert_eq!(media::process(&heic, &small).unwrap_err().code(), "image_too_large");
}

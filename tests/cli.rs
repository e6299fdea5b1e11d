//! The offline CLI, run as a user would run it.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn consentgate(args: &[&str]) -> (i32, Vec<Value>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_consentgate")).args(args).output().unwrap();
    let lines = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (output.status.code().unwrap(), lines, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// An input directory with a good photo named after a learner, a HEIC, a fake image and a
/// truncated JPEG, in a subdirectory to exercise the recursive walk.
fn mixed_inputs(dir: &Path) {
    let nested = dir.join("trip/day1");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(nested.join("Jane_Smith_at_Secret_Street.jpg"), common::fixtures::jpeg_everything()).unwrap();
    std::fs::copy(common::corpus_dir().join("heic/samplefilehub.heif"), nested.join("phone.heif")).unwrap();
    std::fs::write(dir.join("notes.jpg"), b"this is not a photo").unwrap();
    let photo = std::fs::read(common::corpus_dir().join("jpg/gps/DSCN0010.jpg")).unwrap();
    std::fs::write(dir.join("truncated.jpg"), &photo[..photo.len() / 2]).unwrap();
}

#[test]
fn scrub_writes_content_addressed_files_and_reports_each_input() {
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    mixed_inputs(input.path());
    let out_dir = out.path().join("clean");
    let (code, lines, stderr) =
        consentgate(&["scrub", input.path().to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, 1, "a rejected input makes the exit status 1; stderr: {stderr}");
    assert_eq!(lines.len(), 4);

    let by_name = |suffix: &str| lines.iter().find(|l| l["input"].as_str().unwrap().ends_with(suffix)).unwrap();
    assert_eq!(by_name("notes.jpg")["error"]["code"], "unsupported_format");
    assert_eq!(by_name("truncated.jpg")["error"]["code"], "corrupt_image");
    assert!(by_name("truncated.jpg")["error"]["message"].as_str().unwrap().contains("truncated"));

    let mut written = BTreeSet::new();
    for name in ["Jane_Smith_at_Secret_Street.jpg", "phone.heif"] {
        let line = by_name(name);
        let output = Path::new(line["output"].as_str().unwrap());
        let bytes = std::fs::read(output).unwrap();
        let blake3 = blake3::hash(&bytes).to_hex().to_string();
        assert_eq!(line["blake3"], blake3.as_str());
        assert_eq!(output.file_name().unwrap().to_string_lossy(), format!("{blake3}.jpg"));
        assert_eq!(line["format"], "jpeg");
        assert_eq!(line["phash"].as_str().unwrap().len(), 64);
        assert_eq!(line["original_blake3"].as_str().unwrap().len(), 64);
        assert!(line["width"].as_u64().unwrap() > 0 && line["height"].as_u64().unwrap() > 0);
        written.insert(output.file_name().unwrap().to_string_lossy().into_owned());
    }
    let removed: Vec<&str> = by_name("Jane_Smith_at_Secret_Street.jpg")["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for expected in ["exif", "gps", "xmp", "iptc", "thumbnail", "trailing_data"] {
        assert!(removed.contains(&expected), "{expected} missing from {removed:?}");
    }
    assert_eq!(by_name("phone.heif")["source_format"], "heif");

    // Nothing else was written: no temporary files, no input names.
    let present: BTreeSet<String> =
        std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(present, written);
    assert!(present.iter().all(|n| !n.contains("Jane") && !n.contains("phone")));
}

#[test]
fn scrub_exits_zero_when_every_input_succeeds_and_is_repeatable() {
    let out = tempfile::tempdir().unwrap();
    let gps = common::corpus_dir().join("jpg/gps");
    let args = ["scrub", gps.to_str().unwrap(), "--out", out.path().to_str().unwrap()];
    let (code, first, _) = consentgate(&args);
    assert_eq!(code, 0);
    assert_eq!(first.len(), common::corpus_files("jpg/gps").len());
    // Same inputs, same outputs: content addressing makes a second run a no-op.
    let (code, second, _) = consentgate(&args);
    assert_eq!(code, 0);
    assert_eq!(first, second);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), first.len());
    // Lines come in input order whatever order the workers finish in.
    let inputs: Vec<&str> = first.iter().map(|l| l["input"].as_str().unwrap()).collect();
    let mut sorted = inputs.clone();
    sorted.sort_unstable();
    assert_eq!(inputs, sorted);
}

#[test]
fn fingerprint_prints_the_same_hashes_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let file = common::corpus_dir().join("jpg/mobile/jolla.jpg");
    let (_, scrubbed, _) = consentgate(&["scrub", file.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    let cwd_before: BTreeSet<_> = std::fs::read_dir(".").unwrap().map(|e| e.unwrap().file_name()).collect();
    let (code, printed, _) = consentgate(&["fingerprint", file.to_str().unwrap(), "/no/such/file.jpg"]);
    assert_eq!(code, 1);
    assert_eq!(printed[0]["phash"], scrubbed[0]["phash"]);
    assert_eq!(printed[0]["blake3"], scrubbed[0]["blake3"]);
    assert!(printed[0].get("output").is_none());
    assert_eq!(printed[1]["error"]["code"], "io_error");
    let cwd_after: BTreeSet<_> = std::fs::read_dir(".").unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(cwd_before, cwd_after);
}

#[test]
fn an_oversized_file_is_refused_before_it_is_read() {
    let out = tempfile::tempdir().unwrap();
    let file = common::corpus_dir().join("jpg/mobile/jolla.jpg");
    let (code, lines, _) =
        consentgate(&["scrub", file.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--max-bytes", "1000"]);
    assert_eq!(code, 1);
    assert_eq!(lines[0]["error"]["code"], "file_too_large");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

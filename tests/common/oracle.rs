//! The independent oracle: exiftool reads every scrubbed output back, and only an allowlist of
//! groups and tags may appear.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Tags exiftool reported for one file, as `Group:Tag` → value.
pub type Tags = BTreeMap<String, serde_json::Value>;

/// Runs `exiftool -a -G1 -s -j` on `files` (in batches) and returns their tags.
pub fn exiftool(files: &[PathBuf]) -> Vec<(PathBuf, Tags)> {
    let mut out = Vec::new();
    for batch in files.chunks(500) {
        let output = Command::new("exiftool")
            .args(["-a", "-G1", "-s", "-j", "-u", "-api", "LargeFileSupport=1"])
            .args(batch)
            .output()
            .expect("exiftool must be installed (Debian package libimage-exiftool-perl)");
        let parsed: Vec<Tags> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("exiftool output is not JSON ({e}): {}", String::from_utf8_lossy(&output.stderr))
        });
        assert_eq!(parsed.len(), batch.len(), "exiftool skipped files: {}", String::from_utf8_lossy(&output.stderr));
        for tags in parsed {
            let source = PathBuf::from(tags["SourceFile"].as_str().unwrap());
            out.push((source, tags));
        }
    }
    out
}

/// Groups whose every tag describes the file or the picture's structure and colour.
const ALLOWED_GROUPS: &[&str] = &[
    "System",   // file system facts about the output file itself
    "File",     // image structure: type, size, encoding, components
    "JFIF",     // version and pixel density
    "ICC-chrm", // chromaticities of the primaries
    "Adobe",    // APP14 colour transform flags
];

/// The colour tags a rebuilt profile keeps (the description is checked to be the neutral one).
const ALLOWED_ICC_TAGS: &[&str] = &[
    "ProfileDescription",
    "RedMatrixColumn",
    "GreenMatrixColumn",
    "BlueMatrixColumn",
    "RedTRC",
    "GreenTRC",
    "BlueTRC",
    "GrayTRC",
    "MediaWhitePoint",
    "MediaBlackPoint",
    "ChromaticAdaptation",
    "Luminance",
    "AToB0",
    "AToB1",
    "AToB2",
    "BToA0",
    "BToA1",
    "BToA2",
    "DToB0",
    "DToB1",
    "DToB2",
    "BToD0",
    "BToD1",
    "BToD2",
    "Gamut",
    "ColorRepresentation",
];

/// Profile header fields that identify a device, a vendor or a moment: they must come out empty.
const ICC_HEADER_IDENTITY: &[&str] =
    &["ProfileCMMType", "DeviceManufacturer", "DeviceModel", "ProfileCreator", "ProfileID", "ProfileDateTime"];

/// Tags allowed in groups that can also carry metadata.
const ALLOWED_TAGS: &[&str] = &[
    "SourceFile",
    "ExifTool:ExifToolVersion",
    "IFD0:Orientation",
    "Composite:ImageSize",
    "Composite:Megapixels",
    // PNG image header and colour chunks.
    "PNG:ImageWidth",
    "PNG:ImageHeight",
    "PNG:BitDepth",
    "PNG:ColorType",
    "PNG:Compression",
    "PNG:Filter",
    "PNG:Interlace",
    "PNG:Gamma",
    "PNG:SRGBRendering",
    "PNG:WhitePointX",
    "PNG:WhitePointY",
    "PNG:RedX",
    "PNG:RedY",
    "PNG:GreenX",
    "PNG:GreenY",
    "PNG:BlueX",
    "PNG:BlueY",
    "PNG:Palette",
    "PNG:Transparency",
    "PNG:SignificantBits",
    "PNG:ProfileName",
    "PNG:ICC_Profile",
    "PNG-pHYs:PixelsPerUnitX",
    "PNG-pHYs:PixelsPerUnitY",
    "PNG-pHYs:PixelUnits",
    // WebP bitstream headers and the VP8X feature flags.
    "RIFF:VP8Version",
    "RIFF:ImageWidth",
    "RIFF:ImageHeight",
    "RIFF:HorizontalScale",
    "RIFF:VerticalScale",
    "RIFF:WebP_Flags",
    "RIFF:AlphaPreprocessing",
    "RIFF:AlphaFiltering",
    "RIFF:AlphaCompression",
    // WebP animation structure (ANIM and ANMF headers).
    "RIFF:AnimationLoopCount",
    "RIFF:BackgroundColor",
    "RIFF:Duration",
    "RIFF:FrameCount",
];

/// Whether an exiftool warning is about a damaged colour profile. A mutated input's ICC profile is
/// passed through as it came (it describes colours and identifies nobody); every other warning,
/// such as data after the end of the image, fails the test.
fn is_colour_profile_warning(key: &str, value: &serde_json::Value) -> bool {
    key == "ExifTool:Warning"
        && value.as_str().is_some_and(|w| w.contains("ICC_Profile") || w.contains("ProfileDescriptionML"))
}

/// The tags of `tags` outside the allowlist (empty when the file is clean).
pub fn disallowed(tags: &Tags) -> Vec<String> {
    tags.iter()
        .filter(|(key, value)| !is_colour_profile_warning(key, value))
        .filter(|(key, value)| {
            let (group, tag) = key.split_once(':').unwrap_or(("", key));
            let neutral = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.trim().is_empty() || s.chars().all(|c| "0: ".contains(c)),
                serde_json::Value::Number(n) => n.as_f64() == Some(0.0),
                _ => false,
            };
            let allowed = ALLOWED_TAGS.contains(&key.as_str())
                || ALLOWED_GROUPS.contains(&group)
                || (group == "ICC_Profile" && ALLOWED_ICC_TAGS.contains(&tag))
                // The header's structural fields stay; its identifying ones must be blank.
                || (group == "ICC-header" && (!ICC_HEADER_IDENTITY.contains(&tag) || neutral(value)));
            !allowed
        })
        .map(|(key, value)| format!("{key} = {value}"))
        .collect()
}

/// The PNG profile name and ICC description the scrubber writes; any other is a leak.
pub const NEUTRAL_PROFILE_NAME: &str = "ICC profile";

/// Asserts that every file is clean; reports every offending tag of every file at once.
pub fn assert_all_allowlisted(files: &[PathBuf], label: impl Fn(&Path) -> String) {
    let mut failures = Vec::new();
    for (path, tags) in exiftool(files) {
        let mut bad = disallowed(&tags);
        for key in ["PNG:ProfileName", "ICC_Profile:ProfileDescription"] {
            if let Some(name) = tags.get(key) {
                if name != NEUTRAL_PROFILE_NAME {
                    bad.push(format!("{key} = {name}"));
                }
            }
        }
        if !bad.is_empty() {
            failures.push(format!("{}:\n  {}", label(&path), bad.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "metadata survived scrubbing:\n{}", failures.join("\n"));
}

//! Colour profiles, rebuilt rather than copied. An ICC profile carries more than colour: a free-text
//! description and copyright, device manufacturer and model (as header fields and as text tags),
//! the creating software, a creation date, measurement and viewing conditions. Any of these can
//! identify a device or a person's machine ("Jane's MacBook Pro"). The colour itself lives in a
//! handful of tags; those are kept, byte for byte, and everything else is dropped or zeroed.
//!
//! Pure: bytes in, bytes out. A profile that does not parse is dropped by the caller (an image
//! without a profile is still correct, just assumed sRGB), never passed through.

use std::collections::HashMap;

/// The description every rebuilt profile carries.
pub const NEUTRAL_DESCRIPTION: &str = "ICC profile";

/// Largest profile accepted: real ones are a few kilobytes; printer profiles with large lookup
/// tables can reach a few megabytes.
pub const MAX_PROFILE_BYTES: usize = 4 << 20;

const HEADER: usize = 128;

/// Tags that define colour, kept as they are: matrix/TRC (display and camera RGB, gray), the white
/// and black points and chromatic adaptation, chromaticities, the LUT-based transforms, CICP code
/// points, luminance and the gamut tag. Everything else (desc, cprt, dmnd, dmdd, meas, view, tech,
/// vued, targ, ciis, calt, pseq, psid, Apple's private tags…) is free text, device identity or
/// conditions, and goes.
const COLOUR_TAGS: &[&[u8; 4]] = &[
    b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC", b"kTRC", b"wtpt", b"bkpt", b"chad", b"chrm", b"A2B0",
    b"A2B1", b"A2B2", b"B2A0", b"B2A1", b"B2A2", b"D2B0", b"D2B1", b"D2B2", b"B2D0", b"B2D1", b"B2D2", b"cicp",
    b"lumi", b"gamt",
];

/// Why a profile could not be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IccError(pub &'static str);

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The profile rebuilt from its colour tags, with a neutral description and a header that keeps
/// only what colour management reads (version, class, colour spaces, rendering intent, PCS
/// illuminant).
pub fn sanitize(profile: &[u8]) -> Result<Vec<u8>, IccError> {
    if profile.len() < HEADER + 4 || profile.len() > MAX_PROFILE_BYTES {
        return Err(IccError("the profile is too short or too long"));
    }
    if &profile[36..40] != b"acsp" {
        return Err(IccError("the profile lacks its 'acsp' signature"));
    }
    let declared = be32(profile, 0).ok_or(IccError("no size"))? as usize;
    if declared > profile.len() || declared < HEADER + 4 {
        return Err(IccError("the profile is shorter than its header says"));
    }
    let profile = &profile[..declared];
    let count = be32(profile, HEADER).ok_or(IccError("no tag count"))? as usize;
    if count > 200 || HEADER + 4 + count * 12 > profile.len() {
        return Err(IccError("the tag table is implausible"));
    }
    let version_major = profile[8];

    // The kept tags, with their data; tags that share data keep sharing it.
    let mut kept: Vec<([u8; 4], usize, usize)> = Vec::new();
    for i in 0..count {
        let at = HEADER + 4 + i * 12;
        let signature: [u8; 4] = profile[at..at + 4].try_into().expect("four bytes");
        let offset = be32(profile, at + 4).ok_or(IccError("tag offset"))? as usize;
        let size = be32(profile, at + 8).ok_or(IccError("tag size"))? as usize;
        if offset.checked_add(size).is_none_or(|end| end > profile.len()) || size < 8 {
            return Err(IccError("a tag's data lies outside the profile"));
        }
        if COLOUR_TAGS.contains(&&signature) && !kept.iter().any(|(s, _, _)| *s == signature) {
            kept.push((signature, offset, size));
        }
    }
    if kept.is_empty() {
        return Err(IccError("the profile has no colour tags"));
    }

    let description = description_tag(version_major);
    let entries = kept.len() + 1;
    let mut data: Vec<u8> = Vec::new();
    let data_start = HEADER + 4 + entries * 12;
    let mut table: Vec<([u8; 4], u32, u32)> = Vec::with_capacity(entries);
    let mut placed: HashMap<(usize, usize), u32> = HashMap::new();
    let place = |bytes: &[u8], data: &mut Vec<u8>| -> u32 {
        while !data.len().is_multiple_of(4) {
            data.push(0);
        }
        let offset = (data_start + data.len()) as u32;
        data.extend_from_slice(bytes);
        offset
    };
    let desc_offset = place(&description, &mut data);
    table.push((*b"desc", desc_offset, description.len() as u32));
    for (signature, offset, size) in kept {
        let at = match placed.get(&(offset, size)) {
            Some(&at) => at,
            None => {
                let at = place(&profile[offset..offset + size], &mut data);
                placed.insert((offset, size), at);
                at
            }
        };
        table.push((signature, at, size as u32));
    }
    while !data.len().is_multiple_of(4) {
        data.push(0);
    }

    let total = data_start + data.len();
    let mut out = Vec::with_capacity(total);
    let mut header = [0u8; HEADER];
    header[0..4].copy_from_slice(&(total as u32).to_be_bytes());
    // Kept: version (8..12), device class, colour space, PCS (12..24), 'acsp', rendering intent
    // (64..68) and PCS illuminant (68..80). Zero: CMM, date, platform, flags, manufacturer,
    // model, attributes, creator, profile id (zero means "not computed"), reserved.
    header[8..24].copy_from_slice(&profile[8..24]);
    header[36..40].copy_from_slice(b"acsp");
    header[64..80].copy_from_slice(&profile[64..80]);
    out.extend_from_slice(&header);
    out.extend_from_slice(&(entries as u32).to_be_bytes());
    for (signature, offset, size) in table {
        out.extend_from_slice(&signature);
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&size.to_be_bytes());
    }
    out.extend_from_slice(&data);
    debug_assert_eq!(out.len(), total);
    Ok(out)
}

/// A `desc` tag saying [`NEUTRAL_DESCRIPTION`]: `textDescriptionType` for version 2 profiles,
/// `multiLocalizedUnicodeType` from version 4.
fn description_tag(version_major: u8) -> Vec<u8> {
    let text = NEUTRAL_DESCRIPTION;
    let mut tag = Vec::new();
    if version_major >= 4 {
        let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        tag.extend_from_slice(b"mluc\0\0\0\0");
        tag.extend_from_slice(&1u32.to_be_bytes()); // one record
        tag.extend_from_slice(&12u32.to_be_bytes()); // record size
        tag.extend_from_slice(b"enUS");
        tag.extend_from_slice(&(utf16.len() as u32).to_be_bytes());
        tag.extend_from_slice(&28u32.to_be_bytes()); // offset of the string from the tag start
        tag.extend_from_slice(&utf16);
    } else {
        tag.extend_from_slice(b"desc\0\0\0\0");
        tag.extend_from_slice(&(text.len() as u32 + 1).to_be_bytes());
        tag.extend_from_slice(text.as_bytes());
        tag.push(0);
        tag.extend_from_slice(&[0; 8]); // no Unicode description: language code, count
        tag.extend_from_slice(&[0; 3]); // no ScriptCode description: code, count
        tag.extend_from_slice(&[0; 67]);
    }
    tag
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A version `major` RGB display profile with colour tags and identifying ones, two TRCs
    /// sharing data.
    pub(crate) fn identifying_profile(major: u8) -> Vec<u8> {
        let xyz = |x: u32| {
            let mut t = b"XYZ \0\0\0\0".to_vec();
            for v in [x, x + 1, x + 2] {
                t.extend_from_slice(&v.to_be_bytes());
            }
            t
        };
        let curve = b"curv\0\0\0\0\0\0\0\x01\x01\xcd\0\0".to_vec();
        let text = |s: &str| {
            let mut t = b"text\0\0\0\0".to_vec();
            t.extend_from_slice(s.as_bytes());
            t.push(0);
            t
        };
        let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
            (b"desc", text("Jane Doe's MacBook Pro, GPS 51.5N")),
            (b"cprt", text("Copyright Jane Doe 2026")),
            (b"dmdd", text("Serial C02XK1ABCDEF")),
            (b"rXYZ", xyz(1)),
            (b"gXYZ", xyz(2)),
            (b"bXYZ", xyz(3)),
            (b"wtpt", xyz(4)),
            (b"rTRC", curve.clone()),
        ];
        let count = tags.len() + 2; // gTRC and bTRC share rTRC's data
        let mut data = Vec::new();
        let mut table = Vec::new();
        let start = HEADER + 4 + count * 12;
        let mut trc = (0, 0);
        for (sig, bytes) in &tags {
            while !data.len().is_multiple_of(4) {
                data.push(0);
            }
            let offset = (start + data.len()) as u32;
            if *sig == b"rTRC" {
                trc = (offset, bytes.len() as u32);
            }
            table.push((**sig, offset, bytes.len() as u32));
            data.extend_from_slice(bytes);
        }
        table.push((*b"gTRC", trc.0, trc.1));
        table.push((*b"bTRC", trc.0, trc.1));
        let total = start + data.len();
        let mut p = vec![0u8; HEADER];
        p[0..4].copy_from_slice(&(total as u32).to_be_bytes());
        p[4..8].copy_from_slice(b"appl");
        p[8] = major;
        p[12..16].copy_from_slice(b"mntr");
        p[16..20].copy_from_slice(b"RGB ");
        p[20..24].copy_from_slice(b"XYZ ");
        p[24..36].copy_from_slice(&[7, 234, 0, 11, 0, 24, 12, 0, 0, 0, 0, 0]);
        p[36..40].copy_from_slice(b"acsp");
        p[40..44].copy_from_slice(b"APPL");
        p[48..52].copy_from_slice(b"JANE");
        p[52..56].copy_from_slice(b"MBP1");
        p[64..68].copy_from_slice(&[0, 0, 0, 1]);
        p[80..84].copy_from_slice(b"jane");
        p[84..100].copy_from_slice(b"0123456789abcdef");
        p.extend_from_slice(&(count as u32).to_be_bytes());
        for (sig, offset, size) in table {
            p.extend_from_slice(&sig);
            p.extend_from_slice(&offset.to_be_bytes());
            p.extend_from_slice(&size.to_be_bytes());
        }
        p.extend_from_slice(&data);
        p
    }

    #[test]
    fn identifying_tags_and_header_fields_go_colour_stays() {
        for major in [2, 4] {
            let original = identifying_profile(major);
            let clean = sanitize(&original).unwrap();
            for needle in
                [&b"Jane"[..], b"JANE", b"jane", b"MBP1", b"APPL", b"appl", b"Serial", b"Copyright", b"0123456789"]
            {
                assert!(
                    !clean.windows(needle.len()).any(|w| w == needle),
                    "v{major}: {:?} survived",
                    String::from_utf8_lossy(needle)
                );
            }
            let tag_sigs: Vec<&[u8]> = (0..be32(&clean, HEADER).unwrap() as usize)
                .map(|i| &clean[HEADER + 4 + i * 12..HEADER + 8 + i * 12])
                .collect();
            assert_eq!(tag_sigs, [&b"desc"[..], b"rXYZ", b"gXYZ", b"bXYZ", b"wtpt", b"rTRC", b"gTRC", b"bTRC"]);
            // Shared TRC data stays shared; the header keeps what colour management reads.
            let entry =
                |i: usize| (be32(&clean, HEADER + 8 + i * 12).unwrap(), be32(&clean, HEADER + 12 + i * 12).unwrap());
            assert_eq!(entry(5), entry(6));
            assert_eq!(entry(6), entry(7));
            assert_eq!(&clean[8..24], &original[8..24]);
            assert_eq!(&clean[64..80], &original[64..80]);
            assert_eq!(be32(&clean, 0).unwrap() as usize, clean.len());
            assert!((0..8).all(|i| entry(i).0 % 4 == 0), "tag data is 4-byte aligned");
            // Sanitising is idempotent.
            assert_eq!(sanitize(&clean).unwrap(), clean);
        }
    }

    #[test]
    fn broken_profiles_are_refused_not_copied() {
        let good = identifying_profile(2);
        assert!(sanitize(&good[..100]).is_err());
        let mut no_sig = good.clone();
        no_sig[36..40].copy_from_slice(b"nope");
        assert!(sanitize(&no_sig).is_err());
        let mut bad_offset = good.clone();
        let at = HEADER + 4 + 3 * 12 + 4; // rXYZ's offset
        bad_offset[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(sanitize(&bad_offset).is_err());
        let mut huge_count = good.clone();
        huge_count[HEADER..HEADER + 4].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(sanitize(&huge_count).is_err());
        let mut only_text = good;
        let count = be32(&only_text, HEADER).unwrap() as usize;
        for i in 3..count {
            only_text[HEADER + 4 + i * 12..HEADER + 8 + i * 12].copy_from_slice(b"zzzz");
        }
        assert!(sanitize(&only_text).is_err());
    }
}

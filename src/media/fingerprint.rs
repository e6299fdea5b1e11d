//! Fingerprints: an exact content hash (blake3) and a perceptual hash that survives re-encoding,
//! resizing and format conversion, so a withdrawn photo cannot come back as a copy.
//!
//! The perceptual hash follows PDQ (Facebook's 256-bit image hash): luminance reduced to 64×64 by
//! area averaging, the 16×16 lowest non-constant frequencies of a 2-D DCT, one bit per coefficient
//! set when it is above the median. Two hashes of the same picture differ in few bits; the match
//! rule is PDQ's, a Hamming distance of at most 31.

use std::fmt;
use std::io::Cursor;
use std::str::FromStr;
use std::sync::OnceLock;

use image::{DynamicImage, GrayImage};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::scrub::Scrubbed;
use crate::media::error::MediaError;
use crate::media::limits::Limits;
use crate::media::sniff::Format;

/// A blake3 hash of some bytes, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }
}

/// A 256-bit perceptual hash of a picture's oriented pixels.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerceptualHash(pub [u8; 32]);

impl PerceptualHash {
    /// The largest Hamming distance at which two hashes are taken to show the same picture.
    pub const MATCH_THRESHOLD: u32 = 31;

    /// The number of bits in which two hashes differ.
    pub fn distance(&self, other: &PerceptualHash) -> u32 {
        self.0.iter().zip(other.0.iter()).map(|(a, b)| (a ^ b).count_ones()).sum()
    }

    /// Whether two hashes show the same picture (distance ≤ [`Self::MATCH_THRESHOLD`]).
    pub fn matches(&self, other: &PerceptualHash) -> bool {
        self.distance(other) <= Self::MATCH_THRESHOLD
    }
}

macro_rules! hex_newtype {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($t))
            }
        }
        impl FromStr for $t {
            type Err = &'static str;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.len() != 64 || !s.is_ascii() {
                    return Err("expected 64 hex digits");
                }
                let mut out = [0u8; 32];
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| "expected 64 hex digits")?;
                }
                Ok(Self(out))
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_newtype!(ContentHash);
hex_newtype!(PerceptualHash);

/// The fingerprints of one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// blake3 of the scrubbed bytes: the content id, object key and ETag.
    pub blake3: ContentHash,
    /// blake3 of the bytes as uploaded: recognises an identical re-upload.
    pub original_blake3: ContentHash,
    /// Perceptual hash of the oriented pixels.
    pub phash: PerceptualHash,
}

/// Side of the square the hash is computed on.
const GRID: usize = 64;
/// Side of the block of DCT coefficients kept.
const FREQUENCIES: usize = 16;
/// JPEGs are decoded at the smallest DCT scale (1/2, 1/4 or 1/8) that keeps both sides at least
/// this large: enough for area averaging to 64×64 to suppress aliasing.
const REDUCED_DECODE_SIDE: u16 = 256;

/// Computes the perceptual hash of a scrubbed image, decoding it at reduced size where the format
/// allows and applying its orientation.
pub fn perceptual_hash(scrubbed: &Scrubbed, limits: &Limits) -> Result<PerceptualHash, MediaError> {
    if scrubbed.format == Format::Png {
        // Row by row into the 64×64 grid: the same grid as a full decode, without its memory.
        let reduced = super::reduce::png(
            &scrubbed.bytes,
            limits,
            scrubbed.orientation,
            super::reduce::Channels::Luma,
            |_, _| (GRID, GRID),
        )?;
        if let Some(reduced) = reduced {
            let grid: [[f32; GRID]; GRID] =
                std::array::from_fn(|y| std::array::from_fn(|x| reduced.cells[y * GRID + x]));
            return Ok(pdq_hash(&grid));
        }
    }
    let luma = match scrubbed.format {
        Format::Jpeg => reduced_jpeg_luma(&scrubbed.bytes, limits)?,
        Format::Png | Format::Webp => full_luma(&scrubbed.bytes, scrubbed.format, limits)?,
        // The scrubber never outputs HEIF.
        Format::Heif => return Err(MediaError::UnsupportedFormat("HEIF must be transcoded first".into())),
    };
    let mut oriented = DynamicImage::ImageLuma8(luma);
    oriented.apply_orientation(scrubbed.orientation);
    Ok(pdq_hash(&area_average(&oriented.into_luma8())))
}

fn decode_error(format: &'static str, err: impl fmt::Display) -> MediaError {
    MediaError::corrupt(format, format!("its pixels cannot be decoded ({err})"))
}

/// Decodes a JPEG at 1/2, 1/4 or 1/8 scale straight from the DCT coefficients, to luminance.
///
/// libjpeg-turbo does the work: its DCT scaling skips most of the inverse transform, and decoding
/// to grayscale skips the chroma planes, so the cost is little more than the Huffman pass.
fn reduced_jpeg_luma(bytes: &[u8], limits: &Limits) -> Result<GrayImage, MediaError> {
    use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat, ScalingFactor};
    let mut decompressor = Decompressor::new().map_err(|e| decode_error("jpeg", e))?;
    let header = decompressor.read_header(bytes).map_err(|e| decode_error("jpeg", e))?;
    limits.check_dimensions("jpeg", header.width as u64, header.height as u64)?;
    if header.is_lossless {
        return Err(MediaError::UnsupportedFormat("a lossless JPEG, which we cannot decode".into()));
    }
    let wanted = |side: usize| side.min(usize::from(REDUCED_DECODE_SIDE));
    let scale = [ScalingFactor::ONE_EIGHTH, ScalingFactor::ONE_QUARTER, ScalingFactor::ONE_HALF]
        .into_iter()
        .find(|f| f.scale(header.width) >= wanted(header.width) && f.scale(header.height) >= wanted(header.height))
        .unwrap_or(ScalingFactor::ONE);
    decompressor.set_scaling_factor(scale).map_err(|e| decode_error("jpeg", e))?;
    let scaled = header.scaled(scale);
    let (width, height) = (scaled.width, scaled.height);
    // Four-component JPEGs cannot be decoded to grayscale directly; take CMYK and convert below.
    let cmyk = matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK);
    let (format, channels) = if cmyk { (PixelFormat::CMYK, 4) } else { (PixelFormat::GRAY, 1) };
    let mut pixels = vec![0u8; width * height * channels];
    let image = Image { pixels: &mut pixels[..], width, pitch: width * channels, height, format };
    decompressor.decompress(bytes, image).map_err(|e| decode_error("jpeg", e))?;
    let luma = if cmyk {
        // Photoshop, which writes nearly every CMYK JPEG, stores inverted ink values, so each
        // channel already reads as "amount of light" and multiplies by K the same way.
        pixels
            .chunks_exact(4)
            .map(|p| {
                let light = |c: u8| (u16::from(c) * u16::from(p[3]) / 255) as u8;
                luminance(light(p[0]), light(p[1]), light(p[2]))
            })
            .collect()
    } else {
        pixels
    };
    GrayImage::from_raw(width as u32, height as u32, luma).ok_or_else(|| decode_error("jpeg", "bad dimensions"))
}

/// Rec. 601 luma, as PDQ uses.
fn luminance(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

/// Decodes a PNG or WebP in full (neither format can decode at reduced size), within the limits.
fn full_luma(bytes: &[u8], format: Format, limits: &Limits) -> Result<GrayImage, MediaError> {
    let (image_format, name) = match format {
        Format::Png => (image::ImageFormat::Png, "png"),
        _ => (image::ImageFormat::WebP, "webp"),
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), image_format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    // Room for the largest allowed picture as 8-bit RGBA. A 16-bit image needs twice that and is
    // refused above half the pixel limit: two such decodes at once would otherwise take 1.6 GB.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4));
    reader.limits(image_limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => MediaError::ImageTooLarge {
            width: 0,
            height: 0,
            limit: "decoding it would need more memory than allowed".into(),
        },
        image::ImageError::Unsupported(u) => {
            MediaError::UnsupportedFormat(format!("a {name} variant we cannot decode ({u})"))
        }
        other => decode_error(name, other),
    })?;
    Ok(image.into_luma8())
}

/// Reduces a luminance image to 64×64 by averaging the pixels whose centres fall in each cell
/// (nearest pixel when the image is smaller than the grid).
pub fn area_average(luma: &GrayImage) -> [[f32; GRID]; GRID] {
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    let bounds = |n: usize| -> [(usize, usize); GRID] {
        std::array::from_fn(|i| {
            let start = i * n / GRID;
            (start, ((i + 1) * n / GRID).max(start + 1))
        })
    };
    let (xs, ys) = (bounds(w), bounds(h));
    let raw = luma.as_raw();
    let mut out = [[0f32; GRID]; GRID];
    for (gy, &(y0, y1)) in ys.iter().enumerate() {
        let mut cell = [0u32; GRID];
        for y in y0..y1 {
            let row = &raw[y * w..(y + 1) * w];
            for (gx, &(x0, x1)) in xs.iter().enumerate() {
                cell[gx] += row[x0..x1].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        for gx in 0..GRID {
            let area = ((xs[gx].1 - xs[gx].0) * (y1 - y0)) as f32;
            out[gy][gx] = cell[gx] as f32 / area;
        }
    }
    out
}

/// The 16×64 DCT-II basis PDQ uses, skipping the constant (DC) row.
fn dct_matrix() -> &'static [[f32; GRID]; FREQUENCIES] {
    static MATRIX: OnceLock<[[f32; GRID]; FREQUENCIES]> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let scale = (2.0 / GRID as f64).sqrt();
        std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                (scale * (std::f64::consts::PI / 2.0 / GRID as f64 * (i + 1) as f64 * (2 * j + 1) as f64).cos()) as f32
            })
        })
    })
}

/// PDQ's hash of a 64×64 luminance grid: D · A · Dᵀ, then one bit per coefficient above the median.
pub fn pdq_hash(grid: &[[f32; GRID]; GRID]) -> PerceptualHash {
    let d = dct_matrix();
    // T = D · A  (16×64)
    let mut t = [[0f32; GRID]; FREQUENCIES];
    for (i, t_row) in t.iter_mut().enumerate() {
        for (k, a_row) in grid.iter().enumerate() {
            let dik = d[i][k];
            for (t_ij, a_kj) in t_row.iter_mut().zip(a_row.iter()) {
                *t_ij += dik * a_kj;
            }
        }
    }
    // B = T · Dᵀ  (16×16)
    let mut b = [0f32; FREQUENCIES * FREQUENCIES];
    for i in 0..FREQUENCIES {
        for j in 0..FREQUENCIES {
            b[i * FREQUENCIES + j] = t[i].iter().zip(d[j].iter()).map(|(x, y)| x * y).sum();
        }
    }
    let mut sorted = b;
    sorted.sort_unstable_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let mut hash = [0u8; 32];
    for (bit, value) in b.iter().enumerate() {
        if *value > median {
            hash[bit / 8] |= 1 << (bit % 8);
        }
    }
    PerceptualHash(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]))
    }

    #[test]
    fn hex_round_trip() {
        let h = PerceptualHash([0xAB; 32]);
        assert_eq!(h.to_string(), "ab".repeat(32));
        assert_eq!(h.to_string().parse::<PerceptualHash>(), Ok(h));
        assert!("zz".repeat(32).parse::<PerceptualHash>().is_err());
        assert!("ab".parse::<ContentHash>().is_err());
        assert_eq!(ContentHash::of(b"abc").to_string(), blake3::hash(b"abc").to_hex().as_str());
    }

    #[test]
    fn distance_counts_differing_bits() {
        let a = PerceptualHash([0; 32]);
        let mut b = a;
        b.0[0] = 0b1011;
        b.0[31] = 0x80;
        assert_eq!(a.distance(&b), 4);
        assert!(a.matches(&b));
        let far = PerceptualHash([0xFF; 32]);
        assert_eq!(a.distance(&far), 256);
        assert!(!a.matches(&far));
        let mut edge = a;
        edge.0[..4].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(a.distance(&edge), 31);
        assert!(a.matches(&edge));
        edge.0[3] = 0xFF;
        assert!(!a.matches(&edge));
    }

    #[test]
    fn area_average_of_a_uniform_image_is_uniform() {
        for (w, h) in [(64, 64), (640, 480), (65, 1000), (10, 7)] {
            let grid = area_average(&gradient(w, h, |_, _| 77));
            assert!(grid.iter().flatten().all(|&v| (v - 77.0).abs() < 1e-3), "{w}×{h}");
        }
    }

    #[test]
    fn hash_is_stable_under_scaling_and_differs_between_pictures() {
        let pattern = |scale: u32| {
            gradient(64 * scale, 48 * scale, move |x, y| {
                let (x, y) = (x / scale, y / scale);
                (((x * 7 + y * 3) % 64) * 3 + if (x / 8 + y / 8) % 2 == 0 { 40 } else { 0 }) as u8
            })
        };
        let small = pdq_hash(&area_average(&pattern(1)));
        let large = pdq_hash(&area_average(&pattern(5)));
        assert!(small.matches(&large), "distance {}", small.distance(&large));
        let other = pdq_hash(&area_average(&gradient(320, 240, |x, y| ((x * x + y * 5) % 251) as u8)));
        assert!(!small.matches(&other), "distance {}", small.distance(&other));
    }

    #[test]
    fn exactly_half_the_bits_are_set_for_a_textured_picture() {
        let hash = pdq_hash(&area_average(&gradient(200, 150, |x, y| ((x * 13 + y * 29 + x * y) % 256) as u8)));
        let ones: u32 = hash.0.iter().map(|b| b.count_ones()).sum();
        assert!((120..=128).contains(&ones), "{ones} bits set");
    }
}

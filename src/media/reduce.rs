//! Pictures reduced by area averaging while they are decoded, row by row: memory follows the
//! output's size and one row, not the picture's pixel count. A 389 KB PNG may announce 100 MP; its
//! perceptual hash needs a 64×64 grid and its thumbnail 480 px, never the 300 MB of its pixels.
//! Pure.

use std::io::Cursor;

use crate::media::error::MediaError;
use crate::media::limits::Limits;
use crate::media::orient::Orientation;

/// What each output cell holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channels {
    /// Luminance with the Rec. 709 weights `image`'s conversion to luma uses (it may round a
    /// level differently).
    Luma,
    /// Red, green and blue, transparent pixels composed onto white (as a page shows them).
    RgbOnWhite,
}

/// A reduced picture, upright: `width × height` cells of `channels` averages each, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reduced {
    /// Cells per row.
    pub width: usize,
    /// Rows of cells.
    pub height: usize,
    /// The averages: one value per cell for luma, three for RGB.
    pub cells: Vec<f32>,
}

/// For each of `n` pixels along an axis, the output cell (of `out`) it falls in: cell `i` covers
/// `[i·n/out, (i+1)·n/out)`, the same bounds [`super::fingerprint::area_average`] uses. Needs
/// `out <= n`, so the cells partition the axis.
fn cell_of(n: usize, out: usize) -> Vec<usize> {
    let mut table = vec![0; n];
    for i in 0..out {
        let (start, end) = (i * n / out, (i + 1) * n / out);
        table[start..end].fill(i);
    }
    table
}

/// Where stored pixel `(x, y)` of a `w × h` picture lands once `orientation` is applied.
fn oriented(orientation: Orientation, x: usize, y: usize, w: usize, h: usize) -> (usize, usize) {
    match orientation {
        Orientation::NoTransforms => (x, y),
        Orientation::Rotate90 => (h - 1 - y, x),
        Orientation::Rotate180 => (w - 1 - x, h - 1 - y),
        Orientation::Rotate270 => (y, w - 1 - x),
        Orientation::FlipHorizontal => (w - 1 - x, y),
        Orientation::FlipVertical => (x, h - 1 - y),
        Orientation::Rotate90FlipH => (y, x),
        Orientation::Rotate270FlipH => (h - 1 - y, w - 1 - x),
    }
}

/// Whether `orientation` swaps width and height.
fn swaps(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

fn corrupt(err: impl std::fmt::Display) -> MediaError {
    MediaError::corrupt("png", format!("its pixels cannot be decoded ({err})"))
}

/// Decodes a PNG one row at a time, upright, into the cells `size` chooses from the upright
/// width and height (each at most that side). `None` when this path does not apply (an interlaced
/// PNG, or cells larger than the picture): the caller decodes in full instead, which small and
/// interlaced pictures can afford.
pub(crate) fn png(
    bytes: &[u8],
    limits: &Limits,
    orientation: Orientation,
    channels: Channels,
    size: impl Fn(usize, usize) -> (usize, usize),
) -> Result<Option<Reduced>, MediaError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let info = reader.info();
    let (w, h) = (info.width as usize, info.height as usize);
    limits.check_dimensions("png", w as u64, h as u64)?;
    if info.interlaced {
        return Ok(None);
    }
    let (ow, oh) = if swaps(orientation) { (h, w) } else { (w, h) };
    let (cw, ch) = size(ow, oh);
    if cw == 0 || ch == 0 || cw > ow || ch > oh {
        return Ok(None);
    }
    let (xs, ys) = (cell_of(ow, cw), cell_of(oh, ch));
    let (color, _) = reader.output_color_type();
    let samples = color.samples();
    let depth = match channels {
        Channels::Luma => 1,
        Channels::RgbOnWhite => 3,
    };
    // Sums fit in 32 bits: a cell never covers more than (24 000 / 1)·(24 000 / 64) pixels of 255.
    let mut sums = vec![0u32; cw * ch * depth];
    let mut y = 0;
    while let Some(row) = reader.next_row().map_err(corrupt)? {
        if y >= h {
            break;
        }
        for (x, px) in row.data().chunks_exact(samples).take(w).enumerate() {
            let (r, g, b, a) = match px.len() {
                1 => (px[0], px[0], px[0], 255),
                2 => (px[0], px[0], px[0], px[1]),
                3 => (px[0], px[1], px[2], 255),
                _ => (px[0], px[1], px[2], px[3]),
            };
            let (ox, oy) = oriented(orientation, x, y, w, h);
            let cell = ys[oy] * cw + xs[ox];
            match channels {
                Channels::Luma => {
                    // Luma ignores alpha, as `image`'s does; for gray it is the gray value itself.
                    let luma = if px.len() <= 2 {
                        u32::from(r)
                    } else {
                        (2126 * u32::from(r) + 7152 * u32::from(g) + 722 * u32::from(b) + 5000) / 10000
                    };
                    sums[cell] += luma;
                }
                Channels::RgbOnWhite => {
                    let blend = |c: u8| (u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255;
                    sums[cell * 3] += blend(r);
                    sums[cell * 3 + 1] += blend(g);
                    sums[cell * 3 + 2] += blend(b);
                }
            }
        }
        y += 1;
    }
    if y < h {
        return Err(corrupt("the image data ends early"));
    }
    let lengths = |n: usize, out: usize| -> Vec<usize> { (0..out).map(|i| (i + 1) * n / out - i * n / out).collect() };
    let (widths, heights) = (lengths(ow, cw), lengths(oh, ch));
    let cells = sums
        .iter()
        .enumerate()
        .map(|(i, &sum)| {
            let cell = i / depth;
            sum as f32 / (widths[cell % cw] * heights[cell / cw]) as f32
        })
        .collect();
    Ok(Some(Reduced { width: cw, height: ch, cells }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, RgbaImage};

    fn png_of(img: &RgbaImage) -> Vec<u8> {
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(img.clone()).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn the_luma_grid_equals_a_full_decode_turned_and_averaged() {
        // Smooth, like a photograph: a hash of a sawtooth flips on any rounding.
        let img = RgbaImage::from_fn(300, 130, |x, y| {
            let wave = 128.0 + 100.0 * (x as f32 / 30.0).sin() * (y as f32 / 20.0).cos();
            image::Rgba([(x * 255 / 300) as u8, (y * 255 / 130) as u8, wave as u8, 200])
        });
        let bytes = png_of(&img);
        for orientation in [
            Orientation::NoTransforms,
            Orientation::Rotate90,
            Orientation::Rotate180,
            Orientation::Rotate270,
            Orientation::FlipHorizontal,
            Orientation::FlipVertical,
            Orientation::Rotate90FlipH,
            Orientation::Rotate270FlipH,
        ] {
            let reduced =
                png(&bytes, &Limits::default(), orientation, Channels::Luma, |_, _| (64, 64)).unwrap().unwrap();
            let mut full = DynamicImage::ImageRgba8(img.clone());
            full.apply_orientation(orientation);
            let grid = crate::media::fingerprint::area_average(&full.into_luma8());
            let flat: Vec<f32> = grid.iter().flatten().copied().collect();
            // The same cells, up to the one level `image` may round a luma differently.
            let worst = reduced.cells.iter().zip(&flat).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst <= 1.0, "{orientation:?}: cells differ by up to {worst}");
        }
    }

    #[test]
    fn cells_larger_than_the_picture_fall_back() {
        let bytes = png_of(&RgbaImage::new(20, 20));
        assert!(png(&bytes, &Limits::default(), Orientation::NoTransforms, Channels::Luma, |_, _| (64, 64))
            .unwrap()
            .is_none());
    }
}

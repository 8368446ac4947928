//! Antialiased bilinear resizing, computed as Pillow's `Image.resize(size,
//! BILINEAR)` computes it, which is what torchvision's `Resize` runs on a PIL
//! image: a triangle filter widened by the scale factor when shrinking (so
//! every input pixel contributes), weights normalised to sum to one and
//! rounded to 22-bit fixed point, a horizontal pass rounded to 8 bits, then a
//! vertical pass rounded to 8 bits. Doing the same integer arithmetic gives
//! the same bytes as Pillow, not just close ones.
//!
//! Only a window of the resized image is computed: the centre crop that
//! follows needs `crop` pixels, not the whole (possibly very long) resized
//! image, and each output pixel depends only on its own weights, so the
//! window's pixels are exactly those of the full resize.

use std::ops::Range;

use super::Rgb8;

/// Pillow's fixed-point precision for 8-bit images: 32 bits less 8 for the
/// pixel value and 2 for headroom.
const PRECISION_BITS: u32 = 22;

/// The input pixels one output pixel reads, and their fixed-point weights.
#[derive(Clone, Debug, PartialEq)]
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// The triangle (tent) filter of bilinear interpolation; support 1.
fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// The taps of output pixels `outputs` when `in_size` pixels become
/// `out_size`, as Pillow's `precompute_coeffs` and `normalize_coeffs_8bpc`
/// make them.
fn taps(in_size: usize, out_size: usize, outputs: Range<usize>) -> Vec<Taps> {
    let scale = in_size as f64 / out_size as f64;
    // Shrinking widens the filter so that it averages what it skips: the antialiasing.
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the triangle's support (1) times the scale
    let inverse = 1.0 / filter_scale;
    outputs
        .map(|out| {
            let center = (out as f64 + 0.5) * scale;
            // C's truncating casts, as Pillow rounds the bounds.
            let first = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).clamp(0, in_size as i64) as usize;
            let raw: Vec<f64> =
                (first..end.max(first)).map(|i| triangle((i as f64 - center + 0.5) * inverse)).collect();
            let sum: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if sum != 0.0 { w / sum } else { w };
                    let fixed = w * f64::from(1u32 << PRECISION_BITS);
                    (if fixed < 0.0 { fixed - 0.5 } else { fixed + 0.5 }) as i32
                })
                .collect();
            Taps { first, weights }
        })
        .collect()
}

/// A fixed-point sum back to a byte, as Pillow's `clip8`.
fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One output value from `taps` over the values `at(i)`.
fn apply(taps: &Taps, at: impl Fn(usize) -> u8) -> u8 {
    let mut sum: i64 = 1 << (PRECISION_BITS - 1);
    for (k, &w) in taps.weights.iter().enumerate() {
        sum += i64::from(at(taps.first + k)) * i64::from(w);
    }
    clip8(sum)
}

/// The pixels `rows` x `cols` of `img` resized to `width` x `height`
/// (Pillow's antialiased bilinear), as a `cols.len()` x `rows.len()` image.
/// The ranges must lie within the resized size.
pub fn resize_window(img: &Rgb8, width: usize, height: usize, rows: Range<usize>, cols: Range<usize>) -> Rgb8 {
    let (in_w, in_h) = (img.width, img.height);
    let out_w = cols.len();
    let out_h = rows.len();
    if out_w == 0 || out_h == 0 || in_w == 0 || in_h == 0 {
        return Rgb8 { width: out_w, height: out_h, pixels: vec![0; out_w * out_h * 3] };
    }
    // Pillow skips a pass whose size does not change; its weights would be
    // the identity anyway.
    let horizontal = (width != in_w).then(|| taps(in_w, width, cols.clone()));
    let vertical = (height != in_h).then(|| taps(in_h, height, rows.clone()));
    // The input rows the vertical pass reads.
    let source_rows = match &vertical {
        Some(v) => {
            let first = v.iter().map(|t| t.first).min().unwrap_or(0);
            let end = v.iter().map(|t| t.first + t.weights.len()).max().unwrap_or(first);
            first..end.max(first)
        }
        None => rows.clone(),
    };
    // Horizontal pass: those rows, the window's columns, rounded to bytes.
    let mid_w = out_w;
    let mut mid = vec![0u8; source_rows.len() * mid_w * 3];
    for (r, y) in source_rows.clone().enumerate() {
        let line = &img.pixels[y * in_w * 3..(y + 1) * in_w * 3];
        let out = &mut mid[r * mid_w * 3..(r + 1) * mid_w * 3];
        for (c, x) in cols.clone().enumerate() {
            for ch in 0..3 {
                out[c * 3 + ch] = match &horizontal {
                    Some(h) => apply(&h[c], |i| line[i * 3 + ch]),
                    None => line[x * 3 + ch],
                };
            }
        }
    }
    // Vertical pass: the window's rows from those.
    let mut pixels = vec![0u8; out_w * out_h * 3];
    for (r, y) in rows.clone().enumerate() {
        let out = &mut pixels[r * out_w * 3..(r + 1) * out_w * 3];
        for (i, value) in out.iter_mut().enumerate() {
            *value = match &vertical {
                Some(v) => apply(&v[r], |k| mid[(k - source_rows.start) * mid_w * 3 + i]),
                None => mid[(y - source_rows.start) * mid_w * 3 + i],
            };
        }
    }
    Rgb8 { width: out_w, height: out_h, pixels }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Rgb8 {
        let pixels = (0..w * h * 3).map(|i| ((i * 37 + i / 7) % 256) as u8).collect();
        Rgb8 { width: w, height: h, pixels }
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (from, to) in [(320, 256), (64, 80), (7, 3), (1, 5), (1000, 1)] {
            for t in taps(from, to, 0..to) {
                let sum: i64 = t.weights.iter().map(|&w| i64::from(w)).sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() <= t.weights.len() as i64, "{from}->{to}: {sum}");
                assert!(t.first + t.weights.len() <= from);
            }
        }
    }

    #[test]
    fn the_same_size_is_the_identity_and_a_window_is_part_of_the_whole() {
        let img = gradient(9, 6);
        assert_eq!(resize_window(&img, 9, 6, 0..6, 0..9), img);
        let whole = resize_window(&img, 13, 5, 0..5, 0..13);
        let part = resize_window(&img, 13, 5, 1..4, 2..11);
        for r in 0..3 {
            assert_eq!(
                part.pixels[r * 9 * 3..(r + 1) * 9 * 3],
                whole.pixels[((r + 1) * 13 + 2) * 3..((r + 1) * 13 + 11) * 3]
            );
        }
    }

    #[test]
    fn a_flat_image_stays_flat() {
        let img = Rgb8 { width: 17, height: 11, pixels: [10u8, 200, 255].repeat(17 * 11) };
        for (w, h) in [(5, 3), (40, 30), (17, 2), (1, 1)] {
            let out = resize_window(&img, w, h, 0..h, 0..w);
            assert_eq!(out.pixels, [10u8, 200, 255].repeat(w * h), "{w}x{h}");
        }
    }
}

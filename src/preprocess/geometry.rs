//! Where the pixels go: the size torchvision's `Resize(n)` gives an image
//! (shorter side `n`, the longer one scaled and truncated), and the window
//! `CenterCrop` takes from it (its offsets rounded as Python's `round`, half
//! to even; a crop larger than the image padded with zeros, the padding split
//! with the extra pixel on the right or bottom).

use std::ops::Range;

/// The resize a model of input `height` x `width` gets: its shorter side
/// divided by 0.875 and truncated, as timm's `crop_pct` rule and as
/// torchvision's ImageNet weights (224 -> 256, 32 -> 36, 299 -> 341).
pub fn default_resize(height: usize, width: usize) -> usize {
    // 0.875 = 7/8, so the division is exact in integers: n = 7q + r.
    let n = height.min(width);
    (n / 7).saturating_mul(8).saturating_add(n % 7 * 8 / 7)
}

/// The size, as (height, width), that `Resize([shorter])` gives an image of
/// `height` x `width`: torchvision's `_compute_resized_output_size`.
pub fn resized_size(height: usize, width: usize, shorter: usize) -> (usize, usize) {
    if height == 0 || width == 0 {
        return (0, 0);
    }
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    // Python's `int(shorter * long / short)`: a float64 division, truncated.
    let new_long = (shorter as f64 * long as f64 / short as f64) as usize;
    if width <= height { (new_long, shorter) } else { (shorter, new_long) }
}

/// Python's `round` of `n / 2`: halves go to the even neighbour.
fn half_rounded_even(n: usize) -> usize {
    let (q, odd) = (n / 2, n % 2 == 1);
    if odd && q % 2 == 1 { q + 1 } else { q }
}

/// One axis of a centre crop of `crop` pixels from `size`: the pixels of the
/// image it takes, and how many zero pixels come before them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub before: usize,
    pub take: Range<usize>,
}

/// torchvision's `center_crop` along one axis.
pub fn center(size: usize, crop: usize) -> Span {
    if crop > size {
        // Padded to `crop` with `(crop - size) / 2` zeros first; the whole image taken.
        Span { before: (crop - size) / 2, take: 0..size }
    } else {
        let start = half_rounded_even(size - crop);
        Span { before: 0, take: start..start + crop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_rule_as_torchvision() {
        assert_eq!(default_resize(224, 224), 256);
        assert_eq!(default_resize(32, 32), 36);
        assert_eq!(default_resize(299, 299), 341);
        assert_eq!(default_resize(40, 56), 45);
        // 320x240 (W x H) -> int(256 * 320 / 240) = 341.
        assert_eq!(resized_size(240, 320, 256), (256, 341));
        assert_eq!(resized_size(320, 240, 256), (341, 256));
        assert_eq!(resized_size(100, 100, 36), (36, 36));
        assert_eq!(resized_size(1, 10_000, 256), (256, 2_560_000));
    }

    #[test]
    fn crop_offsets_round_half_to_even_and_padding_splits_left() {
        // (341 - 224) / 2 = 58.5 -> 58; (343 - 224) / 2 = 59.5 -> 60.
        assert_eq!(center(341, 224), Span { before: 0, take: 58..282 });
        assert_eq!(center(343, 224), Span { before: 0, take: 60..284 });
        assert_eq!(center(256, 224), Span { before: 0, take: 16..240 });
        assert_eq!(center(224, 224), Span { before: 0, take: 0..224 });
        // 30 into 33: one zero before, two after.
        assert_eq!(center(30, 33), Span { before: 1, take: 0..30 });
    }
}

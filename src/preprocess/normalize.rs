//! Bytes to the network's input: channels first, each value scaled to [0, 1]
//! and normalised per channel, in float32 with the same operations in the
//! same order as torchvision (`x / 255`, then `(x - mean) / std`), so that
//! equal bytes give equal floats.

use super::Rgb8;

/// The mean and standard deviation of the ImageNet training set per RGB
/// channel, which torchvision's and timm's ImageNet weights expect.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Appends `img` to `out` as 3 x H x W floats: `(v / 255 - mean) / std`.
pub fn append_chw(img: &Rgb8, mean: [f32; 3], std: [f32; 3], out: &mut Vec<f32>) {
    let plane = img.width * img.height;
    out.reserve(plane * 3);
    for ch in 0..3 {
        out.extend(
            img.pixels.iter().skip(ch).step_by(3).take(plane).map(|&v| (f32::from(v) / 255.0 - mean[ch]) / std[ch]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_first_scaled_and_normalised() {
        let img = Rgb8 { width: 2, height: 1, pixels: vec![0, 51, 255, 255, 102, 0] };
        let mut out = Vec::new();
        append_chw(&img, [0.0; 3], [1.0; 3], &mut out);
        assert_eq!(out, [0.0, 1.0, 0.2, 0.4, 1.0, 0.0]);
        out.clear();
        append_chw(&img, [0.5; 3], [0.5; 3], &mut out);
        assert_eq!(out, [-1.0, 1.0, -0.6, -0.19999999, 1.0, -1.0]);
    }
}

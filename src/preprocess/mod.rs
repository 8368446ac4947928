//! Photos to network inputs, as the reference models' own preprocessing
//! makes them: torchvision's `ImageClassification` transform (what
//! `ResNet50_Weights.IMAGENET1K_V1.transforms()` gives), applied to
//! `PIL.Image.open(path).convert("RGB")`.
//!
//! For a model of input H x W:
//!
//! 1. decode the PNG or JPEG file to 8-bit RGB as Pillow does ([`decode`]);
//! 2. resize it so that its shorter side is `floor(min(H, W) / 0.875)`
//!    (224 -> 256), the longer side scaled and truncated, with Pillow's
//!    antialiased bilinear filter in its fixed-point arithmetic ([`resize`],
//!    [`geometry`]);
//! 3. take the centre H x W, offsets rounded half to even as Python's
//!    `round` (zero padding where the image is smaller);
//! 4. scale to [0, 1] and normalise each channel with the ImageNet mean and
//!    standard deviation ([`normalize`]).
//!
//! PNG files come out bit for bit as torchvision's; JPEG files within a few
//! levels of 255, as the JPEG decoder here (zune-jpeg) and libjpeg-turbo
//! upsample chroma differently (tests/images.rs states the figures).

pub mod decode;
pub mod geometry;
pub mod normalize;
pub mod resize;

use std::path::Path;

pub use decode::{Kind, kind};
pub use normalize::{IMAGENET_MEAN, IMAGENET_STD};

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (RGBRGB...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// How a photo becomes an input of `height` x `width`.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub height: usize,
    pub width: usize,
    /// The shorter side after resizing, before the centre crop; `None`
    /// takes the image as it is, and it must then be `height` x `width`.
    pub resize: Option<usize>,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Options {
    /// torchvision's ImageNet evaluation transform for this input size.
    pub fn imagenet(height: usize, width: usize) -> Self {
        Options {
            height,
            width,
            resize: Some(geometry::default_resize(height, width)),
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        }
    }

    /// No resize, no crop, no normalisation: values scaled to [0, 1] only.
    pub fn none(height: usize, width: usize) -> Self {
        Options { height, width, resize: None, mean: [0.0; 3], std: [1.0; 3] }
    }
}

/// Why a file could not become an input. Each is the file's fault, not the model's.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ImageError {
    #[error("{path} is a {format} image; resc reads PNG and JPEG")]
    #[diagnostic(
        code(resc::image::unsupported),
        help("convert it, e.g. with PIL: Image.open(f).convert(\"RGB\").save(\"x.png\")")
    )]
    Unsupported { path: String, format: String },
    #[error("cannot decode {path}: {detail}")]
    #[diagnostic(
        code(resc::image::decode),
        help(
            "the file is damaged or truncated, or not the format its name says; open it in an image viewer or save it again"
        )
    )]
    Decode { path: String, detail: String },
    #[error("{path} is too large to decode: {detail}")]
    #[diagnostic(
        code(resc::image::too_large),
        help("files above {max} pixels are refused as decompression bombs, as Pillow refuses them; shrink it first", max = decode::MAX_PIXELS)
    )]
    TooLarge { path: String, detail: String },
    #[error("{path} is {width}x{height} (width x height), the model takes {want_width}x{want_height}")]
    #[diagnostic(
        code(resc::image::size),
        help("--preprocess none takes the image as it is; leave it out to resize and crop as torchvision does")
    )]
    Size { path: String, width: usize, height: usize, want_width: usize, want_height: usize },
    #[error("a crop of {width}x{height} is more than the {max} pixels a photo may have", max = decode::MAX_PIXELS)]
    #[diagnostic(
        code(resc::image::crop_size),
        help("the crop is the model's declared input size; declare a smaller one")
    )]
    CropTooLarge { width: usize, height: usize },
}

/// How a path is shown in messages.
fn show(path: &Path) -> String {
    path.display().to_string()
}

/// One photo ready for the network.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// 3 x height x width floats, channels first.
    pub chw: Vec<f32>,
    /// The 8-bit image after resizing and cropping, before normalisation.
    pub rgb: Rgb8,
    /// What the reader should know (16-bit gray clipped as Pillow clips it).
    pub notes: Vec<String>,
}

/// The resized and centre-cropped image (or the image itself, checked, when
/// `opts.resize` is `None`).
pub fn resize_and_crop(path: &Path, img: &Rgb8, opts: &Options) -> Result<Rgb8, ImageError> {
    if opts.width.checked_mul(opts.height).is_none_or(|p| p as u64 > decode::MAX_PIXELS) {
        return Err(ImageError::CropTooLarge { width: opts.width, height: opts.height });
    }
    let Some(shorter) = opts.resize else {
        if (img.width, img.height) != (opts.width, opts.height) {
            return Err(ImageError::Size {
                path: show(path),
                width: img.width,
                height: img.height,
                want_width: opts.width,
                want_height: opts.height,
            });
        }
        return Ok(img.clone());
    };
    let (rh, rw) = geometry::resized_size(img.height, img.width, shorter);
    let (rows, cols) = (geometry::center(rh, opts.height), geometry::center(rw, opts.width));
    let inner = resize::resize_window(img, rw, rh, rows.take.clone(), cols.take.clone());
    if inner.width == opts.width && inner.height == opts.height {
        return Ok(inner);
    }
    // Part of the crop lies outside the resized image: zeros there.
    let mut out = Rgb8 { width: opts.width, height: opts.height, pixels: vec![0; opts.width * opts.height * 3] };
    for r in 0..inner.height {
        let at = ((r + rows.before) * opts.width + cols.before) * 3;
        out.pixels[at..at + inner.width * 3]
            .copy_from_slice(&inner.pixels[r * inner.width * 3..(r + 1) * inner.width * 3]);
    }
    Ok(out)
}

/// A PNG or JPEG file's bytes (`path` names it) as the network's input.
pub fn prepare(path: &Path, bytes: &[u8], opts: &Options) -> Result<Prepared, ImageError> {
    let decoded = decode::decode(path, bytes)?;
    let mut notes = Vec::new();
    if decoded.clipped > 0 {
        notes.push(format!(
            "{} is 16-bit grayscale: {} values above 255 were clipped to 255, as Pillow's convert(\"RGB\") does (and so torchvision)",
            show(path),
            decoded.clipped
        ));
    }
    let rgb = resize_and_crop(path, &decoded.image, opts)?;
    let mut chw = Vec::new();
    normalize::append_chw(&rgb, opts.mean, opts.std, &mut chw);
    Ok(Prepared { chw, rgb, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_larger_than_the_image_is_padded_with_zeros() {
        let img = Rgb8 { width: 2, height: 2, pixels: vec![200; 12] };
        let opts = Options { resize: Some(2), ..Options::none(4, 3) };
        let out = resize_and_crop(Path::new("x.png"), &img, &opts).unwrap();
        let lit: Vec<bool> = out.pixels.chunks(3).map(|p| p[0] == 200).collect();
        // 2 into 3 wide: the zero column after (torchvision pads `(3 - 2) / 2 = 0`
        // before); 2 into 4 high: one row above, one below.
        #[rustfmt::skip]
        assert_eq!(lit, [
            false, false, false,
            true, true, false,
            true, true, false,
            false, false, false,
        ]);
    }

    #[test]
    fn without_resizing_the_size_must_fit() {
        let img = Rgb8 { width: 3, height: 2, pixels: vec![0; 18] };
        assert!(resize_and_crop(Path::new("x.png"), &img, &Options::none(2, 3)).is_ok());
        let e = resize_and_crop(Path::new("x.png"), &img, &Options::none(3, 2)).unwrap_err();
        assert_eq!(e.to_string(), "x.png is 3x2 (width x height), the model takes 2x3");
        let e = resize_and_crop(Path::new("x.png"), &img, &Options::imagenet(usize::MAX, 3)).unwrap_err();
        assert!(matches!(e, ImageError::CropTooLarge { .. }), "{e}");
    }
}

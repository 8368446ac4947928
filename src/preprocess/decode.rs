//! PNG and JPEG files to 8-bit RGB, as `PIL.Image.open(path).convert("RGB")`
//! gives them: alpha dropped (not composited), gray repeated in the three
//! channels, 16-bit colour reduced to its high byte, and 16-bit gray clipped
//! at 255 (Pillow's conversion of its `I;16` mode, which whitens most such
//! images; it is what torchvision sees, so it is what resc does, with a
//! note). EXIF orientation is not applied, as Pillow does not on open.
//!
//! The size a file declares is checked before anything is decoded: above
//! Pillow's decompression-bomb limit the file is refused, and the decoder
//! runs under an allocation limit besides.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader};

use super::{ImageError, Rgb8, show};

/// The most pixels a file may declare: Pillow's `DecompressionBombError`
/// threshold, twice its `MAX_IMAGE_PIXELS` of 89,478,485.
pub const MAX_PIXELS: u64 = 2 * 89_478_485;

/// The most the decoder may allocate at once (the decoded image included).
const MAX_ALLOC: u64 = 1 << 30;

/// What a file is, as far as `resc run --input` cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    /// A `.npy` array.
    Npy,
    /// An image format resc does not read (GIF, WebP, ...), by its usual extension.
    OtherImage(&'static str),
    Unknown,
}

/// The file's kind: from its first bytes where they are a PNG's, a JPEG's or
/// a `.npy`'s (a PNG named `.jpg` is still a PNG), else from its extension
/// (so that a damaged `photo.png` is reported as a damaged PNG). Another
/// image format is named only where both agree, as some formats' magic
/// bytes (`BM`, `P1`) begin ordinary text too.
pub fn kind(path: &Path, bytes: &[u8]) -> Kind {
    if bytes.starts_with(b"\x93NUMPY") {
        return Kind::Npy;
    }
    let by_extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let by_extension = by_extension.as_deref().and_then(|e| {
        (e == "npy").then_some(Kind::Npy).or_else(|| {
            ImageFormat::from_extension(e).map(|f| match f {
                ImageFormat::Png => Kind::Png,
                ImageFormat::Jpeg => Kind::Jpeg,
                f => Kind::OtherImage(name(f)),
            })
        })
    });
    match image::guess_format(bytes) {
        Ok(ImageFormat::Png) => Kind::Png,
        Ok(ImageFormat::Jpeg) => Kind::Jpeg,
        Ok(f) if by_extension == Some(Kind::OtherImage(name(f))) => Kind::OtherImage(name(f)),
        _ => by_extension.unwrap_or(Kind::Unknown),
    }
}

fn name(format: ImageFormat) -> &'static str {
    format.extensions_str().first().copied().unwrap_or("unknown")
}

/// What decoding found worth saying: Pillow's clipping of 16-bit gray.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub image: Rgb8,
    /// Values of a 16-bit grayscale file above 255, clipped to 255 as Pillow does.
    pub clipped: usize,
}

/// Decodes a PNG or JPEG file's bytes (its [`kind`] decides which).
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Decoded, ImageError> {
    let format = match kind(path, bytes) {
        Kind::Png => ImageFormat::Png,
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::OtherImage(ext) => return Err(ImageError::Unsupported { path: show(path), format: ext.into() }),
        Kind::Npy | Kind::Unknown => {
            return Err(ImageError::Decode { path: show(path), detail: "it is neither a PNG nor a JPEG file".into() });
        }
    };
    let path = &show(path);
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        let detail = "the JPEG data ends before its end-of-image marker: the file is truncated".to_string();
        return Err(ImageError::Decode { path: path.clone(), detail });
    }
    let decode_error = |e: image::ImageError| match e {
        image::ImageError::Limits(e) => ImageError::TooLarge { path: path.into(), detail: e.to_string() },
        e => ImageError::Decode { path: path.into(), detail: e.to_string() },
    };
    let (width, height) =
        ImageReader::with_format(Cursor::new(bytes), format).into_dimensions().map_err(decode_error)?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            path: path.into(),
            detail: format!("it declares {width}x{height} pixels, more than {MAX_PIXELS}"),
        });
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    // A decoder that panics on a malformed file is a refused file, not a crash.
    let decoded = crate::panic_guard::catch_quietly(|| reader.decode())
        .map_err(|_| ImageError::Decode { path: path.into(), detail: "the decoder could not read it".into() })?;
    Ok(to_rgb(decoded.map_err(decode_error)?))
}

/// Whether a JPEG file's end-of-image marker follows its first scan. The
/// decoder here fills a file cut short with grey; Pillow refuses it ("image
/// file is truncated"), and so does resc. Marker segments are walked up to
/// the first start-of-scan (so that an EXIF thumbnail's marker does not
/// count); in the compressed data after it, `FF D9` can only be the end.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after start-of-image
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return true; // not a marker: malformed, which the decoder reports
        }
        match bytes[i + 1] {
            0xFF => i += 1,               // fill byte
            0x01 | 0xD0..=0xD8 => i += 2, // markers without a length
            0xD9 => return true,          // ends before any scan: the decoder reports it
            marker => {
                let Some(len) = bytes.get(i + 2..i + 4).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
                    return false;
                };
                if marker == 0xDA {
                    let data = bytes.get(i + 2 + len..).unwrap_or(&[]);
                    return data.windows(2).any(|w| w == [0xFF, 0xD9]);
                }
                i += 2 + len;
            }
        }
    }
    false
}

/// Pillow's `convert("RGB")` of what its PNG and JPEG readers make.
fn to_rgb(img: DynamicImage) -> Decoded {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let mut clipped = 0;
    let pixels: Vec<u8> = match img {
        DynamicImage::ImageRgb8(i) => i.into_raw(),
        DynamicImage::ImageRgba8(i) => i.into_raw().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        DynamicImage::ImageLuma8(i) => i.into_raw().iter().flat_map(|&v| [v; 3]).collect(),
        DynamicImage::ImageLumaA8(i) => i.into_raw().chunks_exact(2).flat_map(|p| [p[0]; 3]).collect(),
        // Pillow reads 16-bit colour through its `;16B` raw modes: the high byte.
        DynamicImage::ImageRgb16(i) => i.into_raw().iter().map(|&v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(i) => {
            i.into_raw().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]].map(|v| (v >> 8) as u8)).collect()
        }
        DynamicImage::ImageLumaA16(i) => i.into_raw().chunks_exact(2).flat_map(|p| [(p[0] >> 8) as u8; 3]).collect(),
        // 16-bit gray is Pillow's `I;16` mode, whose conversion to RGB clips.
        DynamicImage::ImageLuma16(i) => i
            .into_raw()
            .iter()
            .flat_map(|&v| {
                clipped += usize::from(v > 255);
                [v.min(255) as u8; 3]
            })
            .collect(),
        other => other.to_rgb8().into_raw(),
    };
    Decoded { image: Rgb8 { width, height, pixels }, clipped }
}

//! `resc run`'s input: PNG or JPEG photos preprocessed for the model (the
//! work is `resc::preprocess`'s; this wires its flags), one `.npy` array, or
//! a random tensor; and `--save-input`, which writes what the model ran on.

use std::path::{Path, PathBuf};

use resc::diag::Diag;
use resc::ir::Graph;
use resc::preprocess::{self, Kind, Options};

use crate::cli::failure::{CliError, Failure, could_not_run};
use crate::{Dims, parse_dims};

// Plain comments, not doc comments: a documented value would switch clap's
// whole `--help` to the long layout.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preprocess {
    // torchvision's ImageNet evaluation transform.
    Imagenet,
    // The photo as it is, of the model's size, scaled to [0, 1].
    None,
}

#[derive(clap::Args)]
pub struct InputArgs {
    /// The input: PNG or JPEG photos (several make a batch), preprocessed as
    /// --preprocess says; or one .npy file of float32, NxCxHxW.
    #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with = "random_input")]
    input: Vec<PathBuf>,
    /// A random input of this shape instead of a file.
    #[arg(long, value_parser = parse_dims, value_name = "NxCxHxW")]
    random_input: Option<Dims>,
    /// How photos become the input: `imagenet` resizes the shorter side to floor(min(H, W) /
    /// 0.875), takes the centre HxW, scales to [0, 1] and normalises with ImageNet's mean and
    /// std, as torchvision; `none` takes photos of HxW as they are, scaled to [0, 1]
    /// [default: imagenet]
    #[arg(long, value_enum)]
    preprocess: Option<Preprocess>,
    /// Per-channel mean subtracted after scaling to [0, 1] [default: 0.485,0.456,0.406 with
    /// imagenet, 0,0,0 with none].
    #[arg(long, value_delimiter = ',', value_name = "R,G,B", allow_hyphen_values = true)]
    mean: Option<Vec<f32>>,
    /// Per-channel standard deviation divided by after the mean [default: 0.229,0.224,0.225
    /// with imagenet, 1,1,1 with none].
    #[arg(long, value_delimiter = ',', value_name = "R,G,B")]
    std: Option<Vec<f32>>,
    /// The shorter side after resizing, before the centre crop [default: floor(min(H, W) / 0.875)].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=65536))]
    resize: Option<u64>,
    /// Write the input the model ran on, after preprocessing, as float32 NxCxHxW .npy.
    #[arg(long, value_name = "X.npy")]
    save_input: Option<PathBuf>,
}

impl InputArgs {
    /// Where `--save-input` writes the input.
    pub fn save_input(&self) -> Option<&Path> {
        self.save_input.as_deref()
    }
}

/// What `resc run` cannot take as input. Exit 2, except where the input does
/// not fit the model (`ImageModel`, and `resc::image::size`): exit 1.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InputError {
    #[error("{path} is not a .npy file: {detail}")]
    #[diagnostic(code(resc::run::not_npy), help("save the input with numpy.save(path, x.astype(numpy.float32))"))]
    NotNpy { path: String, detail: String },
    #[error("{path} is neither a .npy array nor a PNG or JPEG image")]
    #[diagnostic(code(resc::run::input_kind), help("give photos (.png, .jpg) or a .npy file of float32 NxCxHxW"))]
    Kind { path: String },
    #[error("--input takes one .npy file, or PNG and JPEG photos; it was given {given}")]
    #[diagnostic(code(resc::run::mixed_inputs), help("stack the arrays into one .npy file, or give only photos"))]
    Mixed { given: String },
    #[error("--random-input takes NxCxHxW (or CxHxW), at most 2^28 values")]
    #[diagnostic(code(resc::run::random_input))]
    RandomInput,
    #[error("no input")]
    #[diagnostic(
        code(resc::run::no_input),
        help("give --input PHOTO.jpg (or .png, or FILE.npy) or --random-input NxCxHxW")
    )]
    NoInput,
    #[error("{flags}: for photos (PNG, JPEG) only, and the input is {input}")]
    #[diagnostic(code(resc::run::preprocess_flags), help("leave them out; a .npy input is used as it is"))]
    NotPhotos { flags: String, input: String },
    #[error("--resize with --preprocess none: none takes photos as they are")]
    #[diagnostic(code(resc::run::preprocess_flags), help("leave out --resize, or --preprocess none"))]
    ResizeWithNone,
    #[error("--{flag} takes three finite numbers, R,G,B{more}; it was given {given}")]
    #[diagnostic(code(resc::run::mean_std), help("e.g. --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225"))]
    MeanStd { flag: &'static str, more: &'static str, given: String },
    #[error("`{model}` takes input {shape}; photos give three channels (RGB) of H x W")]
    #[diagnostic(code(resc::run::image_model), help("give the input as a .npy file instead"))]
    ImageModel { model: String, shape: String },
}

/// The input tensor, and a name for each of its samples (for `--top`).
pub struct Input {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub names: Vec<String>,
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// Reads or makes the input for `g`, and writes it to `--save-input`.
pub fn read(a: &InputArgs, g: &Graph) -> Result<Input, Failure> {
    let input = match (a.input.as_slice(), &a.random_input) {
        ([], None) => return Err(could_not_run(InputError::NoInput)),
        ([], Some(dims)) => {
            not_for_arrays(a, "a random tensor")?;
            random(dims).map_err(could_not_run)?
        }
        (paths, _) => {
            let files: Vec<(&PathBuf, Vec<u8>)> = paths
                .iter()
                .map(|p| std::fs::read(p).map(|b| (p, b)).map_err(|e| could_not_run(CliError::unreadable(p, e))))
                .collect::<Result<_, _>>()?;
            let kinds: Vec<Kind> = files.iter().map(|(p, b)| preprocess::kind(p, b)).collect();
            if let Some(i) = kinds.iter().position(|k| *k == Kind::Unknown) {
                return Err(could_not_run(InputError::Kind { path: show(files[i].0) }));
            }
            match kinds.as_slice() {
                [Kind::Npy] => {
                    not_for_arrays(a, "a .npy array")?;
                    npy(files[0].0, &files[0].1)?
                }
                k if !k.contains(&Kind::Npy) => photos(a, g, &files)?,
                _ => {
                    let arrays = kinds.iter().filter(|k| **k == Kind::Npy).count();
                    let given = format!("{arrays} .npy files and {} photos", kinds.len() - arrays);
                    return Err(could_not_run(InputError::Mixed { given }));
                }
            }
        }
    };
    if let Some(path) = &a.save_input {
        super::write_npy(path, &input.shape, &input.data)?;
    }
    Ok(input)
}

fn random(dims: &Dims) -> Result<Input, InputError> {
    let dims = if dims.0.len() == 3 { [&[1], &dims.0[..]].concat() } else { dims.0.clone() };
    let n = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).unwrap_or(u64::MAX);
    if dims.len() != 4 || n == 0 || n > 1 << 28 {
        return Err(InputError::RandomInput);
    }
    let mut rng = resc::weights::Rng::new(7);
    let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    let names = (0..shape[0]).map(|i| format!("random input [{i}]")).collect();
    Ok(Input { shape, data: (0..n).map(|_| rng.uniform()).collect(), names })
}

fn npy(path: &Path, bytes: &[u8]) -> Result<Input, Failure> {
    let (shape, data) = resc::npy::read_f32(bytes).map_err(|e| match e {
        resc::npy::NpyError::Format(detail) => could_not_run(InputError::NotNpy { path: show(path), detail }),
        e => could_not_run(e),
    })?;
    let n = shape.first().copied().unwrap_or(1);
    let names = (0..n).map(|i| if n == 1 { show(path) } else { format!("{} [{i}]", show(path)) }).collect();
    Ok(Input { shape, data, names })
}

/// Three finite numbers (and, for the std, none zero or negative).
fn rgb(flag: &'static str, values: &[f32], positive: bool) -> Result<[f32; 3], InputError> {
    match values {
        [r, g, b] if [r, g, b].iter().all(|v| v.is_finite() && (!positive || **v > 0.0)) => Ok([*r, *g, *b]),
        _ => Err(InputError::MeanStd {
            flag,
            more: if positive { ", each above 0" } else { "" },
            given: values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","),
        }),
    }
}

/// The preprocessing the flags ask for, for a model of input `height` x `width`.
fn options(a: &InputArgs, height: usize, width: usize) -> Result<Options, InputError> {
    let mode = a.preprocess.unwrap_or(Preprocess::Imagenet);
    let mut opts = match mode {
        Preprocess::Imagenet => Options::imagenet(height, width),
        Preprocess::None => Options::none(height, width),
    };
    if let Some(r) = a.resize {
        if mode == Preprocess::None {
            return Err(InputError::ResizeWithNone);
        }
        opts.resize = Some(r as usize);
    }
    if let Some(m) = &a.mean {
        opts.mean = rgb("mean", m, false)?;
    }
    if let Some(s) = &a.std {
        opts.std = rgb("std", s, true)?;
    }
    Ok(opts)
}

fn photos(a: &InputArgs, g: &Graph, files: &[(&PathBuf, Vec<u8>)]) -> Result<Input, Failure> {
    let declared = g.node(g.input).shape.concrete(1);
    let (height, width) = match declared.as_slice() {
        [_, 3, h, w] => (*h as usize, *w as usize),
        _ => {
            let shape = format!("{}", g.node(g.input).shape);
            let e = InputError::ImageModel { model: g.name.clone(), shape };
            return Err(super::diagnostics(&[Diag::new(e)]));
        }
    };
    let opts = options(a, height, width).map_err(could_not_run)?;
    let mut data = Vec::new();
    for (path, bytes) in files {
        let p = preprocess::prepare(path, bytes, &opts).map_err(|e| match e {
            preprocess::ImageError::Size { .. } | preprocess::ImageError::CropTooLarge { .. } => {
                super::diagnostics(&[Diag::new(e)])
            }
            e => could_not_run(e),
        })?;
        for n in p.notes {
            eprintln!("note: {n}");
        }
        data.extend(p.chw);
    }
    let names = files.iter().map(|(p, _)| show(p)).collect();
    Ok(Input { shape: vec![files.len(), 3, height, width], data, names })
}

/// The photo-only flags given with an input that is not photos: an error,
/// rather than flags silently ignored.
fn not_for_arrays(a: &InputArgs, input: &str) -> Result<(), Failure> {
    let given: Vec<&str> = [
        ("--preprocess", a.preprocess.is_some()),
        ("--mean", a.mean.is_some()),
        ("--std", a.std.is_some()),
        ("--resize", a.resize.is_some()),
    ]
    .iter()
    .filter_map(|(f, on)| on.then_some(*f))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(could_not_run(InputError::NotPhotos { flags: given.join(", "), input: input.into() }))
}

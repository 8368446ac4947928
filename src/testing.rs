//! What the numeric tests of resc and of the generated burn crate share: one
//! comparison of outputs, and the PyTorch reference fixtures. Public so that
//! both test suites use this one copy; nothing in the compiler calls it.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::driver::{self, Options, Select};
use crate::ir::Graph;
use crate::sema::Program;

/// How closely two outputs agree, when they do.
#[derive(Clone, Debug, PartialEq)]
pub struct Agreement {
    /// Largest absolute difference.
    pub max_error: f32,
    /// Largest magnitude in the reference: what the error is relative to.
    pub scale: f32,
    /// `max_error / scale`.
    pub relative: f32,
}

impl fmt::Display for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max error {:.3e} ({:.3e} relative to the largest value {:.4e})",
            self.max_error, self.relative, self.scale
        )
    }
}

/// Why two outputs do not agree.
#[derive(Clone, Debug, PartialEq)]
pub enum Mismatch {
    Length {
        got: usize,
        want: usize,
    },
    /// A NaN or infinity in the output under test.
    NonFinite {
        index: usize,
        value: f32,
    },
    /// A NaN or infinity in the reference: a broken fixture or reference run.
    ReferenceNonFinite {
        index: usize,
        value: f32,
    },
    /// A NaN where the reference has none, or the other way round.
    NanPlacement {
        index: usize,
        got: f32,
        want: f32,
    },
    /// An all-zero reference checks nothing.
    ReferenceZero,
    TooFar {
        agreement: Agreement,
        index: usize,
        got: f32,
        want: f32,
        tolerance: f32,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Length { got, want } => write!(f, "{got} values where the reference has {want}"),
            Mismatch::NonFinite { index, value } => write!(f, "value {index} is {value}"),
            Mismatch::ReferenceNonFinite { index, value } => write!(f, "the reference's value {index} is {value}"),
            Mismatch::NanPlacement { index, got, want } => {
                write!(f, "value {index} is {got} where the reference has {want}")
            }
            Mismatch::ReferenceZero => write!(f, "the reference is all zeros, which checks nothing"),
            Mismatch::TooFar { agreement, index, got, want, tolerance } => write!(
                f,
                "{agreement}, above {tolerance:.0e}; the worst is value {index}: {got} where the reference has {want}"
            ),
        }
    }
}

/// Compares `got` with the reference `want`: every value finite in both,
/// and the largest absolute difference at most `tolerance` times the
/// reference's largest magnitude.
pub fn compare(got: &[f32], want: &[f32], tolerance: f32) -> Result<Agreement, Mismatch> {
    compare_with(got, want, tolerance, false)
}

/// As [`compare`], but a NaN is allowed where, and only where, the reference
/// has one (a NaN input that must reach exactly the outputs it should).
pub fn compare_allowing_nan(got: &[f32], want: &[f32], tolerance: f32) -> Result<Agreement, Mismatch> {
    compare_with(got, want, tolerance, true)
}

fn compare_with(got: &[f32], want: &[f32], tolerance: f32, nan_ok: bool) -> Result<Agreement, Mismatch> {
    if got.len() != want.len() {
        return Err(Mismatch::Length { got: got.len(), want: want.len() });
    }
    let mut scale = 0f32;
    for (index, (&g, &w)) in got.iter().zip(want).enumerate() {
        if nan_ok && (g.is_nan() || w.is_nan()) {
            if g.is_nan() != w.is_nan() {
                return Err(Mismatch::NanPlacement { index, got: g, want: w });
            }
            continue;
        }
        if !w.is_finite() {
            return Err(Mismatch::ReferenceNonFinite { index, value: w });
        }
        if !g.is_finite() {
            return Err(Mismatch::NonFinite { index, value: g });
        }
        scale = scale.max(w.abs());
    }
    let (mut max_error, mut worst) = (0f32, 0);
    for (index, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (g - w).abs();
        // `>` on a finite value: NaN pairs were skipped above or refused.
        if e > max_error {
            (max_error, worst) = (e, index);
        }
    }
    if scale == 0.0 {
        if want.iter().all(|w| w.is_nan()) && !want.is_empty() {
            return Ok(Agreement { max_error: 0.0, scale: 0.0, relative: 0.0 });
        }
        return Err(Mismatch::ReferenceZero);
    }
    let agreement = Agreement { max_error, scale, relative: max_error / scale };
    if agreement.relative > tolerance {
        return Err(Mismatch::TooFar { agreement, index: worst, got: got[worst], want: want[worst], tolerance });
    }
    Ok(agreement)
}

/// Panics with the mismatch, prefixed by `what`, when the outputs disagree.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tolerance: f32) -> Agreement {
    compare(got, want, tolerance).unwrap_or_else(|m| panic!("{what}: {m}"))
}

/// A PyTorch reference run stored by tests/fixtures/gen_numerics.py: the
/// model's input shape (the input itself is [`crate::weights::synthetic_input`]),
/// its penultimate features (the classifier's input) and its logits, for the
/// weights [`crate::weights::synthetic`] gives with seed 0.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub model: String,
    /// Which library and versions made it, as recorded in the file.
    pub made_by: String,
    pub input: Vec<usize>,
    pub features: Vec<f32>,
    pub logits: Vec<f32>,
}

impl Fixture {
    pub fn read(path: &std::path::Path) -> Result<Fixture, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let floats = |key: &str| -> Result<Vec<f32>, String> {
            v[key]
                .as_array()
                .ok_or_else(|| format!("{}: no `{key}`", path.display()))?
                .iter()
                .map(|x| {
                    x.as_f64()
                        .map(|x| x as f32)
                        .ok_or_else(|| format!("{}: `{key}` holds a non-number", path.display()))
                })
                .collect()
        };
        let input = v["input"]
            .as_array()
            .ok_or_else(|| format!("{}: no `input`", path.display()))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| format!("{}: a bad input dim", path.display())))
            .collect::<Result<_, _>>()?;
        Ok(Fixture {
            model: v["model"].as_str().unwrap_or_default().to_string(),
            made_by: v["made_by"].as_str().unwrap_or_default().to_string(),
            input,
            features: floats("features")?,
            logits: floats("logits")?,
        })
    }

    /// Every fixture in a folder, in name order.
    pub fn all(dir: &std::path::Path) -> Vec<Fixture> {
        let paths = files_with_extension(dir, "json");
        assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
        paths.iter().map(|p| Fixture::read(p).unwrap_or_else(|e| panic!("{e}"))).collect()
    }
}

/// A model by name, from the standard library or from a `.res` file in
/// `fixtures` (tests/fixtures), compiled at `input` (its declared size when
/// `None`).
pub fn model_graph(fixtures: &Path, model: &str, input: Option<&[usize]>) -> Graph {
    let opts = Options { input: input.map(|i| i.iter().map(|&d| d as u64).collect()), ..Default::default() };
    let mut programs: Vec<Program> = crate::stdlib::NAMES
        .iter()
        .map(|m| Program::load_text(&crate::stdlib::display_name(m), None, crate::stdlib::source(m).expect("stdlib")))
        .collect();
    programs.extend(files_with_extension(fixtures, "res").iter().filter_map(|f| Program::load_path(f).ok()));
    for prog in &programs {
        let root = &prog.sources.get(prog.root).text;
        if !root.contains(&format!("model {model} ")) {
            continue;
        }
        match driver::compile_with(prog, Select::Named(model), &opts) {
            Ok(mut gs) => return gs.remove(0),
            Err(e) => panic!("{model} at {input:?}: {e:?}"),
        }
    }
    panic!("no model `{model}` in the standard library or {}", fixtures.display())
}

/// The files of `dir` (not below it) ending in `.ext`, in name order; none
/// when the folder cannot be read.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == ext)).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Seed-0 [`crate::weights::synthetic`] weights for every tensor of the
/// model: what the fixtures were made with.
pub fn fixture_weights(g: &Graph) -> HashMap<String, Vec<f32>> {
    crate::weights::random(g, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinity_fail_where_a_max_fold_passed() {
        let want = [1.0, -2.0, 0.5];
        assert!(matches!(compare(&[f32::NAN; 3], &want, 1e-4), Err(Mismatch::NonFinite { index: 0, .. })));
        assert!(matches!(compare(&[1.0, f32::INFINITY, 0.5], &want, 1e-4), Err(Mismatch::NonFinite { index: 1, .. })));
        assert!(matches!(compare(&want, &[1.0, f32::NAN, 0.5], 1e-4), Err(Mismatch::ReferenceNonFinite { .. })));
        assert!(matches!(compare(&[0.0; 3], &[0.0; 3], 1e-4), Err(Mismatch::ReferenceZero)));
        assert!(matches!(compare(&[0.0; 2], &want, 1e-4), Err(Mismatch::Length { got: 2, want: 3 })));
    }

    #[test]
    fn the_error_is_relative_to_the_largest_reference_value_and_located() {
        let want = [1.0, -2.0, 0.5];
        let a = compare(&[1.0, -2.0001, 0.5], &want, 1e-4).unwrap();
        assert!((a.relative - 5e-5).abs() < 1e-6, "{a}");
        let Err(Mismatch::TooFar { index, .. }) = compare(&[1.0, -2.0, 0.6], &want, 1e-4) else { panic!() };
        assert_eq!(index, 2);
    }

    #[test]
    fn nan_must_sit_where_the_reference_has_it() {
        let want = [f32::NAN, 1.0];
        assert!(compare_allowing_nan(&[f32::NAN, 1.0], &want, 1e-4).is_ok());
        assert!(matches!(compare_allowing_nan(&[0.0, 1.0], &want, 1e-4), Err(Mismatch::NanPlacement { .. })));
        assert!(matches!(compare_allowing_nan(&[f32::NAN, f32::NAN], &want, 1e-4), Err(Mismatch::NanPlacement { .. })));
        assert!(compare_allowing_nan(&[f32::NAN; 2], &[f32::NAN; 2], 1e-4).is_ok());
    }
}

//! Weights for running a model: safetensors with the reference `state_dict`
//! names, checked against the model, or reproducible random ones.

use std::collections::HashMap;

use miette::Diagnostic;
use thiserror::Error;

use crate::ir::Graph;
use crate::passes;

#[derive(Debug, Error, Diagnostic)]
pub enum WeightsError {
    #[error("cannot read the weights file: {0}")]
    #[diagnostic(code(resc::weights::unreadable))]
    Unreadable(String),

    #[error("the weights file is not valid safetensors: {0}")]
    #[diagnostic(code(resc::weights::invalid), help("a truncated download looks like this; fetch the file again"))]
    Invalid(String),

    #[error("the weights lack {} the model needs: {}", tensors(.0.len()), .0.join(", "))]
    #[diagnostic(
        code(resc::weights::missing),
        help("are these weights for another model? their names must be the reference state_dict keys")
    )]
    Missing(Vec<String>),

    #[error("the weights have {} the model has no place for: {}", tensors(.0.len()), .0.join(", "))]
    #[diagnostic(
        code(resc::weights::unused),
        help("BN's num_batches_tracked is expected and ignored; anything else means another model")
    )]
    Unused(Vec<String>),

    #[error("`{name}` has shape {got:?}, the model needs {want:?}")]
    #[diagnostic(code(resc::weights::shape))]
    Shape { name: String, want: Vec<usize>, got: Vec<usize> },

    #[error("`{name}` is {dtype}; resc runs in f32")]
    #[diagnostic(
        code(resc::weights::dtype),
        help("convert the checkpoint to float32 (or float16/float64, which resc converts)")
    )]
    Dtype { name: String, dtype: String },
}

/// "1 tensor", "3 tensors".
fn tensors(n: usize) -> String {
    if n == 1 { "1 tensor".into() } else { format!("{n} tensors") }
}

/// Reads a safetensors file and checks it against the model: every
/// parameter and BN statistic present with its shape, nothing else but BN's
/// step counters. Tensors are read one at a time straight into their f32
/// vectors, so the file is never in memory beside them.
pub fn load_safetensors(path: &std::path::Path, g: &Graph) -> Result<HashMap<String, Vec<f32>>, WeightsError> {
    use std::io::{Read, Seek, SeekFrom};
    let unreadable = |e: std::io::Error| WeightsError::Unreadable(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let file_len = file.metadata().map_err(unreadable)?.len();
    let header = read_header(&mut file, file_len)?;
    let data_start = 8 + header.len;
    let state = passes::state(g);
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    let mut buf = Vec::new();
    for entry in &state {
        let Some(info) = header.tensors.get(&entry.name) else {
            missing.push(entry.name.clone());
            continue;
        };
        let want: Vec<usize> = entry.shape.iter().map(|&d| d as usize).collect();
        if info.shape != want {
            return Err(WeightsError::Shape { name: entry.name.clone(), want, got: info.shape.clone() });
        }
        let width = match info.dtype {
            safetensors::Dtype::F32 => 4,
            safetensors::Dtype::F64 => 8,
            safetensors::Dtype::F16 => 2,
            other => return Err(WeightsError::Dtype { name: entry.name.clone(), dtype: format!("{other:?}") }),
        };
        let (start, end) = info.data_offsets;
        let count: usize = want.iter().product();
        if end - start != count * width {
            return Err(WeightsError::Invalid(format!(
                "`{}` has {} bytes for {count} values of {:?}",
                entry.name,
                end - start,
                info.dtype
            )));
        }
        buf.resize(end - start, 0);
        file.seek(SeekFrom::Start(data_start + start as u64)).map_err(unreadable)?;
        file.read_exact(&mut buf).map_err(unreadable)?;
        let values: Vec<f32> = match width {
            4 => buf.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            8 => buf.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect(),
            _ => buf.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
        };
        out.insert(entry.name.clone(), values);
    }
    if !missing.is_empty() {
        return Err(WeightsError::Missing(missing));
    }
    let known: std::collections::HashSet<&str> = state.iter().map(|e| e.name.as_str()).collect();
    let mut unused: Vec<String> = header
        .tensors
        .keys()
        .filter(|n| !known.contains(n.as_str()) && !n.ends_with("num_batches_tracked"))
        .cloned()
        .collect();
    unused.sort();
    if !unused.is_empty() {
        return Err(WeightsError::Unused(unused));
    }
    Ok(out)
}

struct Header {
    len: u64,
    tensors: HashMap<String, safetensors::tensor::TensorInfo>,
}

/// The safetensors header: 8 bytes of length, then JSON naming each
/// tensor's dtype, shape and byte range, which must lie inside the file.
fn read_header(file: &mut std::fs::File, file_len: u64) -> Result<Header, WeightsError> {
    use std::io::Read;
    let invalid = |m: String| WeightsError::Invalid(m);
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|_| invalid("the file is shorter than a header".into()))?;
    let len = u64::from_le_bytes(len);
    // The format caps headers at 100 MB; a larger length is a corrupt file.
    if len > 100 << 20 || 8 + len > file_len {
        return Err(invalid(format!("the header claims {len} bytes, the file has {file_len}")));
    }
    let mut text = vec![0u8; len as usize];
    file.read_exact(&mut text).map_err(|e| invalid(e.to_string()))?;
    let raw: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&text).map_err(|e| invalid(format!("the header is not valid JSON: {e}")))?;
    let data_len = file_len - 8 - len;
    let mut tensors = HashMap::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            continue;
        }
        let info: safetensors::tensor::TensorInfo =
            serde_json::from_value(value).map_err(|e| invalid(format!("`{name}`: {e}")))?;
        let (start, end) = info.data_offsets;
        if start > end || end as u64 > data_len {
            return Err(invalid(format!(
                "`{name}` lies at bytes {start}..{end}, past the {data_len} bytes of data (a truncated file?)"
            )));
        }
        tensors.insert(name, info);
    }
    Ok(Header { len, tensors })
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f32;
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 => {
            if frac == 0.0 {
                sign * f32::INFINITY
            } else {
                f32::NAN
            }
        }
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// A small, reproducible generator (xorshift*), enough for test weights.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        bits as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Random weights as PyTorch initialises them (uniform with Kaiming's bound)
/// and BN at its initial state, reproducible from `seed`.
pub fn random(g: &Graph, seed: u64) -> HashMap<String, Vec<f32>> {
    let mut rng = Rng::new(seed);
    let state = passes::state(g);
    let norm: std::collections::HashSet<&str> =
        state.iter().filter_map(|e| e.name.strip_suffix(".running_mean")).collect();
    let fan_in: HashMap<&str, u64> = state
        .iter()
        .filter_map(|e| {
            let prefix = e.name.strip_suffix(".weight")?;
            (e.shape.len() > 1).then(|| (prefix, e.shape.iter().skip(1).product::<u64>().max(1)))
        })
        .collect();
    state
        .iter()
        .map(|e| {
            let n = e.shape.iter().product::<u64>() as usize;
            let (prefix, last) = e.name.rsplit_once('.').unwrap_or(("", &e.name));
            let values: Vec<f32> = match last {
                "running_var" => vec![1.0; n],
                "running_mean" => vec![0.0; n],
                "weight" if norm.contains(prefix) => vec![1.0; n],
                "bias" if norm.contains(prefix) => vec![0.0; n],
                _ => {
                    let bound = (1.0 / fan_in.get(prefix).copied().unwrap_or(1) as f32).sqrt();
                    (0..n).map(|_| rng.uniform() * bound).collect()
                }
            };
            (e.name.clone(), values)
        })
        .collect()
}

/// Weights from a formula of each tensor's name, shape and index: the same
/// everywhere, with no file. tests/fixtures/gen_numerics.py computes the
/// reference outputs of torchvision and timm for exactly these values.
pub fn formula(name: &str, shape: &[usize]) -> Vec<f32> {
    let phase = (name.bytes().map(u64::from).sum::<u64>() % 1000) as f64 * 0.01;
    let n: usize = shape.iter().product();
    (0..n)
        .map(|i| {
            let s = (i as f64 * 0.7311 + phase).sin();
            let v = if name.ends_with("running_var") {
                1.0 + 0.5 * s
            } else if name.ends_with("running_mean") {
                0.1 * s
            } else if name.ends_with(".weight") && shape.len() == 1 {
                0.4 + 0.1 * s
            } else if name.ends_with(".bias") {
                0.05 * s
            } else {
                let fan_in: usize = shape[1..].iter().product();
                s * (3.0 / fan_in.max(1) as f64).sqrt()
            };
            v as f32
        })
        .collect()
}

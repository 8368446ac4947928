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

    #[error("the checkpoint calls `{global}`, which a state dict never does; nothing was run")]
    #[diagnostic(
        code(resc::weights::unsafe_global),
        help(
            "a PyTorch checkpoint is a pickle, which can run any code when loaded; resc reads only tensors, dicts and numbers. If you trust the file, re-save its state dict: torch.save(model.state_dict(), path)"
        )
    )]
    UnsafeGlobal { global: String },

    #[error("the checkpoint is not a state dict: {0}")]
    #[diagnostic(
        code(resc::weights::not_a_state_dict),
        help("save the model's parameters: torch.save(model.state_dict(), path)")
    )]
    NotAStateDict(String),

    #[error("the checkpoint is in the format of PyTorch before 1.6, which resc does not read")]
    #[diagnostic(
        code(resc::weights::legacy_pth),
        help(
            "load and save it again with a current PyTorch (torch.save writes the zip format), or convert it to safetensors"
        )
    )]
    LegacyPth,

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
    let known: std::collections::HashSet<&str> = state.iter().map(|e| e.name.as_str()).collect();
    refuse_leftovers(missing, header.tensors.keys().filter(|n| !known.contains(n.as_str())).cloned())?;
    Ok(out)
}

/// Reads the weights file at `path`: a PyTorch checkpoint (`torch.save`'s
/// zip format) or safetensors, told apart by their first bytes. Returns
/// notes on what was done to find the state dict in a checkpoint.
/// Weights by state_dict name, and notes on how a checkpoint was read.
pub type Loaded = (HashMap<String, Vec<f32>>, Vec<String>);

pub fn load(path: &std::path::Path, g: &Graph) -> Result<Loaded, WeightsError> {
    if crate::pth::looks_like_zip(path) {
        return load_pth(path, g);
    }
    if crate::pth::looks_like_legacy(path) {
        return Err(WeightsError::LegacyPth);
    }
    Ok((load_safetensors(path, g)?, Vec::new()))
}

/// A `torch.save` checkpoint, checked against the model as safetensors are.
pub fn load_pth(path: &std::path::Path, g: &Graph) -> Result<Loaded, WeightsError> {
    let mut ckpt = crate::pth::read(path)?;
    let state = passes::state(g);
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for entry in &state {
        let Some(t) = ckpt.tensors.remove(&entry.name) else {
            missing.push(entry.name.clone());
            continue;
        };
        let want: Vec<usize> = entry.shape.iter().map(|&d| d as usize).collect();
        if t.shape != want {
            return Err(WeightsError::Shape { name: entry.name.clone(), want, got: t.shape });
        }
        use crate::pth::pickle::Dtype;
        if !matches!(t.dtype, Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::BF16) {
            return Err(WeightsError::Dtype { name: entry.name.clone(), dtype: format!("{:?}", t.dtype) });
        }
        out.insert(entry.name.clone(), t.values);
    }
    refuse_leftovers(missing, ckpt.tensors.into_keys())?;
    Ok((out, ckpt.notes))
}

/// Tensors the model needs that the file lacks, then tensors of the file the
/// model has no place for (BN's step counters excepted), are errors.
fn refuse_leftovers(missing: Vec<String>, extra: impl Iterator<Item = String>) -> Result<(), WeightsError> {
    if !missing.is_empty() {
        return Err(WeightsError::Missing(missing));
    }
    let mut unused: Vec<String> = extra.filter(|n| !n.ends_with("num_batches_tracked")).collect();
    unused.sort();
    if !unused.is_empty() {
        return Err(WeightsError::Unused(unused));
    }
    Ok(())
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

pub(crate) fn f16_to_f32(h: u16) -> f32 {
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

/// Reproducible weights for `resc run --random-weights SEED`: the test
/// weights of [`synthetic`] under another key, so that BN is not the identity
/// and a loader or folding error shows in the output.
pub fn random(g: &Graph, seed: u64) -> HashMap<String, Vec<f32>> {
    passes::state(g)
        .iter()
        .map(|e| {
            let shape: Vec<usize> = e.shape.iter().map(|&d| d as usize).collect();
            (e.name.clone(), synthetic(&e.name, &shape, seed))
        })
        .collect()
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64's finalizer: every input bit reaches every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a of the tensor's name: the generator's key.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

/// Value `i` of the stream `key`, uniform in [-1, 1) on a grid of 2^-23:
/// exact in f32 and f64 alike, so Python computes the same bits.
fn unit(key: u64, i: u64) -> f64 {
    let z = mix(key.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN)));
    (z >> 40) as f64 / f64::from(1u32 << 23) - 1.0
}

/// Test weights with no structure: each value an independent draw keyed by
/// the tensor's name, its index and `seed` (seed 0 is what
/// tests/fixtures/gen_numerics.py writes too, computed the same way in
/// numpy). Scales keep activations tame through deep models: conv and
/// linear weights uniform with variance 1/fan-in, biases ±0.1, BN scale
/// 0.2-0.6, shift ±0.1, running mean ±0.2 and variance 0.5-1.5.
pub fn synthetic(name: &str, shape: &[usize], seed: u64) -> Vec<f32> {
    let key = fnv1a(name.as_bytes()) ^ mix(seed);
    let n: usize = shape.iter().product();
    let fan_in = shape.iter().skip(1).product::<usize>().max(1);
    let (offset, scale) = if name.ends_with("running_var") {
        (1.0, 0.5)
    } else if name.ends_with("running_mean") {
        (0.0, 0.2)
    } else if name.ends_with(".weight") && shape.len() == 1 {
        (0.4, 0.2)
    } else if name.ends_with(".bias") {
        (0.0, 0.1)
    } else {
        (0.0, (3.0 / fan_in as f64).sqrt())
    };
    (0..n as u64).map(|i| (offset + scale * unit(key, i)) as f32).collect()
}

/// The test input, `n` values uniform in [-1, 1), as the fixtures' script makes it.
pub fn synthetic_input(n: usize) -> Vec<f32> {
    let key = fnv1a(b"input");
    (0..n as u64).map(|i| unit(key, i) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned so that a change here, which would silently stop matching the
    /// Python fixtures, fails at once (gen_numerics.py prints the same).
    #[test]
    fn the_generator_gives_the_bits_the_fixture_script_does() {
        assert_eq!(mix(1), 0x5692_161D_100B_05E5);
        assert_eq!(fnv1a(b"input"), 0x1EBB_AE8F_5810_B65B);
        let w = synthetic("conv1.weight", &[2, 3], 0);
        let b = synthetic("bn1.running_var", &[2], 0);
        let x = synthetic_input(2);
        let printed: Vec<String> = w.iter().chain(&b).chain(&x).map(|v| format!("{:08x}", v.to_bits())).collect();
        assert_eq!(
            printed.join(" "),
            "3db8a080 3efb0bac bf74439c 3ef1ddd4 be85c914 3f6db530 3f923722 3fa4b456 bf4deac2 3e9c045c"
        );
    }

    #[test]
    fn seeds_give_other_weights_and_bn_is_never_the_identity() {
        let a = synthetic("layer1.0.conv1.weight", &[64, 64, 3, 3], 0);
        let b = synthetic("layer1.0.conv1.weight", &[64, 64, 3, 3], 1);
        assert!(a.iter().zip(&b).filter(|(x, y)| x == y).count() < 10);
        let bound = (3.0f32 / 576.0).sqrt();
        assert!(a.iter().all(|v| v.abs() <= bound));
        let var = synthetic("bn1.running_var", &[256], 7);
        assert!(var.iter().all(|&v| (0.5..1.5).contains(&v)));
        assert!(var.iter().any(|&v| v < 0.8) && var.iter().any(|&v| v > 1.2));
        let mean: f32 = a.iter().sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.01 * bound, "{mean}");
    }
}

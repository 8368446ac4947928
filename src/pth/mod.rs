//! PyTorch checkpoints as `torch.save` writes them (the zip format of
//! PyTorch 1.6 and later): the pickled state dict is read by a restricted
//! unpickler that runs nothing, and each tensor is read from its storage
//! entry in the archive.

pub mod pickle;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use pickle::{Dtype, PickleError, Value};

use crate::weights::WeightsError;

/// A tensor read from a checkpoint, converted to f32.
pub struct Loaded {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    /// The dtype it had in the file.
    pub dtype: Dtype,
}

/// The tensors of a checkpoint by state_dict key, and what was done to find
/// them (a wrapper dict unwrapped, a `module.` prefix removed).
pub struct Checkpoint {
    pub tensors: HashMap<String, Loaded>,
    pub notes: Vec<String>,
}

/// Whether the file starts like a zip archive (a `torch.save` checkpoint).
pub fn looks_like_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"PK\x03\x04"
}

/// Whether the file starts like a pickle (the format before PyTorch 1.6).
pub fn looks_like_legacy(path: &Path) -> bool {
    let mut head = [0u8; 9];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && is_legacy_head(&head)
}

/// A pickle's protocol opcode (0x80, then 2 to 5) first. A safetensors file
/// can begin with 0x80 too, as its header length's low byte, but its JSON
/// header opens at byte 8.
fn is_legacy_head(head: &[u8; 9]) -> bool {
    head[0] == 0x80 && (2..=5).contains(&head[1]) && head[8] != b'{'
}

pub fn read(path: &Path) -> Result<Checkpoint, WeightsError> {
    let invalid = |m: String| WeightsError::Invalid(m);
    let file = std::fs::File::open(path).map_err(|e| WeightsError::Unreadable(format!("{}: {e}", path.display())))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| invalid(format!("not a readable zip archive: {e}")))?;
    let pkl = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .ok_or_else(|| invalid("the archive has no data.pkl: not a torch.save checkpoint".into()))?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let program = read_entry(&mut zip, &pkl, 256 << 20)?;
    let root = pickle::load(&program).map_err(|e| match e {
        PickleError::Global { module, name } => WeightsError::UnsafeGlobal { global: format!("{module}.{name}") },
        PickleError::Bad(m) => invalid(format!("data.pkl: {m}")),
    })?;
    let (entries, mut notes) = state_dict(root)?;
    let mut tensors = HashMap::new();
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for (name, t) in entries {
        if !storages.contains_key(&t.key) {
            let limit = t.storage_numel.saturating_mul(t.dtype.width());
            let bytes = read_entry(&mut zip, &format!("{prefix}data/{}", t.key), limit)?;
            if bytes.len() as u64 != limit {
                return Err(invalid(format!(
                    "storage {} of `{name}` has {} bytes where {limit} were declared",
                    t.key,
                    bytes.len()
                )));
            }
            storages.insert(t.key.clone(), bytes);
        }
        let values = gather(&name, &t, &storages[&t.key])?;
        let shape = t.shape.iter().map(|&d| d as usize).collect();
        tensors.insert(name, Loaded { shape, values, dtype: t.dtype });
    }
    strip_module_prefix(&mut tensors, &mut notes);
    note_widened(&tensors, &mut notes);
    Ok(Checkpoint { tensors, notes })
}

/// Floats stored in another width than f32 are converted as they are read;
/// say so, since a half-precision checkpoint gives slightly other outputs.
fn note_widened(tensors: &HashMap<String, Loaded>, notes: &mut Vec<String>) {
    for (dtype, name) in [(Dtype::F16, "float16"), (Dtype::BF16, "bfloat16"), (Dtype::F64, "float64")] {
        let count = tensors.values().filter(|t| t.dtype == dtype).count();
        if count > 0 {
            let s = if count == 1 { "" } else { "s" };
            notes.push(format!("converted {count} {name} tensor{s} to float32"));
        }
    }
}

/// One archive entry, refused when larger than `limit` bytes.
fn read_entry(zip: &mut zip::ZipArchive<std::fs::File>, name: &str, limit: u64) -> Result<Vec<u8>, WeightsError> {
    let invalid = |m: String| WeightsError::Invalid(m);
    let mut entry = zip.by_name(name).map_err(|e| invalid(format!("{name}: {e}")))?;
    if entry.size() > limit {
        return Err(invalid(format!("{name} has {} bytes, more than the {limit} it may", entry.size())));
    }
    let mut out = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut out).map_err(|e| invalid(format!("{name}: {e} (a truncated file?)")))?;
    Ok(out)
}

/// The `name -> tensor` dict: the pickle's root, or the dict it wraps under
/// `state_dict` or `model` (as training scripts save them).
/// Named tensors in file order, and notes on how they were found.
type Found = (Vec<(String, pickle::Tensor)>, Vec<String>);

fn state_dict(root: Value) -> Result<Found, WeightsError> {
    let not = |what: &str| WeightsError::NotAStateDict(what.to_string());
    let Value::Dict(entries) = root else { return Err(not("the checkpoint is not a dict")) };
    let mut notes = Vec::new();
    let all_tensors = entries.iter().all(|(k, v)| matches!((k, v), (Value::Str(_), Value::Tensor(_))));
    let entries = if all_tensors {
        entries
    } else {
        let wrapped = ["state_dict", "model"].iter().find_map(|key| {
            entries.iter().find_map(|(k, v)| match (k, v) {
                (Value::Str(s), Value::Dict(d)) if s == key => Some((*key, d.clone())),
                _ => None,
            })
        });
        let Some((key, inner)) = wrapped else {
            let keys: Vec<String> = entries
                .iter()
                .filter_map(|(k, _)| if let Value::Str(s) = k { Some(format!("`{s}`")) } else { None })
                .take(8)
                .collect();
            return Err(not(&format!(
                "the checkpoint holds more than tensors and no `state_dict` or `model` entry (its keys: {})",
                keys.join(", ")
            )));
        };
        notes.push(format!("read the state dict under `{key}`"));
        inner
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        match (k, v) {
            (Value::Str(k), Value::Tensor(t)) => out.push((k, t)),
            (Value::Str(k), _) => return Err(not(&format!("`{k}` is not a tensor"))),
            _ => return Err(not("a key that is not a string")),
        }
    }
    Ok((out, notes))
}

/// DataParallel saves every key under `module.`.
fn strip_module_prefix(tensors: &mut HashMap<String, Loaded>, notes: &mut Vec<String>) {
    if tensors.is_empty() || !tensors.keys().all(|k| k.starts_with("module.")) {
        return;
    }
    *tensors = std::mem::take(tensors)
        .into_iter()
        .map(|(k, v)| (k.strip_prefix("module.").expect("checked").to_string(), v))
        .collect();
    notes.push("removed DataParallel's `module.` prefix from every key".into());
}

/// The tensor's elements in row-major order, from its storage bytes, with
/// every index checked against the storage.
fn gather(name: &str, t: &pickle::Tensor, bytes: &[u8]) -> Result<Vec<f32>, WeightsError> {
    let count = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let Some(count) = count.filter(|&c| c <= t.storage_numel) else {
        return Err(WeightsError::Invalid(format!("`{name}` claims a shape {:?} its storage cannot hold", t.shape)));
    };
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |a, (&d, &s)| if d == 0 { Some(a) } else { a.checked_add((d - 1).checked_mul(s)?) });
    if count > 0 && last.is_none_or(|l| l >= t.storage_numel) {
        return Err(WeightsError::Invalid(format!("`{name}` reads past the end of its storage")));
    }
    let read = |i: u64| -> f32 {
        let w = t.dtype.width() as usize;
        let b = &bytes[i as usize * w..(i as usize + 1) * w];
        match t.dtype {
            Dtype::F32 => f32::from_le_bytes(b.try_into().expect("4 bytes")),
            Dtype::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            Dtype::F16 => crate::weights::f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            Dtype::BF16 => f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
            Dtype::I64 => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            Dtype::I32 => i32::from_le_bytes(b.try_into().expect("4 bytes")) as f32,
            Dtype::I8 => f32::from(b[0] as i8),
            Dtype::U8 | Dtype::Bool => f32::from(b[0]),
        }
    };
    let mut out = Vec::with_capacity(count as usize);
    let mut index = vec![0u64; t.shape.len()];
    for _ in 0..count {
        let at = t.offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<u64>();
        out.push(read(at));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors header of 0x3b80 bytes begins with 0x80, as a pickle does.
    #[test]
    fn safetensors_with_0x80_first_is_not_a_legacy_checkpoint() {
        assert!(!is_legacy_head(b"\x80\x3b\0\0\0\0\0\0{"));
        assert!(!is_legacy_head(b"\x80\x02\0\0\0\0\0\0{"));
        assert!(is_legacy_head(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9"));
    }
}

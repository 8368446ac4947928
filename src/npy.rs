//! Reading a `.npy` array of float32 without trusting its header: the shape
//! it claims is checked against the bytes the file holds before anything is
//! allocated for it. And writing one.

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum NpyError {
    #[error("not a .npy file: {0}")]
    #[diagnostic(code(resc::npy::format), help("save the array with numpy.save(path, x.astype(numpy.float32))"))]
    Format(String),
    #[error("the array must be float32: {0}")]
    #[diagnostic(code(resc::npy::dtype), help("convert it with x.astype(numpy.float32)"))]
    Dtype(String),
    #[error("the array must be C-ordered (row-major)")]
    #[diagnostic(code(resc::npy::order), help("save numpy.ascontiguousarray(x)"))]
    Order,
    #[error("the header claims {claimed} bytes of data ({shape:?} float32), the file holds {held}")]
    #[diagnostic(code(resc::npy::size), help("the file is truncated or its header is wrong; save it again"))]
    Size { shape: Vec<u64>, claimed: String, held: usize },
}

/// The bytes before the data: magic, version, header length, header.
fn data_offset(bytes: &[u8]) -> Result<usize, NpyError> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(NpyError::Format("it does not start with the .npy magic".into()));
    }
    let (len, fixed) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(NpyError::Format(format!("unknown .npy version {v}"))),
    };
    match fixed.checked_add(len) {
        Some(end) if end <= bytes.len() => Ok(end),
        _ => Err(NpyError::Format(format!("the header claims {len} bytes, the file has {}", bytes.len()))),
    }
}

/// Deepest nesting of brackets a header may have (numpy writes 2).
const MAX_HEADER_NESTING: usize = 8;

fn bracket_depth(header: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in header {
        match b {
            b'{' | b'[' | b'(' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The shape as the header's text writes it, when it can be read: npyz
/// multiplies the dimensions unchecked, so an overflowing shape is refused
/// here first.
fn claimed_shape(header: &[u8]) -> Option<Vec<u64>> {
    let text = String::from_utf8_lossy(header);
    let rest = &text[text.find("'shape'")? + "'shape'".len()..];
    let inner = &rest[rest.find('(')? + 1..];
    let inner = &inner[..inner.find(')')?];
    inner.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| d.trim_end_matches('L').parse().ok()).collect()
}

/// Writes a float32 array of `shape` to `path`, as `numpy.save` does.
pub fn write_f32(path: &std::path::Path, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    use npyz::WriterBuilder;
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut w = npyz::WriteOptions::new().default_dtype().shape(&dims).writer(file).begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish()
}

/// The array's shape and values.
pub fn read_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    let start = data_offset(bytes)?;
    // npyz's header parser backtracks exponentially on nested brackets (a
    // 100-deep header ran for over five minutes, found by fuzzing); numpy writes 2 deep.
    let depth = bracket_depth(&bytes[..start]);
    if depth > MAX_HEADER_NESTING {
        return Err(NpyError::Format(format!("the header nests brackets {depth} deep")));
    }
    let held = bytes.len() - start;
    if let Some(shape) = claimed_shape(&bytes[..start])
        && shape.iter().try_fold(4u64, |acc, &d| acc.checked_mul(d)).is_none()
    {
        return Err(NpyError::Size { shape, claimed: "more than 2^64".into(), held });
    }
    // npyz trusts parts of the header this module does not check; a panic in
    // it is a refused file, not a crash.
    let parsed = crate::panic_guard::catch_quietly(|| npyz::NpyFile::new(bytes));
    let npy = match parsed {
        Ok(r) => r.map_err(|e| NpyError::Format(e.to_string()))?,
        Err(_) => return Err(NpyError::Format("the header cannot be read".into())),
    };
    if npy.order() != npyz::Order::C {
        return Err(NpyError::Order);
    }
    let shape = npy.shape().to_vec();
    let claimed = shape.iter().try_fold(4u64, |acc, &d| acc.checked_mul(d));
    if claimed.is_none_or(|c| c > held as u64) {
        let claimed = claimed.map_or_else(|| "more than 2^64".to_string(), |c| c.to_string());
        return Err(NpyError::Size { shape, claimed, held });
    }
    let data = npy.into_vec::<f32>().map_err(|e| NpyError::Dtype(e.to_string()))?;
    Ok((shape.iter().map(|&d| d as usize).collect(), data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(h.len() + 11).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn headers_that_lie_are_refused_before_allocating() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let ok = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", &data);
        assert_eq!(read_f32(&ok).unwrap(), (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        let huge = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 3, 224, 224), }", &data);
        assert!(matches!(read_f32(&huge), Err(NpyError::Size { .. })));
        let overflow = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 8), }", &data);
        assert!(matches!(read_f32(&overflow), Err(NpyError::Size { .. })));
        let doubles = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", &data);
        assert!(matches!(read_f32(&doubles), Err(NpyError::Dtype(_))));
        let fortran = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", &data);
        assert!(matches!(read_f32(&fortran), Err(NpyError::Order)));
        let mut short_header = ok.clone();
        short_header[8] = 0xff;
        short_header.truncate(40);
        assert!(matches!(read_f32(&short_header), Err(NpyError::Format(_))));
        assert!(matches!(read_f32(b"PNG"), Err(NpyError::Format(_))));
    }
}

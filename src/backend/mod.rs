//! Backends take a validated graph and produce something for people or tools.
//! Each exposes `emit(&Graph, &Options) -> String`.

pub mod burn;
pub mod dot;
pub mod interp;
pub mod ir_text;
pub mod json;
pub mod onnx;
pub mod summary;

/// `1234567` as `1,234,567`.
pub fn group_digits(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `4089184256` as `4.09 G`.
pub fn short_count(n: u128) -> String {
    let units = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    for (scale, unit) in units {
        if n as f64 >= scale {
            return format!("{:.2} {unit}", n as f64 / scale);
        }
    }
    n.to_string()
}

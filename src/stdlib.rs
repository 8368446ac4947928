//! The standard library: `.res` sources compiled into the binary, so `use resnet`
//! works from any directory.

pub const NAMES: &[&str] = &["resnet"];

pub fn source(name: &str) -> Option<&'static str> {
    Some(match name {
        "resnet" => include_str!("../stdlib/resnet.res"),
        _ => return None,
    })
}

/// How diagnostics name a stdlib file.
pub fn display_name(name: &str) -> String {
    format!("stdlib/{name}.res")
}

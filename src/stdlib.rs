//! The standard library: `.res` sources compiled into the binary, so `use resnet`
//! works from any directory.

pub const NAMES: &[&str] =
    &["resnet", "resnetv2", "wide_resnet", "resnext", "stochastic_depth", "densenet", "dpn", "resnest"];

pub fn source(name: &str) -> Option<&'static str> {
    Some(match name {
        "resnet" => include_str!("../stdlib/resnet.res"),
        "resnetv2" => include_str!("../stdlib/resnetv2.res"),
        "wide_resnet" => include_str!("../stdlib/wide_resnet.res"),
        "resnext" => include_str!("../stdlib/resnext.res"),
        "stochastic_depth" => include_str!("../stdlib/stochastic_depth.res"),
        "densenet" => include_str!("../stdlib/densenet.res"),
        "dpn" => include_str!("../stdlib/dpn.res"),
        "resnest" => include_str!("../stdlib/resnest.res"),
        _ => return None,
    })
}

/// How diagnostics name a stdlib file.
pub fn display_name(name: &str) -> String {
    format!("stdlib/{name}.res")
}

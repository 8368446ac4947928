//! The standard library: `.res` sources compiled into the binary, so `use resnet`
//! works from any directory.

use std::path::PathBuf;

pub const NAMES: &[&str] = &[
    "resnet",
    "resnetv2",
    "wide_resnet",
    "resnext",
    "stochastic_depth",
    "densenet",
    "dpn",
    "resnest",
    "resnet_d",
    "attention",
    "sknet",
    "byobnet",
];

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
        "resnet_d" => include_str!("../stdlib/resnet_d.res"),
        "attention" => include_str!("../stdlib/attention.res"),
        "sknet" => include_str!("../stdlib/sknet.res"),
        "byobnet" => include_str!("../stdlib/byobnet.res"),
        _ => return None,
    })
}

/// How diagnostics name a stdlib file.
pub fn display_name(name: &str) -> String {
    format!("stdlib/{name}.res")
}

/// The module as a file an editor can open: the embedded text written once,
/// read-only, under a folder named for this version of resc.
pub fn on_disk(name: &str) -> Option<PathBuf> {
    let text = source(name)?;
    let dir = cache_dir();
    let path = dir.join(format!("{name}.res"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(&dir).ok()?;
        if path.exists() {
            let mut perm = std::fs::metadata(&path).ok()?.permissions();
            #[allow(clippy::permissions_set_readonly_false)] // made writable only to be replaced
            perm.set_readonly(false);
            std::fs::set_permissions(&path, perm).ok()?;
        }
        std::fs::write(&path, text).ok()?;
        let mut perm = std::fs::metadata(&path).ok()?.permissions();
        perm.set_readonly(true);
        std::fs::set_permissions(&path, perm).ok()?;
    }
    Some(path)
}

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("resc").join(format!("stdlib-{}", env!("CARGO_PKG_VERSION")))
}

/// The module a display name (`stdlib/resnet.res`) stands for.
pub fn module_of_display_name(name: &str) -> Option<&'static str> {
    let m = name.strip_prefix("stdlib/")?.strip_suffix(".res")?;
    NAMES.iter().copied().find(|n| *n == m)
}

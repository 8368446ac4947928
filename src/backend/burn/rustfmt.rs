//! Generated code through rustfmt with its default settings, so that it
//! passes `cargo fmt --check` in a user's crate (prettyplease's layout, which
//! `emit` returns, differs from rustfmt's in places).

use std::io::Write;
use std::process::{Command, Stdio};

/// `code` as rustfmt (or `$RUSTFMT`) formats it with the default settings;
/// `None` when rustfmt is not installed or fails.
pub fn format(code: &str) -> Option<String> {
    // Run where no rustfmt.toml applies: a user's own settings, or the
    // directory this is run from, must not change the output.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("resc-rustfmt-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let program = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let mut child = Command::new(program)
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let text = code.to_string();
    // Written from another thread: a large file would otherwise fill the
    // pipes both ways and deadlock.
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    std::fs::remove_dir(&dir).ok();
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok().filter(|s| !s.trim().is_empty())
}

/// `code` formatted by rustfmt when it can be, else as it is.
pub fn format_or_keep(code: String) -> String {
    format(&code).unwrap_or(code)
}

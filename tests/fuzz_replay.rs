//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and the
//! crash regressions (`tests/fuzz_regressions/<target>/`) through the same
//! harness the `cargo fuzz` targets run, on stable: no input may panic.
//!
//! Like libFuzzer's panic hook, a panic counts even where resc catches it
//! (the language server answers a panicking request with an error).

#[path = "../fuzz/harness/mod.rs"]
mod harness;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Instant;

thread_local! {
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            default(info);
        }));
    });
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [root.join("fuzz/corpus").join(target), root.join("tests/fuzz_regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8]), min_inputs: usize) {
    count_panics();
    let files = inputs(target);
    assert!(files.len() >= min_inputs, "{target}: {} inputs, expected at least {min_inputs}", files.len());
    let start = Instant::now();
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("a corpus file reads");
        let before = PANICS.with(Cell::get);
        let result = std::panic::catch_unwind(|| run(&data));
        if result.is_err() || PANICS.with(Cell::get) != before {
            failed.push(path.display().to_string());
        }
    }
    eprintln!("{target}: {} inputs in {:.2?}", files.len(), start.elapsed());
    assert!(failed.is_empty(), "{target}: {} inputs panicked:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn check_text() {
    replay("check_text", harness::check_text, 50);
}

#[test]
fn check_program() {
    replay("check_program", harness::check_program, 20);
}

#[test]
fn safetensors() {
    replay("safetensors", harness::safetensors, 5);
}

#[test]
fn npy() {
    replay("npy", harness::npy, 5);
}

#[test]
fn lsp() {
    replay("lsp", harness::lsp, 5);
}

/// The generator writes text that parses (sema may still reject it).
#[test]
fn generator_renders_programs_that_parse() {
    count_panics();
    let mut built = 0;
    for seed in 0u64..200 {
        let mut rng = resc::weights::Rng::new(seed + 1);
        let bytes: Vec<u8> = (0..600).map(|_| (rng.uniform() * 256.0) as u8).collect();
        let mut u = arbitrary::Unstructured::new(&bytes);
        let Ok(spec) = u.arbitrary::<harness::generate::Spec>() else { continue };
        let text = spec.render();
        let prog = resc::sema::Program::load_text("gen.res", None, &text);
        let diags = prog.diags.clone().into_vec();
        let syntax: Vec<_> = diags.iter().filter(|d| d.code().is_some_and(|c| c.contains("syntax"))).collect();
        assert!(syntax.is_empty(), "seed {seed}: the generator wrote a syntax error {syntax:?}:\n{text}");
        if resc::driver::compile(&prog, resc::driver::Select::Root).is_ok() {
            built += 1;
        }
    }
    eprintln!("generator: {built} of 200 random programs build");
}

//! Golden tests: every `tests/cases/**/*.res` is compiled; a file with errors
//! is compared with its rendered diagnostics (`.stderr`, no colour, 100
//! columns), a good one with its summary (`.stdout`).
//!
//! `RESC_BLESS=1 cargo test --test golden` rewrites the expected files; under
//! `CI=true` it refuses, so CI only ever compares.

use std::path::{Path, PathBuf};

use resc::backend::summary;
use resc::driver::{self, Select};
use resc::report;

fn cases(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("cases dir").flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            cases(&p, out);
        } else if p.extension().is_some_and(|e| e == "res") {
            out.push(p);
        }
    }
}

/// What `resc FILE` shows for the file: its diagnostics or its summaries.
fn render(path: &Path) -> (String, bool) {
    let prog = driver::load(path).expect("readable case");
    match driver::compile(&prog, Select::Root) {
        Ok(graphs) => {
            let text =
                graphs.iter().map(|g| summary::emit(g, &summary::Options::default())).collect::<Vec<_>>().join("\n");
            (text, true)
        }
        Err(diags) => (report::human(&diags, 100, false), false),
    }
}

#[test]
fn golden_cases() {
    let root = Path::new("tests/cases");
    let mut files = Vec::new();
    cases(root, &mut files);
    let bless = std::env::var_os("RESC_BLESS").is_some();
    if bless && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("RESC_BLESS is refused under CI=true: expected files are only written by hand");
    }
    let mut failures = Vec::new();
    let mut errors = 0;
    for f in &files {
        let (got, ok) = render(f);
        let expect_ok = f.components().any(|c| c.as_os_str() == "ok");
        if ok != expect_ok {
            failures.push(format!(
                "{}: expected {}, got:\n{got}",
                f.display(),
                if expect_ok { "success" } else { "errors" }
            ));
            continue;
        }
        if !ok {
            errors += 1;
        }
        let expected_path = f.with_extension(if ok { "stdout" } else { "stderr" });
        if bless {
            std::fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{} differs from {}\n--- expected\n{want}\n--- got\n{got}",
                f.display(),
                expected_path.display()
            )),
            Err(_) => {
                failures.push(format!("{}: missing {} (RESC_BLESS=1 writes it)", f.display(), expected_path.display()))
            }
        }
    }
    assert!(failures.is_empty(), "{} golden case(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
    assert!(errors >= 30, "expected at least 30 error cases, found {errors}");
}

/// Each error case must report at least one error with a stable code, and
/// never an internal one.
#[test]
fn error_cases_have_codes() {
    let mut files = Vec::new();
    cases(Path::new("tests/cases/errors"), &mut files);
    for f in files {
        let prog = driver::load(&f).expect("readable");
        let diags = driver::compile(&prog, Select::Root).expect_err("an error case must fail");
        for d in &diags {
            let code = d.code().unwrap_or_default();
            assert!(code.starts_with("resc::"), "{}: diagnostic without code: {d}", f.display());
            assert!(code != "resc::internal", "{}: internal error: {d}", f.display());
        }
    }
}

/// The generated burn source of a few models, so that a change in the output
/// is seen in review. `RESC_BLESS=1` rewrites them (refused under `CI=true`).
#[test]
fn burn_snapshots() {
    let cases = [
        ("resnet", "resnet18"),
        ("stochastic_depth", "resnet110_sd"),
        ("resnetv2", "resnetv2_50"),
        ("densenet", "densenet40_k12"),
        ("dpn", "dpn68"),
        ("resnest", "resnest50d_4s2x40d"),
    ];
    let bless = std::env::var_os("RESC_BLESS").is_some() && std::env::var("CI").map_or(true, |v| v != "true");
    let mut failures = Vec::new();
    let mut check = |path: String, code: String| {
        if bless {
            std::fs::write(&path, &code).expect("write snapshot");
            return;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == code => {}
            Ok(_) => failures.push(format!("{path} differs from the generated code (RESC_BLESS=1 rewrites it)")),
            Err(_) => failures.push(format!("{path} is missing (RESC_BLESS=1 writes it)")),
        }
    };
    for (module, model) in cases {
        let name = resc::stdlib::display_name(module);
        let prog = resc::sema::Program::load_text(&name, None, resc::stdlib::source(module).expect("module"));
        let g = driver::compile(&prog, Select::Named(model)).expect("compiles").remove(0);
        let code = resc::backend::burn::emit(&g, &prog).expect("generates");
        check(format!("tests/snapshots/burn/{model}.rs"), code);
    }
    let support = resc::backend::burn::support::emit();
    check(format!("tests/snapshots/burn/{}", resc::backend::burn::support::FILE), support);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every standard-library and example model generates burn code (the
/// burn-models crate compiles and runs it; this keeps the generator's own
/// test fast and free of burn). Each standard-library model's file, as a user
/// gets it (rustfmt's default layout, which a second rustfmt leaves alone),
/// stays under 400 lines, and a deeper variant of a model is no longer than
/// the shallower one; the counts are printed (`cargo test --test golden
/// line_counts -- --nocapture`).
#[test]
fn every_model_generates_burn_code_and_line_counts() {
    let stdlib: Vec<resc::sema::Program> = resc::stdlib::NAMES
        .iter()
        .map(|m| resc::sema::Program::load_text(&resc::stdlib::display_name(m), None, resc::stdlib::source(m).unwrap()))
        .collect();
    let mut examples = Vec::new();
    for e in std::fs::read_dir("examples").expect("examples").flatten() {
        if e.path().extension().is_some_and(|x| x == "res") {
            examples.push(driver::load(&e.path()).expect("example"));
        }
    }
    let mut lines: std::collections::BTreeMap<String, usize> = Default::default();
    for (is_stdlib, prog) in stdlib.iter().map(|p| (true, p)).chain(examples.iter().map(|p| (false, p))) {
        for g in driver::compile(prog, Select::Root).expect("compiles") {
            let code = resc::backend::burn::emit(&g, prog).unwrap_or_else(|e| panic!("{}: {e}", g.name));
            assert!(code.contains("#[derive(Module, Debug)]"), "{}", g.name);
            if is_stdlib {
                let formatted = resc::backend::burn::rustfmt::format(&code).expect("rustfmt is installed");
                // What a user's `cargo fmt --check` does to the file resc wrote.
                let again = resc::backend::burn::rustfmt::format(&formatted).expect("rustfmt");
                assert!(again == formatted, "{}: a second rustfmt changes the generated file", g.name);
                lines.insert(g.name.clone(), formatted.lines().count());
            }
        }
    }
    assert!(lines.len() >= 80, "{} models", lines.len());
    let support = resc::backend::burn::rustfmt::format(&resc::backend::burn::support::emit()).expect("rustfmt");
    println!("{:<24} {:>5}", "resc_support.rs (shared)", support.lines().count());
    for (name, n) in &lines {
        println!("{name:<24} {n:>5}");
    }
    let long: Vec<String> = lines.iter().filter(|(_, n)| **n >= 400).map(|(m, n)| format!("{m} ({n})")).collect();
    assert!(long.is_empty(), "generated models of 400 lines or more: {}", long.join(", "));
    // Depth alone changes the numbers, not the code's length.
    let deeper = [
        ("resnet50", "resnet152"),
        ("resnet20", "resnet1202"),
        ("preact_resnet164", "preact_resnet1001"),
        ("densenet121", "densenet201"),
        ("densenet_bc100_k12", "densenet_bc250_k24"),
        ("seresnet50", "seresnet152"),
        ("resnetv2_50", "resnetv2_101"),
        ("resnest50d", "resnest269e"),
    ];
    for (shallow, deep) in deeper {
        assert!(lines[deep] <= lines[shallow], "{deep}: {} lines, {shallow}: {}", lines[deep], lines[shallow]);
    }
}

/// A keyword labels a layer: PyTorch CIFAR code's `shortcut` projection gets
/// its own state_dict names, and `from shortcut` style references still parse.
#[test]
fn keywords_can_be_labels() {
    let prog = driver::load(Path::new("tests/cases/ok/keyword_labels.res")).expect("readable");
    let g = driver::compile(&prog, Select::Root).unwrap_or_else(|d| panic!("{d:?}")).remove(0);
    let state = resc::backend::json::summary(&g).state;
    let find = |name: &str| state.iter().find(|e| e.name == name).map(|e| e.shape.clone());
    assert_eq!(find("layer2.0.shortcut.0.weight"), Some(vec![32, 16, 1, 1]));
    assert_eq!(find("layer3.0.shortcut.1.running_var"), Some(vec![64]));
    assert_eq!(find("layer1.0.shortcut.0.weight"), None, "stride 1 and equal channels: no projection");
}

/// Every struct's `init` signature in a model's generated code, by struct.
fn init_signatures(code: &str) -> std::collections::BTreeMap<String, String> {
    use quote::ToTokens;
    let file = syn::parse_file(code).expect("generated code parses");
    let mut out = std::collections::BTreeMap::new();
    for item in file.items {
        let syn::Item::Impl(imp) = item else { continue };
        for it in &imp.items {
            if let syn::ImplItem::Fn(f) = it
                && f.sig.ident == "init"
            {
                let ty = imp.self_ty.to_token_stream().to_string();
                out.insert(ty, f.sig.inputs.to_token_stream().to_string());
            }
        }
    }
    out
}

/// A block's `init` takes the same arguments whatever the hyperparameters:
/// with `reduction: 8` every SE block is 8 wide, a constant drop-path rate is
/// the same in every block, and still the signatures match the defaults'.
#[test]
fn init_signatures_do_not_change_with_hyperparameters() {
    let path = Path::new("examples/burn_train/res/preact_se20.res");
    let source = std::fs::read_to_string(path).expect("the example model");
    let generate = |text: &str| {
        let prog = resc::sema::Program::load_text("preact_se20.res", None, text);
        let g = driver::compile(&prog, Select::Named("preact_se20")).unwrap_or_else(|d| panic!("{d:?}")).remove(0);
        init_signatures(&resc::backend::burn::emit(&g, &prog).expect("generates"))
    };
    let base = generate(&source);
    assert!(base.len() >= 3, "{base:?}");
    let variants = [
        ("reduction: int = 4", "reduction: int = 8"),
        ("with drop_path(linear(0.9))", "with drop_path(constant(0.9))"),
        ("preact_se_cifar(3)", "preact_se_cifar(3, width: 8)"),
    ];
    for (from, to) in variants {
        assert!(source.contains(from), "the example no longer has `{from}`");
        let changed = generate(&source.replace(from, to));
        assert_eq!(changed, base, "with `{to}`");
    }
}

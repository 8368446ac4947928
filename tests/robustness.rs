//! Bad input never panics or hangs: every prefix of real files, and files with
//! single characters deleted or swapped, either compile or give diagnostics.

use resc::driver::{self, Select};
use resc::report;
use resc::sema::Program;

fn compile_text(text: &str) {
    let prog = Program::load_text("fuzz.res", None, text);
    if let Err(diags) = driver::compile(&prog, Select::Root) {
        assert!(!diags.is_empty());
        // Rendering must not panic either, whatever the spans are.
        let _ = report::human(&diags, 80, false);
        let _ = report::json(&diags, &prog.sources);
    }
}

fn sources() -> Vec<String> {
    // The deepest models add time, not coverage: every construct they use is
    // used by the small ones.
    let resnet: String = std::fs::read_to_string("stdlib/resnet.res")
        .unwrap()
        .lines()
        .filter(|l| !["resnet1202", "resnet152", "resnet101", "resnet110", "resnet56"].iter().any(|m| l.contains(m)))
        .map(|l| format!("{l}\n"))
        .collect();
    // One model per family file keeps every construct and the time low.
    let keep_first_model = |path: &str| -> String {
        let mut seen = false;
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| {
                if !l.starts_with("model ") {
                    return true;
                }
                let first = !seen;
                seen = true;
                first
            })
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let mut v = vec![
        resnet,
        std::fs::read_to_string("examples/plain_vs_residual.res").unwrap(),
        keep_first_model("stdlib/dpn.res"),
        keep_first_model("stdlib/resnest.res"),
        keep_first_model("stdlib/densenet.res"),
        keep_first_model("stdlib/resnetv2.res"),
    ];
    v.push(std::fs::read_to_string("tests/cases/errors/many_errors_one_file.res").unwrap());
    v
}

#[test]
fn every_prefix_is_handled() {
    for text in sources() {
        let cuts: Vec<usize> = (0..text.len()).step_by(5).filter(|&i| text.is_char_boundary(i)).collect();
        for i in cuts {
            compile_text(&text[..i]);
        }
    }
}

#[test]
fn single_character_edits_are_handled() {
    let edits = ['}', '{', '(', ')', '[', ']', ':', ',', '0', '-', '*', '"', 'x', ' '];
    for text in sources() {
        let bytes = text.as_bytes();
        for (k, i) in (0..bytes.len()).step_by(17).enumerate() {
            if !text.is_char_boundary(i) || !text.is_char_boundary(i + 1) {
                continue;
            }
            // Delete one character.
            compile_text(&format!("{}{}", &text[..i], &text[i + 1..]));
            // Replace it with a delimiter, digit or sign.
            let c = edits[k % edits.len()];
            compile_text(&format!("{}{c}{}", &text[..i], &text[i + 1..]));
        }
    }
}

#[test]
fn huge_values_are_bounded() {
    let cases = [
        "network n() { c: conv(16777216, 1) }\nmodel m = n() on [N, 16777216, 16777216, 16777216]",
        "network n() { c: conv(1000000, 11, pad: 1000000) }\nmodel m = n() on [N, 1000000, 1000000, 1000000]",
        "network n() { for i in 0..10000 { for j in 0..10000 { relu } } }\nmodel m = n() on [N, 3, 8, 8]",
        "block b(x: int) { y: b(x) }\nnetwork n() { z: b(1) }\nmodel m = n() on [N, 3, 8, 8]",
        "network n() { l: linear(16777216) }\nmodel m = n() on [N, 16777216]",
        "let x = 9223372036854775807 + 1",
        "let x = -9223372036854775807 - 2",
        "let x = 1 / 0",
        "let x = 1.0 / 0.0",
        "let x = [1, 2, 3][-1]",
    ];
    for c in cases {
        compile_text(c);
    }
}

/// Generated text that is absurdly long or deep, spliced into a real file at
/// several places: each gets a coded diagnostic, on the test thread's own
/// (2 MiB) stack, quickly.
#[test]
fn long_and_deep_text_is_refused_with_a_code_not_a_stack_overflow() {
    const N: usize = 100_000;
    let base = std::fs::read_to_string("examples/plain_vs_residual.res").unwrap();
    let nest = |open: &str, inner: &str, close: &str| format!("{}{inner}{}", open.repeat(N), close.repeat(N));
    let chain = |op: &str| vec!["1"; N].join(op);
    let cases: Vec<(String, &str)> = vec![
        (chain(" + "), "resc::syntax::expression_too_long"),
        (chain(" * "), "resc::syntax::expression_too_long"),
        (chain(" and "), "resc::syntax::expression_too_long"),
        (format!("{}1", "-".repeat(N)), "resc::syntax::expression_too_long"),
        (format!("{}true", "not ".repeat(N)), "resc::syntax::expression_too_long"),
        (nest("(", "1", ")"), "resc::syntax::nested_too_deeply"),
        (nest("[", "1", "]"), "resc::syntax::nested_too_deeply"),
        (nest("max(1, ", "1", ")"), "resc::syntax::nested_too_deeply"),
        (format!("{}1", "true ? 1 : ".repeat(N)), "resc::syntax::too_many_conditions"),
        (format!("[1]{}", "[0]".repeat(N)), "resc::syntax::expression_too_deep"),
        (format!("in{}", ".c".repeat(N)), "resc::syntax::expression_too_deep"),
        // Within every limit, but deep all the same: 60 brackets of 900 operators.
        (nest_bounded(60, 900), "resc::syntax::expression_too_deep"),
    ];
    for (expr, code) in &cases {
        // As a `let` at the top, as an argument inside a block, and inside a model's input.
        let places = [
            format!("let big = {expr}\n{base}"),
            base.replacen("conv(16, 3", &format!("conv({expr}, 3"), 1),
            format!("{base}\nmodel extra = plain(3) on [N, {expr}, 32, 32]\n"),
        ];
        for (k, text) in places.iter().enumerate() {
            let t = std::time::Instant::now();
            let prog = Program::load_text("deep.res", None, text);
            let diags = driver::compile(&prog, Select::Root).expect_err("refused");
            let codes: Vec<String> = diags.iter().filter_map(|d| d.code()).collect();
            assert!(codes.iter().any(|c| c == code), "place {k}: expected {code}, got {codes:?}");
            let rendered = report::human(&diags, 100, false);
            assert!(rendered.lines().all(|l| l.chars().count() < 1000), "place {k}: a huge line was printed");
            assert!(t.elapsed().as_secs() < 10, "place {k} of {code} took {:?}", t.elapsed());
        }
    }
    // Bodies nest through braces, and so do `if` layers and residuals.
    let bodies = format!("network n() {{ {} }}\nmodel m = n() on [N, 3, 8, 8]\n", nest("residual { ", "relu", " }"));
    let prog = Program::load_text("deep.res", None, &bodies);
    let codes: Vec<String> =
        driver::compile(&prog, Select::Root).unwrap_err().iter().filter_map(|d| d.code()).collect();
    assert!(codes.contains(&"resc::syntax::nested_too_deeply".to_string()), "{codes:?}");
    // A chain of 100,000 `then` terms is long but flat: it builds.
    let then = format!("network n() {{ {} }}\nmodel m = n() on [N, 3, 8, 8]\n", vec!["relu"; N].join(" then "));
    assert!(driver::compile(&Program::load_text("then.res", None, &then), Select::Root).is_ok());
}

fn nest_bounded(levels: usize, ops: usize) -> String {
    let flat = vec!["1"; ops].join(" + ");
    let mut e = flat.clone();
    for _ in 0..levels {
        e = format!("{flat} + ({e})");
    }
    e
}

/// The limits leave room for every real network: the standard library nests
/// brackets far less deep than the limit allows.
#[test]
fn the_limits_fit_real_networks() {
    for name in resc::stdlib::NAMES {
        let text = resc::stdlib::source(name).unwrap();
        let (mut depth, mut max) = (0usize, 0usize);
        for line in text.lines() {
            for c in line.split("//").next().unwrap().chars() {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth -= 1,
                    _ => {}
                }
                max = max.max(depth);
            }
        }
        assert!(max * 4 < resc::syntax::limits::MAX_NESTING, "{name} nests {max} deep");
        let prog = Program::load_text(name, None, text);
        assert!(driver::compile(&prog, Select::Root).is_ok(), "{name}");
    }
}

#[test]
fn a_diagnostic_on_a_very_long_line_shows_a_window_of_it() {
    let text = format!("let x = {} + zz\n", vec!["1"; 900].join(" + "));
    let prog = Program::load_text("long.res", None, &text);
    let diags = driver::compile(&prog, Select::Root).unwrap_err();
    let out = report::human(&diags, 100, false);
    assert!(out.contains("resc::sema::unknown_name"), "{out}");
    assert!(out.contains("│ …1 + 1") && out.contains("1 + 1 + zz\n"), "a window ending at the label: {out}");
    assert!(out.contains("^^ not found"), "{out}");
    assert!(out.lines().all(|l| l.chars().count() < 300), "{out}");
}

/// A megabyte of text built to be expensive is checked within seconds, with
/// coded errors: budgets of nodes and of loop steps for a whole file, folding
/// that is linear in the number of errors, and a bounded number of reports
/// shown. (A hang detector with a generous bound, not a speed target.)
#[test]
fn a_megabyte_of_expensive_text_is_checked_within_seconds() {
    let mut models = vec!["block b() { relu * 10000 }".to_string(), "network n() { b * 99 }".to_string()];
    models.extend((0..25_000).map(|i| format!("model m{i} = n() on [N, 3, 8, 8]")));
    let mut errors = vec!["network n() { relu }".to_string()];
    errors.extend((0..25_000).map(|i| format!("model m{i} = zz{i}() on [N, 3, 8, 8]")));
    let loops = "network n() { for i in 0..10000 { for j in 0..10000 { let x = i * j } } relu }\nmodel m = n() on [N, 3, 8, 8]\n";
    let mut rng = resc::weights::Rng::new(3);
    let alphabet = b"relu conv(3, 1) bn {}[]()*+-/:;,.\n0123456789 block network model then for in residual";
    let junk: String = (0..1 << 20)
        .map(|_| alphabet[(rng.uniform() * alphabet.len() as f32) as usize % alphabet.len()] as char)
        .collect();
    let cases = [
        (models.join("\n"), "resc::sema::models_too_large"),
        (errors.join("\n"), "resc::sema::unknown_name"),
        (loops.to_string(), "resc::sema::too_much_work"),
        (junk, ""),
    ];
    for (text, code) in &cases {
        assert!(text.len() <= 1 << 20 || code.is_empty(), "{} bytes", text.len());
        let t = std::time::Instant::now();
        let prog = Program::load_text("big.res", None, text);
        let diags = driver::compile(&prog, Select::Root).expect_err("refused");
        let codes: Vec<String> = diags.iter().filter_map(|d| d.code()).collect();
        assert!(
            code.is_empty() || codes.iter().any(|c| c == code),
            "expected {code}, got {:?}",
            &codes[..codes.len().min(5)]
        );
        let out = report::human(&diags, 100, false);
        let _ = report::json(&diags, &prog.sources);
        assert!(out.len() < 1 << 20, "the report is bounded: {} bytes", out.len());
        assert!(t.elapsed().as_secs() < 30, "{code}: {:?}", t.elapsed());
    }
}

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

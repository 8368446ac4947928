//! The standard library against its references: FAMILIES.md's parameter and
//! MAC counts, the papers' CIFAR tables, and torchvision's state_dict names
//! and shapes (tests/fixtures/state, written by gen_state.py from torchvision).

use resc::backend::json;
use resc::driver::{self, Select};
use resc::ir::Graph;
use resc::sema::Program;
use resc::stdlib;

fn build(module: &str, model: &str) -> Graph {
    let text = stdlib::source(module).expect("stdlib module");
    let prog = Program::load_text(&stdlib::display_name(module), None, text);
    let mut graphs = driver::compile(&prog, Select::Named(model)).unwrap_or_else(|d| panic!("{model}: {d:?}"));
    graphs.remove(0)
}

/// (model, params, MACs) as in ../shared/FAMILIES.md.
const REFERENCE: &[(&str, &str, u128, u128)] = &[
    ("resnet", "resnet18", 11_689_512, 1_814_073_344),
    ("resnet", "resnet34", 21_797_672, 3_663_761_408),
    ("resnet", "resnet50", 25_557_032, 4_089_184_256),
    ("resnet", "resnet101", 44_549_160, 7_801_405_440),
    ("resnet", "resnet152", 60_192_808, 11_513_626_624),
];

#[test]
fn imagenet_models_match_reference_counts() {
    for &(module, model, params, macs) in REFERENCE {
        let s = json::summary(&build(module, model));
        assert_eq!((s.params, s.macs), (params, macs), "{model}");
        assert_eq!(s.input, vec![1, 3, 224, 224], "{model}");
        assert_eq!(s.output, vec![1, 1000], "{model}");
    }
}

fn parse_fixture(text: &str) -> (u128, Vec<(String, String, String)>) {
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let params = header.trim_start_matches("# params ").parse().expect("param count");
    let entries = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.split(' ');
            let f = |x: Option<&str>| x.expect("field").to_string();
            (f(it.next()), f(it.next()), f(it.next()))
        })
        .collect();
    (params, entries)
}

#[test]
fn state_matches_torchvision_state_dict() {
    for model in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] {
        let path = format!("tests/fixtures/state/{model}.txt");
        let (params, want) = parse_fixture(&std::fs::read_to_string(&path).expect("fixture"));
        let s = json::summary(&build("resnet", model));
        assert_eq!(s.params, params, "{model}");
        let got: Vec<(String, String, String)> = s
            .state
            .iter()
            .map(|e| {
                let shape = e.shape.iter().map(u64::to_string).collect::<Vec<_>>().join("x");
                let kind = serde_json::to_value(e.kind).expect("kind").as_str().expect("str").to_string();
                (e.name.clone(), shape, kind)
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{model}: number of state entries");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{model}: first difference");
        }
    }
}

/// The ResNet paper's CIFAR-10 table prints these parameter counts.
#[test]
fn cifar_models_match_paper_table() {
    let table: &[(&str, f64)] = &[
        ("resnet20", 0.27e6),
        ("resnet32", 0.46e6),
        ("resnet44", 0.66e6),
        ("resnet56", 0.85e6),
        ("resnet110", 1.7e6),
        ("resnet1202", 19.4e6),
    ];
    for &(model, printed) in table {
        let s = json::summary(&build("resnet", model));
        let rel = (s.params as f64 - printed).abs() / printed;
        assert!(rel < 0.02, "{model}: {} params vs {printed} printed", s.params);
        assert_eq!(s.output, vec![1, 10]);
        // Option A shortcuts have no parameters: no downsample entries at all.
        assert!(s.state.iter().all(|e| !e.name.contains("downsample")), "{model}");
    }
}

#[test]
fn every_stdlib_and_example_file_compiles() {
    for name in stdlib::NAMES {
        let prog = Program::load_text(&stdlib::display_name(name), None, stdlib::source(name).expect("module"));
        let graphs = driver::compile(&prog, Select::Root).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        assert!(!graphs.is_empty(), "{name} defines models");
    }
    let mut n = 0;
    for entry in std::fs::read_dir("examples").expect("examples dir").flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "res") {
            let prog = driver::load(&p).expect("readable");
            driver::compile(&prog, Select::Root).unwrap_or_else(|d| panic!("{}: {d:?}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 3, "expected at least 3 examples, found {n}");
}

#[test]
fn stdlib_on_disk_is_the_embedded_copy() {
    for name in stdlib::NAMES {
        let disk = std::fs::read_to_string(format!("stdlib/{name}.res")).expect("stdlib file");
        assert_eq!(disk, stdlib::source(name).expect("embedded"), "{name}");
    }
}

#[test]
fn stdlib_resnet_is_concise() {
    let text = stdlib::source("resnet").expect("resnet");
    let code_lines = text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//")).count();
    assert!(code_lines < 100, "stdlib/resnet.res has {code_lines} lines of code");
}

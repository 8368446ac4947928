//! Generates a burn module for every model of the resc standard library, the
//! examples and the test fixtures.

use std::fmt::Write;
use std::path::PathBuf;

use resc::driver::{self, Options, Select};
use resc::sema::Program;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut index = String::new();
    let mut entries = String::new();
    // The standard library, and the examples: models written as users write them.
    let mut programs: Vec<(String, Program)> = resc::stdlib::NAMES
        .iter()
        .map(|module| {
            let name = resc::stdlib::display_name(module);
            let prog = Program::load_text(&name, None, resc::stdlib::source(module).expect("stdlib module"));
            (String::new(), prog)
        })
        .collect();
    let examples = PathBuf::from("../../examples");
    println!("cargo::rerun-if-changed={}", examples.display());
    for f in res_files(&examples) {
        println!("cargo::rerun-if-changed={}", f.display());
        programs.push(("example_".into(), driver::load(&f).expect("example")));
    }
    // The models the numeric tests run, from tests/fixtures: every op at least once.
    let fixtures = PathBuf::from("../../tests/fixtures");
    println!("cargo::rerun-if-changed={}", fixtures.display());
    for f in res_files(&fixtures) {
        println!("cargo::rerun-if-changed={}", f.display());
        programs.push(("fixture_".into(), driver::load(&f).expect("fixture")));
    }
    // Models with a PyTorch reference also get their features (the model cut
    // before its classifier), which the reference stores too.
    let references = fixtures.join("numerics");
    for (prefix, prog) in &programs {
        let name = prog.sources.get(prog.root).name.clone();
        let graphs = driver::compile(prog, Select::Root).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        for g in graphs {
            // Small inputs keep the tests fast: 64x64 for the ImageNet models.
            let declared = g.node(g.input).shape.concrete(1);
            let test_input: Vec<u64> = if declared[2] > 64 { vec![3, 64, 64] } else { declared[1..].to_vec() };
            let opts = Options { input: Some(test_input.clone()), ..Default::default() };
            let small = driver::compile_with(prog, Select::Named(&g.name), &opts)
                .unwrap_or_else(|d| panic!("{} at {test_input:?}: {d:?}", g.name))
                .remove(0);
            let reference = references.join(format!("{}.json", g.name));
            if reference.exists() {
                let cut = resc::passes::features::up_to_classifier(&g).expect("a classifier");
                let small_cut = resc::passes::features::up_to_classifier(&small).expect("a classifier");
                let module = format!("{prefix}{}", cut.name);
                entry(&out, &mut index, &mut entries, &module, &cut, &small_cut, prog, &test_input);
            }
            let module = format!("{prefix}{}", g.name);
            entry(&out, &mut index, &mut entries, &module, &g, &small, prog, &test_input);
        }
    }
    // The support module every model reaches as `super::resc_support`.
    let support = out.join(resc::backend::burn::support::FILE);
    std::fs::write(&support, resc::backend::burn::support::emit()).expect("write the support module");
    writeln!(index, "#[path = {:?}]\npub mod {};", support.display().to_string(), resc::backend::burn::support::MODULE)
        .unwrap();
    writeln!(index, "\n/// Every generated model.\npub const MODELS: &[Entry] = &[\n{entries}];").unwrap();
    std::fs::write(out.join("models.rs"), index).expect("write index");
    println!("cargo::rerun-if-changed=build.rs");
}

/// The models the tests use by name.
const PUBLIC: &[&str] = &["resnet18", "resnet20", "resnet32", "resnet110_sd", "resnetv2_50"];

fn res_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let files = resc::testing::files_with_extension(dir, "res");
    assert!(!files.is_empty(), "no .res files in {}", dir.display());
    files
}

/// Writes one model's module and its `Entry`.
#[allow(clippy::too_many_arguments)]
fn entry(
    out: &std::path::Path,
    index: &mut String,
    entries: &mut String,
    module: &str,
    g: &resc::ir::Graph,
    small: &resc::ir::Graph,
    prog: &Program,
    test_input: &[u64],
) {
    let code = resc::backend::burn::emit(g, prog).unwrap_or_else(|e| panic!("{}: {e}", g.name));
    let file = out.join(format!("{module}.rs"));
    std::fs::write(&file, code).expect("write generated model");
    let counts = resc::passes::total_counts(g);
    let out_shape = small.node(small.output).shape.concrete(1);
    let ty = resc::backend::burn::camel(&g.name);
    let drop_path = g.drop_path.is_some();
    let state: Vec<String> = resc::passes::state(g)
        .iter()
        .map(|e| format!("({:?}, &{:?})", e.name, e.shape.iter().map(|&d| d as usize).collect::<Vec<_>>()))
        .collect();
    // A 1x1-conv head leaves [N, C, 1, 1]: flattened, as PyTorch's heads do
    // (and any other rank-4 output, as its test shape says).
    let run = if out_shape.len() == 4 { "self.forward(x).flatten::<2>(1, 3)" } else { "self.forward(x)" };
    // Private, as in a user's binary crate, so that anything generated that
    // the crate does not use is a warning (clippy runs with -D warnings);
    // public only where the tests reach into a model.
    let vis = if PUBLIC.contains(&module) { "pub " } else { "" };
    writeln!(index, "#[path = {:?}]\n{vis}mod {module};", file.display().to_string()).unwrap();
    writeln!(
        index,
        "impl crate::Net for {module}::{ty} {{\n    fn run(&self, x: burn::prelude::Tensor<4>) -> burn::prelude::Tensor<2> {{ {run} }}\n    fn state_elements(&self) -> usize {{ burn::module::Module::num_params(self) }}\n}}",
    )
    .unwrap();
    writeln!(
        entries,
        "    Entry {{ name: {:?}, params: {}, buffers: {}, test_input: [1, {}, {}, {}], test_output: [{}, {}], drop_path: {drop_path}, state: &[{}], build: |d| Box::new({module}::{ty}Config::new().init(d)), load: |d, p| Ok(Box::new({module}::{ty}Config::new().init(d).load_pytorch(p).map_err(|e| e.to_string())?)) }},",
        g.name,
        counts.params,
        counts.buffers,
        test_input[0],
        test_input[1],
        test_input[2],
        out_shape[0],
        out_shape[1..].iter().product::<u64>(),
        state.join(", "),
    )
    .unwrap();
}

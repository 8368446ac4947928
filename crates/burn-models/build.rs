//! Generates a burn module for every model of the resc standard library.

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
    let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("examples")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "res"))
        .collect();
    files.sort();
    for f in files {
        println!("cargo::rerun-if-changed={}", f.display());
        programs.push(("example_".into(), driver::load(&f).expect("example")));
    }
    for (prefix, prog) in &programs {
        let name = prog.sources.get(prog.root).name.clone();
        let graphs = driver::compile(prog, Select::Root).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        for g in graphs {
            let module = format!("{prefix}{}", g.name);
            let code = resc::backend::burn::emit(&g, &prog.sources).unwrap_or_else(|e| panic!("{}: {e}", g.name));
            let file = out.join(format!("{module}.rs"));
            std::fs::write(&file, code).expect("write generated model");
            // Small inputs keep the tests fast: 64x64 for the ImageNet models.
            let declared = g.node(g.input).shape.concrete(1);
            let test_input: Vec<u64> = if declared[2] > 64 { vec![3, 64, 64] } else { declared[1..].to_vec() };
            let opts = Options { input: Some(test_input.clone()), ..Default::default() };
            let small = driver::compile_with(prog, Select::Named(&g.name), &opts)
                .unwrap_or_else(|d| panic!("{} at {test_input:?}: {d:?}", g.name))
                .remove(0);
            let counts = resc::passes::total_counts(&g);
            let out_shape = small.node(small.output).shape.concrete(1);
            let ty = resc::backend::burn::camel(&g.name);
            let drop_path = g.drop_path.is_some();
            let state: Vec<String> = resc::passes::state(&g)
                .iter()
                .map(|e| format!("({:?}, &{:?})", e.name, e.shape.iter().map(|&d| d as usize).collect::<Vec<_>>()))
                .collect();
            writeln!(index, "#[path = {:?}]\npub mod {module};", file.display().to_string()).unwrap();
            writeln!(
                index,
                "impl crate::Net for {m}::{ty} {{\n    fn run(&self, x: burn::prelude::Tensor<4>) -> burn::prelude::Tensor<2> {{ self.forward(x) }}\n    fn state_elements(&self) -> usize {{ burn::module::Module::num_params(self) }}\n}}",
                m = module
            )
            .unwrap();
            writeln!(
                entries,
                "    Entry {{ name: {:?}, params: {}, buffers: {}, test_input: [1, {}, {}, {}], test_output: [{}, {}], drop_path: {drop_path}, state: &[{}], build: |d| Box::new({m}::{ty}Config::new().init(d)), load: |d, p| Ok(Box::new({m}::{ty}Config::new().init(d).load_pytorch_safetensors(p).map_err(|e| e.to_string())?)) }},",
                g.name,
                counts.params,
                counts.buffers,
                test_input[0],
                test_input[1],
                test_input[2],
                out_shape[0],
                out_shape[1],
                state.join(", "),
                m = module,
            )
            .unwrap();
        }
    }
    writeln!(index, "\n/// Every generated model.\npub const MODELS: &[Entry] = &[\n{entries}];").unwrap();
    std::fs::write(out.join("models.rs"), index).expect("write index");
    println!("cargo::rerun-if-changed=build.rs");
}

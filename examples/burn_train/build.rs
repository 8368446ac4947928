//! Generates the model from `examples/plain_vs_residual.res` with resc, the
//! same as `resc build ../plain_vs_residual.res --model resnet20 --emit burn`.

use resc::driver::{self, Select};

fn main() {
    let src = std::path::Path::new("../plain_vs_residual.res");
    println!("cargo::rerun-if-changed={}", src.display());
    let prog = driver::load(src).expect("read the .res file");
    let graphs = driver::compile(&prog, Select::Named("resnet20")).unwrap_or_else(|diags| {
        let report = resc::report::human(&diags, 100, false);
        panic!("the .res file has errors:\n{report}")
    });
    let code = resc::backend::burn::emit(&graphs[0], &prog.sources).expect("generate burn code");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("model.rs");
    std::fs::write(out, code).expect("write model.rs");
}

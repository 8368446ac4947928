//! The generated code is backend-agnostic: resnet50, generated as a user
//! would generate it, compiles in a crate that enables burn's `wgpu` backend
//! and builds the model on a wgpu device (`crates/wgpu-check`, a workspace of
//! its own so that the feature does not reach this one's builds). No GPU is
//! needed to compile; CI has none to run it.

use std::path::Path;
use std::process::Command;

use resc::driver::{self, Select};

#[test]
fn resnet50_compiles_for_the_wgpu_backend() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wgpu-check");
    let generated = root.join("src/generated");
    std::fs::create_dir_all(&generated).expect("create src/generated");
    let prog = resc::sema::Program::load_text(
        &resc::stdlib::display_name("resnet"),
        None,
        resc::stdlib::source("resnet").expect("the resnet module"),
    );
    let g = driver::compile(&prog, Select::Named("resnet50")).expect("compiles").remove(0);
    let format = resc::backend::burn::rustfmt::format_or_keep;
    let model = format(resc::backend::burn::emit(&g, &prog).expect("generates"));
    std::fs::write(generated.join("resnet50.rs"), model).expect("write the model");
    let support = format(resc::backend::burn::support::emit());
    std::fs::write(generated.join(resc::backend::burn::support::FILE), support).expect("write the support module");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wgpu-check");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--locked", "--quiet", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

//! The reference interpreter against torchvision and timm: the same formula
//! weights and input as crates/burn-models/tests/numerics.rs, and the outputs
//! tests/fixtures/gen_numerics.py stored.

use std::collections::HashMap;

use resc::backend::interp::{self, Tensor};
use resc::driver::{self, Options, Select};
use resc::sema::Program;

fn check(module: &str, model: &str) {
    let prog = Program::load_text(&resc::stdlib::display_name(module), None, resc::stdlib::source(module).unwrap());
    let opts = Options { input: Some(vec![1, 3, 64, 64]), ..Default::default() };
    let g = driver::compile_with(&prog, Select::Named(model), &opts).expect("compiles").remove(0);
    let weights: HashMap<String, Vec<f32>> = resc::passes::state(&g)
        .iter()
        .map(|e| {
            let shape: Vec<usize> = e.shape.iter().map(|&d| d as usize).collect();
            (e.name.clone(), resc::weights::formula(&e.name, &shape))
        })
        .collect();
    let x: Vec<f32> = (0..3 * 64 * 64).map(|i| (i as f64 * 0.013).sin() as f32).collect();
    let y = interp::run(&g, &weights, &Tensor::new(vec![1, 3, 64, 64], x)).expect("runs");
    let want: Vec<f32> = std::fs::read_to_string(format!("tests/fixtures/numerics/{model}.txt"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(y.data.len(), want.len());
    let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
    let err = y.data.iter().zip(&want).fold(0f32, |a, (g, w)| a.max((g - w).abs()));
    assert!(err / scale < 1e-4, "{model}: max error {err} against a largest output of {scale}");
}

#[test]
fn resnet18_matches_torchvision() {
    check("resnet", "resnet18");
}

#[test]
fn densenet121_matches_torchvision() {
    check("densenet", "densenet121");
}

#[test]
fn dpn68_matches_timm() {
    check("dpn", "dpn68");
}

#[test]
fn resnest_split_attention_matches_timm() {
    check("resnest", "resnest14d");
    check("resnest", "resnest50d_1s4x24d");
}

#[test]
fn missing_weights_and_wrong_inputs_are_errors() {
    let prog = Program::load_text("stdlib/resnet.res", None, resc::stdlib::source("resnet").unwrap());
    let g = driver::compile(&prog, Select::Named("resnet20")).unwrap().remove(0);
    let x = Tensor::new(vec![1, 3, 32, 32], vec![0.0; 3 * 32 * 32]);
    let err = interp::run(&g, &HashMap::new(), &x).unwrap_err();
    assert_eq!(err.to_string(), "the weights lack `conv1.weight`");
    let bad = Tensor::new(vec![1, 3, 16, 16], vec![0.0; 3 * 16 * 16]);
    assert!(matches!(interp::run(&g, &HashMap::new(), &bad), Err(interp::RunError::InputShape { .. })));
}

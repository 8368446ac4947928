//! The generated code computes what torchvision, timm and PyTorch's own ops
//! compute: logits, and the features before the classifier, on the synthetic
//! weights and input tests/fixtures/gen_numerics.py ran the references with.

use burn::prelude::*;
use burn_models::MODELS;
use resc::testing::{Fixture, compare};

mod common;
use common::write_checkpoint;

fn run(name: &str, input: &[usize]) -> Vec<f32> {
    let device = Device::flex();
    let m = MODELS.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no generated model {name}"));
    let ckpt = std::env::temp_dir().join(format!("numerics-{}-{name}.safetensors", std::process::id()));
    write_checkpoint(m.state, &ckpt);
    let model = (m.load)(&device, &ckpt).unwrap_or_else(|e| panic!("{name}: {e}"));
    std::fs::remove_file(&ckpt).ok();
    let x = resc::weights::synthetic_input(input.iter().product());
    let shape: [usize; 4] = input.try_into().expect("an NCHW input");
    let x = Tensor::<1>::from_floats(x.as_slice(), &device).reshape(shape);
    model.run(x).into_data().try_to_vec().expect("f32 output")
}

#[test]
fn generated_models_match_pytorch() {
    let mut failures = Vec::new();
    let fixtures = Fixture::all(std::path::Path::new("../../tests/fixtures/numerics"));
    for f in &fixtures {
        let logits = run(&f.model, &f.input);
        let features = run(&format!("{}_features", f.model), &f.input);
        for (what, got, want) in [("logits", &logits, &f.logits), ("features", &features, &f.features)] {
            if let Err(m) = compare(got, want, 1e-4) {
                failures.push(format!("{} {what} ({}): {m}", f.model, f.made_by));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(fixtures.len() >= 9, "checked {} models", fixtures.len());
}

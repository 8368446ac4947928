//! The generated code computes what torchvision and timm compute. Weights and
//! input come from a formula (no weight files are stored);
//! tests/fixtures/gen_numerics.py ran the reference models on the same
//! formula and stored only their outputs.

use burn::prelude::*;
use burn_models::MODELS;

mod common;
use common::write_checkpoint;

#[test]
fn generated_models_match_torchvision_and_timm() {
    let device = Device::flex();
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir("../../tests/fixtures/numerics").expect("fixtures").flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let want: Vec<f32> =
            std::fs::read_to_string(&path).unwrap().lines().map(|l| l.parse().expect("float")).collect();
        let m = MODELS.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no model {name}"));
        let ckpt = std::env::temp_dir().join(format!("numerics-{}-{name}.safetensors", std::process::id()));
        write_checkpoint(m.state, &ckpt);
        let model = (m.load)(&device, &ckpt).unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::remove_file(&ckpt).ok();
        let x: Vec<f32> = (0..3 * 64 * 64).map(|i| (i as f64 * 0.013).sin() as f32).collect();
        let x = Tensor::<1>::from_floats(x.as_slice(), &device).reshape([1, 3, 64, 64]);
        let y: Vec<f32> = model.run(x).into_data().try_to_vec().expect("f32 output");
        assert_eq!(y.len(), want.len(), "{name}");
        let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
        let err = y.iter().zip(&want).fold(0f32, |a, (g, w)| a.max((g - w).abs()));
        if err / scale >= 1e-4 {
            failures.push(format!("{name}: max error {err} against a largest output of {scale}"));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 8, "checked {checked} models");
}

//! The generated code computes what torchvision and timm compute. Weights and
//! input come from a formula (no weight files are stored);
//! tests/fixtures/gen_numerics.py ran the reference models on the same
//! formula and stored only their outputs.

use burn::prelude::*;
use burn_models::MODELS;

fn write_checkpoint(state: &[(&str, &[usize])], path: &std::path::Path) {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = state
        .iter()
        .map(|(name, shape)| {
            let bytes = resc::weights::formula(name, shape).iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.to_string(), bytes, shape.to_vec())
        })
        .collect();
    // Like every torchvision checkpoint: BN's step counters, which the loader ignores.
    let counters: Vec<(String, Vec<u8>)> = state
        .iter()
        .filter_map(|(name, _)| name.strip_suffix("running_mean"))
        .map(|prefix| (format!("{prefix}num_batches_tracked"), 100i64.to_le_bytes().to_vec()))
        .collect();
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(n, b, s)| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())
        })
        .collect();
    for (n, b) in &counters {
        views.push((n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![], b).unwrap()));
    }
    safetensors::tensor::serialize_to_file(views, None, path).expect("write checkpoint");
}

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

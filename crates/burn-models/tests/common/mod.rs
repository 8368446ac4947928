//! What several test files share.

/// Writes a model's synthetic weights (seed 0, as the PyTorch fixtures were
/// made with) as a PyTorch-named safetensors file.
pub fn write_checkpoint(state: &[(&str, &[usize])], path: &std::path::Path) {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = state
        .iter()
        .map(|(name, shape)| {
            let bytes = resc::weights::synthetic(name, shape, 0).iter().flat_map(|v| v.to_le_bytes()).collect();
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

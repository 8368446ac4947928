//! The generated burn code against what resc says: parameter counts, output
//! shapes, checkpoints with PyTorch names, training, and stochastic depth.

use burn::module::Module;
use burn::prelude::*;
use burn_models::{MODELS, resnet18, resnet20, resnet32, resnet110_sd, resnetv2_50};

mod common;

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("burn-models-{}-{name}", std::process::id()))
}

#[test]
fn every_model_has_the_ir_counts_and_shapes() {
    let device = Device::flex();
    for m in MODELS {
        let model = (m.build)(&device);
        // burn counts BN running statistics as parameters; resc keeps them apart.
        assert_eq!(model.state_elements() as u128, m.params + m.buffers, "{}: parameters", m.name);
        let x = Tensor::<4>::random(m.test_input, burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let y = model.run(x);
        assert_eq!(y.dims(), m.test_output, "{}: output shape", m.name);
        let finite = y.is_finite().all().into_scalar::<bool>();
        assert!(finite, "{}: non-finite output", m.name);
    }
}

#[test]
fn inference_is_deterministic() {
    let device = Device::flex();
    let model = resnet110_sd::Resnet110SdConfig::new().init(&device);
    let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let a = model.forward(x.clone()).into_data();
    let b = model.forward(x).into_data();
    assert_eq!(a, b, "no dropout or drop-path outside training");
}

#[test]
fn safetensors_round_trip_with_pytorch_names() {
    let device = Device::flex();
    let model = resnet20::Resnet20Config::new().init(&device);
    let path = tmp("resnet20.safetensors");
    model.save_pytorch_safetensors(&path).expect("save");
    let fresh = resnet20::Resnet20Config::new().init(&device);
    let loaded = fresh.load_pytorch(&path).expect("load");
    let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let (a, b) = (model.forward(x.clone()), loaded.forward(x));
    let diff = (a - b).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-6, "reloaded model differs by {diff}");
    std::fs::remove_file(&path).ok();
}

#[test]
fn loader_reports_missing_and_unused_tensors() {
    let device = Device::flex();
    // resnet32 has two more blocks per stage than resnet20.
    let big = tmp("resnet32.safetensors");
    resnet32::Resnet32Config::new().init(&device).save_pytorch_safetensors(&big).expect("save");
    let err = resnet20::Resnet20Config::new().init(&device).load_pytorch(&big).expect_err("extra tensors");
    let msg = err.to_string();
    assert!(msg.contains("layer1.3.conv1.weight"), "{msg}");
    let small = tmp("resnet20-small.safetensors");
    resnet20::Resnet20Config::new().init(&device).save_pytorch_safetensors(&small).expect("save");
    let err = resnet32::Resnet32Config::new().init(&device).load_pytorch(&small).expect_err("missing");
    assert!(matches!(err, resnet32::LoadError::Missing(_)), "{err}");
    std::fs::remove_file(&big).ok();
    std::fs::remove_file(&small).ok();
}

/// A tensor of the wrong shape is `Invalid`, named by its PyTorch key and
/// shown in PyTorch's layout, not burn's (`gamma`, a transposed linear).
#[test]
fn loader_names_misfit_tensors_by_their_pytorch_keys() {
    let m = MODELS.iter().find(|m| m.name == "resnet20").unwrap();
    let (bn, fc) = ([17usize], [10usize, 65]);
    let state: Vec<(&str, &[usize])> = m
        .state
        .iter()
        .map(|&(name, shape)| match name {
            "bn1.weight" => (name, &bn[..]),
            "fc.weight" => (name, &fc[..]),
            _ => (name, shape),
        })
        .collect();
    let path = tmp("resnet20-misfit.safetensors");
    common::write_checkpoint(&state, &path);
    let err = resnet20::Resnet20Config::new().init(&Device::flex()).load_pytorch(&path).expect_err("misfit");
    std::fs::remove_file(&path).ok();
    let resnet20::LoadError::Invalid(misfits) = &err else { panic!("{err}") };
    assert!(misfits.contains(&"`bn1.weight` has shape [17] where the model needs [16]".to_string()), "{misfits:?}");
    assert!(
        misfits.contains(&"`fc.weight` has shape [10, 65] where the model needs [10, 64]".to_string()),
        "{misfits:?}"
    );
}

#[test]
fn a_training_step_lowers_the_loss() {
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::{GradientsParams, SgdConfig};
    let device = Device::flex().autodiff();
    let mut model = resnet20::Resnet20Config::new().init(&device);
    let mut optim = SgdConfig::new().init();
    let x = Tensor::<4>::random([16, 3, 32, 32], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let labels: Vec<i64> = (0..16).map(|i| i % 10).collect();
    let y = Tensor::<1, Int>::from_ints(labels.as_slice(), &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut losses = Vec::new();
    for _ in 0..8 {
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.05, model, grads);
    }
    assert!(losses.last() < losses.first(), "losses: {losses:?}");
}

#[test]
fn drop_path_drops_at_the_scheduled_rate_in_training_only() {
    use burn_models::resc_support::DropPath;
    let train = Device::flex().autodiff();
    let x = Tensor::<4>::ones([4000, 1, 1, 1], &train);
    // Paper convention: per-sample draws, scaled at test time.
    let y = DropPath::new(0.7, true, true).forward(x.clone());
    let kept = y.sum().into_scalar::<f32>() / 4000.0;
    assert!((kept - 0.7).abs() < 0.03, "kept {kept}");
    // Frozen or in validation, as burn's Dropout: never dropped, only scaled.
    for layer in [DropPath::new(0.7, true, true).freeze(), DropPath::new(0.7, true, true).valid()] {
        let y = layer.forward(x.clone());
        let (min, max) = (y.clone().min().into_scalar::<f32>(), y.max().into_scalar::<f32>());
        assert!((min - 0.7).abs() < 1e-6 && (max - 0.7).abs() < 1e-6, "dropped while not training: {min}..{max}");
    }
    let test = Device::flex();
    let x = Tensor::<4>::ones([100, 1, 1, 1], &test);
    let y = DropPath::new(0.7, true, true).forward(x);
    let min = y.clone().min().into_scalar::<f32>();
    let max = y.max().into_scalar::<f32>();
    assert!((min - 0.7).abs() < 1e-6 && (max - 0.7).abs() < 1e-6, "never dropped at test time, only scaled");
    // The survival the model carries is resc's linear schedule.
    let model = resnet110_sd::Resnet110SdConfig::new().init(&test);
    let all: Vec<f64> = [&model.layer1, &model.layer2, &model.layer3]
        .iter()
        .flat_map(|stage| stage.iter().map(|b| b.drop_path.survival))
        .collect();
    assert_eq!(all.len(), 54);
    for (l, p) in all.iter().enumerate() {
        assert!((p - (1.0 - (l + 1) as f64 / 54.0 * 0.5)).abs() < 1e-12, "block {l}: {p}");
    }
    let _ = model.num_params();
}

/// Partial fine-tuning: a frozen model on the training device gives the same
/// output twice (no block dropped), and a trainable one does not.
#[test]
fn a_frozen_model_on_the_training_device_does_not_drop_paths() {
    let device = Device::flex().autodiff();
    let model = resnet110_sd::Resnet110SdConfig::new().init(&device);
    let x = Tensor::<4>::random([4, 3, 32, 32], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let differ = |m: &resnet110_sd::Resnet110Sd| {
        let (a, b) = (m.forward(x.clone()), m.forward(x.clone()));
        (a - b).abs().max().into_scalar::<f32>()
    };
    assert!(differ(&model) > 0.0, "training drops blocks at random");
    let frozen = model.freeze();
    assert_eq!(differ(&frozen), 0.0, "a frozen model still drops blocks");
}

#[test]
fn saving_twice_to_one_path_overwrites() {
    let device = Device::flex();
    let path = tmp("twice.safetensors");
    let a = resnet20::Resnet20Config::new().init(&device);
    a.save_pytorch_safetensors(&path).expect("first save");
    let b = resnet20::Resnet20Config::new().init(&device);
    b.save_pytorch_safetensors(&path).expect("second save to the same path");
    let loaded = resnet20::Resnet20Config::new().init(&device).load_pytorch(&path).expect("load");
    let x = Tensor::<4>::random([1, 3, 32, 32], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let diff = (b.forward(x.clone()) - loaded.forward(x)).abs().max().into_scalar::<f32>();
    assert_eq!(diff, 0.0, "the file holds the second model");
    std::fs::remove_file(&path).ok();
}

/// `forward` is `forward_features` and then the classifier, which a user
/// can replace by a head of their own.
#[test]
fn forward_features_then_the_head_is_forward() {
    use burn::nn::LinearConfig;
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 3, 64, 64], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let mut m = resnet18::Resnet18Config::new().init(&device);
    let features = m.forward_features(x.clone());
    assert_eq!(features.dims(), [2, 512]);
    let d = (m.fc.forward(features.clone()) - m.forward(x.clone())).abs().max().into_scalar::<f32>();
    assert_eq!(d, 0.0);
    m.fc = LinearConfig::new(512, 7).init(&device);
    assert_eq!(m.forward(x.clone()).dims(), [2, 7]);
    // ResNetV2's classifier is timm's `head.fc`, a 1x1 conv after the pool.
    let m = resnetv2_50::Resnetv2_50Config::new().init(&device);
    let features = m.forward_features(x.clone());
    assert_eq!(features.dims(), [2, 2048, 1, 1]);
    let d = (m.head.forward(features).flatten::<2>(1, 3) - m.forward(x)).abs().max().into_scalar::<f32>();
    assert_eq!(d, 0.0);
}

//! What a user of the generated code does with it, checked in a crate that
//! uses resc's build-script crate as its README says: train, freeze a stage,
//! validate, save twice to one path, reload, swap the head through the config,
//! and read the features.

use burn::module::Module;
use burn::prelude::*;

use super::models::preact_se20::{LoadError, PreactSe20, PreactSe20Config};
use super::models::resnet20::{Resnet20, Resnet20Config};
use super::{batch, train};

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("resc-burn-train-{}-{name}.safetensors", std::process::id()))
}

#[test]
fn both_models_train() {
    let device = Device::flex().autodiff();
    let own = PreactSe20Config::new().init(&device);
    let before = own.fc.weight.val();
    let (own, losses) = train(own, PreactSe20::forward, 3, 8, &device);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(max_diff(before, own.fc.weight.val()) > 0.0, "the head did not move");
    let (_, losses) = train(Resnet20Config::new().init(&device), Resnet20::forward, 2, 8, &device);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
}

/// A frozen stage runs as in evaluation (stochastic depth off, BN on its
/// running statistics) even on an autodiff device, and gets no gradients;
/// the stages around it still do.
#[test]
fn a_frozen_stage_is_deterministic_and_gets_no_gradients() {
    let device = Device::flex().autodiff();
    let mut net = PreactSe20Config::new().init(&device);
    net.layer2 = net.layer2.freeze();
    let (x, y) = batch(&device, 4);
    let x = net.conv1.forward(x);
    let x = net.layer1.iter().fold(x, |t, b| b.forward(t)).detach();
    let stage = |x: Tensor<4>| net.layer2.iter().fold(x, |t, b| b.forward(t));
    let first = stage(x.clone());
    // Three blocks that would each be dropped with probability 4-8%: twenty
    // equal runs would be unlikely if they were not frozen.
    for _ in 0..20 {
        assert_eq!(max_diff(first.clone(), stage(x.clone())), 0.0);
    }
    let loss = burn::nn::loss::CrossEntropyLossConfig::new().init(&device).forward(net.forward(batch(&device, 4).0), y);
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &net);
    assert!(grads.get::<4>(net.layer2[0].conv1.weight.id).is_none(), "a frozen weight got a gradient");
    assert!(grads.get::<4>(net.layer3[0].conv1.weight.id).is_some(), "layer3 is not frozen");
    assert!(grads.get::<4>(net.layer1[0].conv1.weight.id).is_some(), "layer1 is not frozen");
}

/// Unfrozen on an autodiff device, stochastic depth drops blocks: forwards
/// of one input differ (the check above would catch nothing otherwise).
#[test]
fn unfrozen_forwards_differ() {
    let device = Device::flex().autodiff();
    let net = PreactSe20Config::new().init(&device);
    let (x, _) = batch(&device, 2);
    let first = net.forward(x.clone());
    assert!((0..40).any(|_| max_diff(first.clone(), net.forward(x.clone())) > 0.0));
    let net = net.valid();
    let x = x.inner();
    assert_eq!(max_diff(net.forward(x.clone()), net.forward(x)), 0.0, "valid() must be deterministic");
}

/// Periodic checkpoints to one path: the second save replaces the first, and
/// the reloaded model is the second.
#[test]
fn saves_twice_to_one_path_and_reloads_the_second() {
    let device = Device::flex();
    let path = scratch("twice");
    let a = PreactSe20Config::new().init(&device);
    let b = PreactSe20Config::new().init(&device);
    a.save_pytorch_safetensors(&path).expect("first save");
    b.save_pytorch_safetensors(&path).expect("second save, same path");
    let loaded = PreactSe20Config::new().init(&device).load_pytorch(&path).expect("load");
    let (x, _) = batch(&device, 2);
    assert_eq!(max_diff(loaded.forward(x.clone()), b.forward(x.clone())), 0.0);
    assert!(max_diff(loaded.forward(x.clone()), a.forward(x)) > 0.0);
    std::fs::remove_file(&path).ok();
}

/// A new head: a model of 3 classes from the config, its `fc` swapped onto a
/// trained body, reading `forward_features`; a 10-class checkpoint does not
/// load into the 3-class model, and says which tensor, in PyTorch's terms.
#[test]
fn the_config_swaps_the_head() {
    let device = Device::flex();
    let three = PreactSe20Config::new().with_classes(3).init(&device);
    let (x, _) = batch(&device, 2);
    assert_eq!(three.forward(x.clone()).dims(), [2, 3]);
    let mut body = PreactSe20Config::new().init(&device);
    assert_eq!(body.forward(x.clone()).dims(), [2, 10]);
    let features = body.forward_features(x.clone());
    assert_eq!(features.dims(), [2, 64]);
    body.fc = three.fc;
    let logits = body.forward(x.clone());
    assert_eq!(max_diff(logits, body.fc.forward(features)), 0.0);

    let path = scratch("head");
    PreactSe20Config::new().init(&device).save_pytorch_safetensors(&path).expect("save");
    let err = PreactSe20Config::new().with_classes(3).init(&device).load_pytorch(&path).expect_err("10 classes into 3");
    let LoadError::Invalid(misfits) = &err else { panic!("{err}") };
    assert!(
        misfits.iter().any(|m| m.contains("`fc.weight` has shape [10, 64] where the model needs [3, 64]")),
        "{err}"
    );
    std::fs::remove_file(&path).ok();

    let resnet = Resnet20Config::new().with_classes(100).init(&device);
    assert_eq!(resnet.forward(x.clone()).dims(), [2, 100]);
    assert_eq!(resnet.forward_features(x).dims(), [2, 64]);
}

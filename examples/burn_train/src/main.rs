//! A few training steps of a resc-generated ResNet-20 on synthetic data.
//!
//!     cargo run --release -p burn-train-example
//!
//! The images are noise with a class-dependent brightness in one channel, so
//! the loss has something to learn within a handful of steps.

mod model {
    include!(concat!(env!("OUT_DIR"), "/resnet20.rs"));
}

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;

const BATCH: usize = 32;
const CLASSES: usize = 10;

/// A batch whose label is written into the red channel's mean.
fn batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let labels: Vec<i64> = (0..BATCH).map(|i| (i * 7 % CLASSES) as i64).collect();
    let noise = Tensor::<4>::random([BATCH, 3, 32, 32], Distribution::Normal(0.0, 1.0), device);
    let shift: Vec<f32> = labels.iter().map(|&l| l as f32 / CLASSES as f32 * 4.0 - 2.0).collect();
    let shift = Tensor::<1>::from_floats(shift.as_slice(), device).reshape([BATCH, 1, 1, 1]);
    let mask = Tensor::<1>::from_floats([1.0f32, 0.0, 0.0], device).reshape([1, 3, 1, 1]);
    (noise + shift * mask, Tensor::<1, Int>::from_ints(labels.as_slice(), device))
}

fn main() {
    let device = Device::flex().autodiff();
    let mut net = model::Resnet20Config::new().init(&device);
    println!("resnet20: {} parameters and BN statistics", net.num_params());
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for step in 1..=10 {
        let (x, y) = batch(&device);
        let loss = loss_fn.forward(net.forward(x), y);
        println!("step {step:2}  loss {:.4}", loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-2, net, grads);
    }
    // Inference: batch statistics off, no autodiff.
    let net = net.valid();
    let device = Device::flex();
    let (x, y) = batch(&device);
    let accuracy = |net: &model::Resnet20| {
        let predicted = net.forward(x.clone()).argmax(1).reshape([BATCH]);
        predicted.equal(y.clone()).int().sum().into_scalar::<i64>()
    };
    println!("accuracy on a fresh batch: {}/{BATCH}", accuracy(&net));
    // The checkpoint has torchvision-style names (`layer1.0.conv1.weight`).
    let path = std::env::temp_dir().join("resnet20-example.safetensors");
    net.save_pytorch_safetensors(&path).expect("save");
    let reloaded = model::Resnet20Config::new().init(&device).load_pytorch_safetensors(&path).expect("load");
    println!("reloaded from {}: {}/{BATCH}", path.display(), accuracy(&reloaded));
}

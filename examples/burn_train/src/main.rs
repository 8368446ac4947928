//! A few training steps of resc-generated models on synthetic data: the
//! standard library's ResNet-20 and a model of this crate's own
//! (`res/preact_se20.res`: pre-activation, squeeze-excitation, stochastic depth).
//!
//!     cargo run --release -p burn-train-example
//!
//! The images are noise with a class-dependent brightness in one channel, so
//! the loss has something to learn within a handful of steps.

mod models {
    include!(concat!(env!("OUT_DIR"), "/resc_models.rs"));
}

#[cfg(test)]
mod tests;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use models::preact_se20::{PreactSe20, PreactSe20Config};
use models::resnet20::{Resnet20, Resnet20Config};

const BATCH: usize = 32;
const CLASSES: usize = 10;

/// A batch whose label is written into the red channel's mean.
fn batch(device: &Device, size: usize) -> (Tensor<4>, Tensor<1, Int>) {
    let labels: Vec<i64> = (0..size).map(|i| (i * 7 % CLASSES) as i64).collect();
    let noise = Tensor::<4>::random([size, 3, 32, 32], Distribution::Normal(0.0, 1.0), device);
    let shift: Vec<f32> = labels.iter().map(|&l| l as f32 / CLASSES as f32 * 4.0 - 2.0).collect();
    let shift = Tensor::<1>::from_floats(shift.as_slice(), device).reshape([size, 1, 1, 1]);
    let mask = Tensor::<1>::from_floats([1.0f32, 0.0, 0.0], device).reshape([1, 3, 1, 1]);
    (noise + shift * mask, Tensor::<1, Int>::from_ints(labels.as_slice(), device))
}

/// `steps` Adam steps on fresh batches; the losses, in order.
fn train<M: Module>(
    mut net: M,
    forward: impl Fn(&M, Tensor<4>) -> Tensor<2>,
    steps: usize,
    size: usize,
    device: &Device,
) -> (M, Vec<f32>) {
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let (x, y) = batch(device, size);
        let loss = loss_fn.forward(forward(&net, x), y);
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-2, net, grads);
    }
    (net, losses)
}

fn main() {
    let device = Device::flex().autodiff();
    let resnet = Resnet20Config::new().init(&device);
    println!("resnet20: {} parameters and BN statistics", resnet.num_params());
    let (resnet, losses) = train(resnet, Resnet20::forward, 10, BATCH, &device);
    for (step, loss) in losses.iter().enumerate() {
        println!("step {:2}  loss {loss:.4}", step + 1);
    }
    let own = PreactSe20Config::new().init(&device);
    let (own, losses) = train(own, PreactSe20::forward, 10, BATCH, &device);
    println!("preact_se20: loss {:.4} after 1 step, {:.4} after 10", losses[0], losses[9]);

    // Inference: batch statistics and stochastic depth off, no autodiff.
    let device = Device::flex();
    let (x, y) = batch(&device, BATCH);
    let correct = |logits: Tensor<2>| {
        let predicted = logits.argmax(1).reshape([BATCH]);
        predicted.equal(y.clone()).int().sum().into_scalar::<i64>()
    };
    let resnet = resnet.valid();
    println!("resnet20 accuracy on a fresh batch: {}/{BATCH}", correct(resnet.forward(x.clone())));
    println!("preact_se20 accuracy on a fresh batch: {}/{BATCH}", correct(own.valid().forward(x.clone())));
    // The checkpoint has torchvision-style names (`layer1.0.conv1.weight`).
    let path = std::env::temp_dir().join("resnet20-example.safetensors");
    resnet.save_pytorch_safetensors(&path).expect("save");
    let reloaded = Resnet20Config::new().init(&device).load_pytorch(&path).expect("load");
    println!("reloaded from {}: {}/{BATCH}", path.display(), correct(reloaded.forward(x)));
}

//! resnet50 at batch 1, 224x224: the generated burn module on
//! `Device::flex()` beside `resc run`'s engine, on the same random weights
//! and input, in one process. `cargo bench -p burn-models`.

use std::time::{Duration, Instant};

use burn::prelude::*;
use burn_models::MODELS;
use resc::driver::{self, Select};
use resc::engine::{self, Engine};
use resc::sema::Program;

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..2 {
        f();
    }
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

fn main() {
    let name = "resnet50";
    let m = MODELS.iter().find(|m| m.name == name).expect("resnet50 is generated");
    let prog = Program::load_text("stdlib/resnet.res", None, resc::stdlib::source("resnet").unwrap());
    let g = driver::compile(&prog, Select::Named(name)).unwrap().remove(0);
    let weights = resc::weights::random(&g, 1);

    // The same weights for burn, through a PyTorch-named checkpoint.
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = m
        .state
        .iter()
        .map(|(n, s)| (n.to_string(), weights[*n].iter().flat_map(|v| v.to_le_bytes()).collect(), s.to_vec()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, b, s)| {
            (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())
        })
        .collect();
    let ckpt = std::env::temp_dir().join(format!("vs-engine-{}.safetensors", std::process::id()));
    safetensors::tensor::serialize_to_file(views, None, &ckpt).unwrap();
    drop(bytes);
    let device = Device::flex();
    let model = (m.load)(&device, &ckpt).unwrap();
    std::fs::remove_file(&ckpt).ok();

    let shape = [1, 3, 224, 224];
    let x: Vec<f32> = (0..3 * 224 * 224).map(|i| (i as f32 * 0.01).sin()).collect();
    let mut e = Engine::new(g, weights, engine::Options::default()).unwrap();
    let ours = e.run(&x, &shape).unwrap();
    let input = || Tensor::<1>::from_floats(x.as_slice(), &device).reshape(shape);
    let theirs: Vec<f32> = model.run(input()).into_data().try_to_vec().unwrap();
    let scale = theirs.iter().fold(0f32, |a, v| a.max(v.abs()));
    let err = ours.data.iter().zip(&theirs).fold(0f32, |a, (p, q)| a.max((p - q).abs()));

    let t_engine = median(10, || {
        e.run(&x, &shape).unwrap();
    });
    let t_burn = median(10, || {
        let y: Vec<f32> = model.run(input()).into_data().try_to_vec().unwrap();
        std::hint::black_box(y);
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("resnet50, batch 1, 3x224x224, median of 10 runs, {threads} threads:");
    println!("  burn 0.22 Device::flex(), generated module: {:>7.1} ms", t_burn.as_secs_f64() * 1e3);
    println!("  resc engine:                                {:>7.1} ms", t_engine.as_secs_f64() * 1e3);
    println!(
        "  engine speedup: {:.2}x; outputs agree within {:.1e} relative",
        t_burn.as_secs_f64() / t_engine.as_secs_f64(),
        err / scale
    );
}

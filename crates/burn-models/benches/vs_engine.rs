//! resnet50 at batch 1, 224x224: the generated burn module on
//! `Device::flex()` beside `resc run`'s engine, on the same random weights
//! and input, in one process, run alternately (ABBA...). Panics unless the
//! two outputs are finite and agree within 1e-4 relative.
//! `cargo bench -p burn-models`.

use std::time::{Duration, Instant};

use burn::prelude::*;
use burn_models::MODELS;
use resc::driver::{self, Select};
use resc::engine::{self, Engine};
use resc::sema::Program;

const ROUNDS: usize = 11;

/// Runs each variant once to warm up, then `ROUNDS` rounds of each once, in
/// order on even rounds and reversed on odd ones (ABBA...). Per variant, its
/// time in each round.
fn interleaved(variants: &mut [&mut dyn FnMut()]) -> Vec<Vec<Duration>> {
    for v in variants.iter_mut() {
        v();
    }
    let n = variants.len();
    let mut times = vec![Vec::with_capacity(ROUNDS); n];
    for r in 0..ROUNDS {
        for k in 0..n {
            let i = if r % 2 == 0 { k } else { n - 1 - k };
            let s = Instant::now();
            variants[i]();
            times[i].push(s.elapsed());
        }
    }
    times
}

/// `median (min-max)` of a sample, with `prec` decimals.
fn spread(mut v: Vec<f64>, prec: usize) -> String {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    format!("{median:.prec$} ({:.prec$}-{:.prec$})", v[0], v[n - 1])
}

/// Largest `|a - b|` over the largest `|b|`. Panics when a value on either
/// side is NaN or infinite (a max would skip a NaN), or the lengths differ.
fn relative_error(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "the engine and burn outputs differ in length");
    if let Some(i) = a.iter().zip(b).position(|(p, q)| !p.is_finite() || !q.is_finite()) {
        panic!("a non-finite output at {i}: engine {}, burn {}", a[i], b[i]);
    }
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    assert!(scale > 0.0, "burn's output is all zeros");
    let err = a.iter().zip(b).fold(0f64, |m, (p, q)| m.max((*p as f64 - *q as f64).abs()));
    err / scale
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
    let err = relative_error(&ours.data, &theirs);
    assert!(err <= 1e-4, "the engine and burn outputs differ by {err:.2e} relative (limit 1e-4)");

    let mut engine = || {
        std::hint::black_box(e.run(&x, &shape).unwrap());
    };
    let mut burn = || {
        let y: Vec<f32> = model.run(input()).into_data().try_to_vec().unwrap();
        std::hint::black_box(y);
    };
    let t = interleaved(&mut [&mut burn, &mut engine]);
    let ms = |t: &[Duration]| spread(t.iter().map(|d| d.as_secs_f64() * 1e3).collect(), 1);
    let speedup = spread(t[0].iter().zip(&t[1]).map(|(b, e)| b.as_secs_f64() / e.as_secs_f64()).collect(), 2);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("resnet50, batch 1, 3x224x224, {threads} threads, run alternately, {ROUNDS} rounds; ms median (min-max):");
    println!("  burn 0.22 Device::flex(), generated module: {}", ms(&t[0]));
    println!("  resc engine:                                {}", ms(&t[1]));
    println!("  engine speedup, per round: {speedup}x");
    println!("  outputs agree within {err:.1e} relative (asserted <= 1e-4, all finite)");
}

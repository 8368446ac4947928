//! Engine benchmark: `cargo bench --bench engine`. Prints, in one run and
//! each beside a baseline measured in the same process:
//! - the machine's FMA peak (one thread and all), the yardstick for GEMM;
//! - each fused kernel's bandwidth beside a memcpy of the same bytes, on
//!   tensors larger than the caches;
//! - whole models at batch 1, 224x224, with fusion on and off, and the GEMM
//!   layers' rate against the peak;
//! - the JIT's compile time, and the peak resident memory of `resc run` on
//!   resnet50 with a weights file.
//!
//! resnet50 beside the generated burn module: `cargo bench -p resc-burn-models`.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use resc::driver::{self, Select};
use resc::engine::kernels::{KernelSpec, OperandKind, Stage};
use resc::engine::{self, Engine, jit, raw};
use resc::ir::Graph;
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn peak() -> (f64, f64) {
    let one = raw::fma_peak_gflops(0.3);
    let all: f64 = std::thread::scope(|s| {
        (0..threads())
            .map(|_| s.spawn(|| raw::fma_peak_gflops(0.3)))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum()
    });
    (one, all)
}

fn kernels(pool_threads: usize) {
    // 64 MiB per tensor: far beyond the caches.
    let (channels, plane) = (64usize, 1usize << 18);
    let len = channels * plane;
    let specs = [
        KernelSpec { stages: vec![Stage::Bias, Stage::Relu] },
        KernelSpec { stages: vec![Stage::Affine, Stage::Relu] },
        KernelSpec { stages: vec![Stage::Bias, Stage::AddTensor, Stage::Relu] },
        KernelSpec { stages: vec![Stage::Bias, Stage::MulConst(0.9f32.to_bits()), Stage::AddTensor, Stage::Relu] },
    ];
    let mut j = jit::Jit::new().unwrap();
    for s in &specs {
        j.kernel(s).unwrap();
    }
    let compiled = j.finish(None).unwrap();
    let src: Vec<f32> = (0..len).map(|i| (i % 1000) as f32 * 0.001 - 0.5).collect();
    let mut scratch = vec![0.0f32; len];
    let dst = &mut scratch;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(pool_threads).build().unwrap();
    let chunk = channels / pool_threads;
    pool.install(|| {
        let mut copy = || {
            dst.par_chunks_mut(chunk * plane).zip(src.par_chunks(chunk * plane)).for_each(|(d, s)| d.copy_from_slice(s))
        };
        let copy_gbs = |t: Duration| (2 * len * 4) as f64 / t.as_secs_f64() / 1e9;
        println!("  memcpy of 64 MiB: {:.1} GB/s (read + write)", copy_gbs(median(15, &mut copy)));
        let mut dst = vec![0.0f32; len];
        // The same work as the bias+relu kernel, written as a Rust loop and
        // compiled by rustc: what out-of-place stores cost without the JIT.
        let bias = vec![0.25f32; channels];
        let mut rust_loop = || {
            dst.par_chunks_mut(plane).zip(src.par_chunks(plane)).enumerate().for_each(|(c, (d, s))| {
                for (o, v) in d.iter_mut().zip(s) {
                    let y = v + bias[c];
                    *o = if y > 0.0 { y } else { 0.0 };
                }
            })
        };
        let (mut tr, mut tc) = (Vec::new(), Vec::new());
        for _ in 0..15 {
            tr.push(median(1, &mut rust_loop));
            tc.push(median(1, &mut copy));
        }
        tr.sort();
        tc.sort();
        let gbs = (2 * len * 4) as f64 / tr[7].as_secs_f64() / 1e9;
        println!(
            "  {:<24} {:<9} {:>6.1} GB/s  memcpy {:>5.1} GB/s  ratio {:.2}",
            "bias+relu, rustc loop",
            "",
            gbs,
            copy_gbs(tc[7]),
            gbs / copy_gbs(tc[7])
        );
        for spec in &specs {
            let f = compiled.table.kernel(spec);
            let kinds = spec.operand_kinds();
            let operands: Vec<Vec<f32>> =
                kinds.iter().map(|k| vec![0.25; if *k == OperandKind::PerChannel { channels } else { len }]).collect();
            let tensors = kinds.iter().filter(|k| **k == OperandKind::Tensor).count();
            for in_place in [false, true] {
                let mut kernel = || {
                    let run = |(c, d): (usize, &mut [f32])| {
                        let ops: Vec<&[f32]> = operands
                            .iter()
                            .zip(&kinds)
                            .map(|(o, k)| match k {
                                OperandKind::PerChannel => &o[c * chunk..(c + 1) * chunk],
                                OperandKind::Tensor => &o[c * chunk * plane..(c + 1) * chunk * plane],
                            })
                            .collect();
                        let s = (!in_place).then(|| &src[c * chunk * plane..(c + 1) * chunk * plane]);
                        raw::kernel(f, spec, d, s, &ops, chunk, plane);
                    };
                    dst.par_chunks_mut(chunk * plane).enumerate().for_each(run);
                };
                // Interleaved with the memcpy it is compared with, so both
                // see the same machine state.
                let (mut tk, mut tc) = (Vec::new(), Vec::new());
                for _ in 0..15 {
                    tk.push(median(1, &mut kernel));
                    tc.push(median(1, &mut copy));
                }
                tk.sort();
                tc.sort();
                let bytes = (2 + tensors) * len * 4;
                let gbs = bytes as f64 / tk[7].as_secs_f64() / 1e9;
                let base = copy_gbs(tc[7]);
                println!(
                    "  {:<24} {:<9} {:>6.1} GB/s  memcpy {:>5.1} GB/s  ratio {:.2}",
                    spec.describe(),
                    if in_place { "in place" } else { "" },
                    gbs,
                    base,
                    gbs / base
                );
            }
        }
    });
}

fn graph(module: &str, model: &str) -> Graph {
    let prog = Program::load_text(&resc::stdlib::display_name(module), None, resc::stdlib::source(module).unwrap());
    driver::compile(&prog, Select::Named(model)).unwrap().remove(0)
}

struct ModelRun {
    median: Duration,
    gemm_gflops: f64,
    jit: Duration,
    kernels: (usize, usize),
}

fn model(module: &str, name: &str, fuse: bool, runs: usize) -> ModelRun {
    let g = graph(module, name);
    let weights = resc::weights::random(&g, 1);
    let options = engine::Options { fuse, ..Default::default() };
    let mut e = Engine::new(g, weights, options).unwrap();
    let shape = [1, 3, 224, 224];
    let x: Vec<f32> = (0..3 * 224 * 224).map(|i| (i as f32 * 0.01).sin()).collect();
    let median = median(runs, || {
        e.run(&x, &shape).unwrap();
    });
    e.set_profiling(true);
    for _ in 0..3 {
        e.run(&x, &shape).unwrap();
    }
    let (flops, time) = e
        .profile()
        .iter()
        .filter(|(_, p)| p.flops > 0)
        .fold((0u64, Duration::ZERO), |(f, t), (_, p)| (f + p.flops, t + p.time));
    ModelRun {
        median,
        gemm_gflops: flops as f64 / time.as_secs_f64() / 1e9,
        jit: e.jit_time,
        kernels: e.kernel_counts(),
    }
}

/// Writes random resnet50 weights as safetensors and reports `resc run`'s
/// peak resident memory on them.
fn peak_memory() -> Option<(f64, f64)> {
    let g = graph("resnet", "resnet50");
    let weights = resc::weights::random(&g, 1);
    let shapes: HashMap<String, Vec<usize>> =
        resc::passes::state(&g).into_iter().map(|e| (e.name, e.shape.iter().map(|&d| d as usize).collect())).collect();
    let bytes: Vec<(String, Vec<u8>)> =
        weights.iter().map(|(k, v)| (k.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let file_mb = bytes.iter().map(|b| b.1.len()).sum::<usize>() as f64 / 1e6;
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(k, b)| {
            (k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shapes[k].clone(), b).unwrap())
        })
        .collect();
    let path = std::env::temp_dir().join(format!("resc-bench-resnet50-{}.safetensors", std::process::id()));
    safetensors::tensor::serialize_to_file(views, None, &path).ok()?;
    drop(bytes);
    let out = Command::new(env!("CARGO_BIN_EXE_resc"))
        .args([
            "run",
            "stdlib/resnet.res",
            "-m",
            "resnet50",
            "--random-input",
            "1x3x224x224",
            "--bench",
            "3",
            "--weights",
        ])
        .arg(&path)
        .output()
        .ok()?;
    std::fs::remove_file(&path).ok();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("peak resident memory"))?;
    let mib: f64 = line.split_whitespace().rev().nth(1)?.parse().ok()?;
    Some((mib, file_mb))
}

fn main() {
    let t = threads();
    println!("resc engine benchmark ({t} threads)\n");
    let (one, all) = peak();
    println!("FMA peak: {one:.0} GFLOP/s on one thread, {all:.0} on {t}\n");

    println!("Fused kernels on 64 MiB tensors, 1 thread:");
    kernels(1);
    if t > 1 {
        println!("Fused kernels on 64 MiB tensors, {t} threads:");
        kernels(t);
    }

    println!("\nModels, batch 1, 3x224x224, median of 10 runs ({t} threads):");
    println!(
        "  {:<18} {:>10} {:>10} {:>8} {:>14} {:>10} {:>9}",
        "model", "fused", "unfused", "speedup", "GEMM GFLOP/s", "of peak", "JIT"
    );
    for (module, name) in
        [("resnet", "resnet50"), ("resnet", "resnet18"), ("densenet", "densenet121"), ("resnext", "resnext50_32x4d")]
    {
        let on = model(module, name, true, 10);
        let off = model(module, name, false, 10);
        println!(
            "  {name:<18} {:>7.1} ms {:>7.1} ms {:>7.2}x {:>14.0} {:>9.0}% {:>6.1} ms  ({} kernels for {} fused steps)",
            ms(on.median),
            ms(off.median),
            off.median.as_secs_f64() / on.median.as_secs_f64(),
            on.gemm_gflops,
            100.0 * on.gemm_gflops / all,
            ms(on.jit),
            on.kernels.0,
            on.kernels.1
        );
    }
    println!("  (peers on this machine kind, 2 threads: PyTorch eager resnet50 57 ms, onnxruntime 40 ms)");

    match peak_memory() {
        Some((mib, file_mb)) => println!(
            "\nresc run resnet50 with a {file_mb:.0} MB weights file: peak resident memory {mib:.0} MiB (target < 200)"
        ),
        None => println!("\npeak memory: could not run the resc binary"),
    }
}

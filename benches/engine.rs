//! Engine benchmark: `cargo bench --bench engine`. Prints only figures
//! measured in this run, each beside a baseline measured in the same process:
//! - the machine's FMA peak (one thread and all), the yardstick for GEMM;
//! - each fused kernel's bandwidth beside a copy that moves the same bytes
//!   within a buffer of the same footprint, run alternately with it, on
//!   tensors larger than the caches;
//! - whole models at batch 1, 224x224, in four configurations run
//!   alternately (fusion and batch-norm folding each on and off), their
//!   outputs checked against each other, and the GEMM layers' rate against
//!   the peak;
//! - the JIT's compile time, and the peak resident memory of `resc run` on
//!   resnet50 with a weights file.
//!
//! Every A/B figure is a median with its min-max over rounds in which the
//! variants alternate (ABBA...), and ratios are the median of the per-round
//! ratio. resnet50 beside the generated burn module: `cargo bench -p burn-models`.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use resc::driver::{self, Select};
use resc::engine::kernels::{KernelSpec, OperandKind, Stage};
use resc::engine::{self, Engine, Kernels, jit, raw};
use resc::ir::Graph;
use resc::sema::Program;

/// Runs every variant once to warm up, then `rounds` rounds of each once, in
/// order on even rounds and reversed on odd ones (ABBA...), so that drift in
/// the machine's state reaches every variant alike. Per variant, its time in
/// each round.
fn interleaved(rounds: usize, variants: &mut [&mut dyn FnMut()]) -> Vec<Vec<Duration>> {
    for v in variants.iter_mut() {
        v();
    }
    let n = variants.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    for r in 0..rounds {
        for k in 0..n {
            let i = if r % 2 == 0 { k } else { n - 1 - k };
            let s = Instant::now();
            variants[i]();
            times[i].push(s.elapsed());
        }
    }
    times
}

/// Median and range of a sample.
#[derive(Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        assert!(!v.is_empty() && v.iter().all(|x| x.is_finite()), "a finite sample");
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Spread { median, min: v[0], max: v[n - 1] }
    }

    /// `median (min-max)` with `prec` decimals.
    fn show(&self, prec: usize) -> String {
        format!("{:.prec$} ({:.prec$}-{:.prec$})", self.median, self.min, self.max)
    }
}

/// Per-round ratios `a[i] / b[i]`.
fn ratios(a: &[Duration], b: &[Duration]) -> Spread {
    Spread::of(a.iter().zip(b).map(|(a, b)| a.as_secs_f64() / b.as_secs_f64()).collect())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Largest `|a - b|` over the largest `|b|`. Panics when a value on either
/// side is NaN or infinite (a max would skip a NaN), or the lengths differ.
fn relative_error(what: &str, a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "{what}: the outputs differ in length");
    if let Some(i) = a.iter().zip(b).position(|(p, q)| !p.is_finite() || !q.is_finite()) {
        panic!("{what}: a non-finite output at {i}: {} against {}", a[i], b[i]);
    }
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let err = a.iter().zip(b).fold(0f64, |m, (p, q)| m.max((*p as f64 - *q as f64).abs()));
    assert!(scale > 0.0, "{what}: the reference output is all zeros");
    err / scale
}

fn peak() -> (f64, f64) {
    (raw::fma_peak_gflops(0.3), raw::fma_peak_gflops_on(threads(), 0.3))
}

const KERNEL_ROUNDS: usize = 15;

/// The memory baseline: `copy_from_slice` of `traffic / 2` bytes (as many
/// read as written) between the two halves of `mem`, first half into
/// second, then back, until the bytes are moved; split across the pool.
fn copy_baseline(mem: &mut [f32], traffic: usize, pool_threads: usize) {
    let half = mem.len() / 2;
    let (a, b) = mem.split_at_mut(half);
    let mut left = traffic / 8;
    let mut forward = true;
    while left > 0 {
        let n = left.min(half);
        let (dst, src) = if forward { (&mut b[..n], &a[..n]) } else { (&mut a[..n], &b[..n]) };
        let chunk = n.div_ceil(pool_threads);
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| d.copy_from_slice(s));
        left -= n;
        forward = !forward;
    }
}

/// Times `kernel` against the copy baseline, alternately, and prints both.
/// `traffic` is the bytes the kernel reads plus writes, `footprint` the
/// bytes of the buffers it touches; the baseline moves the same bytes
/// within a buffer of that footprint.
fn against_copy(
    label: &str,
    place: &str,
    traffic: usize,
    footprint: usize,
    mem: &mut [f32],
    pool_threads: usize,
    kernel: &mut dyn FnMut(),
) {
    let mem = &mut mem[..footprint / 4];
    let mut copy = || copy_baseline(mem, traffic, pool_threads);
    let t = interleaved(KERNEL_ROUNDS, &mut [kernel, &mut copy]);
    let gbs = |t: &[Duration]| Spread::of(t.iter().map(|d| traffic as f64 / d.as_secs_f64() / 1e9).collect());
    println!(
        "  {label:<24} {place:<9} {:>4} MiB  {:>17} GB/s  copy {:>17} GB/s  ratio {}",
        traffic >> 20,
        gbs(&t[0]).show(1),
        gbs(&t[1]).show(1),
        ratios(&t[1], &t[0]).show(2)
    );
}

fn kernels(pool_threads: usize) {
    // 64 MiB per tensor: far beyond the caches.
    let (channels, plane) = (64usize, 1usize << 18);
    let len = channels * plane;
    let bytes = len * 4;
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
    let mut dst = vec![0.0f32; len];
    // The baseline's buffer, written so that no page is the shared zero page;
    // as large as the largest footprint (source, output and one tensor operand).
    let mut mem: Vec<f32> = (0..3 * len).map(|i| (i % 7) as f32).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(pool_threads).build().unwrap();
    let chunk = channels / pool_threads;
    pool.install(|| {
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
        // Reads the source, writes the output.
        against_copy("bias+relu, rustc loop", "", 2 * bytes, 2 * bytes, &mut mem, pool_threads, &mut rust_loop);
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
                // Reads its input (the output itself in place) and each
                // tensor operand, writes the output.
                let traffic = (2 + tensors) * bytes;
                let footprint = (1 + usize::from(!in_place) + tensors) * bytes;
                let place = if in_place { "in place" } else { "" };
                against_copy(&spec.describe(), place, traffic, footprint, &mut mem, pool_threads, &mut kernel);
            }
        }
    });
}

fn graph(module: &str, model: &str) -> Graph {
    let prog = Program::load_text(&resc::stdlib::display_name(module), None, resc::stdlib::source(module).unwrap());
    driver::compile(&prog, Select::Named(model)).unwrap().remove(0)
}

/// The configurations compared: (name, fusion, batch-norm folding,
/// Winograd, the widest kernels allowed). The first is the default, the one
/// the others are measured against.
const CONFIGS: [(&str, bool, bool, bool, Kernels); 7] = [
    ("all on", true, true, true, Kernels::Avx512),
    ("fusion off", false, true, true, Kernels::Avx512),
    ("folding off", true, false, true, Kernels::Avx512),
    ("both off", false, false, true, Kernels::Avx512),
    ("Winograd off", true, true, false, Kernels::Avx512),
    ("AVX2 kernels", true, true, true, Kernels::Avx2),
    ("portable kernels", true, true, true, Kernels::Portable),
];

const MODEL_ROUNDS: usize = 15;

struct ModelRun {
    /// Per configuration, the time of each round.
    times: Vec<Vec<Duration>>,
    /// Largest relative difference of a configuration's output from the first's.
    err: f64,
    gemm_gflops: f64,
    jit: Duration,
    /// Lowering, folding and Winograd's filter transform.
    pack: Duration,
    kernels: (usize, usize),
}

/// One engine per configuration on the same weights and input, run
/// alternately; their outputs must agree.
fn model(module: &str, name: &str) -> ModelRun {
    let weights = resc::weights::random(&graph(module, name), 1);
    let mut engines: Vec<Engine> = CONFIGS
        .iter()
        .map(|&(_, fuse, fold_bn, winograd, kernels)| {
            let options = engine::Options { fuse, fold_bn, winograd, kernels, ..Default::default() };
            Engine::new(graph(module, name), weights.clone(), options).unwrap()
        })
        .collect();
    drop(weights);
    let shape = [1, 3, 224, 224];
    let x: Vec<f32> = (0..3 * 224 * 224).map(|i| (i as f32 * 0.01).sin()).collect();
    let outputs: Vec<Vec<f32>> = engines.iter_mut().map(|e| e.run(&x, &shape).unwrap().data).collect();
    let err = CONFIGS
        .iter()
        .zip(&outputs)
        .skip(1)
        .map(|((config, ..), y)| relative_error(&format!("{name}, {config} against all on"), y, &outputs[0]))
        .fold(0f64, f64::max);
    assert!(err < 1e-4, "{name}: the configurations' outputs differ by {err:.1e} relative (limit 1e-4)");
    let mut runs: Vec<_> = engines
        .iter_mut()
        .map(|e| {
            let (x, shape) = (&x, &shape);
            move || {
                std::hint::black_box(e.run(x, shape).unwrap());
            }
        })
        .collect();
    let mut variants: Vec<&mut dyn FnMut()> = runs.iter_mut().map(|f| f as &mut dyn FnMut()).collect();
    let times = interleaved(MODEL_ROUNDS, &mut variants);
    drop(runs);
    let e = &mut engines[0];
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
        times,
        err,
        gemm_gflops: flops as f64 / time.as_secs_f64() / 1e9,
        jit: e.jit_time,
        pack: e.pack_time,
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

    println!(
        "Fused kernels on 64 MiB tensors, each beside a copy_from_slice that moves the same bytes (MiB read + \
         written) within a buffer of the same footprint, run alternately, {KERNEL_ROUNDS} rounds; GB/s median \
         (min-max), ratio = median (min-max) of the per-round kernel/copy speed:"
    );
    println!("1 thread:");
    kernels(1);
    if t > 1 {
        println!("{t} threads:");
        kernels(t);
    }

    println!(
        "\nModels, batch 1, 3x224x224, {t} threads, {} configurations run alternately (ABC.. ..CBA ...), {MODEL_ROUNDS} rounds;",
        CONFIGS.len()
    );
    println!("ms per run, median (min-max):");
    print!("  {:<18}", "model");
    for (config, ..) in CONFIGS {
        print!(" {config:>20}");
    }
    println!();
    let mut runs = Vec::new();
    for (module, name) in
        [("resnet", "resnet50"), ("resnet", "resnet18"), ("densenet", "densenet121"), ("resnext", "resnext50_32x4d")]
    {
        let r = model(module, name);
        print!("  {name:<18}");
        for t in &r.times {
            print!(" {:>20}", Spread::of(t.iter().map(|&d| ms(d)).collect()).show(1));
        }
        println!();
        runs.push((name, r));
    }
    println!("time over \"all on\", median (min-max) of the per-round ratio:");
    print!("  {:<18}", "model");
    for (config, ..) in &CONFIGS[1..] {
        print!(" {config:>20}");
    }
    println!();
    for (name, r) in &runs {
        print!("  {name:<18}");
        for t in &r.times[1..] {
            print!(" {:>20}", format!("{}x", ratios(t, &r.times[0]).show(3)));
        }
        println!();
    }
    println!(
        "all on: convolutions and linear layers against the FMA peak (Winograd's counted as the direct \
         convolution's flops), JIT and weight-preparation time, and every configuration's output against its:"
    );
    println!(
        "  {:<18} {:>14} {:>8} {:>9} {:>9} {:>16}",
        "model", "GEMM GFLOP/s", "of peak", "JIT", "weights", "max rel. diff."
    );
    for (name, r) in &runs {
        println!(
            "  {name:<18} {:>14.0} {:>7.0}% {:>6.1} ms {:>6.1} ms {:>16.1e}  ({} kernels for {} fused steps)",
            r.gemm_gflops,
            100.0 * r.gemm_gflops / all,
            ms(r.jit),
            ms(r.pack),
            r.err,
            r.kernels.0,
            r.kernels.1
        );
    }
    println!("  (outputs asserted to agree within 1e-4 relative, none NaN or infinite)");

    match peak_memory() {
        Some((mib, file_mb)) => println!(
            "\nresc run resnet50 with a {file_mb:.0} MB weights file: peak resident memory {mib:.0} MiB (target < 200)"
        ),
        None => println!("\npeak memory: could not run the resc binary"),
    }
}

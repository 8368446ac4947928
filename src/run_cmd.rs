//! `resc run`: load weights and input, run the engine (or the reference
//! interpreter), write the output, and optionally benchmark.

mod input;
mod top;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use resc::backend::interp;
use resc::diag::Diag;
use resc::driver::{self, Select};
use resc::engine::{self, Engine, EngineError};
use resc::ir::Graph;
use resc::report;

use crate::cli::failure::{CliError, Failure, could_not_run};
use crate::{Color, term_width, use_color, write_stdout};

#[derive(clap::Args)]
pub struct RunArgs {
    /// The .res file (omit it to run a standard-library model named with --model).
    file: Option<PathBuf>,
    /// The model to run (needed only when the file defines several).
    #[arg(long, short)]
    model: Option<String>,
    /// Weights named as the reference state_dict: safetensors, or a PyTorch
    /// checkpoint (.pth/.pt from torch.save, read without running its pickle).
    #[arg(long, conflicts_with = "random_weights")]
    weights: Option<PathBuf>,
    /// Reproducible random weights instead of a file.
    #[arg(long, value_name = "SEED")]
    random_weights: Option<u64>,
    #[command(flatten)]
    input: input::InputArgs,
    /// Where to write the output (.npy).
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    top: top::TopArgs,
    /// Time N runs after a warm-up: median, spread, images per second, and time per layer kind.
    #[arg(long, value_name = "N")]
    bench: Option<usize>,
    /// With --bench: also each layer's time, share and GFLOP/s, in the
    /// order they run, against this machine's FMA peak measured first.
    #[arg(long, requires = "bench")]
    layers: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// No fusion or batch-norm folding: one pass per op (for comparison).
    #[arg(long)]
    no_fuse: bool,
    /// No batch-norm folding: each batch norm runs as an affine stage, fused or not (for comparison).
    #[arg(long)]
    no_fold: bool,
    /// No Winograd: stride-1 3x3 convolutions run as GEMMs like the others (for comparison).
    #[arg(long)]
    no_winograd: bool,
    /// Keep a batch together: every kernel splits each sample's work across
    /// the threads, instead of whole samples running side by side, one per
    /// thread (for comparison).
    #[arg(long)]
    no_batch_split: bool,
    /// The widest instruction set the engine's own kernels may use (default:
    /// the best this CPU has; narrower ones are for comparison).
    #[arg(long, value_enum, value_name = "ISA")]
    kernels: Option<KernelsArg>,
    /// Run the slow, plain reference interpreter instead of the engine.
    #[arg(long, conflicts_with_all = ["bench", "no_fuse", "no_fold", "no_winograd", "no_batch_split", "kernels"])]
    reference: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum KernelsArg {
    Avx512,
    Avx2,
    Portable,
}

fn diagnostics(diags: &[Diag]) -> Failure {
    eprint!("{}", report::human(diags, term_width(), use_color(Color::Auto)));
    Failure::Diagnostics
}

/// What `resc run` could not use. Each is exit 2: nothing about the model is wrong.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum RunError {
    #[error("--threads takes 1 to 1024, not {0}")]
    #[diagnostic(code(resc::run::threads_flag))]
    Threads(usize),
}

pub fn cmd_run(a: RunArgs) -> Result<(), Failure> {
    let prog = crate::cli::model_source::load(a.file.as_deref(), a.model.as_deref())?;
    let select = a.model.as_deref().map_or(Select::Root, Select::Named);
    let graphs = driver::compile(&prog, select).map_err(|d| diagnostics(&d))?;
    let g = crate::only_model(&prog, graphs)?;
    // Photos are preprocessed for the model's declared size, and --top is
    // checked against its output, before anything runs.
    let input = input::read(&a.input, &g)?;
    let top = top::prepare(&a.top, &g)?;
    if a.reference {
        return run_reference(&a, &prog, select, input, top.as_ref());
    }
    let (shape, data) = (&input.shape, &input.data);
    let weights = weights(&a, &g)?;
    let mut options = engine::Options {
        fuse: !a.no_fuse,
        fold_bn: !(a.no_fuse || a.no_fold),
        winograd: !a.no_winograd,
        split_batch: !a.no_batch_split,
        ..Default::default()
    };
    if let Some(k) = a.kernels {
        options.kernels = match k {
            KernelsArg::Avx512 => engine::Kernels::Avx512,
            KernelsArg::Avx2 => engine::Kernels::Avx2,
            KernelsArg::Portable => engine::Kernels::Portable,
        };
    }
    if let Some(t) = a.threads {
        if t == 0 || t > 1024 {
            return Err(could_not_run(RunError::Threads(t)));
        }
        options.threads = t;
    }
    let threads = options.threads;
    let engine_error = |e: EngineError, g: Option<&Graph>| -> Failure {
        let at = match (&e, g) {
            (EngineError::Shape { node, .. }, Some(g)) => Some((g.node(*node).span, instance_of(g, *node))),
            _ => None,
        };
        let mut d = Diag::new(e);
        if let Some((span, context)) = at {
            d = d.at(span, "this layer");
            if let Some((c, made)) = context {
                d = d.in_context(c).also(made, "made here");
            }
            d.resolve(&prog.sources);
        }
        diagnostics(&[d])
    };
    let mut eng = Engine::new(g, weights, options).map_err(|e| engine_error(e, None))?;
    // `run` starts with the compiled shape check: a failing one runs nothing.
    let start = Instant::now();
    let y = eng.run(data, shape).map_err(|e| engine_error(e, Some(eng.graph())))?;
    let first = start.elapsed();
    let name = eng.graph().name.clone();
    let (kernels, fused_steps) = eng.kernel_counts();
    let mut out = format!(
        "{name}: {shape:?} -> {:?} in {:.1} ms ({} steps, {kernels} compiled kernels for {fused_steps} fused steps, JIT {:.1} ms, weights prepared in {:.1} ms, {threads} threads{}, {} kernels{}{})\n",
        y.shape,
        ms(first),
        eng.steps(),
        ms(eng.jit_time),
        ms(eng.pack_time),
        lanes_note(&eng.lanes()),
        eng.isa().name(),
        match (a.no_fuse, a.no_fold) {
            (true, _) => ", fusion off",
            (false, true) => ", BN folding off",
            (false, false) => "",
        },
        if a.no_winograd { ", Winograd off" } else { "" }
    );
    out += &match &top {
        Some(t) => t.render(eng.graph(), &y.shape, &y.data, &input.names),
        None => top5(eng.graph(), &y.shape, &y.data),
    };
    if let Some(n) = a.bench {
        let layers = a.layers.then_some(threads);
        out += &bench(&mut eng, data, shape, n.clamp(1, 100_000), layers)
            .map_err(|e| engine_error(e, Some(eng.graph())))?;
    }
    out += &written(&a, &y.shape, &y.data)?;
    write_stdout(&out)
}

/// Writes the output where `-o` says, and says what was written (the input
/// too, with `--save-input`).
fn written(a: &RunArgs, shape: &[usize], data: &[f32]) -> Result<String, Failure> {
    let mut out = String::new();
    if let Some(path) = a.input.save_input() {
        out += &format!("  wrote input {}\n", path.display());
    }
    if let Some(path) = &a.output {
        write_npy(path, shape, data)?;
        out += &format!("  wrote {}\n", path.display());
    }
    Ok(out)
}

/// "in layer3.0, an instance of `bottleneck`" for a node inside a block; "in
/// model `resnet20`, an instance of `resnet_cifar`" for the network itself.
fn instance_of(g: &Graph, node: petgraph::stable_graph::NodeIndex) -> Option<(String, resc::source::Span)> {
    let mut scope = Some(g.node(node).scope);
    while let Some(id) = scope {
        let s = g.scope(id);
        if let resc::ir::ScopeKind::Instance { template } = &s.kind {
            let place = if s.path.is_empty() { format!("model `{}`", g.name) } else { s.path.clone() };
            return Some((format!("in {place}, an instance of `{template}`"), s.span));
        }
        scope = s.parent;
    }
    None
}

/// How the batch was shared out, when it was split: ", batch split
/// 8 + 8" (lanes side by side), "+ 1 on all" for the samples left over.
fn lanes_note(lanes: &[(usize, usize, usize)]) -> String {
    let beside: Vec<String> = lanes.iter().filter(|l| l.2 == 1).map(|l| l.1.to_string()).collect();
    if beside.len() < 2 {
        return String::new();
    }
    let rest: usize = lanes.iter().filter(|l| l.2 > 1).map(|l| l.1).sum();
    let rest = if rest > 0 { format!(", then {rest} on all") } else { String::new() };
    format!(", batch split {} side by side{rest}", beside.join(" + "))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn weights(a: &RunArgs, g: &Graph) -> Result<std::collections::HashMap<String, Vec<f32>>, Failure> {
    crate::cli::weights_source::load(a.weights.as_deref(), a.random_weights, g, None)
}

/// `layers`: the threads to measure the FMA peak on, for the per-layer table.
fn bench(
    eng: &mut Engine,
    data: &[f32],
    shape: &[usize],
    n: usize,
    layers: Option<usize>,
) -> Result<String, EngineError> {
    // Measured before the runs, so that the engine's threads are idle.
    let peak = layers.map(|t| (t, engine::raw::fma_peak_gflops_on(t, 0.2)));
    for _ in 0..2 {
        eng.run(data, shape)?;
    }
    eng.set_profiling(true);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        eng.run(data, shape)?;
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[n / 2];
    let batch = shape.first().copied().unwrap_or(1);
    let mut out = format!(
        "  bench: {n} runs, median {:.2} ms, min {:.2} ms, max {:.2} ms; {:.1} images/s at batch {batch} ({:.2} ms per image)\n",
        ms(median),
        ms(times[0]),
        ms(times[n - 1]),
        batch as f64 / median.as_secs_f64().max(1e-12),
        ms(median) / batch as f64,
    );
    let profile = eng.profile();
    let total: Duration = profile.iter().map(|p| p.1.time).sum();
    out += "  per layer kind (time per run, share, steps per run, GEMM rate):\n";
    for (kind, p) in profile {
        let rate = if p.flops > 0 { format!("{:>7.1} GFLOP/s", p.gflops()) } else { String::new() };
        out += &format!(
            "    {kind:<34} {:>8.2} ms {:>5.1}% {:>5} {rate}\n",
            ms(p.time) / n as f64,
            100.0 * p.time.as_secs_f64() / total.as_secs_f64().max(1e-12),
            p.steps / n
        );
    }
    if let Some((threads, peak)) = peak {
        out += &layer_table(&eng.layers(), n, total, (threads, peak));
    }
    out += &format!("  activations and scratch: {:.1} MiB\n", eng.planned_bytes() as f64 / (1 << 20) as f64);
    if let Some(kb) = peak_rss_kib() {
        out += &format!("  peak resident memory: {:.1} MiB\n", kb as f64 / 1024.0);
    }
    Ok(out)
}

/// Each step of the last `n` runs: time per run, share of `total`, and
/// for convolutions and linear layers the rate beside the peak.
fn layer_table(layers: &[engine::LayerProfile], n: usize, total: Duration, (threads, peak): (usize, f64)) -> String {
    let mut out = format!(
        "  per layer, in order (time per run, share, GEMM rate and its share of the FMA peak, {peak:.0} GFLOP/s on {threads} threads measured now):\n"
    );
    let name_width = layers.iter().map(|l| l.name.len()).max().unwrap_or(0).clamp(5, 40);
    for (i, l) in layers.iter().enumerate() {
        let p = &l.profiled;
        let rate = if p.flops > 0 {
            format!("{:>7.1} GFLOP/s {:>4.0}%", p.gflops(), 100.0 * p.gflops() / peak.max(1e-9))
        } else {
            String::new()
        };
        let [_, c, h, w] = l.dims;
        out += &format!(
            "    {i:>3} {:<name_width$} {:<30} {:>14} {:>7.3} ms {:>5.1}% {rate}\n",
            l.name,
            l.kind,
            format!("{c}x{h}x{w}"),
            ms(p.time) / n as f64,
            100.0 * p.time.as_secs_f64() / total.as_secs_f64().max(1e-12),
        );
    }
    out
}

/// VmHWM from /proc (Linux); None elsewhere.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the model outputs probabilities (its last op is a sigmoid or
/// softmax) rather than logits.
fn outputs_probabilities(g: &Graph) -> bool {
    matches!(
        g.node(g.output).op,
        resc::ir::Op::Act(resc::ir::op::Activation::Sigmoid(_)) | resc::ir::Op::RadixSoftmax(_)
    )
}

/// The top five classes of the first samples, labelled for what the model
/// outputs: logits unless its last op is a sigmoid or softmax.
fn top5(g: &Graph, shape: &[usize], data: &[f32]) -> String {
    let mut out = String::new();
    if shape.len() != 2 || shape[1] == 0 {
        return out;
    }
    let last = g.node(g.output);
    let what = if outputs_probabilities(g) { "probabilities" } else { "logits" };
    let samples = shape[0];
    out += &format!(
        "  output: {what} (`{}`, {}), {} per sample; top 5 as class: value{}\n",
        last.name,
        last.op.describe(),
        shape[1],
        if samples > 4 { format!(", first 4 of {samples} samples") } else { String::new() }
    );
    for (s, row) in data.chunks(shape[1]).enumerate().take(4) {
        let mut top: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = top.iter().take(5).map(|(i, v)| format!("{i}: {v:.4}")).collect();
        out += &format!("  sample {s}: {}\n", top.join(", "));
    }
    out
}

fn write_npy(path: &std::path::Path, shape: &[usize], data: &[f32]) -> Result<(), Failure> {
    resc::npy::write_f32(path, shape, data).map_err(|e| could_not_run(CliError::unwritable(path, e)))
}

/// The reference interpreter: the model is elaborated at the input's size,
/// so a shape problem is a front-end diagnostic.
fn run_reference(
    a: &RunArgs,
    prog: &resc::sema::Program,
    select: Select<'_>,
    given: input::Input,
    top: Option<&top::Top>,
) -> Result<(), Failure> {
    let input::Input { shape, data, names } = given;
    let declared = driver::compile(prog, select).map_err(|d| diagnostics(&d))?;
    if let [g] = declared.as_slice() {
        let want = g.node(g.input).shape.concrete(shape.first().copied().unwrap_or(1) as u64);
        if want.len() != shape.len() || want[1] as usize != shape[1] {
            return Err(crate::cli::failure::has_errors(CliError::Usage(format!(
                "`{}` takes input {want:?}, the input is {shape:?}",
                g.name
            ))));
        }
    }
    let opts = driver::Options { input: Some(shape.iter().map(|&d| d as u64).collect()), ..Default::default() };
    let mut graphs = driver::compile_with(prog, select, &opts).map_err(|d| diagnostics(&d))?;
    let g = graphs.remove(0);
    let weights = weights(a, &g)?;
    let input = interp::Tensor::new(shape, data);
    let start = Instant::now();
    let y = interp::run(&g, &weights, &input).map_err(|e| diagnostics(&[Diag::new(e)]))?;
    let mut out = format!(
        "{}: {:?} -> {:?} in {:.1} ms (reference interpreter)\n",
        g.name,
        input.shape,
        y.shape,
        ms(start.elapsed())
    );
    out += &match top {
        Some(t) => t.render(&g, &y.shape, &y.data, &names),
        None => top5(&g, &y.shape, &y.data),
    };
    out += &written(a, &y.shape, &y.data)?;
    write_stdout(&out)
}

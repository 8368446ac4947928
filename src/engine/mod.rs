//! The CPU engine behind `resc run`: the graph is lowered to steps (heavy
//! ops with fused elementwise epilogues), the shape check and the kernels are
//! compiled with cranelift, and each input's dims give a memory plan (one
//! arena) before anything runs.

mod direct;
mod exec;
pub mod jit;
pub mod kernels;
mod lanes;
pub mod lower;
pub mod memory;
mod over_batch;
#[allow(unsafe_code)]
pub mod raw;
pub mod shapecheck;
mod unary;
mod winograd;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use miette::Diagnostic;
use petgraph::stable_graph::NodeIndex;
use thiserror::Error;

use crate::ir::Graph;
pub use raw::Kernels;

#[derive(Clone, Debug)]
pub struct Options {
    /// Fuse each chain of elementwise work after a conv or linear into one
    /// compiled epilogue (off: one pass per op, but see `fold_bn`).
    pub fuse: bool,
    /// Fold a batch norm right after a conv into the conv's weights at load
    /// time, with fusion on or off. Off: every batch norm is an affine stage
    /// (in the conv's epilogue with fusion on, a pass of its own without).
    pub fold_bn: bool,
    /// Run stride-1 3x3 convolutions as Winograd's F(2x2, 3x3) (off: every
    /// convolution by im2col or shifted GEMMs).
    pub winograd: bool,
    /// The widest instruction set the engine's own kernels may use: the
    /// best the CPU has by default; lower to test or time the paths other
    /// CPUs take (`Kernels::Portable` is plain Rust).
    pub kernels: Kernels,
    pub threads: usize,
    /// At batch >= threads, run whole samples side by side, one thread
    /// each (off: each kernel splits every sample's work across the threads).
    pub split_batch: bool,
    /// Largest arena plus scratch, in bytes.
    pub memory_limit: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fuse: true,
            fold_bn: true,
            winograd: true,
            kernels: Kernels::Avx512,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            split_batch: true,
            memory_limit: 8 << 30,
        }
    }
}

#[derive(Debug, Error, Diagnostic)]
pub enum EngineError {
    #[error("{message}")]
    #[diagnostic(
        code(resc::run::shape),
        help("give an input the whole network fits; `{model}` is declared on {declared}")
    )]
    Shape { message: String, node: NodeIndex, model: String, declared: String },

    #[error("the input must be NxCxHxW (rank 4), it has shape {0:?}")]
    #[diagnostic(code(resc::run::input_rank))]
    InputRank(Vec<usize>),

    #[error("the input has {got} values, its shape says {want}")]
    #[diagnostic(code(resc::run::input_size))]
    InputSize { want: usize, got: usize },

    #[error(transparent)]
    #[diagnostic(transparent)]
    TooLarge(#[from] memory::TooLarge),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Weights(#[from] lower::WeightError),

    #[error("input dims must each be below 2^31, the input is {0:?}")]
    #[diagnostic(code(resc::run::input_size))]
    InputDims(Vec<usize>),

    #[error("the JIT failed: {0}")]
    #[diagnostic(code(resc::run::jit))]
    Jit(String),

    #[error("cannot start {0} threads: {1}")]
    #[diagnostic(code(resc::run::threads))]
    Threads(usize, String),
}

/// What the profile records per layer kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Profiled {
    pub time: Duration,
    pub steps: usize,
    /// Multiply-adds count two.
    pub flops: u64,
}

impl Profiled {
    /// The rate of its flops over its time.
    pub fn gflops(&self) -> f64 {
        self.flops as f64 / self.time.as_secs_f64().max(1e-12) / 1e9
    }
}

/// Flops of a step's GEMM work (convolutions and linear layers), 0 for others.
fn flops(s: &lower::Step, dims: &[i64]) -> u64 {
    let d = |v: usize| &dims[v * 4..v * 4 + 4];
    let out = d(s.out);
    let (n, c, h, w) = (out[0] as u64, out[1] as u64, out[2] as u64, out[3] as u64);
    match &s.kind {
        lower::Kind::Conv { conv, .. } => {
            2 * n * c * h * w * (conv.in_channels / conv.groups) * conv.kernel[0] * conv.kernel[1]
        }
        lower::Kind::Linear { in_features, out_features, .. } => 2 * n * (*in_features * *out_features) as u64,
        _ => 0,
    }
}

/// An output tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub struct Engine {
    graph: Graph,
    lowered: lower::Lowered,
    check: shapecheck::Program,
    jit: jit::Table,
    // Owns the compiled code that `jit` points into.
    _code: cranelift_jit::JITModule,
    pool: rayon::ThreadPool,
    /// One single-thread pool per thread, for lanes that run side by side:
    /// inside them every parallel loop of a kernel runs in order.
    lane_pools: Vec<rayon::ThreadPool>,
    options: Options,
    /// The instruction set of the engine's own kernels, decided once.
    isa: raw::Isa,
    /// The plan for the last input dims, reused while they stay the same.
    planned: Option<Planned>,
    /// Time to compile the shape check and kernels.
    pub jit_time: Duration,
    /// Time to lower the graph and prepare its weights (batch norms folded,
    /// Winograd filters transformed).
    pub pack_time: Duration,
    /// Per step, in step order, while profiling is on; the per-kind
    /// profile is summed from it.
    profile: Option<Vec<Profiled>>,
}

/// The last input's dims (4 per value) and the lanes that run its batch.
struct Planned {
    shape: Vec<usize>,
    dims: Vec<i64>,
    lanes: Vec<lanes::Lane>,
}

/// One step of the per-layer profile.
#[derive(Clone, Debug)]
pub struct LayerProfile {
    /// The layer the step computes (a fused step: its first op's name).
    pub name: String,
    /// Its kind, as in [`Engine::profile`].
    pub kind: String,
    /// Its output, `[N, C, H, W]`.
    pub dims: [i64; 4],
    pub profiled: Profiled,
}

impl Engine {
    /// Lowers `g`, takes `weights` (state_dict names; consumed, so nothing is
    /// held twice), and compiles the shape check and kernels.
    pub fn new(g: Graph, weights: HashMap<String, Vec<f32>>, options: Options) -> Result<Engine, EngineError> {
        let start = Instant::now();
        let isa = raw::Isa::detect(options.kernels);
        let lowered = lower::lower(&g, weights, options.fuse, options.fold_bn, options.winograd, isa)?;
        let pack_time = start.elapsed();
        let check = shapecheck::build(&g);
        let start = Instant::now();
        let mut j = jit::Jit::new().map_err(EngineError::Jit)?;
        let shape_fn = j.shape_check(&check).map_err(EngineError::Jit)?;
        for s in &lowered.steps {
            if let Some(e) = &s.epilogue {
                j.kernel(&e.spec).map_err(EngineError::Jit)?;
            }
        }
        let compiled = j.finish(Some(shape_fn)).map_err(EngineError::Jit)?;
        let (jit, code) = (compiled.table, compiled.code);
        let jit_time = start.elapsed();
        let threads = options.threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| EngineError::Threads(threads, e.to_string()))?;
        let lane_pools = (0..if threads > 1 { threads } else { 0 })
            .map(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
            .collect::<Result<_, _>>()
            .map_err(|e| EngineError::Threads(threads, e.to_string()))?;
        Ok(Engine {
            graph: g,
            lowered,
            check,
            jit,
            _code: code,
            pool,
            lane_pools,
            isa,
            options,
            planned: None,
            jit_time,
            pack_time,
            profile: None,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Distinct compiled kernels, and the number of steps they serve.
    pub fn kernel_counts(&self) -> (usize, usize) {
        (self.jit.kernel_count, self.lowered.steps.iter().filter(|s| s.epilogue.is_some()).count())
    }

    /// The instruction set the engine's own kernels run.
    pub fn isa(&self) -> raw::Isa {
        self.isa
    }

    pub fn steps(&self) -> usize {
        self.lowered.steps.len()
    }

    /// Runs the compiled shape check: every value's dims (4 per value, in
    /// graph order), or the first constraint the input breaks.
    pub fn check(&self, input: &[usize]) -> Result<Vec<i64>, EngineError> {
        let [n, c, h, w] = input else {
            return Err(EngineError::InputRank(input.to_vec()));
        };
        // Dims beyond 2^31 cannot come from real data; refusing them keeps
        // every product in the check far from overflow.
        let limit = 1usize << 31;
        if [n, c, h, w].iter().any(|&&d| d >= limit) {
            return Err(EngineError::TooLarge(memory::TooLarge {
                need_mib: u64::MAX,
                limit_mib: self.options.memory_limit >> 20,
            }));
        }
        let dims = [*n as i64, *c as i64, *h as i64, *w as i64];
        let mut out = vec![0i64; self.check.slots];
        let f = self.jit.shape_check().expect("compiled with a shape check");
        match raw::shape_check(f, dims, &mut out, self.check.slots) {
            Ok(()) => Ok(out),
            Err(id) => Err(EngineError::Shape {
                message: shapecheck::describe(&self.graph, &self.check, id, &out),
                node: self.check.checks[id as usize].node,
                model: self.graph.name.clone(),
                declared: self.graph.node(self.graph.input).shape.to_string(),
            }),
        }
    }

    /// Turns the per-kind and per-step profiles on (and clears them).
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(|| vec![Profiled::default(); self.lowered.steps.len()]);
    }

    /// Each step's time and flops since profiling was turned on, in the
    /// order the steps run, for the dims of the last run.
    pub fn layers(&self) -> Vec<LayerProfile> {
        let (Some(Planned { dims, .. }), Some(profile)) = (&self.planned, &self.profile) else { return Vec::new() };
        profile
            .iter()
            .zip(&self.lowered.steps)
            .map(|(p, s)| {
                let d = &dims[s.out * 4..s.out * 4 + 4];
                LayerProfile {
                    name: self.graph.node(s.node).name.clone(),
                    kind: s.label(),
                    dims: [d[0], d[1], d[2], d[3]],
                    profiled: *p,
                }
            })
            .collect()
    }

    /// Time, steps and flops per layer kind since profiling was turned on,
    /// slowest first.
    pub fn profile(&self) -> Vec<(String, Profiled)> {
        let mut kinds: BTreeMap<String, Profiled> = BTreeMap::new();
        for (p, s) in self.profile.iter().flatten().zip(&self.lowered.steps) {
            let e = kinds.entry(s.label()).or_default();
            e.time += p.time;
            e.steps += p.steps;
            e.flops += p.flops;
        }
        let mut v: Vec<_> = kinds.into_iter().collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.1.time));
        v
    }

    /// Bytes of activations and scratch the last plan uses.
    pub fn planned_bytes(&self) -> usize {
        self.planned.as_ref().map_or(0, |p| p.lanes.iter().map(|l| l.bytes()).sum())
    }

    /// How the last batch was shared out: per lane, its samples and threads.
    pub fn lanes(&self) -> Vec<(usize, usize, usize)> {
        self.planned.as_ref().map_or(Vec::new(), |p| p.lanes.iter().map(|l| (l.first, l.count, l.threads)).collect())
    }

    /// A lane per share of the batch, each planned for its own samples;
    /// together within the memory limit.
    fn plan(&self, shape: &[usize], dims: Vec<i64>) -> Result<Planned, EngineError> {
        let threads = self.options.threads.max(1);
        let mut lanes = Vec::new();
        for (first, count, t) in lanes::shares(shape[0], threads, self.options.split_batch) {
            let mut sub = shape.to_vec();
            sub[0] = count;
            let d = if count == shape[0] { dims.clone() } else { self.check(&sub)? };
            let plan = memory::plan(&self.lowered, &d, self.options.memory_limit, t)?;
            lanes.push(lanes::Lane::new(first, count, t, d, plan));
        }
        let need: usize = lanes.iter().map(|l| l.bytes()).sum();
        if need as u64 > self.options.memory_limit {
            return Err(EngineError::TooLarge(memory::TooLarge {
                need_mib: need as u64 >> 20,
                limit_mib: self.options.memory_limit >> 20,
            }));
        }
        Ok(Planned { shape: shape.to_vec(), dims, lanes })
    }

    pub fn run(&mut self, input: &[f32], shape: &[usize]) -> Result<Output, EngineError> {
        let dims = self.check(shape)?;
        let want: usize = shape.iter().product();
        if input.len() != want {
            return Err(EngineError::InputSize { want, got: input.len() });
        }
        if self.planned.as_ref().is_none_or(|p| p.shape != shape) {
            self.planned = Some(self.plan(shape, dims)?);
        }
        let planned = self.planned.as_mut().expect("planned above");
        let (l, jit, isa) = (&self.lowered, &self.jit, self.isa);
        for lane in &mut planned.lanes {
            lane.load(input, l.input);
        }
        let pools = lanes::Pools { beside: &self.lane_pools, all: &self.pool };
        lanes::run(&mut planned.lanes, pools, (l, jit, isa), self.profile.as_deref_mut());
        let at = self.graph.order.iter().position(|&n| n == self.graph.output).expect("the output is in order");
        let d = &planned.dims[at * 4..at * 4 + 4];
        let shape: Vec<usize> = if self.graph.node(self.graph.output).shape.rank() == 2 {
            vec![d[0] as usize, d[1] as usize]
        } else {
            d.iter().map(|&v| v as usize).collect()
        };
        let mut data = Vec::with_capacity(shape.iter().product());
        for lane in &planned.lanes {
            lane.unload(l.output, &mut data);
        }
        Ok(Output { shape, data })
    }
}

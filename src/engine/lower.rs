//! From the IR to the engine's steps: heavy ops become steps of their own,
//! and (with fusion on) each chain of elementwise work after them joins the
//! step as one compiled epilogue. Batch norms right after a conv are folded
//! into its weights here, at load time (with folding on, fusion on or off).
//!
//! Values are numbered by their position in `Graph::order`.

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use super::kernels::{KernelSpec, Stage};
use super::winograd::Tile;
use crate::ir::Graph;
use crate::ir::op::{Activation, Conv2d, Op, Pool};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A per-channel vector in the weight store.
    Weight(usize),
    /// A value, read for the same sample (per channel or whole).
    Value(usize),
}

#[derive(Clone, Debug)]
pub struct Epilogue {
    pub spec: KernelSpec,
    pub operands: Vec<Operand>,
}

/// How a convolution runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvForm {
    /// The `gemm` crate (im2col or shifted, per group); filters as loaded.
    Gemm,
    /// Winograd's F(2x2, 3x3) or F(4x4, 3x3); filters transformed and
    /// packed.
    Winograd(super::winograd::Tile),
    /// Direct ([`super::direct`]): grouped convs, the RGB stem, 3x3 ones
    /// with few outputs on large maps; filters packed in blocks.
    Direct,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Conv {
        x: usize,
        conv: Conv2d,
        weight: usize,
        /// How it runs, which says how `weight` is laid out.
        form: ConvForm,
    },
    Linear {
        x: usize,
        weight: usize,
        in_features: usize,
        out_features: usize,
    },
    /// A chain of elementwise work standing alone, read from `x`.
    Elementwise {
        x: usize,
    },
    /// An activation the kernels do not compile (sigmoid, gelu, ...).
    Unary {
        x: usize,
        act: Activation,
    },
    Pool {
        x: usize,
        pool: Pool,
    },
    GlobalAvg {
        x: usize,
    },
    Concat {
        parts: Vec<usize>,
    },
    Slice {
        x: usize,
        start: usize,
    },
    SplitSum {
        x: usize,
        op: crate::ir::op::SplitSum,
    },
    RadixSoftmax {
        x: usize,
        op: crate::ir::op::RadixSoftmax,
    },
    /// Efficient channel attention's conv across channels (its taps: a weight).
    ChannelConv {
        x: usize,
        op: crate::ir::op::ChannelConv,
        weight: usize,
    },
    /// Group norm with its per-channel scale and shift (weights).
    GroupNorm {
        x: usize,
        groups: usize,
        eps: f64,
        scale: usize,
        shift: usize,
    },
    Subsample {
        x: usize,
        stride: usize,
    },
    Pad {
        x: usize,
        before: usize,
    },
    /// Constant padding of height and width.
    Pad2d {
        x: usize,
        op: crate::ir::op::Pad2d,
    },
    BlurPool {
        x: usize,
        op: crate::ir::op::BlurPool,
    },
    /// Layer norm over channels, its scale and shift weights.
    LayerNorm {
        x: usize,
        op: crate::ir::op::LayerNorm,
        scale: usize,
        shift: usize,
    },
    /// Global context's pooling, its 1x1 conv's weight and bias.
    AttentionPool {
        x: usize,
        op: crate::ir::op::AttentionPool,
        weight: usize,
        bias: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Step {
    pub kind: Kind,
    /// The value it writes.
    pub out: usize,
    pub epilogue: Option<Epilogue>,
    /// The IR node it started from, for labels.
    pub node: NodeIndex,
}

impl Step {
    /// Values read, operands included.
    pub fn reads(&self) -> Vec<usize> {
        let mut r = match &self.kind {
            Kind::Concat { parts } => parts.clone(),
            Kind::Conv { x, .. }
            | Kind::Linear { x, .. }
            | Kind::Elementwise { x }
            | Kind::Unary { x, .. }
            | Kind::Pool { x, .. }
            | Kind::GlobalAvg { x }
            | Kind::Slice { x, .. }
            | Kind::SplitSum { x, .. }
            | Kind::RadixSoftmax { x, .. }
            | Kind::GroupNorm { x, .. }
            | Kind::ChannelConv { x, .. }
            | Kind::Subsample { x, .. }
            | Kind::Pad { x, .. }
            | Kind::Pad2d { x, .. }
            | Kind::BlurPool { x, .. }
            | Kind::LayerNorm { x, .. }
            | Kind::AttentionPool { x, .. } => vec![*x],
        };
        if let Some(e) = &self.epilogue {
            r.extend(e.operands.iter().filter_map(|o| if let Operand::Value(v) = o { Some(*v) } else { None }));
        }
        r
    }

    /// The kind of layer, for the profile: `conv 3x3`, `conv 1x1 grouped`, ...
    pub fn label(&self) -> String {
        let fused =
            if self.epilogue.is_some() && !matches!(self.kind, Kind::Elementwise { .. }) { " (+fused)" } else { "" };
        let base = match &self.kind {
            Kind::Conv { conv, form, .. } => {
                let g = if conv.groups > 1 { " grouped" } else { "" };
                let w = match form {
                    ConvForm::Winograd(Tile::F2) => " winograd",
                    ConvForm::Winograd(Tile::F4) => " winograd4",
                    ConvForm::Direct => " direct",
                    ConvForm::Gemm => "",
                };
                format!("conv {}x{}{g}{w}", conv.kernel[0], conv.kernel[1])
            }
            Kind::Linear { .. } => "linear".into(),
            Kind::Elementwise { .. } => {
                format!("elementwise {}", self.epilogue.as_ref().map_or("copy".into(), |e| e.spec.describe()))
            }
            Kind::Unary { .. } => "activation".into(),
            Kind::Pool { pool, .. } => format!("{:?} pool", pool.kind).to_lowercase(),
            Kind::GlobalAvg { .. } => "global avg pool".into(),
            Kind::Concat { .. } => "concat".into(),
            Kind::Slice { .. }
            | Kind::SplitSum { .. }
            | Kind::Subsample { .. }
            | Kind::Pad { .. }
            | Kind::Pad2d { .. } => "reshaping".into(),
            Kind::RadixSoftmax { .. } => "radix softmax".into(),
            Kind::GroupNorm { .. } => "group norm".into(),
            Kind::ChannelConv { .. } => "channel conv".into(),
            Kind::BlurPool { .. } => "blur pool".into(),
            Kind::LayerNorm { .. } => "layer norm".into(),
            Kind::AttentionPool { .. } => "attention pool".into(),
        };
        format!("{base}{fused}")
    }
}

pub struct Lowered {
    pub steps: Vec<Step>,
    /// `alias[v] = Some(u)`: v is u, unchanged (identity, dropout, flatten).
    pub alias: Vec<Option<usize>>,
    pub weights: Vec<Vec<f32>>,
    pub input: usize,
    pub output: usize,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WeightError {
    #[error("the weights lack `{0}`")]
    #[diagnostic(code(resc::weights::missing))]
    Missing(String),
    #[error("`{name}` has {got} values where {want} were expected")]
    #[diagnostic(code(resc::weights::size))]
    Size { name: String, want: usize, got: usize },
    /// A compiler bug: an op lowering does not handle. Refused rather than
    /// run with a silently wrong result.
    #[error("internal error: the engine cannot lower `{0}`")]
    #[diagnostic(code(resc::engine::unsupported), help("this is a bug in resc; the model itself is valid"))]
    Unsupported(String),
}

/// How an op runs in the engine (`OpDef::lower`).
pub enum Lowering {
    /// Nothing to run (the input).
    Skip,
    /// The value is its input's, unchanged.
    Alias,
    /// A step of its own.
    Step(Step),
    /// Elementwise work fused into the epilogue of the step that computes
    /// its input (a step of its own where nothing can take it), as
    /// `OpDef::stage` says.
    Stage,
}

impl Epilogue {
    /// A per-channel bias from the weight store.
    pub fn bias(b: usize) -> Epilogue {
        Epilogue { spec: KernelSpec { stages: vec![Stage::Bias] }, operands: vec![Operand::Weight(b)] }
    }
}

/// What an op's lowering sees: its node, its inputs' values, the weights.
pub struct LowerNode<'c, 'a> {
    cx: &'c mut Ctx<'a>,
    ix: NodeIndex,
    out: usize,
    /// The values of the node's inputs.
    pub ins: Vec<usize>,
}

impl LowerNode<'_, '_> {
    /// A step of this node's kind, writing its value.
    pub fn step(&self, kind: Kind) -> Step {
        Step { kind, out: self.out, epilogue: None, node: self.ix }
    }

    /// The weight `{node}.{suffix}`, taken from the loaded weights.
    pub fn take(&mut self, suffix: &str) -> Result<Vec<f32>, WeightError> {
        self.cx.take(self.ix, suffix)
    }

    /// Puts a tensor in the weight store; its index.
    pub fn keep(&mut self, v: Vec<f32>) -> usize {
        self.cx.keep(v)
    }

    /// `take` then `keep`.
    pub fn take_kept(&mut self, suffix: &str) -> Result<usize, WeightError> {
        let v = self.take(suffix)?;
        Ok(self.keep(v))
    }

    /// `take_kept`, checked to hold `len` values.
    pub fn take_sized(&mut self, suffix: &str, len: usize) -> Result<usize, WeightError> {
        let v = self.take(suffix)?;
        if v.len() != len {
            let name = format!("{}.{suffix}", self.cx.g.node(self.ix).name);
            return Err(WeightError::Size { name, want: len, got: v.len() });
        }
        Ok(self.keep(v))
    }
}

/// What an op joining a fused chain sees (`OpDef::stage`).
pub struct StageNode<'c, 'a> {
    cx: &'c mut Ctx<'a>,
    jx: NodeIndex,
    /// The node's inputs; `cur` is the chain's value among them.
    pub raw: &'c [NodeIndex],
    pub cur: NodeIndex,
    /// The values of its other inputs, which the epilogue reads.
    pub others: &'c [usize],
}

impl StageNode<'_, '_> {
    pub fn keep(&mut self, v: Vec<f32>) -> usize {
        self.cx.keep(v)
    }

    /// This batch norm as per-channel scale and shift.
    pub fn bn(&mut self, eps: f64) -> Result<(Vec<f32>, Vec<f32>), WeightError> {
        self.cx.bn(self.jx, eps)
    }

    pub fn input_shape(&self, i: usize) -> &crate::ir::Shape {
        &self.cx.g.node(self.raw[i]).shape
    }

    /// Input `i` is pooled, `[N, C, 1, 1]`, where the output is not.
    pub fn is_pooled(&self, i: usize) -> bool {
        let s = self.input_shape(i);
        s.size(2) == Some(1) && s.size(3) == Some(1) && self.cx.g.node(self.jx).shape != *s
    }

    /// Some input is pooled where the output is not.
    pub fn pooled_second(&self) -> bool {
        (0..self.raw.len()).any(|i| self.is_pooled(i))
    }
}

struct Ctx<'a> {
    g: &'a Graph,
    pos: HashMap<NodeIndex, usize>,
    weights: HashMap<String, Vec<f32>>,
    store: Vec<Vec<f32>>,
    /// Fold a batch norm right after a conv into the conv's weights.
    fold_bn: bool,
}

impl Ctx<'_> {
    fn take(&mut self, node: NodeIndex, suffix: &str) -> Result<Vec<f32>, WeightError> {
        let name = format!("{}.{suffix}", self.g.node(node).name);
        self.weights.remove(&name).ok_or(WeightError::Missing(name))
    }
    fn keep(&mut self, v: Vec<f32>) -> usize {
        self.store.push(v);
        self.store.len() - 1
    }
    /// A batch norm as per-channel scale and shift.
    fn bn(&mut self, node: NodeIndex, eps: f64) -> Result<(Vec<f32>, Vec<f32>), WeightError> {
        let (gamma, beta) = (self.take(node, "weight")?, self.take(node, "bias")?);
        let (mean, var) = (self.take(node, "running_mean")?, self.take(node, "running_var")?);
        let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps as f32).sqrt()).collect();
        let shift = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        Ok((scale, shift))
    }
    fn inputs(&self, node: NodeIndex) -> Vec<usize> {
        self.g.inputs(node).iter().map(|i| self.pos[i]).collect()
    }
}

/// Lowers a graph. `fuse` off gives one step per op (the baseline fusion is
/// measured against), except that a batch norm right after a conv is still
/// folded into it while `fold_bn` is on. `fold_bn` off keeps every batch norm
/// as an affine stage: in the conv's epilogue with fusion on, a step of its
/// own with fusion off. Both off: one pass per op. Then each conv's form
/// is chosen and its filters laid out for it, after any folding: `winograd`
/// runs the convolutions that suit it as Winograd's F(2x2, 3x3), and on
/// `isa` the direct kernel takes those that suit it.
pub fn lower(
    g: &Graph,
    weights: HashMap<String, Vec<f32>>,
    fuse: bool,
    fold_bn: bool,
    winograd: bool,
    isa: super::raw::Isa,
) -> Result<Lowered, WeightError> {
    let order = &g.order;
    let pos: HashMap<NodeIndex, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    for item in crate::passes::state(g) {
        let want = item.shape.iter().product::<u64>() as usize;
        match weights.get(&item.name) {
            None => return Err(WeightError::Missing(item.name)),
            Some(v) if v.len() != want => return Err(WeightError::Size { name: item.name, want, got: v.len() }),
            Some(_) => {}
        }
    }
    let mut cx = Ctx { g, pos, weights, store: Vec::new(), fold_bn };
    let mut consumers: Vec<usize> = vec![0; order.len()];
    for &ix in order {
        for i in cx.inputs(ix) {
            consumers[i] += 1;
        }
    }
    let output = cx.pos[&g.output];
    consumers[output] += 1;
    let mut alias: Vec<Option<usize>> = vec![None; order.len()];
    let mut claimed = vec![false; order.len()];
    let mut steps = Vec::new();
    let mut next_of: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
    for (i, &ix) in order.iter().enumerate() {
        for j in cx.inputs(ix) {
            next_of[j].push(i);
        }
    }

    for (i, &ix) in order.iter().enumerate() {
        if claimed[i] {
            continue;
        }
        let ins: Vec<usize> = cx.inputs(ix).into_iter().map(|v| resolve(&alias, v)).collect();
        let op = g.node(ix).op.clone();
        let mut n = LowerNode { cx: &mut cx, ix, out: i, ins: ins.clone() };
        let mut s = match op.lower(&mut n)? {
            Lowering::Skip => continue,
            Lowering::Alias => {
                alias[i] = Some(ins[0]);
                continue;
            }
            Lowering::Step(s) => s,
            Lowering::Stage => {
                let epilogue = Some(Epilogue { spec: KernelSpec::default(), operands: Vec::new() });
                let mut s = Step { kind: Kind::Elementwise { x: ins[0] }, out: i, epilogue, node: ix };
                let first = g.inputs(ix)[0];
                if !add_stage(&mut cx, &mut s, ix, first, &alias) {
                    return Err(WeightError::Unsupported(g.node(ix).name.clone()));
                }
                s
            }
        };
        let chain = fuse && matches!(s.kind, Kind::Conv { .. } | Kind::Linear { .. } | Kind::Elementwise { .. });
        // With fusion off, a batch norm right after a conv is still folded
        // into the conv's weights (while folding is on): nothing else joins.
        let fold_only = !fuse && fold_bn && matches!(s.kind, Kind::Conv { .. });
        if chain || fold_only {
            // Follow the chain while each value has one reader that is elementwise.
            let mut cur = i;
            while consumers[cur] == 1 && next_of[cur].len() == 1 {
                let j = next_of[cur][0];
                if claimed[j] {
                    break;
                }
                let jx = order[j];
                match &g.node(jx).op {
                    Op::Identity | Op::Dropout(_) => {}
                    Op::DropPath(d) if !d.scale_at_test => {}
                    // The conv's epilogue is at most its bias here, so the
                    // batch norm folds (or nothing changes).
                    Op::BatchNorm(_) if fold_only => {
                        if !add_stage(&mut cx, &mut s, jx, order[cur], &alias) {
                            break;
                        }
                    }
                    _ if fold_only => break,
                    _ => {
                        if !add_stage(&mut cx, &mut s, jx, order[cur], &alias) {
                            break;
                        }
                    }
                }
                claimed[j] = true;
                s.out = j;
                cur = j;
            }
        }
        if s.epilogue.as_ref().is_some_and(|e| e.spec.stages.is_empty()) {
            s.epilogue = None;
        }
        steps.push(s);
    }
    // A fused step runs where its last member was: an add in the chain may
    // read a value computed after the chain's conv.
    steps.sort_by_key(|s| s.out);
    for s in &mut steps {
        let Kind::Conv { conv, weight, form, .. } = &mut s.kind else { continue };
        let declared = declared_plane(&g.node(s.node).shape);
        let tile = if winograd { super::winograd::suits(conv, declared) } else { None };
        // The direct kernel is asked first: some convolutions suit both
        // (few outputs on large maps), and there the direct one is faster.
        if super::direct::suits(conv, declared, isa) {
            cx.store[*weight] = super::direct::pack_filters(&cx.store[*weight], conv);
            *form = ConvForm::Direct;
        } else if let Some(tile) = tile {
            let (m, c) = (conv.out_channels as usize, conv.in_channels as usize);
            cx.store[*weight] = super::winograd::transform_filters(&cx.store[*weight], m, c, tile);
            *form = ConvForm::Winograd(tile);
        }
    }
    let input = cx.pos[&g.input];
    let output = resolve(&alias, output);
    Ok(Lowered { steps, alias, weights: cx.store, input, output })
}

/// Height and width of an `[N, C, H, W]` shape, where the model fixes them.
fn declared_plane(shape: &crate::ir::shape::Shape) -> Option<(u64, u64)> {
    Some((shape.size(2)?, shape.size(3)?)).filter(|_| shape.rank() == 4)
}

/// The value `v` stands for, following identity-like aliases.
pub fn resolve(alias: &[Option<usize>], mut v: usize) -> usize {
    while let Some(u) = alias[v] {
        v = u;
    }
    v
}

/// Adds node `jx`, which reads the chain's current value `cur`, to the
/// step's epilogue; `false` if it cannot join (then nothing changed).
fn add_stage(cx: &mut Ctx, s: &mut Step, jx: NodeIndex, cur: NodeIndex, alias: &[Option<usize>]) -> bool {
    let g = cx.g;
    let raw: Vec<NodeIndex> = g.inputs(jx);
    let mut others: Vec<usize> = raw.iter().filter(|&&r| r != cur).map(|r| resolve(alias, cx.pos[r])).collect();
    let repeats = raw.iter().filter(|&&r| r == cur).count();
    // `x + x` reads x again, which only a standalone step's input allows.
    let standalone =
        matches!(s.kind, Kind::Elementwise { .. }) && s.epilogue.as_ref().is_none_or(|e| e.spec.stages.is_empty());
    if repeats != 1 && !(standalone && matches!(g.node(jx).op, Op::Add(_) | Op::Mul)) {
        return false;
    }
    others.extend((1..repeats).map(|_| resolve(alias, cx.pos[&cur])));
    let op = &g.node(jx).op;
    // A batch norm right after a conv folds into it: its filters scaled,
    // the shift (and any conv bias) one bias.
    if let (Op::BatchNorm(bn), Kind::Conv { weight, .. }) = (op, &s.kind)
        && cx.fold_bn
        && s.epilogue.as_ref().is_none_or(|e| e.spec.stages == [Stage::Bias])
    {
        let Ok((scale, shift)) = cx.bn(jx, bn.eps) else {
            return false;
        };
        let w = &mut cx.store[*weight];
        let per = w.len() / scale.len();
        for (o, chunk) in w.chunks_mut(per).enumerate() {
            chunk.iter_mut().for_each(|v| *v *= scale[o]);
        }
        let mut bias = shift;
        if let Some(Epilogue { operands, .. }) = &s.epilogue
            && let Some(Operand::Weight(b)) = operands.first()
        {
            for (o, v) in bias.iter_mut().enumerate() {
                *v += cx.store[*b][o] * scale[o];
            }
        }
        s.epilogue = Some(Epilogue::bias(cx.keep(bias)));
        return true;
    }
    let Some((stages, operands)) = op.stage(&mut StageNode { cx, jx, raw: &raw, cur, others: &others }) else {
        return false;
    };
    let e = s.epilogue.get_or_insert_with(|| Epilogue { spec: KernelSpec::default(), operands: Vec::new() });
    e.spec.stages.extend(stages);
    e.operands.extend(operands);
    true
}

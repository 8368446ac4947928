//! Each IR op as standard ONNX ops (opset 17).

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use super::OnnxError;
use super::builder::{GraphParts, float, int, ints};
use super::fold::Folding;
use crate::ir::op::{Activation, Conv2d, Pool, PoolKind};
use crate::ir::op::{BatchNorm, GroupNorm, Linear, PadChannels, Slice, Subsample};
use crate::ir::{Graph, Op, Shape};

pub struct Lowering<'a> {
    pub g: &'a Graph,
    pub weights: &'a HashMap<String, Vec<f32>>,
    pub folding: Folding,
    pub parts: GraphParts,
    /// The ONNX value holding each IR node's output.
    pub values: HashMap<NodeIndex, String>,
}

/// What an IR node became: a new value, or another node's value unchanged
/// (dropout, identity, a folded batch norm).
pub enum Lowered {
    Value(String),
    Alias(String),
}

impl Lowering<'_> {
    fn weight(&mut self, ix: NodeIndex, suffix: &str, dims: &[u64]) -> Result<String, OnnxError> {
        let name = format!("{}.{suffix}", self.g.node(ix).name);
        let data = self.weights.get(&name).ok_or_else(|| OnnxError::MissingWeight { name: name.clone() })?;
        let want: u64 = dims.iter().product();
        if data.len() as u64 != want {
            return Err(OnnxError::WeightSize { name, want, got: data.len() as u64 });
        }
        if !self.parts.claim(&name) {
            return Err(OnnxError::DuplicateName { name });
        }
        self.parts.initializer(&name, dims, data);
        Ok(name)
    }

    pub fn node(&mut self, ix: NodeIndex) -> Result<Lowered, OnnxError> {
        let g = self.g;
        let node = g.node(ix);
        let inputs: Vec<String> = g.inputs(ix).iter().map(|i| self.values[i].clone()).collect();
        let x = inputs.first().cloned().unwrap_or_default();
        let name = node.name.clone();
        let p = &mut self.parts;
        let value = match &node.op {
            Op::Input => return Ok(Lowered::Alias(x)),
            Op::Dropout(_) | Op::Identity => return Ok(Lowered::Alias(x)),
            Op::DropPath(d) if !d.scale_at_test => return Ok(Lowered::Alias(x)),
            Op::BatchNorm(_) if self.folding.norms.contains_key(&ix) => return Ok(Lowered::Alias(x)),
            Op::DropPath(d) => {
                let s = p.constant_f32(&format!("{name}.survival"), d.survival as f32);
                p.node("Mul", &[&x, &s], vec![], &name)
            }
            Op::Conv2d(c) => return self.conv(ix, c, &x).map(Lowered::Value),
            Op::BatchNorm(BatchNorm { channels, eps }) => {
                let dims = [*channels];
                let w = self.weight(ix, "weight", &dims)?;
                let b = self.weight(ix, "bias", &dims)?;
                let m = self.weight(ix, "running_mean", &dims)?;
                let v = self.weight(ix, "running_var", &dims)?;
                self.parts.node("BatchNormalization", &[&x, &w, &b, &m, &v], vec![float("epsilon", *eps as f32)], &name)
            }
            Op::Pad(pad) => pad.onnx(p, &x, &name),
            Op::LayerNorm(l) => {
                let c = [l.channels];
                let (w, b) = (self.weight(ix, "weight", &c)?, self.weight(ix, "bias", &c)?);
                return Ok(Lowered::Value(l.onnx(&mut self.parts, [&x, &w, &b], &name)));
            }
            Op::AttentionPool(a) => {
                let w = self.weight(ix, "weight", &[1, a.channels, 1, 1])?;
                let b = self.weight(ix, "bias", &[1])?;
                return Ok(Lowered::Value(a.onnx(&mut self.parts, [&x, &w, &b], &name)));
            }
            Op::BlurPool(b) => b.onnx(p, &x, &name),
            Op::ChannelConv(cc) => {
                let w = self.weight(ix, "weight", &[1, 1, cc.kernel])?;
                return Ok(Lowered::Value(cc.onnx(&mut self.parts, &x, &w, &name)));
            }
            Op::GroupNorm(GroupNorm { channels, groups, eps }) => {
                let dims = [*channels];
                let w = self.weight(ix, "weight", &dims)?;
                let b = self.weight(ix, "bias", &dims)?;
                return Ok(Lowered::Value(group_norm(
                    &mut self.parts,
                    &node.shape,
                    *groups,
                    *eps,
                    [&x, &w, &b],
                    &name,
                )));
            }
            Op::Act(a) => activation(p, *a, &x, &name),
            Op::Pool(pool) => pool_op(p, pool, &x, &g.node(g.inputs(ix)[0]).shape, &node.shape, &name),
            Op::GlobalAvgPool => p.node("GlobalAveragePool", &[&x], vec![], &name),
            Op::Flatten => p.node("Flatten", &[&x], vec![int("axis", 1)], &name),
            Op::Linear(Linear { in_features, out_features, bias }) => {
                let w = self.weight(ix, "weight", &[*out_features, *in_features])?;
                let mut ins = vec![x.clone(), w];
                if *bias {
                    ins.push(self.weight(ix, "bias", &[*out_features])?);
                }
                let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
                self.parts.node("Gemm", &ins, vec![int("transB", 1)], &name)
            }
            Op::Add(_) => {
                let ins: Vec<&str> = inputs.iter().map(String::as_str).collect();
                p.node(if ins.len() == 2 { "Add" } else { "Sum" }, &ins, vec![], &name)
            }
            Op::Mul => {
                let (a, mut b) = (inputs[0].clone(), inputs[1].clone());
                let (ra, rb) = (node.shape.rank(), g.node(g.inputs(ix)[1]).shape.rank());
                if ra == 2 && rb == 4 {
                    // [N, C] scaled by [N, C, 1, 1]: broadcasting would give [N, C, N, C].
                    b = p.node("Flatten", &[&b], vec![int("axis", 1)], &format!("{name}.scale"));
                }
                p.node("Mul", &[&a, &b], vec![], &name)
            }
            Op::Concat => {
                let ins: Vec<&str> = inputs.iter().map(String::as_str).collect();
                p.node("Concat", &ins, vec![int("axis", 1)], &name)
            }
            Op::Subsample(Subsample { stride }) => {
                let s = *stride as i64;
                let starts = p.constant_i64(&format!("{name}.starts"), &[0, 0]);
                let ends = p.constant_i64(&format!("{name}.ends"), &[i64::MAX, i64::MAX]);
                let axes = p.constant_i64(&format!("{name}.axes"), &[2, 3]);
                let steps = p.constant_i64(&format!("{name}.steps"), &[s, s]);
                p.node("Slice", &[&x, &starts, &ends, &axes, &steps], vec![], &name)
            }
            Op::Slice(Slice { start, end }) => {
                let channels = g.node(g.inputs(ix)[0]).shape.size(1).unwrap_or(0);
                let end = if *end == 0 { channels } else { *end };
                let starts = p.constant_i64(&format!("{name}.starts"), &[*start as i64]);
                let ends = p.constant_i64(&format!("{name}.ends"), &[end as i64]);
                let axes = p.constant_i64(&format!("{name}.axes"), &[1]);
                p.node("Slice", &[&x, &starts, &ends, &axes], vec![], &name)
            }
            Op::PadChannels(PadChannels { before, after }) => {
                let rank = node.shape.rank();
                let mut pads = vec![0i64; 2 * rank];
                pads[1] = *before as i64;
                pads[rank + 1] = *after as i64;
                let pads = p.constant_i64(&format!("{name}.pads"), &pads);
                p.node("Pad", &[&x, &pads], vec![], &name)
            }
            Op::SplitSum(s) => s.onnx(p, &x, &node.shape, &name),
            Op::RadixSoftmax(r) => r.onnx(p, &x, &node.shape, &name),
        };
        Ok(Lowered::Value(value))
    }

    fn conv(&mut self, ix: NodeIndex, c: &Conv2d, x: &str) -> Result<String, OnnxError> {
        let name = self.g.node(ix).name.clone();
        let dims = [c.out_channels, c.in_channels / c.groups, c.kernel[0], c.kernel[1]];
        let mut ins = vec![x.to_string()];
        if let Some(f) = self.folding.convs.remove(&ix) {
            let w = format!("{name}.weight");
            if !self.parts.claim(&w) || !self.parts.claim(&f.bias_name) {
                return Err(OnnxError::DuplicateName { name: w });
            }
            self.parts.initializer(&w, &dims, &f.weight);
            self.parts.initializer(&f.bias_name, &[c.out_channels], &f.bias);
            ins.extend([w, f.bias_name]);
        } else {
            ins.push(self.weight(ix, "weight", &dims)?);
            if c.bias {
                ins.push(self.weight(ix, "bias", &[c.out_channels])?);
            }
        }
        let [ph, pw] = c.padding.map(|v| v as i64);
        let attrs = vec![
            ints("kernel_shape", &c.kernel.map(|v| v as i64)),
            ints("strides", &c.stride.map(|v| v as i64)),
            ints("pads", &[ph, pw, ph, pw]),
            ints("dilations", &c.dilation.map(|v| v as i64)),
            int("group", c.groups as i64),
        ];
        let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
        Ok(self.parts.node("Conv", &ins, attrs, &name))
    }
}

/// Group norm from opset-17 ops (`GroupNormalization` is opset 18, and
/// normalises differently before opset 21): `[N, G, rest]`, the mean and
/// biased variance over the rest, back to `[N, C, H, W]`, then the per-channel
/// scale and shift.
fn group_norm(p: &mut GraphParts, shape: &Shape, groups: u64, eps: f64, [x, w, b]: [&str; 3], name: &str) -> String {
    let grouped = p.constant_i64(&format!("{name}.grouped"), &[0, groups as i64, -1]);
    let xg = p.node("Reshape", &[x, &grouped], vec![], &format!("{name}.groups"));
    let normed = super::builder::normalise(p, &xg, 2, eps, name);
    let mut dims = vec![0i64];
    dims.extend((1..shape.rank()).map(|i| shape.size(i).unwrap_or(0) as i64));
    let back = p.constant_i64(&format!("{name}.shape"), &dims);
    let y = p.node("Reshape", &[&normed, &back], vec![], &format!("{name}.ungrouped"));
    let axes = p.constant_i64(&format!("{name}.axes"), &[1, 2]);
    let w = p.node("Unsqueeze", &[w, &axes], vec![], &format!("{name}.scale"));
    let b = p.node("Unsqueeze", &[b, &axes], vec![], &format!("{name}.shift"));
    let scaled = p.node("Mul", &[&y, &w], vec![], &format!("{name}.scaled"));
    p.node("Add", &[&scaled, &b], vec![], name)
}

fn activation(p: &mut GraphParts, a: Activation, x: &str, name: &str) -> String {
    a.def().onnx(p, x, name)
}

/// Pools with the output size PyTorch gives: ONNX's `ceil_mode` keeps a last
/// window that starts in the padding where PyTorch drops it, so the end
/// padding is written out instead, and `count_include_pad` becomes a real
/// zero `Pad` (PyTorch counts the padding but not what lies past it).
fn pool_op(p: &mut GraphParts, pool: &Pool, x: &str, input: &Shape, output: &Shape, name: &str) -> String {
    let size = |s: &Shape, i: usize| s.size(i).unwrap_or(1) as i64;
    let [kh, kw] = pool.kernel.map(|v| v as i64);
    let [sh, sw] = pool.stride.map(|v| v as i64);
    let [mut ph, mut pw] = pool.padding.map(|v| v as i64);
    let (mut h, mut w) = (size(input, 2), size(input, 3));
    let mut x = x.to_string();
    if pool.kind == PoolKind::Avg && pool.count_include_pad && (ph > 0 || pw > 0) {
        let pads = p.constant_i64(&format!("{name}.pads"), &[0, 0, ph, pw, 0, 0, ph, pw]);
        x = p.node("Pad", &[&x, &pads], vec![], &format!("{name}.padded"));
        (h, w) = (h + 2 * ph, w + 2 * pw);
        (ph, pw) = (0, 0);
    }
    // The end padding that makes exactly PyTorch's output size without ceil_mode.
    let end = |out: i64, k: i64, s: i64, len: i64, begin: i64| ((out - 1) * s + k - len - begin).max(0);
    let (eh, ew) = (end(size(output, 2), kh, sh, h, ph), end(size(output, 3), kw, sw, w, pw));
    let mut attrs = vec![ints("kernel_shape", &[kh, kw]), ints("strides", &[sh, sw]), ints("pads", &[ph, pw, eh, ew])];
    let op = match pool.kind {
        PoolKind::Max => "MaxPool",
        PoolKind::Avg => {
            attrs.push(int("count_include_pad", 0));
            "AveragePool"
        }
    };
    p.node(op, &[&x], attrs, name)
}

//! A reference interpreter: runs a graph's inference forward pass in plain,
//! obvious Rust. Slow on purpose; it defines what the IR ops compute, for
//! checking faster backends against.

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use crate::ir::Graph;
use crate::ir::op::{Activation, Conv2d, Op, Pool, PoolKind};
use crate::ir::op::{BatchNorm, GroupNorm, Linear, PadChannels, Slice, Subsample};
use crate::ops::std_conv;

/// A dense row-major f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "shape and data agree");
        Tensor { shape, data }
    }

    fn zeros(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor { shape, data: vec![0.0; n] }
    }

    fn nchw(&self) -> (usize, usize, usize, usize) {
        match self.shape.as_slice() {
            [n, c, h, w] => (*n, *c, *h, *w),
            [n, c] => (*n, *c, 1, 1),
            other => panic!("not a feature map: {other:?}"),
        }
    }
}

/// Why a forward pass could not run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    #[error("the weights lack `{0}`")]
    #[diagnostic(code(resc::interp::missing_weight))]
    MissingWeight(String),
    #[error("`{name}` has {got} values where {want} were expected")]
    #[diagnostic(code(resc::interp::weight_size))]
    WeightSize { name: String, want: usize, got: usize },
    #[error("the input has shape {got:?}, the model takes {want:?}")]
    #[diagnostic(code(resc::interp::input_shape))]
    InputShape { want: Vec<usize>, got: Vec<usize> },
}

/// Runs the graph on `input` with `weights` named as the state_dict.
pub fn run(g: &Graph, weights: &HashMap<String, Vec<f32>>, input: &Tensor) -> Result<Tensor, RunError> {
    Ok(run_keeping(g, weights, input, &[g.output])?.remove(0))
}

/// Runs the graph and returns the values of `keep` (the output, and any
/// intermediate a test compares), in that order.
pub fn run_keeping(
    g: &Graph,
    weights: &HashMap<String, Vec<f32>>,
    input: &Tensor,
    keep: &[NodeIndex],
) -> Result<Vec<Tensor>, RunError> {
    let want = g.node(g.input).shape.concrete(input.shape[0] as u64);
    let want: Vec<usize> = want.iter().map(|&d| d as usize).collect();
    if input.shape != want {
        return Err(RunError::InputShape { want, got: input.shape.clone() });
    }
    let mut values: HashMap<NodeIndex, Tensor> = HashMap::new();
    for &ix in &g.order {
        let node = g.node(ix);
        let ins: Vec<&Tensor> = g.inputs(ix).iter().map(|i| &values[i]).collect();
        let w = |suffix: &str, len: usize| -> Result<&[f32], RunError> {
            let name = format!("{}.{suffix}", node.name);
            let v = weights.get(&name).ok_or_else(|| RunError::MissingWeight(name.clone()))?;
            if v.len() != len {
                return Err(RunError::WeightSize { name, want: len, got: v.len() });
            }
            Ok(v)
        };
        let out = match &node.op {
            Op::Input => input.clone(),
            Op::Conv2d(c) => {
                let per = (c.in_channels / c.groups) as usize * (c.kernel[0] * c.kernel[1]) as usize;
                let weight = w("weight", c.out_channels as usize * per)?;
                let bias = if c.bias { Some(w("bias", c.out_channels as usize)?) } else { None };
                match c.standardize {
                    Some(eps) => conv2d(ins[0], c, &std_conv::reference(weight, c.out_channels as usize, eps), bias),
                    None => conv2d(ins[0], c, weight, bias),
                }
            }
            Op::BatchNorm(BatchNorm { channels, eps }) => {
                let n = *channels as usize;
                let (scale, shift) = (w("weight", n)?, w("bias", n)?);
                let (mean, var) = (w("running_mean", n)?, w("running_var", n)?);
                per_channel(ins[0], |c, v| (v - mean[c]) / (var[c] + *eps as f32).sqrt() * scale[c] + shift[c])
            }
            Op::GroupNorm(GroupNorm { channels, groups, eps }) => {
                let n = *channels as usize;
                group_norm(ins[0], *groups as usize, *eps, w("weight", n)?, w("bias", n)?)
            }
            Op::ChannelConv(cc) => {
                let weight = w("weight", cc.kernel as usize)?;
                per_sample(ins[0], ins[0].shape.clone(), |s| cc.reference(s, weight))
            }
            Op::Act(a) => map(ins[0], |v| activation(*a, v)),
            Op::Pool(p) => pool(ins[0], p),
            Op::Pad(p) => {
                let a = p.amount as usize;
                per_plane(ins[0], |h, w| (h + 2 * a, w + 2 * a), |x, h, w| p.reference(x, h, w))
            }
            Op::LayerNorm(l) => {
                let (n, c) = (ins[0].shape[0], l.channels as usize);
                let (scale, shift) = (w("weight", c)?, w("bias", c)?);
                let plane = ins[0].data.len() / (n * c).max(1);
                per_sample(ins[0], ins[0].shape.clone(), |s| l.reference(s, plane, scale, shift))
            }
            Op::AttentionPool(a) => {
                let (n, c) = (ins[0].shape[0], a.channels as usize);
                let (weight, bias) = (w("weight", c)?, w("bias", 1)?);
                let plane = ins[0].data.len() / (n * c).max(1);
                per_sample(ins[0], vec![n, c, 1, 1], |s| a.reference(s, plane, weight, bias[0]))
            }
            Op::BlurPool(b) => per_plane(ins[0], |h, w| (b.out_side(h), b.out_side(w)), |x, h, w| b.reference(x, h, w)),
            Op::GlobalAvgPool => {
                let (n, c, h, w) = ins[0].nchw();
                let mut out = Tensor::zeros(vec![n, c, 1, 1]);
                for (i, o) in out.data.iter_mut().enumerate() {
                    *o = ins[0].data[i * h * w..(i + 1) * h * w].iter().sum::<f32>() / (h * w) as f32;
                }
                out
            }
            Op::Flatten => {
                let n = ins[0].shape[0];
                Tensor::new(vec![n, ins[0].data.len() / n], ins[0].data.clone())
            }
            Op::Linear(Linear { in_features, out_features, bias }) => {
                let (fi, fo) = (*in_features as usize, *out_features as usize);
                let weight = w("weight", fi * fo)?;
                let b = if *bias { Some(w("bias", fo)?) } else { None };
                let n = ins[0].shape[0];
                let mut out = Tensor::zeros(vec![n, fo]);
                for s in 0..n {
                    for o in 0..fo {
                        let row = &weight[o * fi..(o + 1) * fi];
                        let x = &ins[0].data[s * fi..(s + 1) * fi];
                        out.data[s * fo + o] =
                            row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + b.map_or(0.0, |b| b[o]);
                    }
                }
                out
            }
            // Inference: dropout is the identity; drop-path scales by the
            // survival probability when that is the convention.
            Op::Dropout(_) | Op::Identity => ins[0].clone(),
            Op::DropPath(d) => {
                if d.scale_at_test {
                    map(ins[0], |v| v * d.survival as f32)
                } else {
                    ins[0].clone()
                }
            }
            Op::Add(_) => {
                let mut out = ins[0].clone();
                let (_, _, h, w) = ins[0].nchw();
                for other in &ins[1..] {
                    // A pooled `[N, C, 1, 1]` is added at every position.
                    let broadcast = other.data.len() != out.data.len();
                    for (i, o) in out.data.iter_mut().enumerate() {
                        *o += if broadcast { other.data[i / (h * w)] } else { other.data[i] };
                    }
                }
                out
            }
            Op::Mul => {
                let (a, b) = (ins[0], ins[1]);
                let (_, c, h, w) = a.nchw();
                let broadcast = b.data.len() != a.data.len();
                let mut out = a.clone();
                for (i, o) in out.data.iter_mut().enumerate() {
                    *o *= if broadcast { b.data[i / (h * w)] } else { b.data[i] };
                }
                let _ = c;
                out
            }
            Op::Concat => {
                let (n, _, h, w) = ins[0].nchw();
                let total: usize = ins.iter().map(|t| t.shape[1]).sum();
                let mut out = Tensor::zeros(with_channels(ins[0], total));
                for s in 0..n {
                    let mut at = s * total * h * w;
                    for t in &ins {
                        let len = t.shape[1] * h * w;
                        out.data[at..at + len].copy_from_slice(&t.data[s * len..(s + 1) * len]);
                        at += len;
                    }
                }
                out
            }
            Op::Slice(Slice { start, end }) => {
                let (n, c, h, w) = ins[0].nchw();
                let (start, end) = (*start as usize, if *end == 0 { c } else { *end as usize });
                let mut out = Tensor::zeros(with_channels(ins[0], end - start));
                for s in 0..n {
                    let src = &ins[0].data[(s * c + start) * h * w..(s * c + end) * h * w];
                    out.data[s * (end - start) * h * w..(s + 1) * (end - start) * h * w].copy_from_slice(src);
                }
                out
            }
            Op::SplitSum(op) => {
                per_sample(ins[0], with_channels(ins[0], ins[0].shape[1] / op.radix as usize), |s| op.reference(s))
            }
            Op::RadixSoftmax(r) => per_sample(ins[0], ins[0].shape.clone(), |s| r.reference(s)),
            Op::Subsample(Subsample { stride }) => {
                let (n, c, h, w) = ins[0].nchw();
                let s = *stride as usize;
                let (oh, ow) = (h.div_ceil(s), w.div_ceil(s));
                let mut out = Tensor::zeros(vec![n, c, oh, ow]);
                for p in 0..n * c {
                    for y in 0..oh {
                        for x in 0..ow {
                            out.data[(p * oh + y) * ow + x] = ins[0].data[(p * h + y * s) * w + x * s];
                        }
                    }
                }
                out
            }
            Op::PadChannels(PadChannels { before, after }) => {
                let (n, c, h, w) = ins[0].nchw();
                let (b, total) = (*before as usize, c + (*before + *after) as usize);
                let mut out = Tensor::zeros(with_channels(ins[0], total));
                for s in 0..n {
                    let dst = (s * total + b) * h * w;
                    out.data[dst..dst + c * h * w].copy_from_slice(&ins[0].data[s * c * h * w..(s + 1) * c * h * w]);
                }
                out
            }
        };
        values.insert(ix, out);
    }
    Ok(keep.iter().map(|k| values[k].clone()).collect())
}

fn map(t: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    Tensor { shape: t.shape.clone(), data: t.data.iter().map(|&v| f(v)).collect() }
}

/// An op defined on one sample at a time (`src/ops`' references), with the
/// output's shape.
fn per_sample(t: &Tensor, shape: Vec<usize>, f: impl Fn(&[f32]) -> Vec<f32>) -> Tensor {
    let per = (t.data.len() / t.shape[0].max(1)).max(1);
    Tensor { shape, data: t.data.chunks(per).flat_map(f).collect() }
}

/// An op defined on one `h` x `w` plane at a time; `size` gives its output's.
fn per_plane(
    t: &Tensor,
    size: impl Fn(usize, usize) -> (usize, usize),
    f: impl Fn(&[f32], usize, usize) -> Vec<f32>,
) -> Tensor {
    let (n, c, h, w) = t.nchw();
    let (oh, ow) = size(h, w);
    Tensor { shape: vec![n, c, oh, ow], data: t.data.chunks((h * w).max(1)).flat_map(|x| f(x, h, w)).collect() }
}

/// The shape of `x` with `c` channels: channel ops keep a rank-2 input rank 2.
fn with_channels(x: &Tensor, c: usize) -> Vec<usize> {
    let mut shape = x.shape.clone();
    shape[1] = c;
    shape
}

fn per_channel(t: &Tensor, f: impl Fn(usize, f32) -> f32) -> Tensor {
    let (_, c, h, w) = t.nchw();
    let plane = h * w;
    Tensor { shape: t.shape.clone(), data: t.data.iter().enumerate().map(|(i, &v)| f(i / plane % c, v)).collect() }
}

/// Each sample's channels in `groups` equal groups, each normalised by its
/// own mean and (biased) variance, then scaled and shifted per channel.
/// Statistics in f64, from the definition: two passes.
fn group_norm(x: &Tensor, groups: usize, eps: f64, scale: &[f32], shift: &[f32]) -> Tensor {
    let (n, c, h, w) = x.nchw();
    let per_group = c / groups * h * w;
    let mut out = x.clone();
    for s in 0..n {
        for g in 0..groups {
            let at = (s * c * h * w) + g * per_group;
            let vals = &x.data[at..at + per_group];
            let mean = vals.iter().map(|&v| f64::from(v)).sum::<f64>() / per_group as f64;
            let var = vals.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / per_group as f64;
            let inv = 1.0 / (var + eps).sqrt();
            for (i, o) in out.data[at..at + per_group].iter_mut().enumerate() {
                let ch = g * (c / groups) + i / (h * w);
                *o = ((f64::from(*o) - mean) * inv) as f32 * scale[ch] + shift[ch];
            }
        }
    }
    out
}

pub fn activation(a: Activation, v: f32) -> f32 {
    a.def().reference(v)
}
fn conv2d(x: &Tensor, c: &Conv2d, weight: &[f32], bias: Option<&[f32]>) -> Tensor {
    let (n, cin, h, w) = x.nchw();
    let (cout, g) = (c.out_channels as usize, c.groups as usize);
    let [kh, kw] = c.kernel.map(|v| v as usize);
    let [sh, sw] = c.stride.map(|v| v as usize);
    let [ph, pw] = c.padding.map(|v| v as usize);
    let [dh, dw] = c.dilation.map(|v| v as usize);
    let oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    let ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    let (cin_g, cout_g) = (cin / g, cout / g);
    let mut out = Tensor::zeros(vec![n, cout, oh, ow]);
    for s in 0..n {
        for o in 0..cout {
            let group = o / cout_g;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = bias.map_or(0.0, |b| b[o]);
                    for ci in 0..cin_g {
                        let ic = group * cin_g + ci;
                        for ky in 0..kh {
                            let iy = (y * sh + ky * dh) as isize - ph as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (xo * sw + kx * dw) as isize - pw as isize;
                                if ix < 0 || ix >= w as isize {
                                    continue;
                                }
                                let xv = x.data[((s * cin + ic) * h + iy as usize) * w + ix as usize];
                                acc += xv * weight[((o * cin_g + ci) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    out.data[((s * cout + o) * oh + y) * ow + xo] = acc;
                }
            }
        }
    }
    out
}

fn pool(x: &Tensor, p: &Pool) -> Tensor {
    let (n, c, h, w) = x.nchw();
    let out_len = |len: usize, k: usize, s: usize, pad: usize| {
        let span = len + 2 * pad - k;
        let mut o = if p.ceil_mode { span.div_ceil(s) } else { span / s } + 1;
        if p.ceil_mode && (o - 1) * s >= len + pad {
            o -= 1;
        }
        o
    };
    let [kh, kw] = p.kernel.map(|v| v as usize);
    let [sh, sw] = p.stride.map(|v| v as usize);
    let [ph, pw] = p.padding.map(|v| v as usize);
    let (oh, ow) = (out_len(h, kh, sh, ph), out_len(w, kw, sw, pw));
    let mut out = Tensor::zeros(vec![n, c, oh, ow]);
    for plane in 0..n * c {
        for y in 0..oh {
            for xo in 0..ow {
                let (y0, x0) = ((y * sh) as isize - ph as isize, (xo * sw) as isize - pw as isize);
                let mut best = f32::NEG_INFINITY;
                let (mut sum, mut count, mut padded_count) = (0.0f32, 0usize, 0usize);
                for ky in 0..kh as isize {
                    for kx in 0..kw as isize {
                        let (iy, ix) = (y0 + ky, x0 + kx);
                        // Windows are clipped to the padded input, as PyTorch counts them.
                        if iy < (h + ph) as isize && ix < (w + pw) as isize {
                            padded_count += 1;
                        }
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let v = x.data[(plane * h + iy as usize) * w + ix as usize];
                        // NaN wins, as in PyTorch (`f32::max` would drop it).
                        if v.is_nan() || (!best.is_nan() && v > best) {
                            best = v;
                        }
                        sum += v;
                        count += 1;
                    }
                }
                out.data[(plane * oh + y) * ow + xo] = match p.kind {
                    PoolKind::Max => best,
                    PoolKind::Avg if p.count_include_pad => sum / padded_count as f32,
                    PoolKind::Avg => sum / count.max(1) as f32,
                };
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: groups [1, 3, 5, 7] (mean 4, variance 5) and
    /// [0, 0, 2, -2] (mean 0, variance 2), channel 1 scaled by 2, channel 3
    /// shifted by 1.
    #[test]
    fn group_norm_by_hand() {
        let x = Tensor::new(vec![1, 4, 1, 2], vec![1.0, 3.0, 5.0, 7.0, 0.0, 0.0, 2.0, -2.0]);
        let y = group_norm(&x, 2, 0.0, &[1.0, 2.0, 1.0, 1.0], &[0.0, 0.0, 0.0, 1.0]);
        let (a, b) = (5f32.sqrt(), 2f32.sqrt());
        let want = [-3.0 / a, -1.0 / a, 2.0 / a, 6.0 / a, 0.0, 0.0, 2.0 / b + 1.0, -2.0 / b + 1.0];
        for (got, want) in y.data.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{:?} vs {want:?}", y.data);
        }
    }
}

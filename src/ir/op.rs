//! The ops of the IR. Each op owns its shape rule, its state (parameters and
//! buffers) and its MAC count, so every pass and backend agrees on them.

use miette::Diagnostic;
use thiserror::Error;

use super::shape::{Dim, Shape};

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Input,
    Conv2d(Conv2d),
    BatchNorm {
        channels: u64,
        eps: f64,
    },
    Act(Activation),
    /// Normalisation over groups of channels of each sample (Wu and He
    /// 2018), with a learnt per-channel scale and shift; no running statistics.
    GroupNorm {
        channels: u64,
        groups: u64,
        eps: f64,
    },
    Pool(Pool),
    /// Efficient channel attention's 1-D conv across pooled channels.
    ChannelConv(ChannelConv),
    /// Constant padding of height and width.
    Pad(Pad2d),
    /// Anti-aliased downsampling: a fixed binomial blur, strided.
    BlurPool(BlurPool),
    /// Normalisation over the channels at each position.
    LayerNorm(LayerNorm),
    /// Global context's softmax-weighted pooling over positions.
    AttentionPool(AttentionPool),
    GlobalAvgPool,
    Flatten,
    Linear {
        in_features: u64,
        out_features: u64,
        bias: bool,
    },
    Dropout {
        p: f64,
    },
    /// Sum of inputs; `residual` marks the merge of a residual block, the unit
    /// that stochastic depth numbers and drops.
    Add {
        residual: bool,
    },
    Concat,
    /// `x[:, :, ::s, ::s]`, the spatial half of the CIFAR "option A" shortcut.
    Subsample {
        stride: u64,
    },
    /// Zero channels added before and after, the other half of option A.
    PadChannels {
        before: u64,
        after: u64,
    },
    Identity,
    /// Channels `start..end` (DPN's residual and dense parts); `end` 0 means all.
    Slice {
        start: u64,
        end: u64,
    },
    /// `[N, radix * C, H, W]` to `[N, C, H, W]`: the sum of the radix splits.
    SplitSum(SplitSum),
    /// ResNeSt's attention weights: a softmax over the radix splits.
    RadixSoftmax(RadixSoftmax),
    /// Elementwise product; the second input may be `[N, C, 1, 1]`.
    Mul,
    /// Stochastic depth on a residual branch: drop it whole with probability
    /// `1 - survival` in training.
    DropPath(DropPath),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropPath {
    pub survival: f64,
    /// `true`: multiply by `survival` at test time (the paper). `false`: divide
    /// by it in training, identity at test time (timm).
    pub scale_at_test: bool,
    /// One draw per sample (timm) or one per batch (the paper).
    pub per_sample: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    pub in_channels: u64,
    pub out_channels: u64,
    pub kernel: [u64; 2],
    pub stride: [u64; 2],
    pub padding: [u64; 2],
    pub dilation: [u64; 2],
    pub groups: u64,
    pub bias: bool,
    /// `std_conv`: the filters are standardised before use, with this eps.
    pub standardize: Option<f64>,
}

pub use crate::ops::activation::Activation;
pub use crate::ops::attention_pool::AttentionPool;
pub use crate::ops::blur_pool::BlurPool;
pub use crate::ops::channel_conv::ChannelConv;
pub use crate::ops::layer_norm::LayerNorm;
pub use crate::ops::pad::Pad2d;
pub use crate::ops::radix_softmax::RadixSoftmax;
pub use crate::ops::split_sum::SplitSum;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: [u64; 2],
    pub stride: [u64; 2],
    pub padding: [u64; 2],
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateKind {
    Param,
    Buffer,
}

/// One named tensor an op owns: `weight`, `running_mean`, ...
#[derive(Clone, Debug, PartialEq)]
pub struct StateEntry {
    pub suffix: &'static str,
    pub shape: Vec<u64>,
    pub kind: StateKind,
}

#[derive(Debug, Error, Diagnostic, Clone, PartialEq)]
pub enum ShapeError {
    #[error("`{op}` expects a rank-{want} input {layout}, got {got}")]
    #[diagnostic(code(resc::shape::rank), help("{hint}"))]
    Rank { op: &'static str, want: usize, layout: &'static str, got: Shape, hint: &'static str },

    #[error("`{op}` input has {got} channels where {want} were expected")]
    #[diagnostic(code(resc::shape::channel_mismatch))]
    Channels { op: &'static str, want: u64, got: u64 },

    #[error("groups ({groups}) must divide the {which} channels ({channels})")]
    #[diagnostic(code(resc::shape::groups), help("use a group count that divides {channels}, e.g. {suggestion}"))]
    Groups { groups: u64, which: &'static str, channels: u64, suggestion: u64 },

    #[error("the {window} does not fit the padded input {axis} of {padded}")]
    #[diagnostic(
        code(resc::shape::kernel_too_large),
        help("the input is too small here: add padding, use a smaller kernel, or a larger model input")
    )]
    KernelTooLarge { window: String, padded: u64, axis: &'static str },

    #[error("padding {pad} is more than half the {kernel}-wide window")]
    #[diagnostic(code(resc::shape::pad_too_large), help("pooling padding must be at most half the kernel size"))]
    PadTooLarge { pad: u64, kernel: u64 },

    #[error("the inputs of `{op}` differ: {a} and {b}")]
    #[diagnostic(code(resc::shape::mismatch))]
    Mismatch { op: &'static str, a: Shape, b: Shape },

    #[error("`{op}` needs at least {want} inputs")]
    #[diagnostic(code(resc::shape::arity))]
    Arity { op: &'static str, want: usize },

    #[error("`{op}` takes exactly {want} inputs, not {have}")]
    #[diagnostic(
        code(resc::shape::arity_exact),
        help("`mul {{ A }} {{ B }}` scales A by B; nest a second `mul` to multiply three branches")
    )]
    ArityExact { op: &'static str, want: usize, have: usize },

    #[error("cannot pad {have} channels to {want}")]
    #[diagnostic(
        code(resc::shape::pad_channels),
        help("`pad_channels` only adds channels: its target must be at least the input's channels")
    )]
    PadChannels { have: u64, want: u64 },

    #[error("channels {start}..{end} are out of range for an input of {channels}")]
    #[diagnostic(
        code(resc::shape::slice),
        help(
            "a slice takes channels from 0 up to the input's {channels}; is the split larger than the block's output?"
        )
    )]
    Slice { start: u64, end: u64, channels: u64 },

    #[error("radix {radix} does not divide the {channels} channels")]
    #[diagnostic(code(resc::shape::radix), help("split attention needs radix x groups to divide the channels"))]
    Radix { radix: u64, channels: u64 },

    #[error("{groups} groups do not divide the {channels} channels")]
    #[diagnostic(
        code(resc::shape::group_norm),
        help("group norm splits the channels into equal groups: {suggestion} groups would divide them")
    )]
    GroupNorm { groups: u64, channels: u64, suggestion: u64 },

    #[error("`{op}` reads pooled channels [N, C, 1, 1], got {got}")]
    #[diagnostic(
        code(resc::shape::not_pooled),
        help("put `global_avg` before it, as efficient channel attention does")
    )]
    NotPooled { op: &'static str, got: Shape },

    #[error("`{op}` pads by {pad} by reflection, so the input's {axis} must be at least {need}; it is {got}")]
    #[diagnostic(
        code(resc::shape::reflect_pad),
        help("reflect padding mirrors rows inside the input: downsample less before it, or use a larger model input")
    )]
    ReflectPad { op: &'static str, pad: u64, need: u64, got: u64, axis: &'static str },

    #[error("a dimension of {size} is too large")]
    #[diagnostic(code(resc::shape::too_large), help("dimensions are limited to {limit}"))]
    TooLarge { size: u128, limit: u64 },
}

/// Upper bound for any single dimension, so that counts stay far from overflow
/// and nothing downstream allocates absurd amounts.
pub const MAX_DIM: u64 = 1 << 24;

pub(crate) fn check_dim(size: u128) -> Result<u64, ShapeError> {
    if size > MAX_DIM as u128 { Err(ShapeError::TooLarge { size, limit: MAX_DIM }) } else { Ok(size as u64) }
}

pub(crate) fn want_rank(op: &'static str, x: &Shape, rank: usize) -> Result<(), ShapeError> {
    if x.rank() == rank {
        return Ok(());
    }
    let (layout, hint) = if rank == 4 {
        ("[N, C, H, W]", "this op works on feature maps; is it after `flatten`?")
    } else {
        ("[N, F]", "add `global_avg` and `flatten` before it")
    };
    Err(ShapeError::Rank { op, want: rank, layout, got: x.clone(), hint })
}

fn dim(x: &Shape, i: usize) -> u64 {
    x.size(i).unwrap_or(1)
}

/// A sliding window along one axis.
struct Window {
    kernel: u64,
    stride: u64,
    pad: u64,
    dilation: u64,
    ceil: bool,
}

impl Window {
    /// Output length for an input of `input` (PyTorch's rule).
    fn output(&self, input: u64, axis: &'static str) -> Result<u64, ShapeError> {
        let padded = input + 2 * self.pad;
        let eff = self.dilation * (self.kernel - 1) + 1;
        if eff > padded {
            let window = if eff == self.kernel {
                format!("window of {}", self.kernel)
            } else {
                format!("window of {} dilated to {eff}", self.kernel)
            };
            return Err(ShapeError::KernelTooLarge { window, padded, axis });
        }
        let span = padded - eff;
        let mut out = if self.ceil { span.div_ceil(self.stride) } else { span / self.stride } + 1;
        // PyTorch drops a last ceil-mode window that would start in the padding.
        if self.ceil && (out - 1) * self.stride >= input + self.pad {
            out -= 1;
        }
        Ok(out)
    }
}

impl Op {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Conv2d(c) if c.standardize.is_some() => crate::ops::std_conv::NAME,
            Op::Conv2d(_) => "conv",
            Op::BatchNorm { .. } => "bn",
            Op::GroupNorm { .. } => "group_norm",
            Op::ChannelConv(_) => ChannelConv::NAME,
            Op::Pad(_) => Pad2d::NAME,
            Op::BlurPool(_) => BlurPool::NAME,
            Op::LayerNorm(_) => LayerNorm::NAME,
            Op::AttentionPool(_) => AttentionPool::NAME,
            Op::Act(a) => a.name(),
            Op::Pool(p) => match p.kind {
                PoolKind::Max => "maxpool",
                PoolKind::Avg => "avgpool",
            },
            Op::GlobalAvgPool => "global_avg",
            Op::Flatten => "flatten",
            Op::Linear { .. } => "linear",
            Op::Dropout { .. } => "dropout",
            Op::Add { .. } => "add",
            Op::Concat => "concat",
            Op::Subsample { .. } => "subsample",
            Op::PadChannels { .. } => "pad_channels",
            Op::Identity => "identity",
            Op::Slice { .. } => "slice",
            Op::SplitSum(_) => SplitSum::NAME,
            Op::RadixSoftmax(_) => RadixSoftmax::NAME,
            Op::Mul => "mul",
            Op::DropPath(_) => "drop_path",
        }
    }

    /// A short human description for tables: `conv 3x3/2 64`.
    pub fn describe(&self) -> String {
        fn hw(v: [u64; 2]) -> String {
            if v[0] == v[1] { format!("{}", v[0]) } else { format!("{}x{}", v[0], v[1]) }
        }
        match self {
            Op::Conv2d(c) => {
                let mut s = format!("{} {}x{}", self.kind_name(), c.kernel[0], c.kernel[1]);
                if c.stride != [1, 1] {
                    s += &format!("/{}", hw(c.stride));
                }
                s += &format!(" {}", c.out_channels);
                if c.groups > 1 {
                    s += &format!(" g{}", c.groups);
                }
                if c.dilation != [1, 1] {
                    s += &format!(" d{}", hw(c.dilation));
                }
                s
            }
            Op::Pool(p) => {
                let mut s = format!("{} {}x{}", self.kind_name(), p.kernel[0], p.kernel[1]);
                if p.stride != [1, 1] {
                    s += &format!("/{}", hw(p.stride));
                }
                s
            }
            Op::Linear { out_features, .. } => format!("linear {out_features}"),
            Op::GroupNorm { groups, .. } => format!("group_norm {groups}"),
            Op::ChannelConv(c) => c.describe(),
            Op::Pad(p) => p.describe(),
            Op::BlurPool(b) => b.describe(),
            Op::LayerNorm(l) => l.describe(),
            Op::AttentionPool(a) => a.describe(),
            Op::Dropout { p } => format!("dropout {p}"),
            Op::Add { residual: true } => "add (residual)".into(),
            Op::Subsample { stride } => format!("subsample /{stride}"),
            Op::PadChannels { before, after } => format!("pad_channels +{before}+{after}"),
            Op::Act(a) => a.def().describe(),
            Op::Slice { start, end: 0 } => format!("slice {start}.."),
            Op::Slice { start, end } => format!("slice {start}..{end}"),
            Op::SplitSum(s) => s.describe(),
            Op::RadixSoftmax(r) => r.describe(),
            Op::DropPath(d) => format!("drop_path p={:.4}", d.survival),
            _ => self.kind_name().into(),
        }
    }

    /// The output shape for these inputs, or why there is none.
    pub fn infer(&self, inputs: &[&Shape]) -> Result<Shape, ShapeError> {
        let x = match inputs.first() {
            Some(x) => *x,
            None => {
                return Err(ShapeError::Arity { op: self.kind_name(), want: 1 });
            }
        };
        match self {
            Op::Input | Op::Identity | Op::Act(_) | Op::Dropout { .. } => Ok(x.clone()),
            Op::Conv2d(c) => {
                want_rank("conv", x, 4)?;
                let cin = dim(x, 1);
                if cin != c.in_channels {
                    return Err(ShapeError::Channels { op: "conv", want: c.in_channels, got: cin });
                }
                for (which, ch) in [("input", c.in_channels), ("output", c.out_channels)] {
                    if ch % c.groups != 0 {
                        let suggestion = largest_divisor_at_most(ch, c.groups);
                        return Err(ShapeError::Groups { groups: c.groups, which, channels: ch, suggestion });
                    }
                }
                let win = |i: usize| Window {
                    kernel: c.kernel[i],
                    stride: c.stride[i],
                    pad: c.padding[i],
                    dilation: c.dilation[i],
                    ceil: false,
                };
                let h = win(0).output(dim(x, 2), "height")?;
                let w = win(1).output(dim(x, 3), "width")?;
                Ok(Shape(vec![x.0[0].clone(), Dim::Size(c.out_channels), Dim::Size(h), Dim::Size(w)]))
            }
            Op::BatchNorm { channels, .. } => {
                if x.rank() < 2 {
                    want_rank("bn", x, 4)?;
                }
                let c = dim(x, 1);
                if c != *channels {
                    return Err(ShapeError::Channels { op: "bn", want: *channels, got: c });
                }
                Ok(x.clone())
            }
            Op::GroupNorm { channels, groups, .. } => {
                want_rank("group_norm", x, 4)?;
                let c = dim(x, 1);
                if c != *channels {
                    return Err(ShapeError::Channels { op: "group_norm", want: *channels, got: c });
                }
                if !c.is_multiple_of(*groups) {
                    let suggestion = largest_divisor_at_most(c, *groups);
                    return Err(ShapeError::GroupNorm { groups: *groups, channels: c, suggestion });
                }
                Ok(x.clone())
            }
            Op::Pool(p) => {
                want_rank(self.kind_name(), x, 4)?;
                for i in 0..2 {
                    if 2 * p.padding[i] > p.kernel[i] {
                        return Err(ShapeError::PadTooLarge { pad: p.padding[i], kernel: p.kernel[i] });
                    }
                }
                let win = |i: usize| Window {
                    kernel: p.kernel[i],
                    stride: p.stride[i],
                    pad: p.padding[i],
                    dilation: 1,
                    ceil: p.ceil_mode,
                };
                let h = win(0).output(dim(x, 2), "height")?;
                let w = win(1).output(dim(x, 3), "width")?;
                Ok(x.with(2, h).with(3, w))
            }
            Op::ChannelConv(c) => c.infer(x),
            Op::Pad(p) => p.infer(x),
            Op::BlurPool(b) => b.infer(x),
            Op::LayerNorm(l) => l.infer(x),
            Op::AttentionPool(a) => a.infer(x),
            Op::GlobalAvgPool => {
                want_rank("global_avg", x, 4)?;
                Ok(x.with(2, 1).with(3, 1))
            }
            Op::Flatten => {
                if x.rank() < 2 {
                    want_rank("flatten", x, 4)?;
                }
                let f = check_dim(x.per_item())?;
                Ok(Shape(vec![x.0[0].clone(), Dim::Size(f)]))
            }
            Op::Linear { in_features, out_features, .. } => {
                want_rank("linear", x, 2)?;
                let f = dim(x, 1);
                if f != *in_features {
                    return Err(ShapeError::Channels { op: "linear", want: *in_features, got: f });
                }
                Ok(x.with(1, *out_features))
            }
            Op::Add { .. } => {
                if inputs.len() < 2 {
                    return Err(ShapeError::Arity { op: "add", want: 2 });
                }
                // Global context adds a pooled `[N, C, 1, 1]` to every position.
                let broadcast = |y: &Shape| {
                    inputs.len() == 2 && y.rank() == 4 && dim(y, 2) == 1 && dim(y, 3) == 1 && dim(y, 1) == dim(x, 1)
                };
                for y in &inputs[1..] {
                    if *y != x && !broadcast(y) {
                        return Err(ShapeError::Mismatch { op: "add", a: x.clone(), b: (*y).clone() });
                    }
                }
                Ok(x.clone())
            }
            Op::Concat => {
                if inputs.len() < 2 {
                    return Err(ShapeError::Arity { op: "concat", want: 2 });
                }
                let mut c: u128 = 0;
                for y in inputs {
                    let same_rest =
                        y.rank() == x.rank() && y.0.iter().zip(&x.0).enumerate().all(|(i, (a, b))| i == 1 || a == b);
                    if !same_rest {
                        return Err(ShapeError::Mismatch { op: "concat", a: x.clone(), b: (*y).clone() });
                    }
                    c += dim(y, 1) as u128;
                }
                Ok(x.with(1, check_dim(c)?))
            }
            Op::Subsample { stride } => {
                want_rank("subsample", x, 4)?;
                Ok(x.with(2, dim(x, 2).div_ceil(*stride)).with(3, dim(x, 3).div_ceil(*stride)))
            }
            Op::Slice { start, end } => {
                let c = dim(x, 1);
                let end = if *end == 0 { c } else { *end };
                if *start >= end || end > c {
                    return Err(ShapeError::Slice { start: *start, end, channels: c });
                }
                Ok(x.with(1, end - start))
            }
            Op::SplitSum(s) => s.infer(x),
            Op::RadixSoftmax(r) => r.infer(x),
            Op::Mul => {
                // One tensor scaled by another: every backend's product is binary.
                if inputs.len() != 2 {
                    return Err(ShapeError::ArityExact { op: "mul", want: 2, have: inputs.len() });
                }
                let y = &inputs[1];
                let broadcast = y.rank() == 4 && dim(y, 2) == 1 && dim(y, 3) == 1 && dim(y, 1) == dim(x, 1);
                if *y != x && !broadcast {
                    return Err(ShapeError::Mismatch { op: "mul", a: x.clone(), b: (*y).clone() });
                }
                Ok(x.clone())
            }
            Op::DropPath(_) => Ok(x.clone()),
            Op::PadChannels { before, after } => {
                if x.rank() < 2 {
                    want_rank("pad_channels", x, 4)?;
                }
                Ok(x.with(1, check_dim(dim(x, 1) as u128 + *before as u128 + *after as u128)?))
            }
        }
    }

    /// Parameters and buffers in the reference `state_dict` order.
    pub fn state(&self) -> Vec<StateEntry> {
        let p = |suffix, shape| StateEntry { suffix, shape, kind: StateKind::Param };
        let b = |suffix, shape| StateEntry { suffix, shape, kind: StateKind::Buffer };
        match self {
            Op::Conv2d(c) => {
                let mut v = vec![p("weight", vec![c.out_channels, c.in_channels / c.groups, c.kernel[0], c.kernel[1]])];
                if c.bias {
                    v.push(p("bias", vec![c.out_channels]));
                }
                v
            }
            Op::BatchNorm { channels, .. } => vec![
                p("weight", vec![*channels]),
                p("bias", vec![*channels]),
                b("running_mean", vec![*channels]),
                b("running_var", vec![*channels]),
            ],
            Op::GroupNorm { channels, .. } => vec![p("weight", vec![*channels]), p("bias", vec![*channels])],
            Op::ChannelConv(c) => c.state(),
            Op::LayerNorm(l) => l.state(),
            Op::AttentionPool(a) => a.state(),
            Op::Linear { in_features, out_features, bias } => {
                let mut v = vec![p("weight", vec![*out_features, *in_features])];
                if *bias {
                    v.push(p("bias", vec![*out_features]));
                }
                v
            }
            _ => Vec::new(),
        }
    }

    pub fn has_state(&self) -> bool {
        !self.state().is_empty()
    }

    /// Multiply-accumulates at batch 1 for the given output shape: convolutions
    /// and linear layers only, bias excluded (torchvision's and the papers' convention).
    pub fn macs(&self, out: &Shape) -> u128 {
        match self {
            Op::Conv2d(c) => {
                let per_output = (c.in_channels / c.groups) as u128 * c.kernel[0] as u128 * c.kernel[1] as u128;
                out.per_item() * per_output
            }
            Op::Linear { in_features, out_features, .. } => *in_features as u128 * *out_features as u128,
            Op::ChannelConv(c) => c.macs(),
            Op::BlurPool(b) => b.macs(out),
            Op::AttentionPool(a) => a.macs(),
            _ => 0,
        }
    }
}

fn largest_divisor_at_most(n: u64, limit: u64) -> u64 {
    (1..=limit.min(n)).rev().find(|d| n.is_multiple_of(*d)).unwrap_or(1)
}

pub fn param_count(entries: &[StateEntry], kind: StateKind) -> u128 {
    entries.iter().filter(|e| e.kind == kind).map(|e| e.shape.iter().map(|&d| d as u128).product::<u128>()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nchw(c: u64, h: u64, w: u64) -> Shape {
        Shape(vec![Dim::Sym("N".into()), Dim::Size(c), Dim::Size(h), Dim::Size(w)])
    }

    fn conv(cin: u64, cout: u64, k: u64, s: u64, p: u64, g: u64) -> Op {
        Op::Conv2d(Conv2d {
            in_channels: cin,
            out_channels: cout,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
            dilation: [1, 1],
            groups: g,
            bias: false,
            standardize: None,
        })
    }

    #[test]
    fn conv_output_follows_pytorch() {
        let x = nchw(3, 224, 224);
        assert_eq!(conv(3, 64, 7, 2, 3, 1).infer(&[&x]).unwrap(), nchw(64, 112, 112));
        // Odd sizes round down: (7 + 2 - 3) / 2 + 1 = 4.
        assert_eq!(conv(3, 8, 3, 2, 1, 1).infer(&[&nchw(3, 7, 7)]).unwrap(), nchw(8, 4, 4));
    }

    #[test]
    fn conv_counts() {
        let op = conv(64, 128, 3, 1, 1, 32);
        let out = nchw(128, 56, 56);
        assert_eq!(param_count(&op.state(), StateKind::Param), 128 * 2 * 9);
        assert_eq!(op.macs(&out), 128 * 56 * 56 * 2 * 9);
    }

    #[test]
    fn groups_must_divide_both_sides() {
        let err = conv(96, 96, 3, 1, 1, 40).infer(&[&nchw(96, 8, 8)]).unwrap_err();
        assert!(matches!(err, ShapeError::Groups { suggestion: 32, .. }), "{err:?}");
        let err = conv(64, 100, 1, 1, 0, 32).infer(&[&nchw(64, 8, 8)]).unwrap_err();
        assert!(matches!(err, ShapeError::Groups { which: "output", .. }), "{err:?}");
    }

    #[test]
    fn ceil_mode_pool_drops_a_window_starting_in_padding() {
        // Expected sizes printed by torch.nn.MaxPool2d for these settings.
        let pool = |k, p, ceil| {
            Op::Pool(Pool {
                kind: PoolKind::Max,
                kernel: [k, k],
                stride: [2, 2],
                padding: [p, p],
                ceil_mode: ceil,
                count_include_pad: true,
            })
        };
        let side = |op: Op, n| op.infer(&[&nchw(8, n, n)]).unwrap().size(2).unwrap();
        assert_eq!(side(pool(3, 1, true), 6), 4);
        assert_eq!(side(pool(3, 1, false), 6), 3);
        assert_eq!(side(pool(3, 1, true), 7), 4);
        assert_eq!(side(pool(3, 0, true), 6), 3);
        assert_eq!(side(pool(3, 0, false), 6), 2);
        // ceil((5 + 2 - 2) / 2) + 1 = 4, but the last window would start in the padding.
        assert_eq!(side(pool(2, 1, true), 5), 3);
    }

    #[test]
    fn kernel_larger_than_input_is_an_error() {
        let err = conv(3, 8, 7, 1, 0, 1).infer(&[&nchw(3, 5, 5)]).unwrap_err();
        assert!(matches!(err, ShapeError::KernelTooLarge { padded: 5, .. }), "{err:?}");
    }

    #[test]
    fn concat_adds_channels_and_checks_the_rest() {
        let a = nchw(8, 4, 4);
        assert_eq!(Op::Concat.infer(&[&a, &nchw(4, 4, 4)]).unwrap(), nchw(12, 4, 4));
        assert!(Op::Concat.infer(&[&a, &nchw(4, 2, 2)]).is_err());
        assert!(Op::Add { residual: true }.infer(&[&a, &nchw(4, 4, 4)]).is_err());
    }

    #[test]
    fn option_a_shortcut_shapes() {
        let x = nchw(16, 32, 32);
        let s = Op::Subsample { stride: 2 }.infer(&[&x]).unwrap();
        assert_eq!(s, nchw(16, 16, 16));
        assert_eq!(Op::PadChannels { before: 8, after: 8 }.infer(&[&s]).unwrap(), nchw(32, 16, 16));
    }
}

//! The ops of the IR. Each op owns its shape rule, its state (parameters and
//! buffers) and its MAC count, so every pass and backend agrees on them.

use miette::Diagnostic;
use thiserror::Error;

use super::shape::{Dim, Shape};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::kernels::Stage;
use crate::engine::lower::{LowerNode, Lowering, Operand, StageNode, WeightError};
use crate::ops::dims::{CheckKind, DimAlgebra, Dims, Numbers};
use crate::ops::{BurnForm, OpDef};
use proc_macro2::TokenStream;

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Input,
    Conv2d(Conv2d),
    BatchNorm(BatchNorm),
    Act(Activation),
    GroupNorm(GroupNorm),
    Pool(Pool),
    ChannelConv(ChannelConv),
    Pad(Pad2d),
    BlurPool(BlurPool),
    LayerNorm(LayerNorm),
    AttentionPool(AttentionPool),
    GlobalAvgPool,
    Flatten,
    Linear(Linear),
    Dropout(Dropout),
    Add(Add),
    Concat,
    Subsample(Subsample),
    PadChannels(PadChannels),
    Identity,
    Slice(Slice),
    SplitSum(SplitSum),
    RadixSoftmax(RadixSoftmax),
    Mul,
    DropPath(DropPath),
}

pub use crate::ops::activation::Activation;
pub use crate::ops::add::Add;
pub use crate::ops::attention_pool::AttentionPool;
pub use crate::ops::batch_norm::BatchNorm;
pub use crate::ops::blur_pool::BlurPool;
pub use crate::ops::channel_conv::ChannelConv;
pub use crate::ops::conv::Conv2d;
pub use crate::ops::drop_path::DropPath;
pub use crate::ops::dropout::Dropout;
pub use crate::ops::group_norm::GroupNorm;
pub use crate::ops::layer_norm::LayerNorm;
pub use crate::ops::linear::Linear;
pub use crate::ops::pad::Pad2d;
pub use crate::ops::pad_channels::PadChannels;
pub use crate::ops::pool::{Pool, PoolKind};
pub use crate::ops::radix_softmax::RadixSoftmax;
pub use crate::ops::slice::Slice;
pub use crate::ops::split_sum::SplitSum;
pub use crate::ops::subsample::Subsample;

/// Runs `$body` with `$d` bound to the op's [`OpDef`]: one arm per op, so
/// an op without one does not compile.
macro_rules! with_def {
    ($op:expr, $d:ident => $body:expr) => {
        match $op {
            Op::Input => {
                let $d = &crate::ops::input::Input;
                $body
            }
            Op::GlobalAvgPool => {
                let $d = &crate::ops::global_avg::GlobalAvgPool;
                $body
            }
            Op::Flatten => {
                let $d = &crate::ops::flatten::Flatten;
                $body
            }
            Op::Concat => {
                let $d = &crate::ops::concat::Concat;
                $body
            }
            Op::Identity => {
                let $d = &crate::ops::identity::Identity;
                $body
            }
            Op::Mul => {
                let $d = &crate::ops::mul::Mul;
                $body
            }
            Op::Conv2d($d) => $body,
            Op::BatchNorm($d) => $body,
            Op::Act($d) => $body,
            Op::GroupNorm($d) => $body,
            Op::Pool($d) => $body,
            Op::ChannelConv($d) => $body,
            Op::Pad($d) => $body,
            Op::BlurPool($d) => $body,
            Op::LayerNorm($d) => $body,
            Op::AttentionPool($d) => $body,
            Op::Linear($d) => $body,
            Op::Dropout($d) => $body,
            Op::Add($d) => $body,
            Op::Subsample($d) => $body,
            Op::PadChannels($d) => $body,
            Op::Slice($d) => $body,
            Op::SplitSum($d) => $body,
            Op::RadixSoftmax($d) => $body,
            Op::DropPath($d) => $body,
        }
    };
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

impl Op {
    /// Its name in `.res`.
    pub fn kind_name(&self) -> &'static str {
        with_def!(self, d => d.name())
    }

    /// A short human description for tables: `conv 3x3/2 64`.
    pub fn describe(&self) -> String {
        with_def!(self, d => d.describe())
    }

    /// The output shape for these inputs, or why there is none: the op's
    /// static checks, then its shape rule run on numbers.
    pub fn infer(&self, inputs: &[&Shape]) -> Result<Shape, ShapeError> {
        let Some(x) = inputs.first() else {
            return Err(ShapeError::Arity { op: self.kind_name(), want: 1 });
        };
        if x.rank() > 4 {
            return Err(ShapeError::Rank {
                op: self.kind_name(),
                want: 4,
                layout: "[N, C, H, W]",
                got: (*x).clone(),
                hint: "shapes have at most four dimensions",
            });
        }
        with_def!(self, d => {
            d.validate(inputs)?;
            let ins: Vec<Dims<i128>> = inputs.iter().map(|s| numbers(s)).collect();
            let out = d.dims(&mut Numbers, &ins).map_err(|fail| d.explain(fail, inputs))?;
            let mut dims = vec![x.0[0].clone()];
            for &v in &out[1..d.out_rank(x.rank()).max(1)] {
                dims.push(Dim::Size(check_dim(v.max(0) as u128)?));
            }
            Ok(Shape(dims))
        })
    }

    /// Parameters and buffers in the reference `state_dict` order.
    pub fn state(&self) -> Vec<StateEntry> {
        with_def!(self, d => d.state())
    }

    pub fn has_state(&self) -> bool {
        !self.state().is_empty()
    }

    /// Multiply-accumulates at batch 1 for the given output shape: convolutions
    /// and linear layers only, bias excluded (torchvision's and the papers' convention).
    pub fn macs(&self, out: &Shape) -> u128 {
        with_def!(self, d => d.macs(out))
    }

    /// The reference interpreter's value of the op on these inputs.
    pub fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        with_def!(self, d => d.evaluate(ins, w))
    }

    /// The op's ONNX nodes.
    pub fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        with_def!(self, d => d.to_onnx(n))
    }

    /// How the engine runs the op.
    pub fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        with_def!(self, d => d.lower(n))
    }

    /// The op's epilogue stages in a fused chain, if it can join.
    pub fn stage(&self, n: &mut StageNode<'_, '_>) -> Option<(Vec<Stage>, Vec<Operand>)> {
        with_def!(self, d => d.stage(n))
    }

    /// The op with all its attributes, for the IR text.
    pub fn attributes(&self) -> String {
        with_def!(self, d => d.attributes())
    }

    /// A support item the generated module needs once.
    pub fn burn_support(&self) -> Option<&'static str> {
        with_def!(self, d => d.burn_support())
    }

    /// How the generated burn code holds the op.
    pub fn burn_form(&self) -> BurnForm {
        with_def!(self, d => d.burn_form())
    }

    /// A field op's burn builder.
    pub fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        with_def!(self, d => d.emit_builder(v, lit))
    }

    /// A field op's burn forward call.
    pub fn emit_forward(&self, field: &TokenStream, x: &TokenStream) -> TokenStream {
        with_def!(self, d => d.emit_forward(field, x))
    }

    /// An inline op's burn tensor code.
    pub fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        with_def!(self, d => d.emit_inline(args, c))
    }

    /// The op's shape rule in another algebra (the engine's compiled check).
    pub fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        with_def!(self, d => d.dims(a, ins))
    }
}

/// A shape as the four dims rules read: the batch as 1, missing dims as 1.
fn numbers(s: &Shape) -> Dims<i128> {
    let mut d = [1i128; 4];
    for (i, v) in d.iter_mut().enumerate().skip(1) {
        if let Some(size) = s.size(i) {
            *v = i128::from(size);
        }
    }
    d
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
        assert!(Op::Add(Add { residual: true }).infer(&[&a, &nchw(4, 4, 4)]).is_err());
    }

    #[test]
    fn option_a_shortcut_shapes() {
        let x = nchw(16, 32, 32);
        let s = Op::Subsample(Subsample { stride: 2 }).infer(&[&x]).unwrap();
        assert_eq!(s, nchw(16, 16, 16));
        assert_eq!(Op::PadChannels(PadChannels { before: 8, after: 8 }).infer(&[&s]).unwrap(), nchw(32, 16, 16));
    }
}

//! What the compiler knows about an op, kept in one place per op: its
//! signature and builder (`builtin()`), and through [`OpDef`] its name,
//! description and attributes, its shape rule (written once over
//! [`dims::DimAlgebra`], for the front end and the engine's compiled shape
//! check), its state and MACs, its reference evaluation, how the engine runs
//! it, its burn code and its ONNX nodes. What spans several ops stays with
//! its pass: the engine's fusion rules, batch-norm folding.

pub mod activation;
pub mod add;
pub mod attention_pool;
pub mod batch_norm;
pub mod blur_pool;
pub mod channel_conv;
pub mod concat;
pub mod conv;
pub mod dims;
pub mod drop_path;
pub mod dropout;
pub mod flatten;
pub mod global_avg;
pub mod group_norm;
pub mod identity;
pub mod input;
pub mod layer_norm;
pub mod linear;
pub mod mul;
pub mod pad;
pub mod pad_channels;
pub mod pool;
pub mod radix_softmax;
pub mod slice;
pub mod split_sum;
pub mod std_conv;
pub mod subsample;

use proc_macro2::TokenStream;
use quote::quote;

/// The ops' items in the support module that every generated burn model
/// shares (`resc_support.rs`): each op's helper, by the name its code calls.
pub fn burn_support_items() -> Vec<(&'static str, TokenStream)> {
    vec![
        (drop_path::BURN_SUPPORT, crate::backend::burn::ops::drop_path_fn()),
        (std_conv::NAME, std_conv::burn_support()),
        (blur_pool::BlurPool::NAME, blur_pool::BlurPool::burn_support()),
        (split_sum::SplitSum::NAME, split_sum::SplitSum::burn_support()),
        (radix_softmax::RadixSoftmax::NAME, radix_softmax::RadixSoftmax::burn_support()),
    ]
}

use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::kernels::Stage;
use crate::engine::lower::{LowerNode, Lowering, Operand, StageNode, WeightError};
use crate::ir::op::{ShapeError, StateEntry, want_rank};
use crate::ir::shape::Shape;
use dims::{CheckKind, DimAlgebra, Dims};

/// Everything an op must say about itself; `Op`'s methods dispatch to it
/// (`with_def!`), so an op without an impl does not compile.
pub trait OpDef {
    /// Its name in `.res`.
    fn name(&self) -> &'static str;

    /// A short description for tables and the IR: `conv 3x3/2 64`.
    fn describe(&self) -> String {
        self.name().to_string()
    }

    /// All its attributes, for the IR text: `bn{channels: 64, eps: 0.00001}`.
    fn attributes(&self) -> String {
        self.describe()
    }

    /// What the front end checks before the rule: the rank and number of the
    /// inputs and the op's own constants, none of which the input size can
    /// change (so the compiled check does not repeat them).
    fn validate(&self, _inputs: &[&Shape]) -> Result<(), ShapeError> {
        Ok(())
    }

    fn out_rank(&self, in_rank: usize) -> usize {
        in_rank
    }

    /// The output dims from the inputs' dims, with every requirement that
    /// depends on them.
    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind>;

    /// A failed requirement in the op's own words.
    fn explain(&self, fail: CheckKind, inputs: &[&Shape]) -> ShapeError {
        explain(self.name(), fail, inputs)
    }

    /// The reference interpreter's value (`backend::interp`): plain Rust
    /// from the op's definition, what the engine, the generated burn code
    /// and ONNX runtimes are tested against. `w` gives the node's weights.
    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError>;

    /// Its ONNX nodes (opset 17): a new value, or its input's unchanged.
    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError>;

    /// How the engine runs it: a step with its kernel, a stage fused into
    /// the epilogue of the step before it, its input's value, or nothing.
    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError>;

    /// The epilogue stages (with their operands) of an op that lowers to
    /// `Lowering::Stage`, or `None` where it cannot join this chain.
    fn stage(&self, _n: &mut StageNode<'_, '_>) -> Option<(Vec<Stage>, Vec<Operand>)> {
        None
    }

    /// How the generated burn code holds it.
    fn burn_form(&self) -> BurnForm;

    /// A field op's builder (`Conv2dConfig::new(..).init(device)`): `v`
    /// gives each fact's tokens (a literal or an `init` argument), `lit` its
    /// value where it is one literal, so that defaults can be left out.
    fn emit_builder(&self, _v: &dyn Fn(&str) -> TokenStream, _lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        TokenStream::new()
    }

    /// The name of the item of the shared burn support module
    /// ([`burn_support_items`]) that this op's generated code calls.
    fn burn_support(&self) -> Option<&'static str> {
        None
    }

    /// A field op's forward call on `x`.
    fn emit_forward(&self, field: &TokenStream, x: &TokenStream) -> TokenStream {
        quote! { #field.forward(#x) }
    }

    /// An inline op's tensor code on `args`; `c` gives each constant's
    /// tokens (a literal, or a field where instances differ).
    fn emit_inline(&self, args: &[TokenStream], _c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let a = &args[0];
        quote! { #a }
    }

    /// Parameters and buffers, in the reference `state_dict` order.
    fn state(&self) -> Vec<StateEntry> {
        Vec::new()
    }

    /// Multiply-accumulates at batch 1 for this output, as PyTorch's flop
    /// counter counts them (bias excluded).
    fn macs(&self, _out: &Shape) -> u128 {
        0
    }
}

/// How the generated burn code holds an op.
pub enum BurnForm {
    /// A module field: its kind (fields of different kinds never unify),
    /// its type, and the values its builder reads, named.
    Field { kind: OpKind, ty: TokenStream, facts: Vec<(&'static str, Lit)> },
    /// Tensor code in `forward`, with the constants it reads, named (one
    /// that differs between instances becomes a field).
    Inline { consts: Vec<(&'static str, Lit)> },
}

/// The words most ops use for a failed requirement.
pub fn explain(op: &'static str, fail: CheckKind, inputs: &[&Shape]) -> ShapeError {
    let x = inputs[0];
    let c = x.size(1).unwrap_or(0);
    match fail {
        CheckKind::Channels { want } | CheckKind::Features { want } => {
            ShapeError::Channels { op, want: want as u64, got: c }
        }
        CheckKind::Agree => {
            let b = inputs.iter().find(|y| **y != x).unwrap_or(&inputs[inputs.len() - 1]);
            ShapeError::Mismatch { op, a: x.clone(), b: (*b).clone() }
        }
        CheckKind::Divisible { by } => ShapeError::Radix { radix: by as u64, channels: c },
        CheckKind::Pooled => ShapeError::NotPooled { op, got: x.clone() },
        CheckKind::SliceEnd { end } => ShapeError::Slice { start: 0, end: end as u64, channels: c },
        CheckKind::MinSize { need_h, need_w } => {
            let (axis, need) =
                if x.size(2).unwrap_or(0) < need_h as u64 { ("height", need_h) } else { ("width", need_w) };
            ShapeError::KernelTooLarge {
                window: format!("window needing {need}"),
                padded: x.size(if axis == "height" { 2 } else { 3 }).unwrap_or(0),
                axis,
            }
        }
    }
}

/// Rank 4 for ops over feature maps.
pub fn want_maps(op: &'static str, inputs: &[&Shape]) -> Result<(), ShapeError> {
    want_rank(op, inputs[0], 4)
}

/// Rank 2 at least: `[N, F]` or `[N, C, H, W]`.
pub fn want_batched(op: &'static str, inputs: &[&Shape]) -> Result<(), ShapeError> {
    if inputs[0].rank() < 2 { want_rank(op, inputs[0], 4) } else { Ok(()) }
}

/// Every input of the same rank, `want` of them at least.
pub fn want_same_rank(op: &'static str, inputs: &[&Shape], want: usize) -> Result<(), ShapeError> {
    if inputs.len() < want {
        return Err(ShapeError::Arity { op, want });
    }
    match inputs.iter().find(|y| y.rank() != inputs[0].rank()) {
        Some(y) => Err(ShapeError::Mismatch { op, a: inputs[0].clone(), b: (*y).clone() }),
        None => Ok(()),
    }
}

pub(crate) fn largest_divisor_at_most(n: u64, limit: u64) -> u64 {
    (1..=limit.min(n)).rev().find(|d| n.is_multiple_of(*d)).unwrap_or(1)
}

//! `radix_softmax(radix, groups)`: ResNeSt's split-attention weights, as
//! timm's `RadixSoftmax`: within each of `groups` cardinal groups, a softmax
//! over the `radix` splits of each channel (a sigmoid when the radix is 1).
//! The channel order is timm's: in `[group][radix][c]`, out
//! `[radix][group][c]`, which `split_sum` then adds up. Selective kernels use
//! it with one group: a softmax over the paths.
//!
//! Everything the compiler knows about the op is here: the IR, the
//! interpreter, the engine and the burn and ONNX backends call into it.

use proc_macro2::TokenStream;
use quote::quote;

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights, per_sample};
use crate::backend::onnx::builder::{GraphParts, int, ints};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault::*, MAX, OpSig, p};
use crate::sema::value::Type;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RadixSoftmax {
    pub radix: u64,
    pub groups: u64,
}

impl OpDef for RadixSoftmax {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn describe(&self) -> String {
        format!("radix_softmax r{} g{}", self.radix, self.groups)
    }

    /// Any shape whose channels split into `groups x radix` equal parts.
    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let by = (self.radix * self.groups).max(1) as i64;
        let rem = a.rem(ins[0][1], by);
        let ok = a.eq_k(rem, 0);
        a.require(ok, CheckKind::Divisible { by })?;
        Ok(ins[0])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        Ok(per_sample(ins[0], ins[0].shape.clone(), |s| self.reference(s)))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name, shape) = (n.x(), n.name(), n.shape().clone());
        Ok(Lowered::Value(self.onnx(n.parts(), &x, &shape, &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: vec![("radix", Lit::Usize(self.radix)), ("groups", Lit::Usize(self.groups))] }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (x, radix, groups) = (&args[0], c("radix"), c("groups"));
        quote! { radix_softmax(#x, #radix, #groups) }
    }

    fn burn_support(&self) -> Option<&'static str> {
        Some(Self::NAME)
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::RadixSoftmax { x: n.ins[0], op: *self })))
    }
}

impl RadixSoftmax {
    pub const NAME: &'static str = "radix_softmax";

    /// The reference, one sample: exponentials and sums in f64.
    pub fn reference(&self, x: &[f32]) -> Vec<f32> {
        let (r, g) = (self.radix as usize, self.groups as usize);
        if r == 1 {
            return x.iter().map(|&v| (1.0 / (1.0 + (-f64::from(v)).exp())) as f32).collect();
        }
        let rest = x.len() / (g * r);
        let mut y = vec![0f32; x.len()];
        for gi in 0..g {
            for k in 0..rest {
                let at = |ri: usize| f64::from(x[(gi * r + ri) * rest + k]);
                let top = (0..r).map(at).fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = (0..r).map(|ri| (at(ri) - top).exp()).sum();
                for ri in 0..r {
                    y[(ri * g + gi) * rest + k] = ((at(ri) - top).exp() / total) as f32;
                }
            }
        }
        y
    }

    /// The engine's kernel, one sample, in f32.
    pub fn run(&self, x: &[f32], y: &mut [f32]) {
        let (r, g) = (self.radix as usize, self.groups as usize);
        if r == 1 {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = 1.0 / (1.0 + (-v).exp());
            }
            return;
        }
        let rest = x.len() / (g * r);
        let mut e = vec![0f32; r];
        for gi in 0..g {
            for k in 0..rest {
                let at = |ri: usize| (gi * r + ri) * rest + k;
                let top = (0..r).map(|ri| x[at(ri)]).fold(f32::NEG_INFINITY, f32::max);
                for (ri, ei) in e.iter_mut().enumerate() {
                    *ei = (x[at(ri)] - top).exp();
                }
                let total: f32 = e.iter().sum();
                for (ri, ei) in e.iter().enumerate() {
                    y[(ri * g + gi) * rest + k] = ei / total;
                }
            }
        }
    }

    /// burn, on `x`; `radix` and `groups` are tokens (literals, or fields
    /// where instances differ).
    /// In the support module generated models share: a softmax over the
    /// `radix` splits of each of `groups` groups, or a sigmoid for one split.
    pub fn burn_support() -> TokenStream {
        quote! {
            /// ResNeSt's attention weights: a softmax over the `radix` splits of
            /// each of `groups` groups, or a sigmoid when there is one split.
            pub fn radix_softmax(x: Tensor<4>, radix: usize, groups: usize) -> Tensor<4> {
                if radix == 1 {
                    return burn::tensor::activation::sigmoid(x);
                }
                let [n, channels, h, w] = x.dims();
                let t = x.reshape([n, groups, radix, channels / (groups * radix)]).swap_dims(1, 2);
                burn::tensor::activation::softmax(t, 1).reshape([n, channels, h, w])
            }
        }
    }

    /// `Reshape` to `[N, groups, radix, -1]`, `Transpose` the two, `Softmax`
    /// over the radix, `Reshape` back to `shape`; `Sigmoid` at radix 1.
    pub fn onnx(&self, p: &mut GraphParts, x: &str, shape: &Shape, name: &str) -> String {
        if self.radix == 1 {
            return p.node("Sigmoid", &[x], vec![], name);
        }
        let (r, g) = (self.radix as i64, self.groups as i64);
        let grouped = p.constant_i64(&format!("{name}.grouped"), &[0, g, r, -1]);
        let split = p.node("Reshape", &[x, &grouped], vec![], &format!("{name}.groups"));
        let swapped = p.node("Transpose", &[&split], vec![ints("perm", &[0, 2, 1, 3])], &format!("{name}.t"));
        let soft = p.node("Softmax", &[&swapped], vec![int("axis", 1)], &format!("{name}.softmax"));
        let mut dims = vec![0i64];
        dims.extend((1..shape.rank()).map(|i| shape.size(i).unwrap_or(0) as i64));
        let back = p.constant_i64(&format!("{name}.shape"), &dims);
        p.node("Reshape", &[&soft, &back], vec![], name)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: RadixSoftmax::NAME,
        params: vec![p("radix", Type::Int, Required), p("groups", Type::Int, Int(1))],
        build: |a, _| {
            Ok(Op::RadixSoftmax(RadixSoftmax { radix: a.int("radix", 1, MAX)?, groups: a.int("groups", 1, MAX)? }))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: one group, radix 2, two channels per split: logits
    /// (0, ln 3) for the first channel give 1/4 and 3/4; equal logits 1/2.
    #[test]
    fn by_hand() {
        let op = RadixSoftmax { radix: 2, groups: 1 };
        let x = [0.0, 5.0, 3f32.ln(), 5.0];
        let want = [0.25, 0.5, 0.75, 0.5];
        crate::testing::assert_close("radix_softmax", &op.reference(&x), &want, 1e-6);
        let mut y = [0.0; 4];
        op.run(&x, &mut y);
        crate::testing::assert_close("radix_softmax", &y, &want, 1e-6);
    }

    /// timm's reordering: in `[group][radix][c]`, out `[radix][group][c]`.
    #[test]
    fn groups_are_reordered_radix_first() {
        let op = RadixSoftmax { radix: 2, groups: 2 };
        // Group 0: radix logits (0, 0); group 1: (ln 3, 0).
        let x = [0.0, 0.0, 3f32.ln(), 0.0];
        let want = [0.5, 0.75, 0.5, 0.25];
        crate::testing::assert_close("radix_softmax", &op.reference(&x), &want, 1e-6);
        let mut y = [0.0; 4];
        op.run(&x, &mut y);
        crate::testing::assert_close("radix_softmax", &y, &want, 1e-6);
    }

    #[test]
    fn engine_matches_reference() {
        for (radix, groups, rest) in [(1, 1, 5), (2, 1, 3), (4, 2, 7), (3, 4, 1)] {
            let op = RadixSoftmax { radix, groups };
            let n = (radix * groups) as usize * rest;
            let x: Vec<f32> = (0..n).map(|i| ((i * 13 % 29) as f32 - 14.0) * 0.7).collect();
            let mut y = vec![0.0; n];
            op.run(&x, &mut y);
            crate::testing::assert_close("radix_softmax", &y, &op.reference(&x), 1e-6);
        }
    }
}

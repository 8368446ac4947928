//! `split_sum(radix)`: `[N, radix * C, H, W]` to `[N, C, H, W]`, the sum of
//! the radix splits (ResNeSt's split attention, selective kernels' paths):
//! output channel c is the sum of input channels c, C + c, 2C + c, ...
//!
//! Everything the compiler knows about the op is here: the IR, the
//! interpreter, the engine and the burn and ONNX backends call into it.

use proc_macro2::TokenStream;
use quote::quote;

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights, per_sample, with_channels};
use crate::backend::onnx::builder::{GraphParts, int};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault, MAX, OpSig, p};
use crate::sema::value::Type;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitSum {
    pub radix: u64,
}

impl OpDef for SplitSum {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn describe(&self) -> String {
        format!("split_sum /{}", self.radix)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        let by = self.radix.max(1) as i64;
        let rem = a.rem(c, by);
        let ok = a.eq_k(rem, 0);
        a.require(ok, CheckKind::Divisible { by })?;
        Ok([n, a.div(c, by), h, w])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let shape = with_channels(ins[0], ins[0].shape[1] / self.radix as usize);
        Ok(per_sample(ins[0], shape, |s| self.reference(s)))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name, shape) = (n.x(), n.name(), n.shape().clone());
        Ok(Lowered::Value(self.onnx(n.parts(), &x, &shape, &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: vec![("radix", Lit::Usize(self.radix))] }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (x, radix) = (&args[0], c("radix"));
        quote! { split_sum(#x, #radix) }
    }

    fn burn_support(&self) -> Option<&'static str> {
        Some(Self::NAME)
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::SplitSum { x: n.ins[0], op: *self })))
    }
}

impl SplitSum {
    pub const NAME: &'static str = "split_sum";

    /// The reference, one sample of `radix * part` values: each output the
    /// sum of its radix inputs, in f64.
    pub fn reference(&self, x: &[f32]) -> Vec<f32> {
        let part = x.len() / self.radix as usize;
        (0..part).map(|i| (0..self.radix as usize).map(|k| f64::from(x[k * part + i])).sum::<f64>() as f32).collect()
    }

    /// The engine's kernel, one sample: the first split copied, the others
    /// added in turn.
    pub fn run(&self, x: &[f32], y: &mut [f32]) {
        let len = y.len();
        y.copy_from_slice(&x[..len]);
        for r in 1..self.radix as usize {
            for (o, v) in y.iter_mut().zip(&x[r * len..(r + 1) * len]) {
                *o += v;
            }
        }
    }

    /// burn, on `x`; `radix` is a token (a literal, or a field where
    /// instances differ).
    /// In the support module generated models share: the sum of the
    /// `radix` splits of the channels.
    pub fn burn_support() -> TokenStream {
        quote! {
            /// The sum of the `radix` splits of the channels (ResNeSt, selective kernels).
            pub fn split_sum(x: Tensor<4>, radix: usize) -> Tensor<4> {
                let [n, channels, h, w] = x.dims();
                x.reshape([n, radix, channels / radix, h, w]).sum_dim(1).reshape([n, channels / radix, h, w])
            }
        }
    }

    /// `[N, r*C, ...]` reshaped to `[N, r, C, ...]` (`out` is the output's
    /// shape), `ReduceSum` over r.
    pub fn onnx(&self, p: &mut GraphParts, x: &str, out: &Shape, name: &str) -> String {
        let mut dims = vec![0i64, self.radix as i64];
        dims.extend((1..out.rank()).map(|i| out.size(i).unwrap_or(0) as i64));
        let shape = p.constant_i64(&format!("{name}.shape"), &dims);
        let split = p.node("Reshape", &[x, &shape], vec![], &format!("{name}.splits"));
        let axes = p.constant_i64(&format!("{name}.axes"), &[1]);
        p.node("ReduceSum", &[&split, &axes], vec![int("keepdims", 0)], name)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: SplitSum::NAME,
        params: vec![p("radix", Type::Int, ArgDefault::Required)],
        build: |a, _| Ok(Op::SplitSum(SplitSum { radix: a.int("radix", 1, MAX)? })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: radix 3 over two channels: (1 + 3 + 5, 2 + 4 + 6).
    #[test]
    fn by_hand() {
        let op = SplitSum { radix: 3 };
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(op.reference(&x), [9.0, 12.0]);
        let mut y = [0.0; 2];
        op.run(&x, &mut y);
        assert_eq!(y, [9.0, 12.0]);
    }
}

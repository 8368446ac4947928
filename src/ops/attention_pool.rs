//! `attention_pool`: global context attention's pooling (Cao et al. 2019,
//! "GCNet"; timm's `GlobalContext`): a 1x1 conv gives one logit per position,
//! a softmax over the positions turns them into weights, and each channel's
//! output is its weighted sum: `[N, C, H, W]` to `[N, C, 1, 1]`. Its state is
//! the conv's, PyTorch's `Conv2d(C, 1, 1)`: `weight` `[1, C, 1, 1]`, `bias`
//! `[1]`; timm labels it `conv_attn`.
//!
//! Everything the compiler knows about the op is here: the IR, the
//! interpreter, the engine and the burn and ONNX backends call into it.

use proc_macro2::TokenStream;
use quote::quote;

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights, per_sample};
use crate::backend::onnx::builder::{GraphParts, int, ints};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, StateEntry, StateKind, want_rank};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::OpSig;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionPool {
    pub channels: u64,
    /// H x W at the size the model was built for: only for counting MACs.
    pub positions: u64,
}

impl OpDef for AttentionPool {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_rank(Self::NAME, inputs[0], 4)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, _, _] = ins[0];
        a.want_channels(c, self.channels)?;
        let one = a.k(1);
        Ok([n, c, one, one])
    }

    fn state(&self) -> Vec<StateEntry> {
        let p = |suffix, shape| StateEntry { suffix, shape, kind: StateKind::Param };
        vec![p("weight", vec![1, self.channels, 1, 1]), p("bias", vec![1])]
    }

    /// As PyTorch's flop counter takes timm's module: the 1x1 conv (C per
    /// position) and the product of `[C, HW]` with the `[HW, 1]` weights.
    fn macs(&self, _: &Shape) -> u128 {
        2 * self.channels as u128 * self.positions as u128
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let (n, c) = (ins[0].shape[0], self.channels as usize);
        let (weight, bias) = (w.get("weight", c)?, w.get("bias", 1)?);
        let plane = ins[0].data.len() / (n * c).max(1);
        Ok(per_sample(ins[0], vec![n, c, 1, 1], |s| self.reference(s, plane, weight, bias[0])))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        let w = n.weight("weight", &[1, self.channels, 1, 1])?;
        let b = n.weight("bias", &[1])?;
        Ok(Lowered::Value(self.onnx(n.parts(), [&x, &w, &b], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        let facts = vec![("channels", Lit::Usize(self.channels))];
        BurnForm::Field { kind: OpKind::AttentionPool, ty: Self::burn_type(), facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let _ = lit;
        Self::burn_builder(&v("channels"))
    }

    fn emit_forward(&self, field: &TokenStream, x: &TokenStream) -> TokenStream {
        Self::burn_forward(field, x)
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let (weight, bias) = (n.take_kept("weight")?, n.take_kept("bias")?);
        Ok(Lowering::Step(n.step(Kind::AttentionPool { x: n.ins[0], op: *self, weight, bias })))
    }

    fn attributes(&self) -> String {
        format!("attention_pool{{channels: {}}}", self.channels)
    }
}

impl AttentionPool {
    pub const NAME: &'static str = "attention_pool";

    /// The reference, one sample `[C, plane]`: logits and sums in f64.
    pub fn reference(&self, x: &[f32], plane: usize, w: &[f32], b: f32) -> Vec<f32> {
        let c = self.channels as usize;
        let logits: Vec<f64> = (0..plane)
            .map(|p| f64::from(b) + (0..c).map(|ch| f64::from(w[ch]) * f64::from(x[ch * plane + p])).sum::<f64>())
            .collect();
        let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = e.iter().sum();
        (0..c).map(|ch| (0..plane).map(|p| e[p] / total * f64::from(x[ch * plane + p])).sum::<f64>() as f32).collect()
    }

    /// The engine's kernel, one sample: the logits accumulated a channel row
    /// at a time, then the weighted sums, in f32.
    pub fn run(&self, x: &[f32], plane: usize, w: &[f32], b: f32, y: &mut [f32]) {
        let c = self.channels as usize;
        let mut logits = vec![b; plane];
        for (row, wc) in x.chunks(plane).zip(w).take(c) {
            for (l, v) in logits.iter_mut().zip(row) {
                *l += wc * v;
            }
        }
        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0f32;
        for l in logits.iter_mut() {
            *l = (*l - top).exp();
            total += *l;
        }
        for (o, row) in y.iter_mut().zip(x.chunks(plane)).take(c) {
            *o = row.iter().zip(&logits).map(|(v, e)| v * e).sum::<f32>() / total;
        }
    }

    /// The field: the 1x1 conv to one logit, burn's `Conv2d`.
    pub fn burn_type() -> TokenStream {
        quote! { Conv2d }
    }

    pub fn burn_builder(channels: &TokenStream) -> TokenStream {
        quote! { Conv2dConfig::new([#channels, 1], [1, 1]).init(device) }
    }

    pub fn burn_forward(field: &TokenStream, x: &TokenStream) -> TokenStream {
        quote! {{
            let t = #x;
            let [n, c, h, w] = t.dims();
            let weights = burn::tensor::activation::softmax(#field.forward(t.clone()).reshape([n, 1, h * w]), 2);
            (t.reshape([n, c, h * w]) * weights).sum_dim(2).reshape([n, c, 1, 1])
        }}
    }

    /// The conv, `Softmax` over the flattened positions, the product and a
    /// `ReduceSum`.
    pub fn onnx(&self, p: &mut GraphParts, [x, w, b]: [&str; 3], name: &str) -> String {
        let attrs = vec![ints("kernel_shape", &[1, 1])];
        let logits = p.node("Conv", &[x, w, b], attrs, &format!("{name}.logits"));
        let flat = p.constant_i64(&format!("{name}.flat"), &[0, 1, -1]);
        let logits = p.node("Reshape", &[&logits, &flat], vec![], &format!("{name}.positions"));
        let weights = p.node("Softmax", &[&logits], vec![int("axis", 2)], &format!("{name}.weights"));
        let c = self.channels as i64;
        let rows = p.constant_i64(&format!("{name}.rows"), &[0, c, -1]);
        let xs = p.node("Reshape", &[x, &rows], vec![], &format!("{name}.rows"));
        let weighted = p.node("Mul", &[&xs, &weights], vec![], &format!("{name}.weighted"));
        let axes = p.constant_i64(&format!("{name}.axes"), &[2]);
        let sum = p.node("ReduceSum", &[&weighted, &axes], vec![int("keepdims", 1)], &format!("{name}.sum"));
        let back = p.constant_i64(&format!("{name}.shape"), &[0, c, 1, 1]);
        p.node("Reshape", &[&sum, &back], vec![], name)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: AttentionPool::NAME,
        params: vec![],
        build: |_, input| {
            let positions = input.size(2).unwrap_or(1) * input.size(3).unwrap_or(1);
            Ok(Op::AttentionPool(AttentionPool { channels: input.channels().unwrap_or(0), positions }))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: weights that see only channel 0, whose positions hold
    /// 0 and ln 3: softmax weights 1/4 and 3/4.
    #[test]
    fn by_hand() {
        let op = AttentionPool { channels: 2, positions: 2 };
        let ln3 = 3f32.ln();
        let x = [0.0, ln3, 4.0, 8.0];
        let want = [0.75 * ln3, 1.0 + 6.0];
        crate::testing::assert_close("attention_pool", &op.reference(&x, 2, &[1.0, 0.0], 0.5), &want, 1e-6);
        let mut y = [0.0; 2];
        op.run(&x, 2, &[1.0, 0.0], 0.5, &mut y);
        crate::testing::assert_close("attention_pool", &y, &want, 1e-6);
    }

    #[test]
    fn engine_matches_reference_with_large_logits() {
        let (c, plane) = (5, 9);
        let op = AttentionPool { channels: c as u64, positions: plane as u64 };
        let x: Vec<f32> = (0..c * plane).map(|i| ((i * 31 % 23) as f32 - 11.0) * 3.0).collect();
        let w: Vec<f32> = (0..c).map(|i| 1.0 - i as f32 * 0.4).collect();
        let mut y = vec![0.0; c];
        op.run(&x, plane, &w, 20.0, &mut y);
        crate::testing::assert_close("attention_pool", &y, &op.reference(&x, plane, &w, 20.0), 1e-5);
    }
}

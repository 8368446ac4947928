//! `layer_norm(eps)`: layer norm over the channels at each position, as
//! timm's `LayerNorm2d` (PyTorch's `LayerNorm(C)` applied to channels-last):
//! every position's C values to zero mean and unit (biased) variance, then a
//! per-channel scale and shift, `weight` and `bias` `[C]`. eps defaults to
//! timm's 1e-6 (PyTorch's own is 1e-5).
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
use crate::backend::onnx::builder::GraphParts;
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, StateEntry, StateKind, want_rank};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault, OpSig, p};
use crate::sema::value::Type;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNorm {
    pub channels: u64,
    pub eps: f64,
}

impl OpDef for LayerNorm {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_rank(Self::NAME, inputs[0], 4)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        a.want_channels(ins[0][1], self.channels)?;
        Ok(ins[0])
    }

    fn state(&self) -> Vec<StateEntry> {
        let p = |suffix| StateEntry { suffix, shape: vec![self.channels], kind: StateKind::Param };
        vec![p("weight"), p("bias")]
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let (n, c) = (ins[0].shape[0], self.channels as usize);
        let (scale, shift) = (w.get("weight", c)?, w.get("bias", c)?);
        let plane = ins[0].data.len() / (n * c).max(1);
        Ok(per_sample(ins[0], ins[0].shape.clone(), |s| self.reference(s, plane, scale, shift)))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name, c) = (n.x(), n.name(), [self.channels]);
        let (w, b) = (n.weight("weight", &c)?, n.weight("bias", &c)?);
        Ok(Lowered::Value(self.onnx(n.parts(), [&x, &w, &b], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        let facts = vec![("channels", Lit::Usize(self.channels)), ("eps", Lit::F64(self.eps))];
        BurnForm::Field { kind: OpKind::LayerNorm, ty: Self::burn_type(), facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let _ = lit;
        Self::burn_builder(&v("channels"), &v("eps"))
    }

    fn emit_forward(&self, field: &TokenStream, x: &TokenStream) -> TokenStream {
        Self::burn_forward(field, x)
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let (scale, shift) = (n.take_kept("weight")?, n.take_kept("bias")?);
        Ok(Lowering::Step(n.step(Kind::LayerNorm { x: n.ins[0], op: *self, scale, shift })))
    }

    fn attributes(&self) -> String {
        format!("layer_norm{{channels: {}, eps: {}}}", self.channels, self.eps)
    }
}

impl LayerNorm {
    pub const NAME: &'static str = "layer_norm";
    pub const DEFAULT_EPS: f64 = 1e-6;

    /// The reference, one sample `[C, plane]`: each position's statistics in
    /// f64, two passes, from the definition.
    pub fn reference(&self, x: &[f32], plane: usize, scale: &[f32], shift: &[f32]) -> Vec<f32> {
        let c = self.channels as usize;
        let mut y = vec![0f32; c * plane];
        for p in 0..plane {
            let at = |ch: usize| f64::from(x[ch * plane + p]);
            let mean = (0..c).map(at).sum::<f64>() / c as f64;
            let var = (0..c).map(|ch| (at(ch) - mean).powi(2)).sum::<f64>() / c as f64;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ch in 0..c {
                y[ch * plane + p] = ((at(ch) - mean) * inv) as f32 * scale[ch] + shift[ch];
            }
        }
        y
    }

    /// The engine's kernel, one sample: sums over the channels row by row
    /// (each a contiguous plane), so the inner loops run along positions.
    pub fn run(&self, x: &[f32], plane: usize, scale: &[f32], shift: &[f32], y: &mut [f32]) {
        let c = self.channels as usize;
        let (mut sum, mut sq) = (vec![0f64; plane], vec![0f64; plane]);
        for row in x.chunks(plane).take(c) {
            for ((s, q), &v) in sum.iter_mut().zip(sq.iter_mut()).zip(row) {
                *s += f64::from(v);
                *q += f64::from(v) * f64::from(v);
            }
        }
        let (mean, inv): (Vec<f32>, Vec<f32>) = sum
            .iter()
            .zip(&sq)
            .map(|(s, q)| {
                let mean = s / c as f64;
                let var = (q / c as f64 - mean * mean).max(0.0);
                (mean as f32, (1.0 / (var + self.eps).sqrt()) as f32)
            })
            .unzip();
        for (ch, (row, out)) in x.chunks(plane).zip(y.chunks_mut(plane)).enumerate().take(c) {
            for (((o, &v), m), i) in out.iter_mut().zip(row).zip(&mean).zip(&inv) {
                *o = (v - m) * i * scale[ch] + shift[ch];
            }
        }
    }

    /// The field: burn's `LayerNorm` over the last dimension.
    pub fn burn_type() -> TokenStream {
        quote! { LayerNorm }
    }

    pub fn burn_builder(channels: &TokenStream, eps: &TokenStream) -> TokenStream {
        quote! { LayerNormConfig::new(#channels).with_epsilon(#eps).init(device) }
    }

    /// The field's forward: channels last and back.
    pub fn burn_forward(field: &TokenStream, x: &TokenStream) -> TokenStream {
        quote! { #field.forward(#x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2]) }
    }

    /// Mean and biased variance over axis 1 with opset-17 ops, then the
    /// per-channel scale and shift.
    pub fn onnx(&self, p: &mut GraphParts, [x, w, b]: [&str; 3], name: &str) -> String {
        let normed = crate::backend::onnx::builder::normalise(p, x, 1, self.eps, name);
        let axes = p.constant_i64(&format!("{name}.axes"), &[1, 2]);
        let w = p.node("Unsqueeze", &[w, &axes], vec![], &format!("{name}.scale"));
        let b = p.node("Unsqueeze", &[b, &axes], vec![], &format!("{name}.shift"));
        let scaled = p.node("Mul", &[&normed, &w], vec![], &format!("{name}.scaled"));
        p.node("Add", &[&scaled, &b], vec![], name)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: LayerNorm::NAME,
        params: vec![p("eps", Type::Float, ArgDefault::Float(LayerNorm::DEFAULT_EPS))],
        build: |a, input| Ok(Op::LayerNorm(LayerNorm { channels: input.channels().unwrap_or(0), eps: a.eps("eps")? })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: two positions of two channels, (1, 3) and (4, 4):
    /// the first becomes (-1, 1), the second (0, 0), then scale and shift.
    #[test]
    fn by_hand() {
        let op = LayerNorm { channels: 2, eps: 1e-12 };
        let x = [1.0, 4.0, 3.0, 4.0];
        let (scale, shift) = ([2.0, 1.0], [0.0, 10.0]);
        let want = [-2.0, 0.0, 11.0, 10.0];
        let mut y = [0.0; 4];
        op.run(&x, 2, &scale, &shift, &mut y);
        assert_eq!(y, want);
        crate::testing::assert_close("layer_norm", &op.reference(&x, 2, &scale, &shift), &want, 1e-6);
    }

    #[test]
    fn engine_matches_reference() {
        let (c, plane) = (7, 5);
        let op = LayerNorm { channels: c as u64, eps: 1e-6 };
        let x: Vec<f32> = (0..c * plane).map(|i| ((i * 29 % 17) as f32 - 8.0) * 0.3 + 2.0).collect();
        let scale: Vec<f32> = (0..c).map(|i| 0.5 + i as f32 * 0.1).collect();
        let shift: Vec<f32> = (0..c).map(|i| i as f32 * -0.2).collect();
        let mut y = vec![0.0; c * plane];
        op.run(&x, plane, &scale, &shift, &mut y);
        crate::testing::assert_close("layer_norm", &y, &op.reference(&x, plane, &scale, &shift), 1e-5);
    }
}

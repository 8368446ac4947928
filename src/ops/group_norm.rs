//! `group_norm(groups, eps)`: normalisation over groups of channels of each
//! sample (Wu and He 2018), with a learnt per-channel scale and shift and no
//! running statistics; PyTorch's `GroupNorm`.

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, largest_divisor_at_most, want_maps};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::builder::GraphParts;
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, StateEntry, StateKind};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault::*, MAX, OpSig, p};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct GroupNorm {
    pub channels: u64,
    pub groups: u64,
    pub eps: f64,
}

impl OpDef for GroupNorm {
    fn name(&self) -> &'static str {
        "group_norm"
    }

    fn describe(&self) -> String {
        format!("group_norm {}", self.groups)
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_maps("group_norm", inputs)?;
        let c = self.channels;
        if !c.is_multiple_of(self.groups) {
            let suggestion = largest_divisor_at_most(c, self.groups);
            return Err(ShapeError::GroupNorm { groups: self.groups, channels: c, suggestion });
        }
        Ok(())
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
        let n = self.channels as usize;
        Ok(group_norm(ins[0], self.groups as usize, self.eps, w.get("weight", n)?, w.get("bias", n)?))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name, dims) = (n.x(), n.name(), [self.channels]);
        let w = n.weight("weight", &dims)?;
        let b = n.weight("bias", &dims)?;
        let shape = n.shape().clone();
        Ok(Lowered::Value(onnx(n.parts(), &shape, self.groups, self.eps, [&x, &w, &b], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        use Lit::*;
        let facts = vec![("groups", Usize(self.groups)), ("channels", Usize(self.channels)), ("eps", F64(self.eps))];
        BurnForm::Field { kind: OpKind::GroupNorm, ty: quote! { GroupNorm }, facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let (g, c) = (v("groups"), v("channels"));
        let mut b = quote! { GroupNormConfig::new(#g, #c) };
        if lit("eps") != Some(Lit::F64(1e-5)) {
            let e = v("eps");
            b = quote! { #b.with_epsilon(#e) };
        }
        quote! { #b.init(device) }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let c = self.channels as usize;
        let (scale, shift) = (n.take_sized("weight", c)?, n.take_sized("bias", c)?);
        let (groups, eps) = (self.groups as usize, self.eps);
        Ok(Lowering::Step(n.step(Kind::GroupNorm { x: n.ins[0], groups, eps, scale, shift })))
    }

    fn attributes(&self) -> String {
        format!("group_norm{{channels: {}, groups: {}, eps: {}}}", self.channels, self.groups, self.eps)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "group_norm",
        params: vec![p("groups", Type::Int, Required), p("eps", Type::Float, Float(1e-5))],
        build: |a, input| {
            let channels = input.channels().unwrap_or(0);
            Ok(Op::GroupNorm(GroupNorm { channels, groups: a.int("groups", 1, MAX)?, eps: a.eps("eps")? }))
        },
    }
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

/// Group norm from opset-17 ops (`GroupNormalization` is opset 18, and
/// normalises differently before opset 21): `[N, G, rest]`, the mean and
/// biased variance over the rest, back to `[N, C, H, W]`, then the per-channel
/// scale and shift.
fn onnx(p: &mut GraphParts, shape: &Shape, groups: u64, eps: f64, [x, w, b]: [&str; 3], name: &str) -> String {
    let grouped = p.constant_i64(&format!("{name}.grouped"), &[0, groups as i64, -1]);
    let xg = p.node("Reshape", &[x, &grouped], vec![], &format!("{name}.groups"));
    let normed = crate::backend::onnx::builder::normalise(p, &xg, 2, eps, name);
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

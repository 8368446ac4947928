//! `bn(eps)`: PyTorch's `BatchNorm2d` (or `BatchNorm1d` on `[N, F]`).

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_batched};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights, per_channel};
use crate::backend::onnx::builder::float;
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::kernels::Stage;
use crate::engine::lower::{LowerNode, Lowering, Operand, StageNode, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, StateEntry, StateKind};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault, OpSig, p};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub channels: u64,
    pub eps: f64,
}

impl OpDef for BatchNorm {
    fn name(&self) -> &'static str {
        "bn"
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_batched("bn", inputs)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        a.want_channels(ins[0][1], self.channels)?;
        Ok(ins[0])
    }

    fn state(&self) -> Vec<StateEntry> {
        let e = |suffix, kind| StateEntry { suffix, shape: vec![self.channels], kind };
        vec![
            e("weight", StateKind::Param),
            e("bias", StateKind::Param),
            e("running_mean", StateKind::Buffer),
            e("running_var", StateKind::Buffer),
        ]
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let n = self.channels as usize;
        let (scale, shift) = (w.get("weight", n)?, w.get("bias", n)?);
        let (mean, var) = (w.get("running_mean", n)?, w.get("running_var", n)?);
        let eps = self.eps as f32;
        Ok(per_channel(ins[0], |c, v| (v - mean[c]) / (var[c] + eps).sqrt() * scale[c] + shift[c]))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        if n.folded_norm() {
            return Ok(Lowered::Alias(n.x()));
        }
        let (x, name, dims) = (n.x(), n.name(), [self.channels]);
        let w = n.weight("weight", &dims)?;
        let b = n.weight("bias", &dims)?;
        let m = n.weight("running_mean", &dims)?;
        let v = n.weight("running_var", &dims)?;
        let eps = float("epsilon", self.eps as f32);
        Ok(Lowered::Value(n.parts().node("BatchNormalization", &[&x, &w, &b, &m, &v], vec![eps], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        let facts = vec![("channels", Lit::Usize(self.channels)), ("eps", Lit::F64(self.eps))];
        BurnForm::Field { kind: OpKind::Bn, ty: quote! { BatchNorm }, facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let c = v("channels");
        let mut b = quote! { BatchNormConfig::new(#c) };
        if lit("eps") != Some(Lit::F64(1e-5)) {
            let e = v("eps");
            b = quote! { #b.with_epsilon(#e) };
        }
        quote! { #b.init(device) }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let _ = n;
        Ok(Lowering::Stage)
    }

    fn stage(&self, n: &mut StageNode<'_, '_>) -> Option<(Vec<Stage>, Vec<Operand>)> {
        let (scale, shift) = n.bn(self.eps).ok()?;
        let (a, b) = (n.keep(scale), n.keep(shift));
        Some((vec![Stage::Affine], vec![Operand::Weight(a), Operand::Weight(b)]))
    }

    fn attributes(&self) -> String {
        format!("bn{{channels: {}, eps: {}}}", self.channels, self.eps)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "bn",
        params: vec![p("eps", Type::Float, ArgDefault::Float(1e-5))],
        build: |a, input| Ok(Op::BatchNorm(BatchNorm { channels: input.channels().unwrap_or(0), eps: a.eps("eps")? })),
    }
}

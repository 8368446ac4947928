//! `global_avg`: the mean over height and width, `[N, C, 1, 1]`
//! (PyTorch's `AdaptiveAvgPool2d(1)`).

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_maps};
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::OpSig;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GlobalAvgPool;

impl OpDef for GlobalAvgPool {
    fn name(&self) -> &'static str {
        "global_avg"
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_maps("global_avg", inputs)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let one = a.k(1);
        Ok([ins[0][0], ins[0][1], one, one])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let (n, c, h, w) = ins[0].nchw();
        let mut out = Tensor::zeros(vec![n, c, 1, 1]);
        for (i, o) in out.data.iter_mut().enumerate() {
            *o = ins[0].data[i * h * w..(i + 1) * h * w].iter().sum::<f32>() / (h * w) as f32;
        }
        Ok(out)
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        Ok(Lowered::Value(n.parts().node("GlobalAveragePool", &[&x], vec![], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: Vec::new() }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (a, _) = (&args[0], c);
        quote! { #a.mean_dim(3).mean_dim(2) }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::GlobalAvg { x: n.ins[0] })))
    }
}

pub fn builtin() -> OpSig {
    OpSig { name: "global_avg", params: vec![], build: |_, _| Ok(Op::GlobalAvgPool) }
}

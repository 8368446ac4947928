//! `flatten`: `[N, C, H, W]` to `[N, C * H * W]`.

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_batched};
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::builder::int;
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::OpSig;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flatten;

impl OpDef for Flatten {
    fn name(&self) -> &'static str {
        "flatten"
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_batched("flatten", inputs)
    }

    fn out_rank(&self, _: usize) -> usize {
        2
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        let f = a.mul(c, h);
        let f = a.mul(f, w);
        let one = a.k(1);
        Ok([n, f, one, one])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let n = ins[0].shape[0];
        Ok(Tensor::new(vec![n, ins[0].data.len() / n.max(1)], ins[0].data.clone()))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        Ok(Lowered::Value(n.parts().node("Flatten", &[&x], vec![int("axis", 1)], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: Vec::new() }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (a, _) = (&args[0], c);
        quote! { #a.flatten(1, 3) }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let _ = n;
        Ok(Lowering::Alias)
    }
}

pub fn builtin() -> OpSig {
    OpSig { name: "flatten", params: vec![], build: |_, _| Ok(Op::Flatten) }
}

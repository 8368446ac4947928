//! `concat { A } { B } ..`: inputs joined along the channels.

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_same_rank};
use crate::backend::interp::{RunError, Tensor, Weights, with_channels};
use crate::backend::onnx::builder::int;
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concat;

impl OpDef for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_same_rank("concat", inputs, 2)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let x = ins[0];
        let mut c = x[1];
        for y in &ins[1..] {
            let ok = a.same_from(&x, y, 2);
            a.require(ok, CheckKind::Agree)?;
            c = a.add(c, y[1]);
        }
        Ok([x[0], c, x[2], x[3]])
    }

    fn explain(&self, fail: CheckKind, inputs: &[&Shape]) -> ShapeError {
        let x = inputs[0];
        let differs = |y: &&&Shape| y.0.iter().zip(&x.0).enumerate().any(|(i, (a, b))| i != 1 && a != b);
        match (fail, inputs.iter().find(differs)) {
            (CheckKind::Agree, Some(y)) => ShapeError::Mismatch { op: "concat", a: x.clone(), b: (*y).clone() },
            (fail, _) => super::explain("concat", fail, inputs),
        }
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let (n, _, h, w) = ins[0].nchw();
        let total: usize = ins.iter().map(|t| t.shape[1]).sum();
        let mut out = Tensor::zeros(with_channels(ins[0], total));
        for s in 0..n {
            let mut at = s * total * h * w;
            for t in ins {
                let len = t.shape[1] * h * w;
                out.data[at..at + len].copy_from_slice(&t.data[s * len..(s + 1) * len]);
                at += len;
            }
        }
        Ok(out)
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (inputs, name) = (n.inputs.clone(), n.name());
        let ins: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(Lowered::Value(n.parts().node("Concat", &ins, vec![int("axis", 1)], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: Vec::new() }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let _ = c;
        quote! { Tensor::cat(vec![#(#args),*], 1) }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::Concat { parts: n.ins.clone() })))
    }
}

//! `add { A } { B } ..`: the sum of its inputs. The second of two may be
//! pooled, `[N, C, 1, 1]`, and is then added at every position (global
//! context's transform). `residual` marks the merge of a residual block, the
//! unit stochastic depth numbers and drops.

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_same_rank};
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::kernels::Stage;
use crate::engine::lower::{LowerNode, Lowering, Operand, StageNode, WeightError};
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct Add {
    pub residual: bool,
}

impl OpDef for Add {
    fn name(&self) -> &'static str {
        "add"
    }

    fn describe(&self) -> String {
        if self.residual { "add (residual)".into() } else { "add".into() }
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_same_rank("add", inputs, 2)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let x = ins[0];
        for y in &ins[1..] {
            // The engine's kernel reads a pooled operand as a per-channel
            // bias: known to be pooled when the model is compiled, not only
            // at some input size.
            let pooled = ins.len() == 2 && a.known(y[2]) == Some(1) && a.known(y[3]) == Some(1);
            let ok = if pooled { a.eq(x[1], y[1]) } else { a.same_from(&x, y, 1) };
            a.require(ok, CheckKind::Agree)?;
        }
        Ok(x)
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let mut out = ins[0].clone();
        let (_, _, h, w) = ins[0].nchw();
        for other in &ins[1..] {
            // A pooled `[N, C, 1, 1]` is added at every position.
            let broadcast = other.data.len() != out.data.len();
            for (i, o) in out.data.iter_mut().enumerate() {
                *o += if broadcast { other.data[i / (h * w)] } else { other.data[i] };
            }
        }
        Ok(out)
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (inputs, name) = (n.inputs.clone(), n.name());
        let ins: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let op = if ins.len() == 2 { "Add" } else { "Sum" };
        Ok(Lowered::Value(n.parts().node(op, &ins, vec![], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: Vec::new() }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (a, rest, _) = (&args[0], &args[1..], c);
        quote! { #a #(+ #rest)* }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let _ = n;
        Ok(Lowering::Stage)
    }

    fn stage(&self, n: &mut StageNode<'_, '_>) -> Option<(Vec<Stage>, Vec<Operand>)> {
        if n.pooled_second() {
            // A pooled `[N, C, 1, 1]` added at every position: a per-channel
            // bias read from the value, onto the full-size input only.
            if n.raw.len() != 2 || n.raw[0] != n.cur || !n.is_pooled(1) {
                return None;
            }
            return Some((vec![Stage::Bias], vec![Operand::Value(n.others[0])]));
        }
        Some((
            n.others.iter().map(|_| Stage::AddTensor).collect(),
            n.others.iter().map(|&v| Operand::Value(v)).collect(),
        ))
    }
}

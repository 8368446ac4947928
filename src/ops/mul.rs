//! `mul { A } { B }`: the elementwise product of two inputs; the second may
//! be `[N, C, 1, 1]`, a per-channel scale (squeeze-excitation and other
//! attention).

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_same_rank};
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::builder::int;
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::kernels::Stage;
use crate::engine::lower::{LowerNode, Lowering, Operand, StageNode, WeightError};
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mul;

impl OpDef for Mul {
    fn name(&self) -> &'static str {
        "mul"
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        // One tensor scaled by another: every backend's product is binary.
        if inputs.len() != 2 {
            return Err(ShapeError::ArityExact { op: "mul", want: 2, have: inputs.len() });
        }
        want_same_rank("mul", inputs, 2)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let (x, s) = (ins[0], ins[1]);
        let channels = a.eq(x[1], s[1]);
        let pooled = a.is_pooled(&s);
        let same = a.same_from(&x, &s, 2);
        let spatial = a.or(pooled, same);
        let ok = a.and(channels, spatial);
        a.require(ok, CheckKind::Agree)?;
        Ok(x)
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let (a, b) = (ins[0], ins[1]);
        let (_, _, h, w) = a.nchw();
        let broadcast = b.data.len() != a.data.len();
        let mut out = a.clone();
        for (i, o) in out.data.iter_mut().enumerate() {
            *o *= if broadcast { b.data[i / (h * w)] } else { b.data[i] };
        }
        Ok(out)
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (a, mut b, name) = (n.inputs[0].clone(), n.inputs[1].clone(), n.name());
        if n.shape().rank() == 2 && n.input_shape(1).rank() == 4 {
            // [N, C] scaled by [N, C, 1, 1]: broadcasting would give [N, C, N, C].
            b = n.parts().node("Flatten", &[&b], vec![int("axis", 1)], &format!("{name}.scale"));
        }
        Ok(Lowered::Value(n.parts().node("Mul", &[&a, &b], vec![], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: Vec::new() }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (a, b, _) = (&args[0], &args[1], c);
        quote! { #a * #b }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let _ = n;
        Ok(Lowering::Stage)
    }

    fn stage(&self, n: &mut StageNode<'_, '_>) -> Option<(Vec<Stage>, Vec<Operand>)> {
        if n.raw[0] != n.cur || n.others.len() != 1 {
            return None;
        }
        // Attention weights come out of a global pool: 1x1 at any input size.
        let b = n.input_shape(1);
        let per_channel = b.size(2) == Some(1) && b.size(3) == Some(1);
        Some((
            vec![if per_channel { Stage::ScaleChannel } else { Stage::MulTensor }],
            vec![Operand::Value(n.others[0])],
        ))
    }
}

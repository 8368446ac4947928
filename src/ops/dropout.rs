//! `dropout(p)`: PyTorch's `Dropout`; the identity at inference.

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault, OpSig, p, range_err};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    pub p: f64,
}

impl OpDef for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn describe(&self) -> String {
        format!("dropout {}", self.p)
    }

    fn dims<A: DimAlgebra>(&self, _: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        Ok(ins[0])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        // The identity at inference.
        let _ = w;
        Ok(ins[0].clone())
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        Ok(Lowered::Alias(n.x()))
    }

    fn burn_form(&self) -> BurnForm {
        let facts = vec![("p", Lit::F64(self.p))];
        BurnForm::Field { kind: OpKind::Dropout, ty: quote! { Dropout }, facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let _ = lit;
        let p = v("p");
        quote! { DropoutConfig::new(#p).init() }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let _ = n;
        Ok(Lowering::Alias)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "dropout",
        params: vec![p("p", Type::Float, ArgDefault::Float(0.5))],
        build: |a, _| {
            let p = a.float("p");
            if !(0.0..1.0).contains(&p) {
                return Err(range_err("p", "dropout probability", "in [0, 1)", p));
            }
            Ok(Op::Dropout(Dropout { p }))
        },
    }
}

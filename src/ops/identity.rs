//! `identity`: the input, unchanged (a shortcut with nothing on it).

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ops::BurnForm;
use crate::sema::builtins::OpSig;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Identity;

impl OpDef for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn dims<A: DimAlgebra>(&self, _: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        Ok(ins[0])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        Ok(ins[0].clone())
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        Ok(Lowered::Alias(n.x()))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: Vec::new() }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (a, _) = (&args[0], c);
        quote! { #a }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let _ = n;
        Ok(Lowering::Alias)
    }
}

pub fn builtin() -> OpSig {
    OpSig { name: "identity", params: vec![], build: |_, _| Ok(Op::Identity) }
}

//! The model's input: its declared shape, which the front end passes in as
//! the op's one input. The compiled shape check reads the real input's dims
//! instead and checks the channels (`engine::shapecheck`).

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{LowerNode, Lowering, WeightError};
use crate::ops::BurnForm;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Input;

impl OpDef for Input {
    fn name(&self) -> &'static str {
        "input"
    }

    fn dims<A: DimAlgebra>(&self, _: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        Ok(ins[0])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        // The interpreter passes the model's input in.
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
        Ok(Lowering::Skip)
    }
}

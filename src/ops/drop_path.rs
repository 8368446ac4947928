//! `drop_path`: stochastic depth on a residual branch (Huang et al. 2016):
//! the branch is dropped whole with probability `1 - survival` in training.

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights, map};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::kernels::Stage;
use crate::engine::lower::{LowerNode, Lowering, Operand, StageNode, WeightError};
use crate::ops::BurnForm;
use proc_macro2::TokenStream;

/// The generated code's stochastic-depth module, in the shared support module.
pub const BURN_SUPPORT: &str = "DropPath";
use quote::quote;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropPath {
    pub survival: f64,
    /// `true`: multiply by `survival` at test time (the paper). `false`: divide
    /// by it in training, identity at test time (timm).
    pub scale_at_test: bool,
    /// One draw per sample (timm) or one per batch (the paper).
    pub per_sample: bool,
}

impl OpDef for DropPath {
    fn name(&self) -> &'static str {
        "drop_path"
    }

    fn describe(&self) -> String {
        format!("drop_path p={:.4}", self.survival)
    }

    fn dims<A: DimAlgebra>(&self, _: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        Ok(ins[0])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        // At inference, the paper's convention scales by the survival
        // probability; timm's is the identity.
        let _ = w;
        let survival = self.survival as f32;
        Ok(if self.scale_at_test { map(ins[0], |v| v * survival) } else { ins[0].clone() })
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        if !self.scale_at_test {
            return Ok(Lowered::Alias(n.x()));
        }
        let (x, name) = (n.x(), n.name());
        let s = n.parts().constant_f32(&format!("{name}.survival"), self.survival as f32);
        Ok(Lowered::Value(n.parts().node("Mul", &[&x, &s], vec![], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        use Lit::*;
        let facts = vec![
            ("survival", F64(self.survival)),
            ("scale_at_test", Bool(self.scale_at_test)),
            ("per_sample", Bool(self.per_sample)),
        ];
        BurnForm::Field { kind: OpKind::DropPath, ty: quote! { DropPath }, facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let _ = lit;
        let (p, test, per) = (v("survival"), v("scale_at_test"), v("per_sample"));
        quote! { DropPath::new(#p, #test, #per) }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let _ = n;
        Ok(if self.scale_at_test { Lowering::Stage } else { Lowering::Alias })
    }

    fn stage(&self, n: &mut StageNode<'_, '_>) -> Option<(Vec<Stage>, Vec<Operand>)> {
        let _ = n;
        Some((vec![Stage::MulConst((self.survival as f32).to_bits())], vec![]))
    }

    fn burn_support(&self) -> Option<&'static str> {
        Some(BURN_SUPPORT)
    }
}

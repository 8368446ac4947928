//! `subsample(stride)`: `x[:, :, ::s, ::s]`, the spatial half of the CIFAR
//! "option A" shortcut (He et al. 2016).

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_maps};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault, MAX, OpSig, p};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct Subsample {
    pub stride: u64,
}

impl OpDef for Subsample {
    fn name(&self) -> &'static str {
        "subsample"
    }

    fn describe(&self) -> String {
        format!("subsample /{}", self.stride)
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_maps("subsample", inputs)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        let s = self.stride.max(1) as i64;
        let mut side = |len| {
            let up = a.add_k(len, s - 1);
            a.div(up, s)
        };
        Ok([n, c, side(h), side(w)])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let (n, c, h, w) = ins[0].nchw();
        let s = self.stride as usize;
        let (oh, ow) = (h.div_ceil(s), w.div_ceil(s));
        let mut out = Tensor::zeros(vec![n, c, oh, ow]);
        for p in 0..n * c {
            for y in 0..oh {
                for x in 0..ow {
                    out.data[(p * oh + y) * ow + x] = ins[0].data[(p * h + y * s) * w + x * s];
                }
            }
        }
        Ok(out)
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name, s) = (n.x(), n.name(), self.stride as i64);
        let p = n.parts();
        let starts = p.constant_i64(&format!("{name}.starts"), &[0, 0]);
        let ends = p.constant_i64(&format!("{name}.ends"), &[i64::MAX, i64::MAX]);
        let axes = p.constant_i64(&format!("{name}.axes"), &[2, 3]);
        let steps = p.constant_i64(&format!("{name}.steps"), &[s, s]);
        Ok(Lowered::Value(p.node("Slice", &[&x, &starts, &ends, &axes, &steps], vec![], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: vec![("stride", Lit::Usize(self.stride))] }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (a, s) = (&args[0], c("stride"));
        quote! { AvgPool2dConfig::new([1, 1]).with_strides([#s, #s]).init().forward(#a) }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::Subsample { x: n.ins[0], stride: self.stride as usize })))
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "subsample",
        params: vec![p("stride", Type::Int, ArgDefault::Required)],
        build: |a, _| Ok(Op::Subsample(Subsample { stride: a.int("stride", 1, MAX)? })),
    }
}

//! `linear(out, bias)`: PyTorch's `Linear` on `[N, F]`.

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::builder::int;
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Epilogue, Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, StateEntry, StateKind, want_rank};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault::*, MAX, OpSig, p};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub in_features: u64,
    pub out_features: u64,
    pub bias: bool,
}

impl OpDef for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn describe(&self) -> String {
        format!("linear {}", self.out_features)
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_rank("linear", inputs[0], 2)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, f, h, w] = ins[0];
        let ok = a.eq_k(f, self.in_features as i64);
        a.require(ok, CheckKind::Features { want: self.in_features as i64 })?;
        Ok([n, a.k(self.out_features as i64), h, w])
    }

    fn state(&self) -> Vec<StateEntry> {
        let p = |suffix, shape| StateEntry { suffix, shape, kind: StateKind::Param };
        let mut v = vec![p("weight", vec![self.out_features, self.in_features])];
        if self.bias {
            v.push(p("bias", vec![self.out_features]));
        }
        v
    }

    fn macs(&self, _: &Shape) -> u128 {
        self.in_features as u128 * self.out_features as u128
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let (fi, fo) = (self.in_features as usize, self.out_features as usize);
        let weight = w.get("weight", fi * fo)?;
        let b = if self.bias { Some(w.get("bias", fo)?) } else { None };
        let n = ins[0].shape[0];
        let mut out = Tensor::zeros(vec![n, fo]);
        for s in 0..n {
            let x = &ins[0].data[s * fi..(s + 1) * fi];
            for o in 0..fo {
                let row = &weight[o * fi..(o + 1) * fi];
                out.data[s * fo + o] = row.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + b.map_or(0.0, |b| b[o]);
            }
        }
        Ok(out)
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        let w = n.weight("weight", &[self.out_features, self.in_features])?;
        let mut ins = vec![x, w];
        if self.bias {
            ins.push(n.weight("bias", &[self.out_features])?);
        }
        let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
        Ok(Lowered::Value(n.parts().node("Gemm", &ins, vec![int("transB", 1)], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        use Lit::*;
        let facts = vec![("in", Usize(self.in_features)), ("out", Usize(self.out_features)), ("bias", Bool(self.bias))];
        BurnForm::Field { kind: OpKind::Linear, ty: quote! { Linear }, facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let (i, o) = (v("in"), v("out"));
        let mut b = quote! { LinearConfig::new(#i, #o) };
        if lit("bias") != Some(Lit::Bool(true)) {
            let bias = v("bias");
            b = quote! { #b.with_bias(#bias) };
        }
        quote! { #b.init(device) }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let weight = n.take_kept("weight")?;
        let (in_features, out_features) = (self.in_features as usize, self.out_features as usize);
        let mut s = n.step(Kind::Linear { x: n.ins[0], weight, in_features, out_features });
        if self.bias {
            let b = n.take_kept("bias")?;
            s.epilogue = Some(Epilogue::bias(b));
        }
        Ok(Lowering::Step(s))
    }

    fn attributes(&self) -> String {
        format!("linear{{in: {}, out: {}, bias: {}}}", self.in_features, self.out_features, self.bias)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "linear",
        params: vec![p("features", Type::Int, Required), p("bias", Type::Bool, Bool(true))],
        build: |a, input| {
            let in_features = input.channels().unwrap_or(0);
            Ok(Op::Linear(Linear { in_features, out_features: a.int("features", 1, MAX)?, bias: a.bool("bias") }))
        },
    }
}

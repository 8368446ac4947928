//! `slice(start, end)`: channels `start..end`, `end` 0 meaning all (DPN's
//! residual and dense parts, selective kernels' halves).

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights, with_channels};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault::*, MAX, OpSig, p, range_err};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub start: u64,
    pub end: u64,
}

impl OpDef for Slice {
    fn name(&self) -> &'static str {
        "slice"
    }

    fn describe(&self) -> String {
        match self.end {
            0 => format!("slice {}..", self.start),
            end => format!("slice {}..{end}", self.start),
        }
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        let end = if self.end == 0 { c } else { a.k(self.end as i64) };
        let fits = a.ge(c, end);
        let start = a.k(self.start as i64);
        let len = a.sub(end, start);
        let nonempty = a.ge_k(len, 1);
        let ok = a.and(fits, nonempty);
        a.require(ok, CheckKind::SliceEnd { end: self.end as i64 })?;
        Ok([n, len, h, w])
    }

    fn explain(&self, _: CheckKind, inputs: &[&Shape]) -> ShapeError {
        let c = inputs[0].size(1).unwrap_or(0);
        let end = if self.end == 0 { c } else { self.end };
        ShapeError::Slice { start: self.start, end, channels: c }
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let (n, c, h, w) = ins[0].nchw();
        let (start, end) = (self.start as usize, if self.end == 0 { c } else { self.end as usize });
        let len = (end - start) * h * w;
        let mut out = Tensor::zeros(with_channels(ins[0], end - start));
        for s in 0..n {
            let src = &ins[0].data[(s * c + start) * h * w..(s * c + end) * h * w];
            out.data[s * len..(s + 1) * len].copy_from_slice(src);
        }
        Ok(out)
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        let channels = n.input_shape(0).size(1).unwrap_or(0);
        let end = if self.end == 0 { channels } else { self.end };
        let p = n.parts();
        let starts = p.constant_i64(&format!("{name}.starts"), &[self.start as i64]);
        let ends = p.constant_i64(&format!("{name}.ends"), &[end as i64]);
        let axes = p.constant_i64(&format!("{name}.axes"), &[1]);
        Ok(Lowered::Value(p.node("Slice", &[&x, &starts, &ends, &axes], vec![], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: vec![("start", Lit::Usize(self.start)), ("end", Lit::Usize(self.end))] }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (a, start) = (&args[0], c("start"));
        if self.end == 0 {
            return quote! {{
                let t = #a;
                let channels = t.dims()[1];
                t.narrow(1, #start, channels - #start)
            }};
        }
        let end = c("end");
        if start.to_string() == "0" {
            quote! { #a.narrow(1, 0, #end) }
        } else {
            quote! { #a.narrow(1, #start, #end - #start) }
        }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::Slice { x: n.ins[0], start: self.start as usize })))
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "slice",
        params: vec![p("start", Type::Int, Required), p("end", Type::Int, Int(0))],
        build: |a, _| {
            let start = a.int("start", 0, MAX)?;
            let end = a.int("end", 0, MAX)?;
            if end != 0 && end <= start {
                let allowed = format!("greater than the start {start}, or 0 for all");
                return Err(range_err("end", "`slice` end", &allowed, end));
            }
            Ok(Op::Slice(Slice { start, end }))
        },
    }
}

//! `pad_channels(to)`: zero channels added before and after, the channel
//! half of the CIFAR "option A" shortcut.

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_batched};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights, with_channels};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::SemaError;
use crate::sema::builtins::{ArgDefault, ArgError, MAX, OpSig, p};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct PadChannels {
    pub before: u64,
    pub after: u64,
}

impl OpDef for PadChannels {
    fn name(&self) -> &'static str {
        "pad_channels"
    }

    fn describe(&self) -> String {
        format!("pad_channels +{}+{}", self.before, self.after)
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_batched("pad_channels", inputs)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        Ok([n, a.add_k(c, (self.before + self.after) as i64), h, w])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let (n, c, h, w) = ins[0].nchw();
        let (b, total) = (self.before as usize, c + (self.before + self.after) as usize);
        let mut out = Tensor::zeros(with_channels(ins[0], total));
        for s in 0..n {
            let dst = (s * total + b) * h * w;
            out.data[dst..dst + c * h * w].copy_from_slice(&ins[0].data[s * c * h * w..(s + 1) * c * h * w]);
        }
        Ok(out)
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name, rank) = (n.x(), n.name(), n.shape().rank());
        let mut pads = vec![0i64; 2 * rank];
        pads[1] = self.before as i64;
        pads[rank + 1] = self.after as i64;
        let p = n.parts();
        let pads = p.constant_i64(&format!("{name}.pads"), &pads);
        Ok(Lowered::Value(p.node("Pad", &[&x, &pads], vec![], &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: vec![("before", Lit::Usize(self.before)), ("after", Lit::Usize(self.after))] }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let (a, b, af) = (&args[0], c("before"), c("after"));
        quote! {{
            let t = #a;
            let [n, _, h, w] = t.dims();
            let device = t.device();
            Tensor::cat(vec![Tensor::zeros([n, #b, h, w], &device), t, Tensor::zeros([n, #af, h, w], &device)], 1)
        }}
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::Pad { x: n.ins[0], before: self.before as usize })))
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "pad_channels",
        params: vec![p("channels", Type::Int, ArgDefault::Required)],
        build: |a, input| {
            let channels = input.channels().unwrap_or(0);
            let want = a.int("channels", 1, MAX)?;
            if want < channels {
                return Err(ArgError {
                    param: "channels",
                    error: SemaError::OutOfRange {
                        what: "`pad_channels` target".into(),
                        allowed: format!("at least the input's {channels} channels"),
                        value: want.to_string(),
                    },
                });
            }
            let extra = want - channels;
            Ok(Op::PadChannels(PadChannels { before: extra / 2, after: extra - extra / 2 }))
        },
    }
}

//! `subsample(stride)`: `x[:, :, ::s, ::s]`, the spatial half of the CIFAR
//! "option A" shortcut (He et al. 2016).

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_maps};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::sema::builtins::{ArgDefault, MAX, OpSig, p};
use crate::sema::value::Type;

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
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "subsample",
        params: vec![p("stride", Type::Int, ArgDefault::Required)],
        build: |a, _| Ok(Op::Subsample(Subsample { stride: a.int("stride", 1, MAX)? })),
    }
}

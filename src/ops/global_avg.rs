//! `global_avg`: the mean over height and width, `[N, C, 1, 1]`
//! (PyTorch's `AdaptiveAvgPool2d(1)`).

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_maps};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::sema::builtins::OpSig;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GlobalAvgPool;

impl OpDef for GlobalAvgPool {
    fn name(&self) -> &'static str {
        "global_avg"
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_maps("global_avg", inputs)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let one = a.k(1);
        Ok([ins[0][0], ins[0][1], one, one])
    }
}

pub fn builtin() -> OpSig {
    OpSig { name: "global_avg", params: vec![], build: |_, _| Ok(Op::GlobalAvgPool) }
}

//! `flatten`: `[N, C, H, W]` to `[N, C * H * W]`.

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_batched};
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::sema::builtins::OpSig;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flatten;

impl OpDef for Flatten {
    fn name(&self) -> &'static str {
        "flatten"
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_batched("flatten", inputs)
    }

    fn out_rank(&self, _: usize) -> usize {
        2
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        let f = a.mul(c, h);
        let f = a.mul(f, w);
        let one = a.k(1);
        Ok([n, f, one, one])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        let n = ins[0].shape[0];
        Ok(Tensor::new(vec![n, ins[0].data.len() / n.max(1)], ins[0].data.clone()))
    }
}

pub fn builtin() -> OpSig {
    OpSig { name: "flatten", params: vec![], build: |_, _| Ok(Op::Flatten) }
}

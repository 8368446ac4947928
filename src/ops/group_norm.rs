//! `group_norm(groups, eps)`: normalisation over groups of channels of each
//! sample (Wu and He 2018), with a learnt per-channel scale and shift and no
//! running statistics; PyTorch's `GroupNorm`.

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, largest_divisor_at_most, want_maps};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, StateEntry, StateKind};
use crate::ir::shape::Shape;
use crate::sema::builtins::{ArgDefault::*, MAX, OpSig, p};
use crate::sema::value::Type;

#[derive(Clone, Debug, PartialEq)]
pub struct GroupNorm {
    pub channels: u64,
    pub groups: u64,
    pub eps: f64,
}

impl OpDef for GroupNorm {
    fn name(&self) -> &'static str {
        "group_norm"
    }

    fn describe(&self) -> String {
        format!("group_norm {}", self.groups)
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_maps("group_norm", inputs)?;
        let c = self.channels;
        if !c.is_multiple_of(self.groups) {
            let suggestion = largest_divisor_at_most(c, self.groups);
            return Err(ShapeError::GroupNorm { groups: self.groups, channels: c, suggestion });
        }
        Ok(())
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        a.want_channels(ins[0][1], self.channels)?;
        Ok(ins[0])
    }

    fn state(&self) -> Vec<StateEntry> {
        let p = |suffix| StateEntry { suffix, shape: vec![self.channels], kind: StateKind::Param };
        vec![p("weight"), p("bias")]
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: "group_norm",
        params: vec![p("groups", Type::Int, Required), p("eps", Type::Float, Float(1e-5))],
        build: |a, input| {
            let channels = input.channels().unwrap_or(0);
            Ok(Op::GroupNorm(GroupNorm { channels, groups: a.int("groups", 1, MAX)?, eps: a.eps("eps")? }))
        },
    }
}

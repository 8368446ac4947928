//! `pad_channels(to)`: zero channels added before and after, the channel
//! half of the CIFAR "option A" shortcut.

use super::dims::{CheckKind, DimAlgebra, Dims};
use super::{OpDef, want_batched};
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;

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
}

//! `identity`: the input, unchanged (a shortcut with nothing on it).

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Identity;

impl OpDef for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn dims<A: DimAlgebra>(&self, _: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        Ok(ins[0])
    }
}

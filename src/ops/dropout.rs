//! `dropout(p)`: PyTorch's `Dropout`; the identity at inference.

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};

#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    pub p: f64,
}

impl OpDef for Dropout {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn describe(&self) -> String {
        format!("dropout {}", self.p)
    }

    fn dims<A: DimAlgebra>(&self, _: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        Ok(ins[0])
    }
}

//! The activations the kernels do not compile, run as a pass of their own;
//! each activation's code is in `crate::ops::activation`.

use crate::ir::op::Activation;

/// `act` over `x` into `y` (equal lengths).
pub fn apply(act: Activation, x: &[f32], y: &mut [f32]) {
    act.def().engine_all(x, y);
}

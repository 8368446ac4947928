//! The activations the kernels do not compile, one value at a time. Written
//! apart from the reference interpreter's on purpose: the interpreter is what
//! these are tested against, so sharing its code would test nothing.

use crate::ir::op::Activation;

/// `act` over `x` into `y` (equal lengths).
pub fn apply(act: Activation, x: &[f32], y: &mut [f32]) {
    match act {
        Activation::Sigmoid => each(x, y, sigmoid),
        Activation::Tanh => each(x, y, f32::tanh),
        Activation::Gelu => each(x, y, gelu),
        Activation::Silu => each(x, y, |v| v * sigmoid(v)),
        Activation::Elu(alpha) => each(x, y, |v| if v > 0.0 { v } else { (alpha * f64::from(v).exp_m1()) as f32 }),
        // The kernels compile these; kept total so a change in lowering
        // cannot reach a missing arm.
        Activation::Relu => each(x, y, |v| if v < 0.0 { 0.0 } else { v }),
        // clamp keeps NaN.
        Activation::Relu6 => each(x, y, |v| v.clamp(0.0, 6.0)),
        Activation::LeakyRelu(s) => each(x, y, |v| if v < 0.0 { (f64::from(v) * s) as f32 } else { v }),
    }
}

fn each(x: &[f32], y: &mut [f32], f: impl Fn(f32) -> f32) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// Never forms `exp` of a large positive number, so no overflow to inf/inf.
fn sigmoid(v: f32) -> f32 {
    let v = f64::from(v);
    let s = if v >= 0.0 { 1.0 / (1.0 + (-v).exp()) } else { v.exp() / (1.0 + v.exp()) };
    s as f32
}

/// PyTorch's exact GELU, `x Φ(x)`, with Φ from the complementary error function.
fn gelu(v: f32) -> f32 {
    let x = f64::from(v);
    (0.5 * x * erfc(-x / std::f64::consts::SQRT_2)) as f32
}

/// erfc by the Chebyshev fit of Numerical Recipes (§6.2), fractional error
/// below 1.2e-7 everywhere.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let c = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let poly = c.iter().rev().fold(0.0, |acc, k| k + t * acc);
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_and_the_activations_meet_known_values() {
        // erfc(0) = 1, erfc(1) = 0.157299207..., erfc(-1) = 1.842700792...
        assert!((erfc(0.0) - 1.0).abs() < 2e-7);
        assert!((erfc(1.0) - 0.157_299_207_050_285).abs() < 2e-8);
        assert!((erfc(-1.0) - 1.842_700_792_949_715).abs() < 2e-7);
        // GELU(1) = 0.841344746..., GELU(-3) = -0.004049694...
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu(-3.0) + 0.004_049_694).abs() < 1e-7);
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
        for act in [Activation::Sigmoid, Activation::Tanh, Activation::Gelu, Activation::Silu, Activation::Elu(1.0)] {
            let mut y = [0.0];
            apply(act, &[f32::NAN], &mut y);
            assert!(y[0].is_nan(), "{act:?} lost a NaN");
        }
    }
}

//! `gelu`: PyTorch's exact GELU, x Φ(x).

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gelu;

pub const SPEC: Spec = Spec { name: "gelu", params: &[], build: |_| Activation::Gelu(Gelu) };

impl Elementwise for Gelu {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn reference(&self, v: f32) -> f32 {
        0.5 * v * (1.0 + erf(v / std::f32::consts::SQRT_2))
    }
    fn engine(&self, v: f32) -> f32 {
        let x = f64::from(v);
        (0.5 * x * erfc(-x / std::f64::consts::SQRT_2)) as f32
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        burn_fn("gelu", x)
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        // x/2 (1 + erf(x/sqrt 2)): `Gelu` itself is opset 20.
        let root2 = p.constant_f32(&format!("{name}.sqrt2"), std::f32::consts::SQRT_2);
        let one = p.constant_f32(&format!("{name}.one"), 1.0);
        let half = p.constant_f32(&format!("{name}.half"), 0.5);
        let scaled = p.node("Div", &[x, &root2], vec![], &format!("{name}.scaled"));
        let erf = p.node("Erf", &[&scaled], vec![], &format!("{name}.erf"));
        let plus = p.node("Add", &[&erf, &one], vec![], &format!("{name}.plus1"));
        let halved = p.node("Mul", &[x, &half], vec![], &format!("{name}.half_x"));
        p.node("Mul", &[&halved, &plus], vec![], name)
    }
}

/// The error function for the reference (Abramowitz and Stegun 7.1.26, error
/// below 1.5e-7).
fn erf(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * (-x * x).exp();
    if x >= 0.0 { y } else { -y }
}

/// erfc for the engine, by the Chebyshev fit of Numerical Recipes (§6.2),
/// fractional error below 1.2e-7 everywhere.
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
    fn erf_and_erfc_meet_known_values() {
        // erfc(0) = 1, erfc(1) = 0.157299207..., erfc(-1) = 1.842700792...
        assert!((erfc(0.0) - 1.0).abs() < 2e-7);
        assert!((erfc(1.0) - 0.157_299_207_050_285).abs() < 2e-8);
        assert!((erfc(-1.0) - 1.842_700_792_949_715).abs() < 2e-7);
        // A&S's 1.5e-7, plus f32 rounding.
        assert!((erf(1.0) - 0.842_700_8).abs() < 3e-7);
        assert!((erf(-0.5) + 0.520_499_9).abs() < 3e-7);
    }
}

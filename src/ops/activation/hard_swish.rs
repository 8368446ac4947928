//! `hard_swish`: x relu6(x + 3) / 6, PyTorch's Hardswish (MobileNetV3).

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardSwish;

pub const SPEC: Spec = Spec { name: "hard_swish", params: &[], build: |_| Activation::HardSwish(HardSwish) };

impl Elementwise for HardSwish {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn reference(&self, v: f32) -> f32 {
        v * (v + 3.0).clamp(0.0, 6.0) / 6.0
    }
    // The three pieces; NaN fails both tests and reaches the middle one.
    fn engine(&self, v: f32) -> f32 {
        if v <= -3.0 {
            0.0
        } else if v >= 3.0 {
            v
        } else {
            (f64::from(v) * (f64::from(v) + 3.0) / 6.0) as f32
        }
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        burn_fn("hard_swish", x)
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        p.node("HardSwish", &[x], vec![], name)
    }
}

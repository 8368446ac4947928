//! `hard_sigmoid`: relu6(x + 3) / 6, PyTorch's Hardsigmoid (MobileNetV3, timm's
//! squeeze-excitation gates).

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardSigmoid;

pub const SPEC: Spec = Spec { name: "hard_sigmoid", params: &[], build: |_| Activation::HardSigmoid(HardSigmoid) };

impl Elementwise for HardSigmoid {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn reference(&self, v: f32) -> f32 {
        (v + 3.0).clamp(0.0, 6.0) / 6.0
    }
    fn engine(&self, v: f32) -> f32 {
        (f64::from(v) / 6.0 + 0.5).clamp(0.0, 1.0) as f32
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        quote! { burn::tensor::activation::hard_sigmoid(#x, 1.0 / 6.0, 0.5) }
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        p.node("HardSigmoid", &[x], vec![float("alpha", 1.0 / 6.0), float("beta", 0.5)], name)
    }
}

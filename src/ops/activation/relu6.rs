//! `relu6`: min(max(x, 0), 6) (MobileNet), fused into the kernels' epilogues.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Relu6;

pub const SPEC: Spec = Spec { name: "relu6", params: &[], build: |_| Activation::Relu6(Relu6) };

impl Elementwise for Relu6 {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    // `clamp` keeps NaN.
    fn reference(&self, v: f32) -> f32 {
        v.clamp(0.0, 6.0)
    }
    fn engine(&self, v: f32) -> f32 {
        v.clamp(0.0, 6.0)
    }
    fn jit(&self) -> Option<Stage> {
        Some(Stage::Relu6)
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        quote! { #x.clamp(0.0, 6.0) }
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        let lo = p.constant_f32(&format!("{name}.min"), 0.0);
        let hi = p.constant_f32(&format!("{name}.max"), 6.0);
        p.node("Clip", &[x, &lo, &hi], vec![], name)
    }
}

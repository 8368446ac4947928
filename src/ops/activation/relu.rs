//! `relu`: max(x, 0), fused into the kernels' epilogues.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Relu;

pub const SPEC: Spec = Spec { name: "relu", params: &[], build: |_| Activation::Relu(Relu) };

impl Elementwise for Relu {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    // Not `v.max(0.0)`, which maps NaN to 0: PyTorch keeps NaN.
    fn reference(&self, v: f32) -> f32 {
        if v < 0.0 { 0.0 } else { v }
    }
    fn engine(&self, v: f32) -> f32 {
        if v < 0.0 { 0.0 } else { v }
    }
    fn jit(&self) -> Option<Stage> {
        Some(Stage::Relu)
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        burn_fn("relu", x)
    }
    fn burn_module(&self) -> Option<&'static str> {
        Some("Relu")
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        p.node("Relu", &[x], vec![], name)
    }
}

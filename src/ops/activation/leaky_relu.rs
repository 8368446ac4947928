//! `leaky_relu(slope)`: x, or slope * x below zero.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu {
    pub slope: f64,
}

pub const SPEC: Spec = Spec {
    name: "leaky_relu",
    params: &[("slope", 0.01)],
    build: |a| Activation::LeakyRelu(LeakyRelu { slope: a[0] }),
};

impl Elementwise for LeakyRelu {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn consts(&self) -> Vec<(&'static str, f64)> {
        vec![("slope", self.slope)]
    }
    fn describe(&self) -> String {
        format!("leaky_relu {}", self.slope)
    }
    fn reference(&self, v: f32) -> f32 {
        if v > 0.0 { v } else { v * self.slope as f32 }
    }
    fn engine(&self, v: f32) -> f32 {
        if v < 0.0 { (f64::from(v) * self.slope) as f32 } else { v }
    }
    fn jit(&self) -> Option<Stage> {
        Some(Stage::LeakyRelu((self.slope as f32).to_bits()))
    }
    fn burn(&self, x: &TokenStream, c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let s = c("slope");
        quote! { burn::tensor::activation::leaky_relu(#x, #s) }
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        p.node("LeakyRelu", &[x], vec![float("alpha", self.slope as f32)], name)
    }
}

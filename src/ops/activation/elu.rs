//! `elu(alpha)`: x, or alpha (e^x - 1) below zero.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elu {
    pub alpha: f64,
}

pub const SPEC: Spec =
    Spec { name: "elu", params: &[("alpha", 1.0)], build: |a| Activation::Elu(Elu { alpha: a[0] }) };

impl Elementwise for Elu {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn consts(&self) -> Vec<(&'static str, f64)> {
        vec![("alpha", self.alpha)]
    }
    fn reference(&self, v: f32) -> f32 {
        if v > 0.0 { v } else { self.alpha as f32 * (v.exp() - 1.0) }
    }
    fn engine(&self, v: f32) -> f32 {
        if v > 0.0 { v } else { (self.alpha * f64::from(v).exp_m1()) as f32 }
    }
    fn burn(&self, x: &TokenStream, c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        let alpha = c("alpha");
        quote! { burn::tensor::activation::elu(#x, #alpha) }
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        p.node("Elu", &[x], vec![float("alpha", self.alpha as f32)], name)
    }
}

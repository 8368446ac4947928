//! `sigmoid`: 1 / (1 + e^-x).

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sigmoid;

pub const SPEC: Spec = Spec { name: "sigmoid", params: &[], build: |_| Activation::Sigmoid(Sigmoid) };

impl Elementwise for Sigmoid {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn reference(&self, v: f32) -> f32 {
        1.0 / (1.0 + (-v).exp())
    }
    fn engine(&self, v: f32) -> f32 {
        stable_sigmoid(v)
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        burn_fn("sigmoid", x)
    }
    fn burn_module(&self) -> Option<&'static str> {
        Some("Sigmoid")
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        p.node("Sigmoid", &[x], vec![], name)
    }
}

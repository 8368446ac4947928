//! `tanh`.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tanh;

pub const SPEC: Spec = Spec { name: "tanh", params: &[], build: |_| Activation::Tanh(Tanh) };

impl Elementwise for Tanh {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn reference(&self, v: f32) -> f32 {
        v.tanh()
    }
    fn engine(&self, v: f32) -> f32 {
        f64::from(v).tanh() as f32
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        burn_fn("tanh", x)
    }
    fn burn_module(&self) -> Option<&'static str> {
        Some("Tanh")
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        p.node("Tanh", &[x], vec![], name)
    }
}

//! `silu` (swish): x * sigmoid(x).

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Silu;

pub const SPEC: Spec = Spec { name: "silu", params: &[], build: |_| Activation::Silu(Silu) };

impl Elementwise for Silu {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn reference(&self, v: f32) -> f32 {
        v / (1.0 + (-v).exp())
    }
    fn engine(&self, v: f32) -> f32 {
        v * stable_sigmoid(v)
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        burn_fn("silu", x)
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        let s = p.node("Sigmoid", &[x], vec![], &format!("{name}.sigmoid"));
        p.node("Mul", &[x, &s], vec![], name)
    }
}

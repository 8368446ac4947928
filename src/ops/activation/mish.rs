//! `mish`: x tanh(softplus(x)) (Misra 2019; timm's ResNets with `act_layer=mish`).

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mish;

pub const SPEC: Spec = Spec { name: "mish", params: &[], build: |_| Activation::Mish(Mish) };

impl Elementwise for Mish {
    fn name(&self) -> &'static str {
        SPEC.name
    }
    fn reference(&self, v: f32) -> f32 {
        v * v.exp().ln_1p().tanh()
    }
    // softplus is x itself past 20, as PyTorch's threshold: e^x would only
    // lose the 1 there, and overflows past 88.
    fn engine(&self, v: f32) -> f32 {
        let x = f64::from(v);
        let softplus = if x > 20.0 { x } else { x.exp().ln_1p() };
        (x * softplus.tanh()) as f32
    }
    fn burn(&self, x: &TokenStream, _: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        burn_fn("mish", x)
    }
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        // `Mish` itself is opset 18.
        let softplus = p.node("Softplus", &[x], vec![], &format!("{name}.softplus"));
        let tanh = p.node("Tanh", &[&softplus], vec![], &format!("{name}.tanh"));
        p.node("Mul", &[x, &tanh], vec![], name)
    }
}

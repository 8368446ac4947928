//! Elementwise activations, one file each. Adding one (see "Adding an op" in
//! the README): a file with a unit or parameter struct, its `SPEC` and its
//! [`Elementwise`] impl, then one line in the `registry!` below. The closed
//! [`Activation`] enum is generated from that line, so no backend can miss it.

use proc_macro2::TokenStream;
use quote::quote;

use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights, map};
use crate::backend::onnx::builder::{GraphParts, float};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::kernels::Stage;
use crate::engine::lower::{Kind, LowerNode, Lowering, Operand, StageNode, WeightError};
use crate::ir::op::Op;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault, OpSig, p};
use crate::sema::value::Type;

/// How `.res` names an activation and builds it from its float arguments
/// (given in the order of `params`, defaults filled in).
pub struct Spec {
    pub name: &'static str,
    /// Each parameter's name and default: activations take floats only.
    pub params: &'static [(&'static str, f64)],
    pub build: fn(&[f64]) -> Activation,
}

/// Everything one activation must say; a missing method fails to compile.
pub trait Elementwise {
    fn name(&self) -> &'static str;

    /// The parameters with their values, in `Spec::params` order: burn code
    /// makes a field of one that differs between instances of a block.
    fn consts(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// Shown in summaries and the IR (`leaky_relu 0.2`).
    fn describe(&self) -> String {
        self.name().to_string()
    }

    /// The reference interpreter's value, written plainly: what the engine,
    /// the burn code and ONNX runtimes are tested against.
    fn reference(&self, v: f32) -> f32;

    /// The engine's value, written apart from `reference` on purpose (shared
    /// code would test nothing): guarded against overflow, NaN kept.
    fn engine(&self, v: f32) -> f32;

    /// `engine` over a slice; one dynamic call per slice, not per value.
    fn engine_all(&self, x: &[f32], y: &mut [f32]) {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = self.engine(v);
        }
    }

    /// The stage the compiled kernels fuse into a conv's epilogue, if any;
    /// otherwise the engine runs `engine_all` as a pass of its own.
    fn jit(&self) -> Option<Stage> {
        None
    }

    /// burn code applying it to `x`; `c` gives a parameter's tokens (a
    /// literal, or a field where instances differ).
    fn burn(&self, x: &TokenStream, c: &dyn Fn(&str) -> TokenStream) -> TokenStream;

    /// burn's module for it, where one exists with no settings (`Relu`): it
    /// stands in a numbered list where PyTorch's `nn.Sequential` holds one.
    fn burn_module(&self) -> Option<&'static str> {
        None
    }

    /// ONNX nodes (opset 17) computing it from `x`; returns the output name,
    /// `name` for the last node.
    fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String;
}

macro_rules! registry {
    ($($module:ident :: $ty:ident),* $(,)?) => {
        $(mod $module;)*
        $(pub use $module::$ty;)*

        /// Every activation of the language.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum Activation {
            $($ty($ty),)*
        }

        impl Activation {
            pub fn def(&self) -> &dyn Elementwise {
                match self {
                    $(Activation::$ty(a) => a,)*
                }
            }
        }

        /// In the order the language lists them.
        pub const SPECS: &[Spec] = &[$($module::SPEC,)*];
    };
}

registry!(
    relu::Relu,
    relu6::Relu6,
    leaky_relu::LeakyRelu,
    sigmoid::Sigmoid,
    tanh::Tanh,
    gelu::Gelu,
    silu::Silu,
    elu::Elu,
    hard_sigmoid::HardSigmoid,
    hard_swish::HardSwish,
    mish::Mish,
);

impl Activation {
    pub fn name(&self) -> &'static str {
        self.def().name()
    }
}

impl super::OpDef for Activation {
    fn name(&self) -> &'static str {
        self.def().name()
    }

    fn describe(&self) -> String {
        self.def().describe()
    }

    fn dims<A: DimAlgebra>(&self, _: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        Ok(ins[0])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        Ok(map(ins[0], |v| self.def().reference(v)))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        Ok(Lowered::Value(self.def().onnx(n.parts(), &x, &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: self.def().consts().into_iter().map(|(n, v)| (n, Lit::F64(v))).collect() }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        self.def().burn(&args[0], c)
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(match self.def().jit() {
            Some(_) => Lowering::Stage,
            None => Lowering::Step(n.step(Kind::Unary { x: n.ins[0], act: *self })),
        })
    }

    fn stage(&self, n: &mut StageNode<'_, '_>) -> Option<(Vec<Stage>, Vec<Operand>)> {
        let _ = n;
        self.def().jit().map(|st| (vec![st], vec![]))
    }
}

pub fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// One built-in per activation; its builder finds the spec by name.
pub fn builtins() -> impl Iterator<Item = OpSig> {
    SPECS.iter().map(|s| OpSig {
        name: s.name,
        params: s.params.iter().map(|&(name, default)| p(name, Type::Float, ArgDefault::Float(default))).collect(),
        build: |a, _| {
            let found = spec(a.op()).map(|spec| {
                let vals: Vec<f64> = spec.params.iter().map(|&(name, _)| a.float(name)).collect();
                Op::Act((spec.build)(&vals))
            });
            // Every activation's builtin is made from its spec above.
            Ok(found.unwrap_or(Op::Identity))
        },
    })
}

/// burn's activation functions.
fn burn_fn(f: &str, x: &TokenStream) -> TokenStream {
    let f = proc_macro2::Ident::new(f, proc_macro2::Span::call_site());
    quote! { burn::tensor::activation::#f(#x) }
}

/// A logistic that never forms `exp` of a large positive number.
fn stable_sigmoid(v: f32) -> f32 {
    let v = f64::from(v);
    let s = if v >= 0.0 { 1.0 / (1.0 + (-v).exp()) } else { v.exp() / (1.0 + v.exp()) };
    s as f32
}

#[cfg(test)]
mod tests;

//! The values generated modules are built from; each op's burn code is in
//! its own module (`OpDef::burn_form` and the `emit_` methods).

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ir::op::Op;
use crate::ops::BurnForm;

/// A construction value of a generated module.
#[derive(Clone, Debug)]
pub enum Lit {
    Usize(u64),
    F64(f64),
    Bool(bool),
    /// Built code: the blocks of a stage whose length differs between instances.
    Code {
        tokens: TokenStream,
        ty: TokenStream,
    },
}

impl PartialEq for Lit {
    fn eq(&self, other: &Lit) -> bool {
        self.key() == other.key()
    }
}

impl Lit {
    pub fn tokens(&self) -> TokenStream {
        match self {
            Lit::Usize(v) => {
                let l = Literal::u64_unsuffixed(*v);
                quote! { #l }
            }
            Lit::F64(v) => {
                let l = Literal::f64_unsuffixed(*v);
                quote! { #l }
            }
            Lit::Bool(b) => quote! { #b },
            Lit::Code { tokens, .. } => tokens.clone(),
        }
    }

    pub fn rust_type(&self) -> TokenStream {
        match self {
            Lit::Usize(_) => quote! { usize },
            Lit::F64(_) => quote! { f64 },
            Lit::Bool(_) => quote! { bool },
            Lit::Code { ty, .. } => ty.clone(),
        }
    }

    pub fn key(&self) -> String {
        match self {
            Lit::Usize(v) => format!("u{v}"),
            Lit::F64(v) => format!("f{v:e}"),
            Lit::Bool(b) => format!("b{b}"),
            Lit::Code { tokens, .. } => format!("c{tokens}"),
        }
    }
}

/// The builder values a hyperparameter sets: channel counts (`width`,
/// `reduction`, `growth`) and rates (`drop_rate`, drop-path survival).
/// Kernel sizes, strides and the like are the architecture's own.
pub const TUNABLE_FACTS: &[&str] = &["in", "out", "channels", "p", "survival"];

/// The values a module field is built from, named.
pub fn builder_facts(op: &Op) -> Vec<(&'static str, Lit)> {
    match op.burn_form() {
        BurnForm::Field { facts, .. } => facts,
        BurnForm::Inline { .. } => Vec::new(),
    }
}

/// The constants of an inline op, named; they become fields when they differ
/// between instances.
pub fn inline_consts(op: &Op) -> Vec<(&'static str, Lit)> {
    match op.burn_form() {
        BurnForm::Inline { consts } => consts,
        BurnForm::Field { .. } => Vec::new(),
    }
}

/// Stochastic depth, generated only into models that use it.
pub fn drop_path_fn() -> TokenStream {
    quote! {
        /// Stochastic depth on a residual branch. While training (a module
        /// flag that `freeze()` and `valid()` clear, on an autodiff device,
        /// as burn's dropout layer does), the branch is kept with probability
        /// `survival`, drawn per sample or once per batch; `scale_at_test`
        /// follows the paper (scale by `survival` at test time) instead of timm
        /// (divide by it in training).
        #[derive(Module, Debug)]
        pub struct DropPath {
            pub survival: f64,
            pub scale_at_test: bool,
            pub per_sample: bool,
            pub training: Param<Flag>,
        }

        impl DropPath {
            pub fn new(survival: f64, scale_at_test: bool, per_sample: bool) -> Self {
                Self { survival, scale_at_test, per_sample, training: Param::from_bool(true) }
            }

            pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
                if !self.training.is_enabled() || !x.device().is_autodiff() {
                    return if self.scale_at_test { x * self.survival } else { x };
                }
                if self.survival >= 1.0 {
                    return x;
                }
                let [n, _, _, _] = x.dims();
                let draws = if self.per_sample { n } else { 1 };
                let keep = Tensor::<4>::random(
                    [draws, 1, 1, 1],
                    burn::tensor::Distribution::Bernoulli(self.survival),
                    &x.device(),
                );
                let kept = x * keep;
                if self.scale_at_test { kept } else { kept / self.survival }
            }
        }
    }
}

//! One struct type over all its instances: the fields (optional where some
//! instances lack them), the constants that differ, the `init` arguments, and
//! one forward program that is right for every instance. In five phases over
//! one context: align the instances' programs (`align`), wire one canonical
//! program through them (`wiring`), lay out the fields and what each instance
//! builds them from (`fields`), turn what differs into `init` arguments
//! (`params`), and write the forward pass (`forward`).

mod align;
mod fact;
mod fields;
mod forward;
mod params;
mod stage;
mod wiring;

use std::collections::HashMap;

use proc_macro2::TokenStream;

use super::CodegenError;
use super::ops::Lit;
use super::plan::{Plan, StructType};
use crate::ir::ScopeId;

pub struct FieldOut {
    pub rust_name: String,
    pub ty_tokens: TokenStream,
    pub init: TokenStream,
    pub doc: String,
}

pub struct Param {
    pub name: String,
    pub ty: TokenStream,
}

pub struct Unified {
    pub fields: Vec<FieldOut>,
    pub params: Vec<Param>,
    pub forward: TokenStream,
    pub in_rank: usize,
    pub out_rank: usize,
}

/// The `init` arguments of each block instance unified so far, for the
/// struct types that build it (types are unified callees first).
#[derive(Default)]
pub struct InstanceArgs(HashMap<ScopeId, Vec<Lit>>, HashMap<ScopeId, Vec<String>>, HashMap<ScopeId, Vec<bool>>);

impl InstanceArgs {
    fn of(&self, s: ScopeId) -> &[Lit] {
        self.0.get(&s).map_or(&[], Vec::as_slice)
    }

    /// The name of the block's `j`th `init` argument.
    fn name(&self, s: ScopeId, j: usize) -> Option<&str> {
        self.1.get(&s).and_then(|n| n.get(j)).map(String::as_str)
    }

    /// Whether the block's `j`th `init` argument is set by a hyperparameter.
    fn tunable(&self, s: ScopeId, j: usize) -> bool {
        self.2.get(&s).and_then(|t| t.get(j)).copied().unwrap_or(false)
    }
}

fn unsupported(what: impl Into<String>, at: &str) -> CodegenError {
    CodegenError::Unsupported { what: what.into(), at: at.into() }
}

pub fn unify(plan: &Plan<'_>, ty: &StructType, args: &mut InstanceArgs) -> Result<Unified, CodegenError> {
    let ctx = align::align(plan, ty)?;
    let wiring = wiring::wire(&ctx)?;
    let mut layout = fields::lay_out(&ctx, args)?;
    let params = params::params(&ctx, &layout);
    for (i, &s) in ty.instances.iter().enumerate() {
        args.0.insert(s, params.values.iter().map(|col| col[i].clone()).collect());
        args.1.insert(s, params.params.iter().map(|p| p.name.clone()).collect());
        args.2.insert(s, params.tunable.clone());
    }
    let fields = params.fields(&mut layout);
    let (forward, in_rank, out_rank) = forward::forward(&ctx, &wiring, &layout)?;
    Ok(Unified { fields, params: params.params, forward, in_rank, out_rank })
}

/// An identifier from a name: `layer1.0` gives `layer1_0`.
fn sanitize(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) { format!("v{out}") } else { out }
}

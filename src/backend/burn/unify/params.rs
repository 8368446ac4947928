//! Phase four: the facts that differ between instances become `init`
//! arguments, one per distinct column of values, named after the block's own
//! arguments where the values match, or written as a multiple of one.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::align::Ctx;
use super::fact::Fact;
use super::fields::Layout;
use super::{FieldOut, Param, sanitize};
use crate::backend::burn::ops::Lit;

pub struct Params {
    pub params: Vec<Param>,
    /// Per argument, its value in each instance.
    pub values: Vec<Vec<Lit>>,
    /// Per argument, whether a hyperparameter sets it.
    pub tunable: Vec<bool>,
    /// The argument a fact is.
    fact_param: HashMap<Fact, String>,
    /// The expression a fact is (`planes * 4`).
    fact_expr: HashMap<Fact, TokenStream>,
}

pub fn params(ctx: &Ctx<'_, '_>, layout: &Layout) -> Params {
    let (g, ty) = (ctx.plan.g, ctx.ty);
    // `init` arguments: the facts that differ between instances, one argument
    // per distinct column of values, named after the block's own arguments
    // where the values match.
    let facts = &layout.facts;
    let mut names: Vec<Fact> = facts[0].keys().cloned().collect();
    for f in &facts[1..] {
        for k in f.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let mut params: Vec<Param> = Vec::new();
    let mut param_cols: Vec<(Vec<String>, String)> = Vec::new();
    let mut param_values: Vec<Vec<Lit>> = Vec::new();
    let mut param_tunable: Vec<bool> = Vec::new();
    // A value a hyperparameter sets stays an argument where all instances
    // agree, so that the signature does not depend on the setting (with
    // `reduction: 8` every SE block is 8 wide). One instance has nothing to
    // vary against, and the model's own struct takes its config instead.
    let keeps_agreed = ty.instances.len() >= 2;
    let mut fact_param: HashMap<Fact, String> = HashMap::new();
    let mut fact_expr: HashMap<Fact, TokenStream> = HashMap::new();
    let block_args: Vec<(String, Vec<i64>)> = {
        let first = &g.scope(ty.instances[0]).args;
        first
            .iter()
            .map(|(n, _)| {
                let vals = ty
                    .instances
                    .iter()
                    .map(|&s| g.scope(s).args.iter().find(|a| a.0 == *n).map_or(i64::MIN, |a| a.1))
                    .collect();
                (n.clone(), vals)
            })
            .collect()
    };
    // A fact an instance lacks (a field it does not have) matches anything.
    let compatible = |col: &[Option<String>], other: &[String]| {
        col.iter().zip(other).all(|(a, b)| a.as_ref().is_none_or(|a| a == b))
    };
    for name in &names {
        let col: Vec<Option<Lit>> = facts.iter().map(|f| f.get(name).cloned()).collect();
        let Some(first) = col.iter().flatten().next().cloned() else { continue };
        let tunable = layout.tunable.contains(name);
        let agreed = col.iter().flatten().all(|v| *v == first);
        if agreed && !(keeps_agreed && tunable) {
            continue;
        }
        let keys: Vec<Option<String>> = col.iter().map(|v| v.as_ref().map(Lit::key)).collect();
        if let Some(at) = param_cols.iter().position(|(k, _)| compatible(&keys, k)) {
            fact_param.insert(name.clone(), param_cols[at].1.clone());
            param_tunable[at] |= tunable;
            continue;
        }
        let filler = |v: &Option<Lit>| {
            v.clone().unwrap_or(match first {
                Lit::Usize(_) => Lit::Usize(0),
                Lit::F64(_) => Lit::F64(0.0),
                Lit::Bool(_) => Lit::Bool(false),
                Lit::Code { .. } => first.clone(),
            })
        };
        let full: Vec<Lit> = col.iter().map(filler).collect();
        let as_ints: Vec<Option<i64>> =
            col.iter().map(|v| if let Some(Lit::Usize(u)) = v { Some(*u as i64) } else { None }).collect();
        // Where all instances agree, a fit to a block argument is a coincidence.
        let is_int = matches!(first, Lit::Usize(_)) && !agreed;
        // A multiple of an argument already taken reads as `planes * 4`.
        let multiple = params.iter().zip(&param_values).enumerate().find_map(|(at, (p, vals))| {
            if !is_int || !block_args.iter().any(|(n, _)| *n == p.name) {
                return None;
            }
            (2..=8u64)
                .find(|k| {
                    as_ints.iter().zip(vals).all(|(a, v)| match (a, v) {
                        (None, _) => true,
                        (Some(a), Lit::Usize(v)) => *a as u64 == v * k,
                        _ => false,
                    })
                })
                .map(|k| (at, p.name.clone(), k))
        });
        if let Some((at, base, k)) = multiple {
            param_tunable[at] |= tunable;
            let id = format_ident!("{}", base);
            let k = proc_macro2::Literal::u64_unsuffixed(k);
            fact_expr.insert(name.clone(), quote! { #id * #k });
            continue;
        }
        // A multiple or a fraction of one of the block's own arguments that is
        // not an `init` argument yet (`planes * 4`, `planes / 2`): that argument
        // becomes one, by its `.res` name, and the fact is derived from it.
        let derived = is_int
            .then(|| {
                block_args.iter().filter(|(n, _)| !params.iter().any(|p| p.name == *n)).find_map(|(n, vals)| {
                    let fits = |f: &dyn Fn(i64) -> Option<i64>| {
                        as_ints.iter().zip(vals).all(|(a, v)| a.is_none_or(|a| *v != i64::MIN && f(*v) == Some(a)))
                    };
                    let times = (2..=8i64).find(|k| fits(&|v| v.checked_mul(*k)));
                    let over = (2..=8i64).find(|k| fits(&|v| (v % k == 0).then_some(v / k)));
                    match (times, over) {
                        (Some(k), _) => Some((n.clone(), vals.clone(), true, k)),
                        (None, Some(k)) => Some((n.clone(), vals.clone(), false, k)),
                        _ => None,
                    }
                })
            })
            .flatten();
        if let Some((arg, vals, times, k)) = derived {
            let full: Vec<Lit> = vals.iter().map(|&v| Lit::Usize(v.max(0) as u64)).collect();
            params.push(Param { name: arg.clone(), ty: quote! { usize } });
            param_cols.push((full.iter().map(Lit::key).collect(), arg.clone()));
            param_values.push(full);
            param_tunable.push(tunable);
            let id = format_ident!("{}", arg);
            let k = proc_macro2::Literal::u64_unsuffixed(k as u64);
            fact_expr.insert(
                name.clone(),
                if times {
                    quote! { #id * #k }
                } else {
                    quote! { #id / #k }
                },
            );
            continue;
        }
        let mut pname = block_args
            .iter()
            .find(|(_, vals)| is_int && as_ints.iter().zip(vals).all(|(a, b)| a.is_none_or(|a| a == *b)))
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| {
                // An op constant goes by its own name (`slice_start`).
                let text = match name {
                    Fact::Const(c) => c.clone(),
                    other => other.text(),
                };
                sanitize(layout.arg_names.get(name).unwrap_or(&text))
            });
        while params.iter().any(|p| p.name == pname) || pname == "device" {
            pname.push('_');
        }
        params.push(Param { name: pname.clone(), ty: first.rust_type() });
        param_cols.push((full.iter().map(Lit::key).collect(), pname.clone()));
        param_values.push(full);
        param_tunable.push(tunable);
        fact_param.insert(name.clone(), pname);
    }
    Params { params, values: param_values, tunable: param_tunable, fact_param, fact_expr }
}

impl Params {
    /// A fact's value where it is the same in every instance.
    fn lit(&self, layout: &Layout, fact: &Fact) -> Option<Lit> {
        if self.fact_param.contains_key(fact) || self.fact_expr.contains_key(fact) {
            None
        } else {
            layout.facts.iter().find_map(|f| f.get(fact).cloned())
        }
    }

    /// The code for a fact inside `init`: an argument, an expression of one,
    /// or the literal.
    fn tokens(&self, layout: &Layout, fact: &Fact) -> TokenStream {
        if let Some(e) = self.fact_expr.get(fact) {
            return e.clone();
        }
        match self.fact_param.get(fact) {
            Some(p) => {
                let id = format_ident!("{}", p);
                quote! { #id }
            }
            None => layout.facts.iter().find_map(|f| f.get(fact)).map_or_else(|| quote! { 0 }, Lit::tokens),
        }
    }

    /// The struct's fields with their `init` code; the builders are used up.
    pub fn fields(&self, layout: &mut Layout) -> Vec<FieldOut> {
        let built = std::mem::take(&mut layout.built);
        let layout = &*layout;
        let tok = |f: &Fact| self.tokens(layout, f);
        let lit = |f: &Fact| self.lit(layout, f);
        let mut out: Vec<FieldOut> = built
            .into_iter()
            .map(|(name, ty, build, doc)| FieldOut { rust_name: name, ty_tokens: ty, init: build(&tok, &lit), doc })
            .collect();
        for c in &layout.consts {
            let value = layout.facts.iter().find_map(|f| f.get(&c.fact)).cloned().unwrap_or(Lit::Bool(false));
            out.push(FieldOut {
                rust_name: c.name.clone(),
                ty_tokens: value.rust_type(),
                init: self.tokens(layout, &c.fact),
                doc: " An op constant that differs between instances.".into(),
            });
        }
        out
    }
}

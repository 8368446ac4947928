//! Phase five: the forward pass, one program for every instance, with a
//! `match` where a field may be absent and a branch on a constant where an
//! inline op is.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::align::{Ctx, Ref};
use super::fields::{FieldPlan, Layout};
use super::sanitize;
use super::wiring::Wiring;
use crate::backend::burn::CodegenError;
use crate::backend::burn::ops;
use crate::backend::burn::plan::{Step, StepKind};
use petgraph::stable_graph::NodeIndex;

/// The body of `forward`, and the ranks of its input and output.
pub fn forward(ctx: &Ctx<'_, '_>, w: &Wiring, layout: &Layout) -> Result<(TokenStream, usize, usize), CodegenError> {
    let (g, order, progs) = (ctx.plan.g, &ctx.order, &ctx.progs);
    let (canon, none_value, output) = (&w.canon, &w.none_value, &w.output);
    let (fields, consts, inline_names) = (&layout.fields, &layout.consts, &layout.inline_names);
    // The forward program.
    let mut uses: HashMap<Ref, usize> = HashMap::new();
    for key in order {
        for r in &canon[key] {
            *uses.entry(r.clone()).or_insert(0) += 1;
        }
        if let Some(r) = none_value.get(key) {
            *uses.entry(r.clone()).or_insert(0) += 1;
        }
    }
    *uses.entry(output.clone()).or_insert(0) += 1;
    let mut var_names: HashMap<Ref, proc_macro2::Ident> = HashMap::new();
    var_names.insert(Ref::Input, format_ident!("x"));
    // The module's free functions are not shadowed by a value of that name.
    // Locals must not shadow the support module's helpers they call.
    let mut taken: Vec<String> = vec!["x".into(), "drop_path".into(), "repeat".into()];
    taken.extend(crate::ops::burn_support_items().into_iter().map(|(name, _)| name.to_string()));
    let mut body: Vec<(proc_macro2::Ident, TokenStream)> = Vec::new();
    let rep_inst = |key: &str| ctx.representative(key);
    for key in order {
        let step = rep_inst(key);
        let mut args = Vec::new();
        for r in &canon[key] {
            let id = var_names[r].clone();
            let left = uses.get_mut(r).expect("counted");
            *left -= 1;
            args.push(if *left > 0 {
                quote! { #id.clone() }
            } else {
                quote! { #id }
            });
        }
        let base = match &step.kind {
            StepKind::Inline(_) => inline_names[key].clone(),
            StepKind::FieldOp { path, .. } | StepKind::Call { path, .. } | StepKind::Loop { path, .. } => {
                path.join("_")
            }
        };
        let mut vname = sanitize(&base);
        // A value nothing reads (a layer computed and dropped) says so.
        if uses.get(&Ref::Step(key.clone())).copied().unwrap_or(0) == 0 {
            vname.insert(0, '_');
        }
        while taken.contains(&vname) {
            vname.push('_');
        }
        taken.push(vname.clone());
        let v = format_ident!("{}", vname);
        let a0 = args.first().cloned().unwrap_or_default();
        // What the value is in instances that lack this step.
        let none_tok = match none_value.get(key) {
            Some(r) => {
                let id = var_names[r].clone();
                let left = uses.get_mut(r).expect("counted");
                *left -= 1;
                if *left > 0 {
                    quote! { #id.clone() }
                } else {
                    quote! { #id }
                }
            }
            None => a0.clone(),
        };
        let expr = match &step.kind {
            StepKind::Inline(_) if layout.module_inline.contains(key.as_str()) => {
                let path: Vec<String> = key.split('.').map(str::to_string).collect();
                access(fields, progs, &path, key, |m| quote! { #m.forward(#a0) }, &none_tok)
            }
            StepKind::Inline(node) => {
                let base = inline_names[key].clone();
                let c = |cname: &str| -> TokenStream {
                    let field = format!("{base}_{cname}");
                    if consts.iter().any(|k| k.name == field) {
                        let f = format_ident!("{}", field);
                        quote! { self.#f }
                    } else {
                        ops::inline_consts(&g.node(*node).op)
                            .into_iter()
                            .find(|(n, _)| *n == cname)
                            .map_or_else(|| quote! { 0 }, |(_, l)| l.tokens())
                    }
                };
                let code = g.node(*node).op.emit_inline(&args, &c);
                if consts.iter().any(|k| k.name == format!("use_{base}")) {
                    let f = format_ident!("use_{}", base);
                    quote! { if self.#f { #code } else { #none_tok } }
                } else {
                    code
                }
            }
            StepKind::FieldOp { path, node } => {
                let op = &g.node(*node).op;
                access(fields, progs, path, key, |m| op.emit_forward(&m, &a0), &none_tok)
            }
            StepKind::Call { path, .. } => access(fields, progs, path, key, |m| quote! { #m.forward(#a0) }, &none_tok),
            StepKind::Loop { path, dense: None, .. } => access(
                fields,
                progs,
                path,
                key,
                |m| quote! { #m.iter().fold(#a0, |t, block| block.forward(t)) },
                &none_tok,
            ),
            StepKind::Loop { path, dense: Some(_), .. } => access(
                fields,
                progs,
                path,
                key,
                |m| {
                    quote! {
                        #m.iter().fold(#a0, |t, block| {
                            let new = block.forward(t.clone());
                            Tensor::cat(vec![t, new], 1)
                        })
                    }
                },
                &none_tok,
            ),
        };
        body.push((v.clone(), expr));
        var_names.insert(Ref::Step(key.clone()), v);
    }
    // The last value is returned as an expression, not bound and returned.
    let last_is_output = matches!((&output, order.last()), (Ref::Step(k), Some(last)) if k == last)
        && uses.get(output).copied().unwrap_or(0) == 1;
    let tail = if last_is_output {
        let (_, e) = body.pop().expect("a last step");
        e
    } else {
        let out_id = var_names[output].clone();
        quote! { #out_id }
    };
    // `let a = ..; a` reads better as `..`.
    let mut tail = tail;
    while let Some((v, _)) = body.last()
        && *v == tail.to_string()
    {
        tail = body.pop().expect("a last let").1;
    }
    let lets = body.iter().map(|(v, e)| quote! { let #v = #e; });
    let in_rank = g.node(progs[0].0).shape.rank();
    let out_node = match &output {
        Ref::Input => progs[0].0,
        Ref::Step(k) => rep_inst(k).out,
    };
    let out_rank = g.node(out_node).shape.rank();
    Ok((quote! { #(#lets)* #tail }, in_rank, out_rank))
}

/// Code that reaches a field through its options: `self.a`, `self.a.1`, with
/// `match` where the field or the tuple may be absent.
fn access(
    fields: &[FieldPlan],
    progs: &[(NodeIndex, Vec<Step>)],
    path: &[String],
    key: &str,
    use_it: impl Fn(TokenStream) -> TokenStream,
    passthrough: &TokenStream,
) -> TokenStream {
    let fp = fields.iter().find(|f| f.name == path[0]).expect("field");
    let top = format_ident!("{}", fp.name);
    let all = |p: &[bool]| p.iter().all(|x| *x);
    match path.len() {
        1 => {
            let entry = fp.whole.as_ref().expect("whole field");
            if all(&entry.present) {
                use_it(quote! { self.#top })
            } else {
                let body = use_it(quote! { m });
                quote! { match &self.#top { Some(m) => #body, None => #passthrough } }
            }
        }
        _ => {
            let idx: usize = path[1].parse().expect("index");
            let lit = proc_macro2::Literal::usize_unsuffixed(idx);
            let n = progs.len();
            let tuple_present: Vec<bool> = (0..n).map(|i| fp.elems.values().any(|e| e.present[i])).collect();
            let entry = &fp.elems[&idx];
            let elem_optional = (0..n).any(|i| tuple_present[i] && !entry.present[i]);
            let _ = key;
            let elem = |t: TokenStream| -> TokenStream {
                if elem_optional {
                    let body = use_it(quote! { e });
                    quote! { match &#t.#lit { Some(e) => #body, None => #passthrough } }
                } else {
                    use_it(quote! { #t.#lit })
                }
            };
            if all(&tuple_present) {
                elem(quote! { self.#top })
            } else {
                let body = elem(quote! { t });
                quote! { match &self.#top { Some(t) => #body, None => #passthrough } }
            }
        }
    }
}

//! Phase three: the struct's fields (a module, a block, a stage, a tuple of
//! them, optional where some instances lack them), the op constants that
//! differ, and the facts each instance builds them from.

use std::collections::{BTreeMap, HashMap, HashSet};

use petgraph::stable_graph::NodeIndex;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::align::Ctx;
use super::fact::{Fact, Facts};
use super::stage::stage_init;
use super::{InstanceArgs, unsupported};
use crate::backend::burn::CodegenError;
use crate::backend::burn::ops::{self, Lit};
use crate::backend::burn::plan::{OpKind, Step, StepKind};
use crate::ir::{Child, ScopeId};

/// The fields, and what each instance builds them from.
pub struct Layout {
    pub facts: Vec<Facts>,
    pub fields: Vec<FieldPlan>,
    pub consts: Vec<ConstField>,
    /// The name each inline op step goes by (`relu`, `relu2`, `pool`).
    pub inline_names: HashMap<String, String>,
    /// Each field's name, type, builder and doc.
    pub built: Vec<(String, TokenStream, Build, String)>,
    /// A name for a block field's `init` argument: the field and the
    /// block's own name for it (`se_fc1_out`).
    pub arg_names: HashMap<Fact, String>,
    /// The facts a hyperparameter sets (channel counts and rates, and block
    /// arguments that carry one): `init` takes them even where every
    /// instance agrees, so that its signature does not change with them.
    pub tunable: HashSet<Fact>,
    /// The inline steps held as burn modules in a numbered list (`conv1.2`
    /// a `Relu`): `forward` calls the element.
    pub module_inline: HashSet<String>,
}

/// What `field_kind` learns about the facts beyond their values.
#[derive(Default)]
struct FactInfo {
    arg_names: HashMap<Fact, String>,
    tunable: HashSet<Fact>,
}

const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super",
    "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

fn field_ident(name: &str, at: &str) -> Result<String, CodegenError> {
    let why = if RUST_KEYWORDS.contains(&name) {
        "a Rust keyword"
    } else if name.parse::<u64>().is_ok() {
        "a number, among members that are not all numbered"
    } else {
        return Ok(name.to_string());
    };
    Err(unsupported(format!("a layer named `{name}` ({why}) as a struct field"), at))
}

pub fn lay_out(ctx: &Ctx<'_, '_>, args: &InstanceArgs) -> Result<Layout, CodegenError> {
    let (g, at, n_inst) = (ctx.plan.g, ctx.at.as_str(), ctx.n_inst());
    let (progs, order) = (&ctx.progs, &ctx.order);
    let step_of = |i: usize, key: &str| ctx.step_of(i, key);
    let present = |key: &str| ctx.present(key);
    // Facts: what each instance is built from.
    let mut facts: Vec<Facts> = vec![Facts::new(); n_inst];
    let mut fields: Vec<FieldPlan> = Vec::new();
    let mut consts: Vec<ConstField> = Vec::new();
    let mut inline_names: HashMap<String, String> = HashMap::new();
    let mut kind_count: HashMap<&'static str, usize> = HashMap::new();
    for key in order {
        let pres = present(key);
        let (hi, rep) = (0..n_inst).find_map(|i| step_of(i, key).map(|s| (i, s))).expect("some instance has it");
        match &rep.kind {
            StepKind::Inline(node) => {
                let op = &g.node(*node).op;
                let label = g.node(*node).name.rsplit('.').next().unwrap_or("").to_string();
                let base = if label != op.kind_name() && !label.is_empty() && label.parse::<u64>().is_err() {
                    label
                } else {
                    let k = kind_count.entry(op.kind_name()).or_insert(0);
                    *k += 1;
                    if *k == 1 { op.kind_name().to_string() } else { format!("{}{}", op.kind_name(), k) }
                };
                inline_names.insert(key.clone(), base.clone());
                let optional = pres.iter().any(|p| !p);
                if optional {
                    let name = format!("use_{base}");
                    for (i, f) in facts.iter_mut().enumerate() {
                        f.insert(Fact::Const(name.clone()), Lit::Bool(pres[i]));
                    }
                    consts.push(ConstField { fact: Fact::Const(name.clone()), name });
                }
                let per: Vec<Vec<(&str, Lit)>> = (0..n_inst)
                    .map(|i| step_of(i, key).map(|s| ops::inline_consts(&g.node(s.out).op)).unwrap_or_default())
                    .collect();
                for (j, (cname, v0)) in ops::inline_consts(&g.node(rep.out).op).into_iter().enumerate() {
                    let values: Vec<Lit> =
                        (0..n_inst).map(|i| per[i].get(j).map(|c| c.1.clone()).unwrap_or_else(|| v0.clone())).collect();
                    if values.iter().all(|v| *v == values[0]) {
                        continue;
                    }
                    let name = format!("{base}_{cname}");
                    for (i, f) in facts.iter_mut().enumerate() {
                        f.insert(Fact::Const(name.clone()), values[i].clone());
                    }
                    consts.push(ConstField { name: name.clone(), fact: Fact::Const(name.clone()) });
                }
                let _ = hi;
            }
            StepKind::FieldOp { path, .. } | StepKind::Call { path, .. } | StepKind::Loop { path, .. } => {
                let top = path[0].clone();
                let fp = match fields.iter_mut().find(|f| f.name == top) {
                    Some(f) => f,
                    None => {
                        fields.push(FieldPlan { name: field_ident(&top, at)?, elems: BTreeMap::new(), whole: None });
                        fields.last_mut().expect("pushed")
                    }
                };
                let entry = FieldEntry { key: key.clone(), present: pres.clone() };
                match path.len() {
                    1 => fp.whole = Some(entry),
                    _ => {
                        let idx: usize = path[1].parse().map_err(|_| unsupported("a list element name", at))?;
                        fp.elems.insert(idx, entry);
                    }
                }
            }
        }
    }
    // Tuple elements that only hold inline ops (a relu in `[conv, bn, relu]`)
    // still take their place in the tuple.
    for key in order {
        if let Some((_, s)) = (0..n_inst).find_map(|i| step_of(i, key).map(|s| (i, s)))
            && let StepKind::Inline(_) = s.kind
            && let Some((top, idx)) = key.split_once('.')
            && let Ok(idx) = idx.parse::<usize>()
            && let Some(fp) = fields.iter_mut().find(|f| f.name == top)
        {
            fp.elems.entry(idx).or_insert(FieldEntry { key: key.clone(), present: present(key) });
        }
    }

    // Field types and construction facts.
    let mut built: Vec<(String, TokenStream, Build, String)> = Vec::new();
    let mut info = FactInfo::default();
    let mut module_inline = HashSet::new();
    for fp in &fields {
        match &fp.whole {
            Some(entry) => {
                let (ty_tokens, build, doc) = field_kind(ctx, args, entry, &fp.name, &mut facts, &mut info)?;
                let optional = entry.present.iter().any(|p| !p);
                let (ty_tokens, build) =
                    wrap_optional(optional, &fp.name, ty_tokens, build, &mut facts, &entry.present);
                built.push((fp.name.clone(), ty_tokens, build, doc));
            }
            None => {
                // A tuple: elements by index.
                let max = fp.elems.keys().max().copied().unwrap_or(0);
                let tuple_present: Vec<bool> = (0..n_inst).map(|i| fp.elems.values().any(|e| e.present[i])).collect();
                let mut elem_tys = Vec::new();
                let mut elem_builds: Vec<Build> = Vec::new();
                for idx in 0..=max {
                    let fname = format!("{}.{idx}", fp.name);
                    match fp.elems.get(&idx) {
                        Some(entry) if is_module_step(progs, entry) => {
                            let (t, b, _) = field_kind(ctx, args, entry, &fname, &mut facts, &mut info)?;
                            let optional = (0..n_inst).any(|i| tuple_present[i] && !entry.present[i]);
                            let (t, b) = wrap_optional(optional, &fname, t, b, &mut facts, &entry.present);
                            elem_tys.push(t);
                            elem_builds.push(b);
                        }
                        // An activation between the modules is one of burn's
                        // where it has one, as in PyTorch's `nn.Sequential`.
                        Some(entry)
                            if let Some(m) = activation_module(ctx, entry)
                                && (0..n_inst).all(|i| entry.present[i] || !tuple_present[i]) =>
                        {
                            let m = format_ident!("{}", m);
                            elem_tys.push(quote! { #m });
                            elem_builds.push(Box::new(move |_, _| quote! { #m::new() }));
                            module_inline.insert(entry.key.clone());
                        }
                        _ => {
                            elem_tys.push(quote! { Identity });
                            elem_builds.push(Box::new(|_, _| quote! { Identity::new() }));
                        }
                    }
                }
                let t = quote! { (#(#elem_tys),*) };
                let build: Build = Box::new(move |v, l| {
                    let parts: Vec<TokenStream> = elem_builds.iter().map(|b| b(v, l)).collect();
                    quote! { (#(#parts),*) }
                });
                let optional = tuple_present.iter().any(|p| !p);
                let (t, build) = wrap_optional(optional, &fp.name, t, build, &mut facts, &tuple_present);
                let doc = format!(" `{}`: a numbered list (`{}.0`, `{}.1`, ...).", fp.name, fp.name, fp.name);
                built.push((fp.name.clone(), t, build, doc));
            }
        }
    }

    Ok(Layout {
        facts,
        fields,
        consts,
        inline_names,
        built,
        arg_names: info.arg_names,
        tunable: info.tunable,
        module_inline,
    })
}

pub struct FieldPlan {
    pub name: String,
    pub elems: BTreeMap<usize, FieldEntry>,
    pub whole: Option<FieldEntry>,
}

pub struct FieldEntry {
    pub key: String,
    pub present: Vec<bool>,
}

pub struct ConstField {
    pub name: String,
    pub fact: Fact,
}

pub type Build = Box<dyn Fn(&dyn Fn(&Fact) -> TokenStream, &dyn Fn(&Fact) -> Option<Lit>) -> TokenStream>;

/// burn's module for an inline activation step with no settings.
fn activation_module(ctx: &Ctx<'_, '_>, entry: &FieldEntry) -> Option<&'static str> {
    let g = ctx.plan.g;
    let mut modules = ctx.progs.iter().flat_map(|p| &p.1).filter(|s| s.key == entry.key).map(|s| match s.kind {
        StepKind::Inline(node) => match &g.node(node).op {
            crate::ir::Op::Act(a) => a.def().burn_module(),
            _ => None,
        },
        _ => None,
    });
    let first = modules.next()??;
    modules.all(|m| m == Some(first)).then_some(first)
}

fn is_module_step(progs: &[(NodeIndex, Vec<Step>)], entry: &FieldEntry) -> bool {
    progs.iter().flat_map(|p| &p.1).any(|s| s.key == entry.key && !matches!(s.kind, StepKind::Inline(_)))
}

/// `Option<T>` where some instances lack the field; presence becomes a fact.
fn wrap_optional(
    optional: bool,
    name: &str,
    t: TokenStream,
    build: Build,
    facts: &mut [Facts],
    present: &[bool],
) -> (TokenStream, Build) {
    if !optional {
        return (t, build);
    }
    let fact = Fact::Has(name.to_string());
    for (i, f) in facts.iter_mut().enumerate() {
        f.insert(fact.clone(), Lit::Bool(present[i]));
    }
    let b: Build = Box::new(move |v, l| {
        let inner = build(v, l);
        match l(&fact) {
            Some(Lit::Bool(true)) => quote! { Some(#inner) },
            Some(Lit::Bool(false)) => quote! { None },
            _ => {
                let has = v(&fact);
                quote! { if #has { Some(#inner) } else { None } }
            }
        }
    });
    (quote! { Option<#t> }, b)
}

/// The type, builder and doc of one field or tuple element.
#[allow(clippy::too_many_arguments)]
fn field_kind(
    ctx: &Ctx<'_, '_>,
    args: &InstanceArgs,
    entry: &FieldEntry,
    fname: &str,
    facts: &mut [Facts],
    info: &mut FactInfo,
) -> Result<(TokenStream, Build, String), CodegenError> {
    let (plan, progs, at) = (ctx.plan, &ctx.progs, ctx.at.as_str());
    let g = plan.g;
    let steps: Vec<Option<&Step>> = progs.iter().map(|p| p.1.iter().find(|s| s.key == entry.key)).collect();
    let rep = steps.iter().flatten().next().expect("present somewhere");
    match &rep.kind {
        StepKind::FieldOp { node, .. } => {
            let kind = OpKind::of(&g.node(*node).op).expect("module op");
            for (i, s) in steps.iter().enumerate() {
                if let Some(s) = s {
                    let StepKind::FieldOp { node: n, .. } = &s.kind else {
                        return Err(unsupported(format!("`{fname}` being different kinds of layer"), at));
                    };
                    if OpKind::of(&g.node(*n).op) != Some(kind) {
                        return Err(unsupported(format!("`{fname}` being different kinds of layer"), at));
                    }
                    for (k, v) in ops::builder_facts(&g.node(*n).op) {
                        let fact = Fact::Builder(fname.to_string(), k.to_string());
                        if ops::TUNABLE_FACTS.contains(&k) {
                            info.tunable.insert(fact.clone());
                        }
                        facts[i].insert(fact, v);
                    }
                }
            }
            let rep_op = g.node(*node).op.clone();
            let t = match rep_op.burn_form() {
                crate::ops::BurnForm::Field { ty, .. } => ty,
                crate::ops::BurnForm::Inline { .. } => return Err(unsupported(format!("`{fname}` as a field"), at)),
            };
            let prefix = fname.to_string();
            let node = g.node(*node);
            let doc = format!(" `{}`: {}.", fname, node.op.describe());
            let b: Build = Box::new(move |v, l| {
                let vv = |k: &str| v(&Fact::Builder(prefix.clone(), k.to_string()));
                let ll = |k: &str| l(&Fact::Builder(prefix.clone(), k.to_string()));
                rep_op.emit_builder(&vv, &ll)
            });
            Ok((t, b, doc))
        }
        StepKind::Call { scope, .. } => {
            let tname = plan.type_name(*scope).to_string();
            let mut nargs = 0;
            for (i, s) in steps.iter().enumerate() {
                if let Some(s) = s {
                    let StepKind::Call { scope: sc, .. } = &s.kind else {
                        return Err(unsupported(format!("`{fname}` being different kinds of layer"), at));
                    };
                    if plan.type_name(*sc) != tname {
                        return Err(unsupported(
                            format!("`{fname}` holding different blocks in different instances"),
                            at,
                        ));
                    }
                    let a = args.of(*sc);
                    nargs = a.len();
                    for (j, v) in a.iter().enumerate() {
                        let fact = Fact::CallArg(fname.to_string(), j);
                        if let Some(name) = args.name(*sc, j) {
                            info.arg_names.insert(fact.clone(), format!("{fname}_{name}"));
                        }
                        if args.tunable(*sc, j) {
                            info.tunable.insert(fact.clone());
                        }
                        facts[i].insert(fact, v.clone());
                    }
                }
            }
            let ident = format_ident!("{}", tname);
            let ty_ident = ident.clone();
            let prefix = fname.to_string();
            let doc = format!(" `{fname}`: a `{tname}`.");
            let b: Build = Box::new(move |v, _| {
                let args: Vec<TokenStream> = (0..nargs).map(|j| v(&Fact::CallArg(prefix.clone(), j))).collect();
                quote! { #ident::init(device #(, #args)*) }
            });
            Ok((quote! { #ty_ident }, b, doc))
        }
        StepKind::Loop { scope, dense, run, .. } => {
            let elems = |s: ScopeId| -> Vec<ScopeId> {
                plan.flat_children(s)
                    .into_iter()
                    .filter_map(|c| match c {
                        Child::Scope(cs) => Some(cs),
                        Child::Node(_) => None,
                    })
                    .collect()
            };
            let first_elem = |sc: ScopeId, r: &Option<crate::backend::burn::plan::Run>| match r {
                Some(r) => r.members[0],
                None => elems(sc)[0],
            };
            let tname = plan.type_name(first_elem(*scope, run)).to_string();
            let mut lens = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                if let Some(s) = s {
                    let StepKind::Loop { scope: sc, run: r, .. } = &s.kind else {
                        return Err(unsupported(format!("`{fname}` being different kinds of layer"), at));
                    };
                    let es = r.as_ref().map_or_else(|| elems(*sc), |r| r.members.clone());
                    lens.push(es.len());
                    for (k, e) in es.into_iter().enumerate() {
                        if plan.type_name(e) != tname {
                            return Err(unsupported(format!("a stage `{fname}` of mixed blocks"), at));
                        }
                        for (j, a) in args.of(e).iter().enumerate() {
                            let fact = Fact::StageArg { field: fname.to_string(), block: k, arg: j };
                            if args.tunable(e, j) {
                                info.tunable.insert(fact.clone());
                            }
                            facts[i].insert(fact, a.clone());
                        }
                    }
                }
            }
            let len = lens[0];
            let ident = format_ident!("{}", tname);
            let ty_ident = ident.clone();
            let prefix = fname.to_string();
            // A dense run keeps its blocks' names (`denselayer1`, ..) in a
            // `Numbered`; a run among the struct's fields (`conv3_1`, ..) too,
            // named as the struct's own.
            let numbered: Option<(TokenStream, TokenStream)> = match (dense, run) {
                (Some(d), _) => {
                    let (name, first) = (&d.prefix, proc_macro2::Literal::usize_unsuffixed(d.first));
                    Some((quote! { Numbered::new }, quote! { #name, #first }))
                }
                (None, Some(r)) => {
                    let (name, first) = (&r.prefix, proc_macro2::Literal::usize_unsuffixed(r.first));
                    Some((quote! { Numbered::in_parent }, quote! { #fname, #name, #first }))
                }
                (None, None) => None,
            };
            let vec_ty = match &numbered {
                Some(_) => quote! { Numbered<#ty_ident> },
                None => quote! { Vec<#ty_ident> },
            };
            let stage_code = move |v: &dyn Fn(&Fact) -> TokenStream, len: usize, nargs: usize| {
                let calls = (0..len).map(|k| {
                    let args = (0..nargs).map(|j| v(&Fact::StageArg { field: prefix.clone(), block: k, arg: j }));
                    quote! { #ident::init(device #(, #args)*) }
                });
                let blocks = stage_init(calls.collect());
                match &numbered {
                    Some((ctor, lead)) => quote! { #ctor(#lead, #blocks) },
                    None => blocks,
                }
            };
            let doc = match (dense, run) {
                (Some(d), _) => format!(
                    " `{fname}`: `{tname}` blocks named `{p}{}`, `{p}{}`, ..., each reading all before it.",
                    d.first,
                    d.first + 1,
                    p = d.prefix,
                ),
                (None, Some(r)) => format!(
                    " `{fname}`: `{tname}` blocks, `{p}{}`, `{p}{}`, ... in the checkpoint as this struct's own.",
                    r.first,
                    r.first + 1,
                    p = r.prefix,
                ),
                (None, None) => format!(" `{fname}`: a stage of `{tname}` blocks."),
            };
            if lens.iter().any(|l| *l != len) {
                // Stages of different lengths: the caller builds the blocks.
                let mut k = 0;
                for (i, s) in steps.iter().enumerate() {
                    if s.is_some() {
                        let f = facts[i].clone();
                        let lit = |fact: &Fact| f.get(fact).map_or_else(|| quote! { 0 }, Lit::tokens);
                        let n = args
                            .of(match &s.as_ref().expect("some").kind {
                                StepKind::Loop { scope, run, .. } => first_elem(*scope, run),
                                _ => unreachable!("loop"),
                            })
                            .len();
                        let code = stage_code(&lit, lens[k], n);
                        facts[i].retain(|key, _| !matches!(key, Fact::StageArg { field, .. } if field == fname));
                        let built = Lit::Code { tokens: code, ty: vec_ty.clone() };
                        facts[i].insert(Fact::Stage(fname.to_string()), built);
                        k += 1;
                    }
                }
                let stage = Fact::Stage(fname.to_string());
                let b: Build = Box::new(move |v, _| v(&stage));
                return Ok((vec_ty, b, doc));
            }
            let nargs = args.of(first_elem(*scope, run)).len();
            let b: Build = Box::new(move |v, _| stage_code(v, len, nargs));
            Ok((vec_ty, b, doc))
        }
        StepKind::Inline(_) => unreachable!("inline steps are not fields"),
    }
}

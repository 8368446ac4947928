//! One struct type over all its instances: the fields (optional where some
//! instances lack them), the constants that differ, the `init` arguments, and
//! one forward program that is right for every instance.

use std::collections::{BTreeMap, HashMap};

use petgraph::stable_graph::NodeIndex;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::CodegenError;
use super::ops::{self, Lit};
use super::plan::{OpKind, Plan, Step, StepKind, StructType};
use crate::ir::{Child, ScopeId};

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
    pub uses_repeat: bool,
}

/// A value in the canonical program: the struct's input or a step's output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Ref {
    Input,
    Step(String),
}

/// Per instance, the value of each construction fact (`conv1.out`, `downsample?`).
type Facts = BTreeMap<String, Lit>;

thread_local! {
    /// `init` arguments of each struct type, per instance, for its callers.
    static ARGS: std::cell::RefCell<HashMap<ScopeId, Vec<Lit>>> = std::cell::RefCell::new(HashMap::new());
}

fn unsupported(what: impl Into<String>, at: &str) -> CodegenError {
    CodegenError::Unsupported { what: what.into(), at: at.into() }
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

pub fn unify(plan: &Plan<'_>, ty: &StructType) -> Result<Unified, CodegenError> {
    let g = plan.g;
    let at = g.scope(ty.instances[0]).path.clone();
    let at = if at.is_empty() { g.name.clone() } else { at };
    let mut progs: Vec<(NodeIndex, Vec<Step>)> =
        ty.instances.iter().map(|&s| plan.program(s)).collect::<Result<_, _>>()?;
    // Where one instance holds a layer and another an `identity` in its place
    // (`[if s > 1 { avgpool(..) } else { identity }, ..]`), the identity is the
    // layer's absence: drop it, and let its output stand for its input. An
    // identity everywhere (`se: attn` without attention) goes the same way.
    let module_keys: std::collections::HashSet<String> = progs
        .iter()
        .flat_map(|p| &p.1)
        .filter(|s| !matches!(s.kind, StepKind::Inline(_)))
        .map(|s| s.key.clone())
        .collect();
    let mut aliases: Vec<Vec<(NodeIndex, NodeIndex)>> = vec![Vec::new(); progs.len()];
    for (i, (_, steps)) in progs.iter_mut().enumerate() {
        let mut kept = Vec::new();
        for st in steps.drain(..) {
            let identity = matches!(g.node(st.out).op, crate::ir::Op::Identity);
            if matches!(st.kind, StepKind::Inline(_)) && (identity || module_keys.contains(&st.key)) {
                if !identity {
                    return Err(unsupported(
                        format!("`{}` being a layer in some instances and an op in others", st.key),
                        &at,
                    ));
                }
                aliases[i].push((st.out, st.inputs[0]));
            } else {
                kept.push(st);
            }
        }
        *steps = kept;
    }

    // Canonical order of steps: every instance's steps, merged.
    let mut order: Vec<String> = Vec::new();
    let longest = (0..progs.len()).max_by_key(|&i| progs[i].1.len()).unwrap_or(0);
    order.extend(progs[longest].1.iter().map(|s| s.key.clone()));
    for (_, steps) in &progs {
        let mut prev: Option<usize> = None;
        for s in steps {
            match order.iter().position(|k| *k == s.key) {
                Some(p) => prev = Some(p),
                None => {
                    let at = prev.map_or(0, |p| p + 1);
                    order.insert(at, s.key.clone());
                    prev = Some(at);
                }
            }
        }
    }
    let n_inst = progs.len();
    let step_of = |i: usize, key: &str| progs[i].1.iter().find(|s| s.key == key);
    let present = |key: &str| -> Vec<bool> { (0..n_inst).map(|i| step_of(i, key).is_some()).collect() };
    // Value ids of each instance: which canonical value each IR node is.
    let value_of: Vec<HashMap<NodeIndex, Ref>> = progs
        .iter()
        .map(|(input, steps)| {
            let mut m = HashMap::new();
            m.insert(*input, Ref::Input);
            for s in steps {
                m.insert(s.out, Ref::Step(s.key.clone()));
            }
            m
        })
        .collect();
    let value_of: Vec<HashMap<NodeIndex, Ref>> = value_of
        .into_iter()
        .zip(&aliases)
        .map(|(mut m, al)| {
            for (out, inp) in al {
                if let Some(r) = m.get(inp).cloned() {
                    m.insert(*out, r);
                }
            }
            m
        })
        .collect();
    let actual = |i: usize, n: NodeIndex| -> Result<Ref, CodegenError> {
        value_of[i].get(&n).cloned().ok_or_else(|| unsupported("a value read across a block boundary", &at))
    };

    // Canonical inputs: one program for every instance. An absent optional
    // step stands for some earlier value (its "none value"): its own input
    // usually, the block input for a pre-activation shortcut.
    let mut canon: HashMap<String, Vec<Ref>> = HashMap::new();
    let mut none_value: HashMap<String, Ref> = HashMap::new();
    let pos = |r: &Ref| match r {
        Ref::Input => 0,
        Ref::Step(k) => 1 + order.iter().position(|o| o == k).unwrap_or(0),
    };
    // Follows absent steps to the value an instance really has; binds an
    // unbound none value to `want` where it is earlier than `before`.
    let resolve = |r: &Ref, i: usize, want: &Ref, before: usize, none: &mut HashMap<String, Ref>| -> Option<Ref> {
        let mut r = r.clone();
        for _ in 0..=order.len() + 1 {
            match &r {
                Ref::Input => return Some(r),
                Ref::Step(k) if step_of(i, k).is_some() => return Some(r),
                Ref::Step(k) => match none.get(k) {
                    Some(v) => r = v.clone(),
                    None if pos(want) < before && pos(want) < pos(&r) => {
                        none.insert(k.clone(), want.clone());
                        return Some(want.clone());
                    }
                    None => return None,
                },
            }
        }
        None
    };
    for (kpos, key) in order.iter().enumerate() {
        let holders: Vec<usize> = (0..n_inst).filter(|&i| step_of(i, key).is_some()).collect();
        let arity = step_of(holders[0], key).expect("holder").inputs.len();
        let mut slots = Vec::new();
        for j in 0..arity {
            let mut cands: Vec<Ref> = Vec::new();
            let mut actuals = Vec::new();
            for &i in &holders {
                let a = actual(i, step_of(i, key).expect("holder").inputs[j])?;
                if !cands.contains(&a) {
                    cands.push(a.clone());
                }
                actuals.push((i, a));
            }
            // Prefer the latest candidate in program order.
            cands.sort_by_key(&pos);
            let mut chosen = None;
            for c in cands.iter().rev() {
                let mut trial = none_value.clone();
                if actuals.iter().all(|(i, a)| resolve(c, *i, a, kpos + 1, &mut trial).as_ref() == Some(a)) {
                    none_value = trial;
                    chosen = Some(c.clone());
                    break;
                }
            }
            slots.push(chosen.ok_or_else(|| unsupported("instances whose layers connect differently", &at))?);
        }
        if holders.len() < n_inst && arity != 1 {
            return Err(unsupported(format!("a layer with {arity} inputs that only some instances have"), &at));
        }
        canon.insert(key.clone(), slots);
    }
    // Unconstrained absent steps pass their input through.
    for key in &order {
        if (0..n_inst).any(|i| step_of(i, key).is_none()) && !none_value.contains_key(key) {
            none_value.insert(key.clone(), canon[key][0].clone());
        }
    }
    // The output, the same way.
    let outs: Vec<Ref> = (0..n_inst)
        .map(|i| {
            let s = ty.instances[i];
            let out = if s.0 == 0 { g.output } else { plan.boundary(s).map(|b| b.1)? };
            actual(i, out)
        })
        .collect::<Result<_, _>>()?;
    let mut out_cands = outs.clone();
    out_cands.dedup();
    let end = order.len() + 1;
    let output = out_cands
        .iter()
        .find(|c| {
            let mut trial = none_value.clone();
            (0..n_inst).all(|i| resolve(c, i, &outs[i], end, &mut trial).as_ref() == Some(&outs[i]))
        })
        .cloned()
        .ok_or_else(|| unsupported("instances with different outputs", &at))?;

    // Facts: what each instance is built from.
    let mut facts: Vec<Facts> = vec![Facts::new(); n_inst];
    let mut fields: Vec<FieldPlan> = Vec::new();
    let mut consts: Vec<ConstField> = Vec::new();
    let mut inline_names: HashMap<String, String> = HashMap::new();
    let mut kind_count: HashMap<&'static str, usize> = HashMap::new();
    for key in &order {
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
                        f.insert(format!("const:{name}"), Lit::Bool(pres[i]));
                    }
                    consts.push(ConstField { fact: format!("const:{name}"), name });
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
                        f.insert(format!("const:{name}"), values[i].clone());
                    }
                    consts.push(ConstField { name: name.clone(), fact: format!("const:{name}") });
                }
                let _ = hi;
            }
            StepKind::FieldOp { path, .. } | StepKind::Call { path, .. } | StepKind::Loop { path, .. } => {
                let top = path[0].clone();
                let fp = match fields.iter_mut().find(|f| f.name == top) {
                    Some(f) => f,
                    None => {
                        fields.push(FieldPlan { name: field_ident(&top, &at)?, elems: BTreeMap::new(), whole: None });
                        fields.last_mut().expect("pushed")
                    }
                };
                let entry = FieldEntry { key: key.clone(), present: pres.clone() };
                match path.len() {
                    1 => fp.whole = Some(entry),
                    _ => {
                        let idx: usize = path[1].parse().map_err(|_| unsupported("a list element name", &at))?;
                        fp.elems.insert(idx, entry);
                    }
                }
            }
        }
    }
    // Tuple elements that only hold inline ops (a relu in `[conv, bn, relu]`)
    // still take their place in the tuple.
    for key in &order {
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
    let mut out_fields = Vec::new();
    let mut uses_repeat = false;
    let mut field_tokens: Vec<(String, TokenStream, Build, String)> = Vec::new();
    for fp in &fields {
        match &fp.whole {
            Some(entry) => {
                let (ty_tokens, build, doc) =
                    field_kind(plan, &progs, &ty.instances, entry, &fp.name, &mut facts, &mut uses_repeat, &at)?;
                let optional = entry.present.iter().any(|p| !p);
                let (ty_tokens, build) =
                    wrap_optional(optional, &fp.name, ty_tokens, build, &mut facts, &entry.present);
                field_tokens.push((fp.name.clone(), ty_tokens, build, doc));
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
                        Some(entry) if is_module_step(&progs, entry) => {
                            let (t, b, _) = field_kind(
                                plan,
                                &progs,
                                &ty.instances,
                                entry,
                                &fname,
                                &mut facts,
                                &mut uses_repeat,
                                &at,
                            )?;
                            let optional = (0..n_inst).any(|i| tuple_present[i] && !entry.present[i]);
                            let (t, b) = wrap_optional(optional, &fname, t, b, &mut facts, &entry.present);
                            elem_tys.push(t);
                            elem_builds.push(b);
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
                field_tokens.push((fp.name.clone(), t, build, doc));
            }
        }
    }

    // `init` arguments: the facts that differ between instances, one argument
    // per distinct column of values, named after the block's own arguments
    // where the values match.
    let mut names: Vec<String> = facts[0].keys().cloned().collect();
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
    let mut fact_param: HashMap<String, String> = HashMap::new();
    let mut fact_expr: HashMap<String, TokenStream> = HashMap::new();
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
        if col.iter().flatten().all(|v| *v == first) {
            continue;
        }
        let keys: Vec<Option<String>> = col.iter().map(|v| v.as_ref().map(Lit::key)).collect();
        if let Some((_, p)) = param_cols.iter().find(|(k, _)| compatible(&keys, k)) {
            fact_param.insert(name.clone(), p.clone());
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
        let is_int = matches!(first, Lit::Usize(_));
        // A multiple of an argument already taken reads as `planes * 4`.
        let multiple = params.iter().zip(&param_values).find_map(|(p, vals)| {
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
                .map(|k| (p.name.clone(), k))
        });
        if let Some((base, k)) = multiple {
            let id = format_ident!("{}", base);
            let k = proc_macro2::Literal::u64_unsuffixed(k);
            fact_expr.insert(name.clone(), quote! { #id * #k });
            continue;
        }
        let mut pname = block_args
            .iter()
            .find(|(_, vals)| is_int && as_ints.iter().zip(vals).all(|(a, b)| a.is_none_or(|a| a == *b)))
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| sanitize(name));
        while params.iter().any(|p| p.name == pname) || pname == "device" {
            pname.push('_');
        }
        params.push(Param { name: pname.clone(), ty: first.rust_type() });
        param_cols.push((full.iter().map(Lit::key).collect(), pname.clone()));
        param_values.push(full);
        fact_param.insert(name.clone(), pname);
    }
    let lit_of = |name: &str| -> Option<Lit> {
        if fact_param.contains_key(name) || fact_expr.contains_key(name) {
            None
        } else {
            facts.iter().find_map(|f| f.get(name).cloned())
        }
    };
    let _ = &lit_of;
    let tok_of = |name: &str| -> TokenStream {
        if let Some(e) = fact_expr.get(name) {
            return e.clone();
        }
        match fact_param.get(name) {
            Some(p) => {
                let id = format_ident!("{}", p);
                quote! { #id }
            }
            None => facts.iter().find_map(|f| f.get(name)).map_or_else(|| quote! { 0 }, Lit::tokens),
        }
    };
    // Record each instance's arguments for the callers.
    ARGS.with(|a| {
        let mut a = a.borrow_mut();
        for (i, &s) in ty.instances.iter().enumerate() {
            let vals = param_values.iter().map(|col| col[i].clone()).collect();
            a.insert(s, vals);
        }
    });

    for (name, t, build, doc) in field_tokens {
        out_fields.push(FieldOut { rust_name: name, ty_tokens: t, init: build(&tok_of, &lit_of), doc });
    }
    for c in &consts {
        let lit = facts.iter().find_map(|f| f.get(&c.fact)).cloned().unwrap_or(Lit::Bool(false));
        out_fields.push(FieldOut {
            rust_name: c.name.clone(),
            ty_tokens: lit.rust_type(),
            init: tok_of(&c.fact),
            doc: " An op constant that differs between instances.".into(),
        });
    }

    // The forward program.
    let mut uses: HashMap<Ref, usize> = HashMap::new();
    for key in &order {
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
    let mut taken: Vec<String> = vec!["x".into(), "drop_path".into(), "repeat".into()];
    let mut body: Vec<(proc_macro2::Ident, TokenStream)> = Vec::new();
    let rep_inst = |key: &str| (0..n_inst).find_map(|i| step_of(i, key)).expect("holder");
    for key in &order {
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
                let code = ops::inline(&g.node(*node).op, &args, &c);
                if consts.iter().any(|k| k.name == format!("use_{base}")) {
                    let f = format_ident!("use_{}", base);
                    quote! { if self.#f { #code } else { #none_tok } }
                } else {
                    code
                }
            }
            StepKind::FieldOp { path, node } => {
                let op = &g.node(*node).op;
                access(&fields, &progs, path, key, |m| ops::field_forward(op, &m, &a0), &none_tok)
            }
            StepKind::Call { path, .. } => {
                access(&fields, &progs, path, key, |m| quote! { #m.forward(#a0) }, &none_tok)
            }
            StepKind::Loop { path, .. } => access(
                &fields,
                &progs,
                path,
                key,
                |m| {
                    quote! {{
                        let mut t = #a0;
                        for block in #m.iter() {
                            t = block.forward(t);
                        }
                        t
                    }}
                },
                &none_tok,
            ),
        };
        body.push((v.clone(), expr));
        var_names.insert(Ref::Step(key.clone()), v);
    }
    // The last value is returned as an expression, not bound and returned.
    let last_is_output = matches!((&output, order.last()), (Ref::Step(k), Some(last)) if k == last)
        && uses.get(&output).copied().unwrap_or(0) == 1;
    let tail = if last_is_output {
        let (_, e) = body.pop().expect("a last step");
        e
    } else {
        let out_id = var_names[&output].clone();
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
    let forward = quote! { #(#lets)* #tail };
    Ok(Unified { fields: out_fields, params, forward, in_rank, out_rank, uses_repeat })
}

pub fn instance_args(s: ScopeId) -> Vec<Lit> {
    ARGS.with(|a| a.borrow().get(&s).cloned().unwrap_or_default())
}

pub fn reset() {
    ARGS.with(|a| a.borrow_mut().clear());
}

struct FieldPlan {
    name: String,
    elems: BTreeMap<usize, FieldEntry>,
    whole: Option<FieldEntry>,
}

struct FieldEntry {
    key: String,
    present: Vec<bool>,
}

struct ConstField {
    name: String,
    fact: String,
}

type Build = Box<dyn Fn(&dyn Fn(&str) -> TokenStream, &dyn Fn(&str) -> Option<Lit>) -> TokenStream>;

fn sanitize(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) { format!("v{out}") } else { out }
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
    let fact = format!("has:{name}");
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
    plan: &Plan<'_>,
    progs: &[(NodeIndex, Vec<Step>)],
    instances: &[ScopeId],
    entry: &FieldEntry,
    fname: &str,
    facts: &mut [Facts],
    uses_repeat: &mut bool,
    at: &str,
) -> Result<(TokenStream, Build, String), CodegenError> {
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
                        facts[i].insert(format!("{fname}.{k}"), v);
                    }
                }
            }
            let t = match kind {
                OpKind::Conv | OpKind::StdConv(_) => quote! { Conv2d },
                OpKind::Bn => quote! { BatchNorm },
                OpKind::GroupNorm => quote! { GroupNorm },
                OpKind::ChannelConv => crate::ir::op::ChannelConv::burn_type(),
                OpKind::LayerNorm => crate::ir::op::LayerNorm::burn_type(),
                OpKind::AttentionPool => crate::ir::op::AttentionPool::burn_type(),
                OpKind::Linear => quote! { Linear },
                OpKind::MaxPool => quote! { MaxPool2d },
                OpKind::AvgPool => quote! { AvgPool2d },
                OpKind::Dropout => quote! { Dropout },
                OpKind::DropPath => quote! { DropPath },
            };
            let prefix = fname.to_string();
            let node = g.node(*node);
            let doc = format!(" `{}`: {}.", fname, node.op.describe());
            let b: Build = Box::new(move |v, l| {
                let vv = |k: &str| v(&format!("{prefix}.{k}"));
                let ll = |k: &str| l(&format!("{prefix}.{k}"));
                ops::builder(kind, &vv, &ll)
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
                    let args = instance_args(*sc);
                    nargs = args.len();
                    for (j, a) in args.into_iter().enumerate() {
                        facts[i].insert(format!("{fname}:{j}"), a);
                    }
                }
            }
            let ident = format_ident!("{}", tname);
            let ty_ident = ident.clone();
            let prefix = fname.to_string();
            let doc = format!(" `{fname}`: a `{tname}`.");
            let b: Build = Box::new(move |v, _| {
                let args: Vec<TokenStream> = (0..nargs).map(|j| v(&format!("{prefix}:{j}"))).collect();
                quote! { #ident::init(device #(, #args)*) }
            });
            Ok((quote! { #ty_ident }, b, doc))
        }
        StepKind::Loop { scope, .. } => {
            let elems = |s: ScopeId| -> Vec<ScopeId> {
                plan.flat_children(s)
                    .into_iter()
                    .filter_map(|c| match c {
                        Child::Scope(cs) => Some(cs),
                        Child::Node(_) => None,
                    })
                    .collect()
            };
            let tname = plan.type_name(elems(*scope)[0]).to_string();
            let mut lens = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                if let Some(s) = s {
                    let StepKind::Loop { scope: sc, .. } = &s.kind else {
                        return Err(unsupported(format!("`{fname}` being different kinds of layer"), at));
                    };
                    let es = elems(*sc);
                    lens.push(es.len());
                    for (k, e) in es.into_iter().enumerate() {
                        if plan.type_name(e) != tname {
                            return Err(unsupported(format!("a stage `{fname}` of mixed blocks"), at));
                        }
                        for (j, a) in instance_args(e).into_iter().enumerate() {
                            facts[i].insert(format!("{fname}[{k}]:{j}"), a);
                        }
                    }
                }
            }
            let len = lens[0];
            let ident = format_ident!("{}", tname);
            let ty_ident = ident.clone();
            let prefix = fname.to_string();
            *uses_repeat = true;
            let _ = instances;
            let stage_code = move |v: &dyn Fn(&str) -> TokenStream, len: usize, nargs: usize| -> TokenStream {
                // Runs of blocks built the same way become one `repeat`.
                let calls: Vec<(String, TokenStream)> = (0..len)
                    .map(|k| {
                        let args: Vec<TokenStream> = (0..nargs).map(|j| v(&format!("{prefix}[{k}]:{j}"))).collect();
                        let call = quote! { #ident::init(device #(, #args)*) };
                        (call.to_string(), call)
                    })
                    .collect();
                let mut parts = Vec::new();
                let mut k = 0;
                while k < calls.len() {
                    let mut j = k + 1;
                    while j < calls.len() && calls[j].0 == calls[k].0 {
                        j += 1;
                    }
                    let call = &calls[k].1;
                    let n = proc_macro2::Literal::usize_unsuffixed(j - k);
                    parts.push(if j - k == 1 {
                        (true, quote! { #call })
                    } else {
                        (false, quote! { repeat(#n, || #call) })
                    });
                    k = j;
                }
                // Single blocks in a row share one `vec![..]`.
                let mut groups: Vec<TokenStream> = Vec::new();
                let mut singles: Vec<TokenStream> = Vec::new();
                for (single, p) in parts {
                    if single {
                        singles.push(p);
                    } else {
                        if !singles.is_empty() {
                            groups.push(quote! { vec![#(#singles),*] });
                            singles.clear();
                        }
                        groups.push(p);
                    }
                }
                if !singles.is_empty() {
                    groups.push(quote! { vec![#(#singles),*] });
                }
                if groups.len() == 1 {
                    let p = &groups[0];
                    quote! { #p }
                } else {
                    quote! { [#(#groups),*].concat() }
                }
            };
            let doc = format!(" `{fname}`: a stage of `{tname}` blocks.");
            if lens.iter().any(|l| *l != len) {
                // Stages of different lengths: the caller builds the blocks.
                let mut k = 0;
                for (i, s) in steps.iter().enumerate() {
                    if s.is_some() {
                        let f = facts[i].clone();
                        let lit = |name: &str| f.get(name).map_or_else(|| quote! { 0 }, Lit::tokens);
                        let n = instance_args(
                            elems(match &s.as_ref().expect("some").kind {
                                StepKind::Loop { scope, .. } => *scope,
                                _ => unreachable!("loop"),
                            })[0],
                        )
                        .len();
                        let code = stage_code(&lit, lens[k], n);
                        let element = format!("{fname}[");
                        facts[i].retain(|key, _| !key.starts_with(&element));
                        facts[i].insert(fname.to_string(), Lit::Code { tokens: code, ty: quote! { Vec<#ty_ident> } });
                        k += 1;
                    }
                }
                let name = fname.to_string();
                let b: Build = Box::new(move |v, _| v(&name));
                return Ok((quote! { Vec<#ty_ident> }, b, doc));
            }
            let nargs = instance_args(elems(*scope)[0]).len();
            let b: Build = Box::new(move |v, _| stage_code(v, len, nargs));
            Ok((quote! { Vec<#ty_ident> }, b, doc))
        }
        StepKind::Inline(_) => unreachable!("inline steps are not fields"),
    }
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

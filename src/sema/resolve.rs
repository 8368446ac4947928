//! Static checks over every declaration, used or not: parameter types,
//! duplicate parameters, and blocks that contain themselves.

use std::collections::HashMap;

use super::program::Program;
use super::{SemaError, did_you_mean};
use crate::diag::Diag;
use crate::syntax::ast::{Atom, BlockDecl, Body, Chain, ExprKind, Stmt, TypeExpr};

const TYPES: &[&str] = &["int", "float", "bool", "str", "block"];

pub fn resolve(prog: &Program) -> Vec<Diag> {
    let mut diags = Vec::new();
    for b in &prog.blocks {
        check_params(b, &mut diags);
    }
    check_cycles(prog, &mut diags);
    diags
}

fn check_params(b: &BlockDecl, diags: &mut Vec<Diag>) {
    let mut seen: HashMap<&str, crate::source::Span> = HashMap::new();
    for p in &b.params {
        if let Some(&first) = seen.get(p.name.name.as_str()) {
            diags.push(
                Diag::new(SemaError::DuplicateParam { name: p.name.name.clone() })
                    .at(p.name.span, "declared again here")
                    .also(first, "first declared here"),
            );
        }
        seen.insert(&p.name.name, p.name.span);
        check_type(&p.ty, diags);
    }
}

fn check_type(t: &TypeExpr, diags: &mut Vec<Diag>) {
    match t {
        TypeExpr::Named(id) if !TYPES.contains(&id.name.as_str()) => {
            let mut d = Diag::new(SemaError::UnknownName { what: "type", name: id.name.clone() }).at(id.span, "not a type");
            d = match did_you_mean(&id.name, TYPES.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help("the types are int, float, bool, str, block and lists like [int; 4]"),
            };
            diags.push(d);
        }
        TypeExpr::Named(_) => {}
        TypeExpr::List { elem, .. } => check_type(elem, diags),
    }
}

/// Blocks a body names directly, with where.
fn direct_uses(prog: &Program, body: &Body, out: &mut Vec<(String, crate::source::Span)>) {
    for s in &body.stmts {
        if let Stmt::Layer(l) = s {
            chain_uses(prog, &l.chain, out);
        }
    }
}

fn chain_uses(prog: &Program, chain: &Chain, out: &mut Vec<(String, crate::source::Span)>) {
    for t in &chain.terms {
        match &t.atom {
            Atom::Call(c) => {
                if prog.block(&c.name.name).is_some() {
                    out.push((c.name.name.clone(), c.name.span));
                }
                for a in c.args.iter().flatten() {
                    if let ExprKind::Call(inner) = &a.value.kind
                        && prog.block(&inner.name.name).is_some()
                    {
                        out.push((inner.name.name.clone(), inner.name.span));
                    }
                }
            }
            Atom::Residual(r) => {
                direct_uses(prog, &r.body, out);
                if let Some(sc) = &r.shortcut {
                    direct_uses(prog, &sc.then, out);
                    if let Some(o) = &sc.otherwise {
                        direct_uses(prog, o, out);
                    }
                }
            }
            Atom::Combine { branches, .. } => branches.iter().for_each(|b| direct_uses(prog, b, out)),
            Atom::List { items, .. } => items.iter().for_each(|l| chain_uses(prog, &l.chain, out)),
            Atom::For(f) => direct_uses(prog, &f.body, out),
        }
    }
}

fn check_cycles(prog: &Program, diags: &mut Vec<Diag>) {
    let uses: Vec<Vec<(String, crate::source::Span)>> = prog
        .blocks
        .iter()
        .map(|b| {
            let mut v = Vec::new();
            direct_uses(prog, &b.body, &mut v);
            v
        })
        .collect();
    // Depth-first search from each block; report each cycle once, at its
    // smallest-index member.
    for start in 0..prog.blocks.len() {
        let mut path: Vec<(usize, crate::source::Span)> = Vec::new();
        if let Some(cycle) = find_cycle(prog, &uses, start, start, &mut path, &mut vec![false; prog.blocks.len()])
            && cycle.iter().all(|(i, _)| *i >= start)
        {
            let names: Vec<&str> = std::iter::once(start)
                .chain(cycle.iter().map(|(i, _)| *i))
                .map(|i| prog.blocks[i].name.name.as_str())
                .collect();
            let b = &prog.blocks[start];
            let mut d = Diag::new(SemaError::Cycle { name: b.name.name.clone(), cycle: names.join(" -> ") })
                .at(cycle.last().map_or(b.name.span, |c| c.1), "the cycle closes here")
                .also(b.name.span, "this block");
            for (i, span) in &cycle[..cycle.len() - 1] {
                d = d.also(*span, format!("uses `{}`", prog.blocks[*i].name.name));
            }
            diags.push(d);
        }
    }
}

fn find_cycle(
    prog: &Program,
    uses: &[Vec<(String, crate::source::Span)>],
    start: usize,
    at: usize,
    path: &mut Vec<(usize, crate::source::Span)>,
    visited: &mut Vec<bool>,
) -> Option<Vec<(usize, crate::source::Span)>> {
    visited[at] = true;
    for (name, span) in &uses[at] {
        let &next = prog.block_index.get(name)?;
        path.push((next, *span));
        if next == start {
            return Some(path.clone());
        }
        if !visited[next]
            && let Some(c) = find_cycle(prog, uses, start, next, path, visited)
        {
            return Some(c);
        }
        path.pop();
    }
    None
}

//! Static checks over every declaration, used or not: parameter types,
//! duplicate parameters, unknown names and arguments, unlabelled layers with
//! parameters, and blocks that contain themselves. Instantiation finds the
//! rest (shapes, values); the same error found twice is reported once.

use std::collections::HashMap;

use super::builtins;
use super::program::Program;
use super::{SemaError, did_you_mean, free_label};
use crate::diag::Diag;
use crate::source::Span;
use crate::syntax::ast::{
    Arg, Atom, BlockDecl, Body, Call, Chain, Expr, ExprKind, FromTarget, Ident, Label, LabelPart, Layer, Stmt, TypeExpr,
};

const TYPES: &[&str] = &["int", "float", "bool", "str", "block"];

/// The plain labels anywhere in `body` (an explicit stack: bodies nest as
/// deep as the input does).
fn plain_labels(body: &Body) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo: Vec<&Body> = vec![body];
    while let Some(b) = todo.pop() {
        for s in &b.stmts {
            let Stmt::Layer(l) = s else { continue };
            let mut layers = vec![l];
            while let Some(l) = layers.pop() {
                if let Some(label) = &l.label
                    && let [LabelPart::Text(t)] = label.parts.as_slice()
                {
                    out.push(t.clone());
                }
                for t in &l.chain.terms {
                    match &t.atom {
                        Atom::Call(_) => {}
                        Atom::Residual(r) => {
                            todo.push(&r.body);
                            if let Some(sc) = &r.shortcut {
                                todo.push(&sc.then);
                                todo.extend(sc.otherwise.iter());
                            }
                        }
                        Atom::Combine { branches, .. } => todo.extend(branches.iter()),
                        Atom::List { items, .. } => layers.extend(items.iter()),
                        Atom::For(f) => todo.push(&f.body),
                        Atom::Group(b) | Atom::Dense(b) => todo.push(b),
                        Atom::If(i) => {
                            todo.push(&i.then);
                            todo.extend(i.otherwise.iter());
                        }
                    }
                }
            }
        }
    }
    out
}

/// The `n` candidates most like `name`, best first: what a part of the
/// name is called here (`group_norm`: `bn`), then by Jaro-Winkler.
fn closest<'a>(name: &str, cands: impl Iterator<Item = &'a str>, n: usize) -> Vec<&'a str> {
    let aliases: Vec<&str> = name.split('_').filter_map(super::alias).collect();
    let score = |c: &str| strsim::jaro_winkler(name, c) + if aliases.contains(&c) { 1.0 } else { 0.0 };
    let mut scored: Vec<(f64, &str)> = cands.map(|c| (score(c), c)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

pub fn resolve(prog: &Program) -> Vec<Diag> {
    let mut diags = Vec::new();
    for b in &prog.blocks {
        check_params(b, &mut diags);
        let mut w = Walker { prog, diags: &mut diags, scope: Vec::new(), block: Some(&b.body) };
        for p in &b.params {
            if let Some(d) = &p.default {
                w.expr(d);
            }
            w.scope.push(p.name.name.clone());
        }
        w.body(&b.body, false);
    }
    for l in &prog.lets {
        Walker { prog, diags: &mut diags, scope: Vec::new(), block: None }.expr(&l.value);
    }
    for m in &prog.models {
        let mut w = Walker { prog, diags: &mut diags, scope: Vec::new(), block: None };
        w.expr(&m.network);
        if let ExprKind::List(items) = &m.input.kind {
            // The first dimension may be a free name: the symbolic batch.
            for (i, item) in items.iter().enumerate() {
                if !(i == 0 && matches!(&item.kind, ExprKind::Call(Call { args: None, .. }))) {
                    w.expr(item);
                }
            }
        }
        if let Some(e) = &m.with {
            w.expr(e);
        }
    }
    check_cycles(prog, &mut diags);
    diags
}

struct Walker<'a> {
    prog: &'a Program,
    diags: &'a mut Vec<Diag>,
    /// Parameters, `let`s and loop variables visible here.
    scope: Vec<String>,
    /// The body of the block being walked, whose labels a suggested label
    /// must avoid (collected only when one is suggested).
    block: Option<&'a Body>,
}

impl Walker<'_> {
    fn body(&mut self, b: &Body, indexed: bool) {
        self.duplicate_labels(b);
        let mark = self.scope.len();
        for s in &b.stmts {
            match s {
                Stmt::Let(l) => {
                    self.expr(&l.value);
                    self.scope.push(l.name.name.clone());
                }
                Stmt::Layer(l) => self.layer(l, indexed),
                Stmt::Assert { cond, .. } => self.expr(cond),
                Stmt::From(f) => self.continue_from(f),
            }
        }
        self.scope.truncate(mark);
    }

    /// Two layers of one body under the same plain label, found in every
    /// block, used or not. Reported where instantiation reports it (the label,
    /// or the call of a block), so that finding it twice shows it once.
    fn duplicate_labels(&mut self, b: &Body) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for s in &b.stmts {
            let Stmt::Layer(l) = s else { continue };
            let Some(label) = &l.label else { continue };
            let [LabelPart::Text(text)] = label.parts.as_slice() else { continue };
            let span = match l.chain.terms.as_slice() {
                [t] if t.repeat.is_none() => match &t.atom {
                    // A parameter may hold an op or a block, reported at
                    // different places: instantiation finds those.
                    Atom::Call(c) if self.in_scope(&c.name.name) => continue,
                    Atom::Call(c) if self.is_builtin_op(&c.name.name) => label.span,
                    Atom::Call(c) => c.span,
                    Atom::List { .. } => label.span,
                    _ => continue,
                },
                _ => label.span,
            };
            match seen.get(text) {
                Some(&first) => self.diags.push(
                    Diag::new(SemaError::DuplicateLabel { label: text.clone() })
                        .at(span, "used again here")
                        .also(first, "first used here"),
                ),
                None => {
                    seen.insert(text.clone(), span);
                }
            }
        }
    }

    fn is_builtin_op(&self, name: &str) -> bool {
        self.prog.block(name).is_none() && builtins::sig(name).is_some()
    }

    fn label(&mut self, label: &Label) {
        for p in &label.parts {
            if let LabelPart::Expr(e) = p {
                self.expr(e);
            }
        }
    }

    fn continue_from(&mut self, f: &FromTarget) {
        if let Some(l) = &f.label {
            self.label(l);
        }
    }

    fn layer(&mut self, l: &Layer, indexed: bool) {
        if let Some(label) = &l.label {
            self.label(label);
        }
        self.chain(&l.chain, l.label.is_some() || indexed);
    }

    fn chain(&mut self, ch: &Chain, named: bool) {
        let single = ch.terms.len() == 1 && ch.terms[0].repeat.is_none();
        for t in &ch.terms {
            if let Some(r) = &t.repeat {
                self.expr(r);
            }
            self.atom(&t.atom, named || !single);
        }
    }

    fn atom(&mut self, a: &Atom, named: bool) {
        match a {
            Atom::Call(c) => self.layer_call(c, named),
            Atom::Residual(r) => {
                self.body(&r.body, false);
                if let Some(sc) = &r.shortcut {
                    if let Some(f) = &sc.from {
                        self.continue_from(f);
                    }
                    if let Some(c) = &sc.cond {
                        self.expr(c);
                    }
                    self.body(&sc.then, false);
                    if let Some(o) = &sc.otherwise {
                        self.body(o, false);
                    }
                }
            }
            Atom::Combine { branches, .. } => branches.iter().for_each(|b| self.body(b, false)),
            Atom::List { items, .. } => items.iter().for_each(|l| self.layer(l, true)),
            Atom::Group(b) | Atom::Dense(b) => self.body(b, false),
            Atom::If(i) => {
                self.expr(&i.cond);
                self.body(&i.then, named);
                if let Some(o) = &i.otherwise {
                    self.body(o, named);
                }
            }
            Atom::For(f) => {
                self.expr(&f.iter);
                let mark = self.scope.len();
                if let Some(i) = &f.index {
                    self.scope.push(i.name.clone());
                }
                self.scope.push(f.var.name.clone());
                self.body(&f.body, named);
                self.scope.truncate(mark);
            }
        }
    }

    fn in_scope(&self, name: &str) -> bool {
        self.scope.iter().any(|s| s == name)
    }

    fn layer_call(&mut self, c: &Call, named: bool) {
        let args = c.args.as_deref().unwrap_or(&[]);
        let name = c.name.name.as_str();
        if self.in_scope(name) {
            self.args(args, None);
        } else if let Some(b) = self.prog.block(name) {
            let params: Vec<&str> = b.params.iter().map(|p| p.name.name.as_str()).collect();
            self.args(args, Some((name, &params)));
        } else if let Some(sig) = builtins::sig(name) {
            let params: Vec<&str> = sig.params.iter().map(|p| p.name).collect();
            self.args(args, Some((name, &params)));
            if matches!(name, "conv" | "bn" | "linear") && !named {
                let taken = self.block.map(plain_labels).unwrap_or_default();
                let label = free_label(name, |l| taken.iter().any(|t| t == l));
                self.diags.push(
                    Diag::new(SemaError::NeedsLabel { op: name.into(), label }).at(c.span, "this layer has no name"),
                );
            }
        } else if !self.prog.lets.iter().any(|l| l.name.name == name) {
            self.unknown_layer(&c.name);
            self.args(args, None);
        }
    }

    fn args(&mut self, args: &[Arg], params: Option<(&str, &[&str])>) {
        // Found here for every call, used or not (instantiation finds it again
        // at the same span, and the two are reported once).
        if let Some(first_named) = args.iter().position(|a| a.name.is_some()) {
            for late in args[first_named..].iter().filter(|a| a.name.is_none()) {
                self.diags.push(Diag::new(SemaError::PositionalAfterNamed).at(late.span, "positional argument"));
            }
        }
        for a in args {
            if let (Some(n), Some((callee, params))) = (&a.name, params)
                && !params.contains(&n.name.as_str())
            {
                let mut d = Diag::new(SemaError::UnknownArg { callee: callee.into(), name: n.name.clone() })
                    .at(n.span, "unknown");
                d = match did_you_mean(&n.name, params.iter().copied()) {
                    Some(s) => d.suggest(n.span, s),
                    None if params.is_empty() => d.with_help(format!("`{callee}` takes no arguments")),
                    None => d.with_help(format!("its parameters are: {}", params.join(", "))),
                };
                self.diags.push(d);
            }
            self.expr(&a.value);
        }
    }

    /// An unknown layer: the nearest name if one is close, else the closest
    /// ops and blocks in scope and the whole list of built-in ops, so that a
    /// newcomer learns what exists.
    fn unknown_layer(&mut self, id: &Ident) {
        if self.prog.broken.contains(&id.name) {
            return;
        }
        let blocks: Vec<String> = self.prog.block_index.keys().cloned().collect();
        let cands: Vec<String> = self
            .scope
            .iter()
            .cloned()
            .chain(blocks.iter().cloned())
            .chain(builtins::names().map(String::from))
            .collect();
        let d = Diag::new(SemaError::UnknownName { what: "layer", name: id.name.clone() }).at(id.span, "not found");
        let d = match did_you_mean(&id.name, cands.iter().map(String::as_str)) {
            Some(s) => d.suggest(id.span, s),
            None => {
                let ops: Vec<&str> = builtins::names().collect();
                let near = closest(&id.name, blocks.iter().map(String::as_str).chain(ops.iter().copied()), 4);
                d.with_help(format!(
                    "no built-in op or block in scope has this name; the closest are {}. The built-in ops: {}",
                    quoted(&near),
                    ops.join(", ")
                ))
            }
        };
        self.diags.push(d);
    }

    fn unknown(&mut self, id: &Ident, what: &'static str, cands: Vec<String>) {
        if self.prog.broken.contains(&id.name) {
            return;
        }
        let mut d = Diag::new(SemaError::UnknownName { what, name: id.name.clone() }).at(id.span, "not found");
        if let Some(s) = did_you_mean(&id.name, cands.iter().map(String::as_str)) {
            d = d.suggest(id.span, s);
        }
        self.diags.push(d);
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) | ExprKind::In => {}
            ExprKind::List(items) => items.iter().for_each(|x| self.expr(x)),
            ExprKind::Call(c) => {
                let name = c.name.name.as_str();
                let args = c.args.as_deref().unwrap_or(&[]);
                if self.in_scope(name) || self.prog.lets.iter().any(|l| l.name.name == name) {
                    self.args(args, None);
                } else if let Some(b) = self.prog.block(name) {
                    let params: Vec<&str> = b.params.iter().map(|p| p.name.name.as_str()).collect();
                    self.args(args, Some((name, &params)));
                } else if builtins::FUNCTIONS.contains(&name) {
                    self.args(args, None);
                } else if let Some(sig) = builtins::sig(name) {
                    // An op as a block value: `norm: group_norm(32)`.
                    let params: Vec<&str> = sig.params.iter().map(|p| p.name).collect();
                    self.args(args, Some((name, &params)));
                } else {
                    let mut cands = self.scope.clone();
                    cands.extend(self.prog.block_index.keys().cloned());
                    cands.extend(self.prog.lets.iter().map(|l| l.name.name.clone()));
                    cands.extend(builtins::names().map(String::from));
                    cands.extend(builtins::FUNCTIONS.iter().map(|s| s.to_string()));
                    self.unknown(&c.name, "name", cands);
                    self.args(args, None);
                }
            }
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Field(a, _) | ExprKind::Unary(_, a) => self.expr(a),
            ExprKind::Cond(a, b, c) => {
                self.expr(a);
                self.expr(b);
                self.expr(c);
            }
        }
    }
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
            let mut d =
                Diag::new(SemaError::UnknownName { what: "type", name: id.name.clone() }).at(id.span, "not a type");
            d = match did_you_mean(&id.name, TYPES.iter().copied()) {
                Some(s) => d.suggest(id.span, s),
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
            Atom::Group(b) | Atom::Dense(b) => direct_uses(prog, b, out),
            Atom::If(i) => {
                direct_uses(prog, &i.then, out);
                if let Some(o) = &i.otherwise {
                    direct_uses(prog, o, out);
                }
            }
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

//! Every place in the syntax tree an editor feature cares about, visited
//! without recursion: a half-typed buffer can nest arbitrarily deep.

use crate::source::Span;
use crate::syntax::ast::{
    Atom, BlockDecl, Body, Call, Expr, ExprKind, FromTarget, Item, Label, LabelPart, Layer, Let, ModelDecl, Stmt,
    TypeExpr,
};

pub enum Event<'a> {
    Block(&'a BlockDecl),
    Model(&'a ModelDecl),
    /// A layer statement (or list item) of a block, with the block.
    Layer(&'a Layer, &'a BlockDecl),
    /// A name used: a layer's op or block, or a name in an expression.
    Call(&'a Call, Option<&'a BlockDecl>),
    /// `from label` (a statement or a shortcut's start).
    From(&'a FromTarget, &'a BlockDecl),
}

enum Visit<'a> {
    Body(&'a Body),
    Layer(&'a Layer),
    Atom(&'a Atom),
    Expr(&'a Expr),
    Label(&'a Label),
}

/// Visits the declarations in source order, and inside each in source order.
pub fn walk<'a>(items: &'a [Item], mut f: impl FnMut(Event<'a>)) {
    for item in items {
        match item {
            Item::Block(b) => block(b, &mut f),
            Item::Model(m) => model(m, &mut f),
            Item::Let(l) => exprs(&[&l.value], None, &mut f),
            Item::Use(_) => {}
        }
    }
}

pub fn walk_decls<'a>(blocks: &'a [BlockDecl], models: &'a [ModelDecl], lets: &'a [Let], mut f: impl FnMut(Event<'a>)) {
    for b in blocks {
        block(b, &mut f);
    }
    for m in models {
        model(m, &mut f);
    }
    for l in lets {
        exprs(&[&l.value], None, &mut f);
    }
}

fn model<'a>(m: &'a ModelDecl, f: &mut impl FnMut(Event<'a>)) {
    f(Event::Model(m));
    let mut list = vec![&m.network, &m.input];
    list.extend(m.with.as_ref());
    exprs(&list, None, f);
}

fn exprs<'a>(list: &[&'a Expr], owner: Option<&'a BlockDecl>, f: &mut impl FnMut(Event<'a>)) {
    let mut stack: Vec<Visit<'a>> = list.iter().rev().map(|e| Visit::Expr(e)).collect();
    drain(&mut stack, owner, f);
}

fn block<'a>(b: &'a BlockDecl, f: &mut impl FnMut(Event<'a>)) {
    f(Event::Block(b));
    let mut stack: Vec<Visit<'a>> = vec![Visit::Body(&b.body)];
    for p in b.params.iter().rev() {
        if let Some(d) = &p.default {
            stack.push(Visit::Expr(d));
        }
        if let TypeExpr::List { len: Some(len), .. } = &p.ty {
            stack.push(Visit::Expr(len));
        }
    }
    drain(&mut stack, Some(b), f);
}

fn drain<'a>(stack: &mut Vec<Visit<'a>>, owner: Option<&'a BlockDecl>, f: &mut impl FnMut(Event<'a>)) {
    while let Some(v) = stack.pop() {
        // Children are pushed in reverse so they pop in source order.
        match v {
            Visit::Body(body) => {
                for s in body.stmts.iter().rev() {
                    match s {
                        Stmt::Let(l) => stack.push(Visit::Expr(&l.value)),
                        Stmt::Layer(l) => stack.push(Visit::Layer(l)),
                        Stmt::Assert { cond, .. } => stack.push(Visit::Expr(cond)),
                        Stmt::From(t) => {
                            if let Some(o) = owner {
                                f(Event::From(t, o));
                            }
                        }
                    }
                }
            }
            Visit::Layer(l) => {
                if let Some(o) = owner {
                    f(Event::Layer(l, o));
                }
                for t in l.chain.terms.iter().rev() {
                    if let Some(r) = &t.repeat {
                        stack.push(Visit::Expr(r));
                    }
                    stack.push(Visit::Atom(&t.atom));
                }
                if let Some(label) = &l.label {
                    stack.push(Visit::Label(label));
                }
            }
            Visit::Label(label) => {
                for p in label.parts.iter().rev() {
                    if let LabelPart::Expr(e) = p {
                        stack.push(Visit::Expr(e));
                    }
                }
            }
            Visit::Atom(a) => match a {
                Atom::Call(c) => {
                    f(Event::Call(c, owner));
                    for arg in c.args.iter().flatten().rev() {
                        stack.push(Visit::Expr(&arg.value));
                    }
                }
                Atom::Residual(r) => {
                    if let Some(s) = &r.shortcut {
                        if let Some(o) = &s.otherwise {
                            stack.push(Visit::Body(o));
                        }
                        stack.push(Visit::Body(&s.then));
                        if let Some(c) = &s.cond {
                            stack.push(Visit::Expr(c));
                        }
                        if let (Some(t), Some(o)) = (&s.from, owner) {
                            f(Event::From(t, o));
                        }
                    }
                    stack.push(Visit::Body(&r.body));
                }
                Atom::Combine { branches, .. } => stack.extend(branches.iter().rev().map(Visit::Body)),
                Atom::List { items, .. } => stack.extend(items.iter().rev().map(Visit::Layer)),
                Atom::For(fl) => {
                    stack.push(Visit::Body(&fl.body));
                    stack.push(Visit::Expr(&fl.iter));
                }
                Atom::Group(b) | Atom::Dense(b) => stack.push(Visit::Body(b)),
                Atom::If(i) => {
                    if let Some(o) = &i.otherwise {
                        stack.push(Visit::Body(o));
                    }
                    stack.push(Visit::Body(&i.then));
                    stack.push(Visit::Expr(&i.cond));
                }
            },
            Visit::Expr(e) => match &e.kind {
                ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) | ExprKind::In => {}
                ExprKind::List(items) => stack.extend(items.iter().rev().map(Visit::Expr)),
                ExprKind::Call(c) => {
                    f(Event::Call(c, owner));
                    for arg in c.args.iter().flatten().rev() {
                        stack.push(Visit::Expr(&arg.value));
                    }
                }
                ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                    stack.push(Visit::Expr(b));
                    stack.push(Visit::Expr(a));
                }
                ExprKind::Field(a, _) | ExprKind::Unary(_, a) => stack.push(Visit::Expr(a)),
                ExprKind::Cond(c, a, b) => {
                    stack.push(Visit::Expr(b));
                    stack.push(Visit::Expr(a));
                    stack.push(Visit::Expr(c));
                }
            },
        }
    }
}

pub fn contains(span: Span, offset: usize) -> bool {
    span.start <= offset && offset <= span.end
}

/// The first literal part of a label: what `from` names.
pub fn label_text(label: &Label) -> String {
    let mut s = String::new();
    for p in &label.parts {
        match p {
            LabelPart::Text(t) => s += t,
            LabelPart::Expr(_) => s += "{..}",
        }
    }
    s
}

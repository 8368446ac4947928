//! What the cursor is on.

use crate::syntax::ast::{BlockDecl, Call, FromTarget, Item, Layer, ModelDecl, Use};

use super::walk::{Event, contains, walk};

pub enum Target<'a> {
    /// The name of a block or network where it is declared.
    BlockDecl(&'a BlockDecl),
    ModelDecl(&'a ModelDecl),
    /// A name used: an op, a block, a parameter, a function.
    Call(&'a Call, Option<&'a BlockDecl>),
    Use(&'a Use),
    From(&'a FromTarget, &'a BlockDecl),
    /// Anywhere else inside a layer.
    Layer(&'a Layer),
}

pub fn target_at(items: &[Item], offset: usize) -> Option<Target<'_>> {
    for item in items {
        if let Item::Use(u) = item
            && contains(u.span, offset)
        {
            return Some(Target::Use(u));
        }
    }
    let mut best: Option<(usize, Target<'_>)> = None;
    walk(items, |e| {
        let (span, t) = match e {
            Event::Block(b) => (b.name.span, Target::BlockDecl(b)),
            Event::Model(m) => (m.name.span, Target::ModelDecl(m)),
            Event::Call(c, owner) => (c.name.span, Target::Call(c, owner)),
            Event::From(t, b) => (t.span, Target::From(t, b)),
            Event::Layer(l, _) => (l.span, Target::Layer(l)),
        };
        if contains(span, offset) && best.as_ref().is_none_or(|(len, _)| span.len() < *len) {
            best = Some((span.len(), t));
        }
    });
    best.map(|b| b.1)
}

/// The innermost layer containing an offset.
pub fn layer_at(items: &[Item], offset: usize) -> Option<&Layer> {
    let mut best: Option<&Layer> = None;
    walk(items, |e| {
        if let Event::Layer(l, _) = e
            && contains(l.span, offset)
            && best.is_none_or(|b| l.span.len() <= b.span.len())
        {
            best = Some(l);
        }
    });
    best
}

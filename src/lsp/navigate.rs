//! Go to definition and find references.

use lsp_types::{Location, Position, Range, Url};

use crate::source::Span;
use crate::syntax::ast::{BlockDecl, Call, Label, UseTarget};

use super::analysis::Analysis;
use super::diagnostics::location;
use super::locate::{Target, target_at};
use super::position::Encoding;
use super::walk::{Event, label_text, walk, walk_decls};

pub fn definition(a: &Analysis, offset: usize, enc: Encoding) -> Option<Location> {
    match target_at(&a.root_ast.items, offset)? {
        Target::Call(c, owner) => call_definition(a, c, owner, enc),
        Target::BlockDecl(b) => location(a, b.name.span, enc),
        Target::ModelDecl(m) => location(a, m.name.span, enc),
        Target::Use(u) => {
            let path = match &u.target {
                UseTarget::Stdlib(name) => crate::stdlib::on_disk(name)?,
                UseTarget::Path(rel) => {
                    let root = a.uri(a.root())?.to_file_path().ok()?;
                    root.parent()?.join(rel)
                }
            };
            let uri = Url::from_file_path(path).ok()?;
            Some(Location::new(uri, Range::new(Position::new(0, 0), Position::new(0, 0))))
        }
        Target::From(t, block) => {
            let want = a.prog.span_text(t.label.as_ref()?.span).to_string();
            let label = labels_of(a, block).into_iter().find(|l| label_text(l) == want)?;
            location(a, label.span, enc)
        }
        Target::Layer(_) => None,
    }
}

fn call_definition(a: &Analysis, c: &Call, owner: Option<&BlockDecl>, enc: Encoding) -> Option<Location> {
    let name = &c.name.name;
    // A parameter or a top-level `let` shadows nothing here: sema reports clashes.
    if let Some(p) = owner.and_then(|b| b.params.iter().find(|p| &p.name.name == name)) {
        return location(a, p.name.span, enc);
    }
    if let Some(b) = a.prog.block(name) {
        return location(a, b.name.span, enc);
    }
    let l = a.prog.lets.iter().find(|l| &l.name.name == name)?;
    location(a, l.name.span, enc)
}

/// The labels of a block's layers, in source order.
pub fn labels_of<'a>(a: &'a Analysis, block: &BlockDecl) -> Vec<&'a Label> {
    let mut out = Vec::new();
    walk(&a.root_ast.items, |e| {
        if let Event::Layer(l, b) = e
            && b.span == block.span
            && let Some(label) = &l.label
        {
            out.push(label);
        }
    });
    out
}

/// The block a position names (declaration or use).
pub fn block_name_at(a: &Analysis, offset: usize) -> Option<String> {
    match target_at(&a.root_ast.items, offset)? {
        Target::BlockDecl(b) => Some(b.name.name.clone()),
        Target::Call(c, owner) => {
            let shadowed = owner.is_some_and(|b| b.params.iter().any(|p| p.name.name == c.name.name));
            (!shadowed && a.prog.block(&c.name.name).is_some()).then(|| c.name.name.clone())
        }
        _ => None,
    }
}

/// Every use of a block in everything the analysis loaded, and its declaration.
pub fn references(a: &Analysis, name: &str, with_decl: bool, enc: Encoding) -> Vec<Location> {
    let mut spans: Vec<Span> = Vec::new();
    if with_decl && let Some(b) = a.prog.block(name) {
        spans.push(b.name.span);
    }
    walk_decls(&a.prog.blocks, &a.prog.models, &a.prog.lets, |e| {
        if let Event::Call(c, owner) = e
            && c.name.name == name
            && !owner.is_some_and(|b| b.params.iter().any(|p| p.name.name == name))
        {
            spans.push(c.name.span);
        }
    });
    spans.iter().filter_map(|s| location(a, *s, enc)).collect()
}

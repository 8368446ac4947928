//! Document symbols: blocks, networks and models, with their labelled layers.

use lsp_types::{DocumentSymbol, SymbolKind};

use crate::syntax::ast::Item;

use super::analysis::Analysis;
use super::position::Encoding;
use super::walk::{Event, walk};

#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be written.
fn symbol(
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    range: lsp_types::Range,
    sel: lsp_types::Range,
) -> DocumentSymbol {
    DocumentSymbol { name, detail, kind, tags: None, deprecated: None, range, selection_range: sel, children: None }
}

pub fn symbols(a: &Analysis, enc: Encoding) -> Vec<DocumentSymbol> {
    let root = a.root();
    let text = a.text(root);
    let lines = a.lines(root);
    let range = |s: crate::source::Span| lines.range(text, s.start, s.end, enc);
    let mut out = Vec::new();
    for item in &a.root_ast.items {
        match item {
            Item::Block(b) => {
                let mut children = Vec::new();
                walk(std::slice::from_ref(item), |e| {
                    if let Event::Layer(l, _) = e
                        && let Some(label) = &l.label
                    {
                        let name = a.prog.span_text(label.span).to_string();
                        children.push(symbol(name, None, SymbolKind::FIELD, range(l.span), range(label.span)));
                    }
                });
                let kind = if b.is_network { SymbolKind::CLASS } else { SymbolKind::FUNCTION };
                let detail = Some(super::describe::block_signature(&a.prog, b));
                let mut s = symbol(b.name.name.clone(), detail, kind, range(b.span), range(b.name.span));
                s.children = Some(children);
                out.push(s);
            }
            Item::Model(m) => {
                let detail = Some(a.prog.span_text(m.network.span).to_string());
                out.push(symbol(m.name.name.clone(), detail, SymbolKind::OBJECT, range(m.span), range(m.name.span)));
            }
            Item::Let(l) => {
                let sp = l.name.span.to(l.value.span);
                out.push(symbol(l.name.name.clone(), None, SymbolKind::CONSTANT, range(sp), range(l.name.span)));
            }
            Item::Use(_) => {}
        }
    }
    out
}

//! Inlay hints: the output shape at the end of each layer line, for the
//! models built from it, like an IDE's type hints.

use std::collections::BTreeMap;

use lsp_types::{InlayHint, InlayHintKind, InlayHintLabel, Range};

use super::analysis::Analysis;
use super::facts;
use super::position::Encoding;
use super::walk::{Event, walk};

/// Distinct shapes shown on one line before the rest are counted.
const MAX_SHAPES: usize = 3;

pub fn hints(a: &Analysis, range: Range, enc: Encoding) -> Vec<InlayHint> {
    let root = a.root();
    let text = a.text(root);
    let lines = a.lines(root);
    let first = range.start.line as usize;
    let last = range.end.line as usize;
    // The layer that ends last on each line speaks for the line.
    let mut per_line: BTreeMap<usize, crate::source::Span> = BTreeMap::new();
    walk(&a.root_ast.items, |e| {
        if let Event::Layer(l, _) = e {
            let line = lines.line_of(l.span.end);
            if line < first || line > last {
                return;
            }
            let slot = per_line.entry(line).or_insert(l.span);
            if l.span.end >= slot.end {
                *slot = l.span;
            }
        }
    });
    let mut out = Vec::new();
    for span in per_line.into_values() {
        let f = facts::facts(&a.graphs, span);
        let shapes = facts::shapes(&f);
        if shapes.is_empty() {
            continue;
        }
        let mut label = shapes.iter().take(MAX_SHAPES).cloned().collect::<Vec<_>>().join(" | ");
        if shapes.len() > MAX_SHAPES {
            label += &format!(" | +{}", shapes.len() - MAX_SHAPES);
        }
        out.push(InlayHint {
            position: lines.position(text, span.end, enc),
            label: InlayHintLabel::String(format!("→ {label}")),
            kind: Some(InlayHintKind::TYPE),
            text_edits: None,
            tooltip: None,
            padding_left: Some(true),
            padding_right: None,
            data: None,
        });
    }
    out
}

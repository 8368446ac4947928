//! `resc check`'s diagnostics as LSP diagnostics, grouped by the file they
//! belong to. An error inside another file (a used file, the standard
//! library) is shown there and also at the user's own line that led to it.

use std::collections::HashMap;

use lsp_types::{Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Url};

use crate::diag::Diag;
use crate::source::Span;

use super::analysis::Analysis;
use super::position::Encoding;

pub fn location(a: &Analysis, span: Span, enc: Encoding) -> Option<Location> {
    let uri = a.uri(span.file)?.clone();
    Some(Location::new(uri, a.lines(span.file).range(a.text(span.file), span.start, span.end, enc)))
}

fn message(d: &Diag) -> String {
    match d.help_text() {
        Some(h) => format!("{d}\nhelp: {h}"),
        None => d.to_string(),
    }
}

fn one(a: &Analysis, d: &Diag, at: Span, enc: Encoding, extra: Option<DiagnosticRelatedInformation>) -> Diagnostic {
    let mut related: Vec<DiagnosticRelatedInformation> = d
        .secondary()
        .iter()
        .filter_map(|(span, label)| {
            Some(DiagnosticRelatedInformation { location: location(a, *span, enc)?, message: label.clone() })
        })
        .collect();
    related.extend(extra);
    Diagnostic {
        range: a.lines(at.file).range(a.text(at.file), at.start, at.end, enc),
        severity: Some(DiagnosticSeverity::ERROR),
        code: d.code().map(NumberOrString::String),
        source: Some("resc".into()),
        message: message(d),
        related_information: (!related.is_empty()).then_some(related),
        data: d.suggestion().map(|(_, r)| serde_json::json!({ "replacement": r })),
        ..Default::default()
    }
}

/// Every diagnostic of an analysis, by the URI it is shown in.
pub fn by_file(a: &Analysis, enc: Encoding) -> HashMap<Url, Vec<Diagnostic>> {
    let mut out: HashMap<Url, Vec<Diagnostic>> = HashMap::new();
    if let Some(root) = a.uri(a.root()) {
        out.insert(root.clone(), Vec::new());
    }
    for d in &a.diags {
        let Some((primary, label)) = d.primary() else { continue };
        if let Some(uri) = a.uri(primary.file) {
            out.entry(uri.clone()).or_default().push(one(a, d, primary, enc, None));
        }
        if primary.file != a.root()
            && let Some(origin) = d.origin()
            && let Some(uri) = a.uri(a.root())
        {
            let there = location(a, primary, enc).map(|location| DiagnosticRelatedInformation {
                location,
                message: if label.is_empty() { "the error is here".into() } else { label.to_string() },
            });
            out.entry(uri.clone()).or_default().push(one(a, d, origin, enc, there));
        }
    }
    out
}

//! Rendering of diagnostics for the terminal and for editors. The CLI and the
//! golden tests share it so that what is tested is what users see.

use miette::{GraphicalReportHandler, GraphicalTheme};
use serde_json::{Value, json};

use crate::diag::Diag;
use crate::source::{SourceMap, Span};

/// Human-readable reports. `color: false` gives stable text for golden files.
pub fn human(diags: &[Diag], width: usize, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width).with_context_lines(1);
    let mut out = String::new();
    for d in diags {
        if handler.render_report(&mut out, d).is_err() {
            out += &format!("error: {d}\n");
        }
    }
    let n = diags.len();
    out += &format!("error: {n} error{} found\n", if n == 1 { "" } else { "s" });
    out
}

/// One JSON object per line, for editors and scripts. Every location carries
/// its file, byte offset and length, and 1-based line and column (columns count
/// characters) of its start and end; `labels[i].primary` marks the offending
/// span; `origin` is the place in the user's own file that led to an error
/// found in another file; `fixes` are machine-applicable replacements.
pub fn json(diags: &[Diag], sources: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags {
        let mut labels = Vec::new();
        if let Some((span, label)) = d.primary() {
            labels.push(label_json(sources, span, label, true));
        }
        for (span, label) in d.secondary() {
            labels.push(label_json(sources, *span, label, false));
        }
        let fixes: Vec<Value> = d
            .suggestion()
            .map(|(span, replacement)| {
                let mut v = location(sources, span);
                v["replacement"] = json!(replacement);
                v["applicability"] = json!("machine-applicable");
                v
            })
            .into_iter()
            .collect();
        let report = json!({
            "message": d.to_string(),
            "code": d.code(),
            "severity": "error",
            "help": d.help_text(),
            "filename": d.primary_span().map(|s| sources.get(s.file).name.clone()),
            "labels": labels,
            "origin": d.origin().map(|s| location(sources, s)),
            "fixes": fixes,
        });
        out += &report.to_string();
        out.push('\n');
    }
    out
}

fn label_json(sources: &SourceMap, span: Span, label: &str, primary: bool) -> Value {
    let mut v = location(sources, span);
    v["label"] = json!(label);
    v["primary"] = json!(primary);
    v
}

fn location(sources: &SourceMap, span: Span) -> Value {
    let (line, column) = sources.line_char_col(span.file, span.start);
    let (end_line, end_column) = sources.line_char_col(span.file, span.end);
    json!({
        "file": sources.get(span.file).name,
        "span": { "offset": span.start, "length": span.len() },
        "start": { "line": line, "column": column },
        "end": { "line": end_line, "column": end_column },
    })
}

//! Rendering of diagnostics for the terminal and for editors. The CLI and the
//! golden tests share it so that what is tested is what users see.

use miette::{GraphicalReportHandler, GraphicalTheme};
use serde_json::{Value, json};

use crate::diag::Diag;
use crate::source::{SourceMap, Span};
use crate::stdlib;

/// Source lines longer than this are shown as a window around the label:
/// printing a 100 kB line helps nobody (and has made miette's renderer panic).
pub const MAX_SHOWN_LINE: usize = 400;

/// The terminal shows this many reports; the rest are counted (the JSON
/// format lists them all).
pub const MAX_SHOWN_REPORTS: usize = 200;

/// Human-readable reports. `color: false` gives stable text for golden files.
pub fn human(diags: &[Diag], width: usize, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width).with_context_lines(1);
    let mut out = String::new();
    for d in diags.iter().take(MAX_SHOWN_REPORTS) {
        if has_long_line(d) {
            out += &plain(d);
            continue;
        }
        let mut one = String::new();
        match render_guarded(&handler, d, &mut one) {
            Some(()) => out += &one,
            None => out += &plain(d),
        }
    }
    let n = diags.len();
    if n > MAX_SHOWN_REPORTS {
        out += &format!("… and {} more (`resc check --message-format json` lists every one)\n", n - MAX_SHOWN_REPORTS);
    }
    out += &format!("error: {n} error{} found\n", if n == 1 { "" } else { "s" });
    out
}

/// The graphical renderer, with a panic in it turned into `None`.
fn render_guarded(handler: &GraphicalReportHandler, d: &Diag, out: &mut String) -> Option<()> {
    match crate::panic_guard::catch_quietly(|| handler.render_report(out, d)) {
        Ok(Ok(())) => Some(()),
        _ => None,
    }
}

/// The lines the report would show: the primary and secondary labels' lines.
fn has_long_line(d: &Diag) -> bool {
    let (Some((_, text)), Some((primary, _))) = (d.source(), d.primary()) else { return false };
    // Labels in other files are shown as notes of their own.
    let mut spans =
        std::iter::once(primary).chain(d.secondary().iter().map(|s| s.0)).filter(|s| s.file == primary.file);
    spans.any(|s| {
        let (a, b) = (floor_char(text, s.start), floor_char(text, s.end.max(s.start)));
        let start = text[..a].rfind('\n').map_or(0, |i| i + 1);
        let end = text[b..].find('\n').map_or(text.len(), |i| b + i);
        end - start > MAX_SHOWN_LINE
    })
}

/// A plain rendering that shows a window of the primary line around the label.
pub fn plain(d: &Diag) -> String {
    let mut out = format!("{}\n\n  × {d}\n", d.code().unwrap_or_default());
    if let (Some((name, text)), Some((span, label))) = (d.source(), d.primary()) {
        let start = floor_char(text, span.start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_no = text[..start].matches('\n').count() + 1;
        let col = text[line_start..start].chars().count() + 1;
        let from = floor_char(text, start.saturating_sub(60).max(line_start));
        let label_end = span.end.min(line_end).max(start);
        let to = floor_char(text, (label_end + 60).min(line_end).min(start + 160));
        let shown_label_end = floor_char(text, label_end.min(to));
        let pre = if from > line_start { "…" } else { "" };
        let post = if to < line_end { "…" } else { "" };
        let gutter = line_no.to_string().len();
        out += &format!("{:gutter$} ╭─[{name}:{line_no}:{col}]\n", "");
        out += &format!("{line_no} │ {pre}{}{post}\n", &text[from..to]);
        let indent = pre.chars().count() + text[from..start].chars().count();
        let marks = text[start..shown_label_end].chars().count().max(1);
        out += &format!("{:gutter$} · {}{} {label}\n", "", " ".repeat(indent), "^".repeat(marks));
        out += &format!("{:gutter$} ╰────\n", "");
    }
    if let Some(h) = d.help_text() {
        out += &format!("  help: {h}\n");
    }
    out
}

fn floor_char(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One JSON object per line, for editors and scripts. Every location carries
/// its file (as named in messages, and as an absolute `path` to open; for the
/// standard library its read-only copy), byte offset and length, and 1-based line and column (columns count
/// characters) of its start and end; `labels[i].primary` marks the offending
/// span; `origin` is the place in the user's own file that led to an error
/// found in another file; `fixes` are machine-applicable replacements.
pub fn json(diags: &[Diag], sources: &SourceMap) -> String {
    let lines = Lines::default();
    let mut out = String::new();
    for d in diags {
        let mut labels = Vec::new();
        if let Some((span, label)) = d.primary() {
            labels.push(label_json(sources, &lines, span, label, true));
        }
        for (span, label) in d.secondary() {
            labels.push(label_json(sources, &lines, *span, label, false));
        }
        let fixes: Vec<Value> = d
            .suggestion()
            .map(|(span, replacement)| {
                let mut v = location(sources, &lines, span);
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
            "origin": d.origin().map(|s| location(sources, &lines, s)),
            "fixes": fixes,
        });
        out += &report.to_string();
        out.push('\n');
    }
    out
}

/// An absolute path an editor can open: the file itself, or for the standard
/// library its read-only copy on disk.
fn openable_path(name: &str, on_disk: bool) -> Option<String> {
    let path =
        if on_disk { std::path::absolute(name).ok()? } else { stdlib::on_disk(stdlib::module_of_display_name(name)?)? };
    Some(path.display().to_string())
}

fn label_json(sources: &SourceMap, lines: &Lines, span: Span, label: &str, primary: bool) -> Value {
    let mut v = location(sources, lines, span);
    v["label"] = json!(label);
    v["primary"] = json!(primary);
    v
}

/// Line starts of each file, computed once: thousands of reports on one
/// file must not each scan it from the top.
#[derive(Default)]
struct Lines(std::cell::RefCell<std::collections::HashMap<crate::source::FileId, Vec<usize>>>);

impl Lines {
    fn line_col(&self, sources: &SourceMap, file: crate::source::FileId, offset: usize) -> (usize, usize) {
        let text = &sources.get(file).text;
        let mut map = self.0.borrow_mut();
        let starts = map
            .entry(file)
            .or_insert_with(|| std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect());
        let offset = floor_char(text, offset);
        let line = starts.partition_point(|&s| s <= offset);
        let start = starts[line - 1];
        (line, text[start..offset].chars().count() + 1)
    }
}

fn location(sources: &SourceMap, lines: &Lines, span: Span) -> Value {
    let (line, column) = lines.line_col(sources, span.file, span.start);
    let (end_line, end_column) = lines.line_col(sources, span.file, span.end);
    let file = sources.get(span.file);
    json!({
        "file": file.name,
        "path": openable_path(&file.name, file.dir.is_some()),
        "span": { "offset": span.start, "length": span.len() },
        "start": { "line": line, "column": column },
        "end": { "line": end_line, "column": end_column },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;

    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    #[error("test error")]
    #[diagnostic(code(resc::test))]
    struct TestError;

    /// A label in another file has offsets that mean nothing in the primary
    /// file's text (here: the middle of a character); found by fuzzing.
    #[test]
    fn labels_in_other_files_are_not_read_in_the_primary_text() {
        let mut sources = SourceMap::new();
        let a = sources.add("a.res", None, format!("{}\n", "é".repeat(300)));
        let b = sources.add("b.res", None, "x".repeat(2000));
        let mut d = Diag::new(TestError).at(Span::new(a, 0, 2), "here").also(Span::new(b, 1, 500), "made here");
        d.resolve(&sources);
        let out = human(&[d.clone()], 100, false);
        assert!(out.contains("resc::test"), "{out}");
        // A long primary line goes through the plain rendering, on character boundaries.
        let mut long = Diag::new(TestError).at(Span::new(a, 401, 403), "mid").also(Span::new(b, 3, 4), "other");
        long.resolve(&sources);
        let out = human(&[long], 100, false);
        assert!(out.contains("^ mid"), "{out}");
    }
}

//! Rendering of diagnostics for the terminal and for editors. The CLI and the
//! golden tests share it so that what is tested is what users see.

use miette::{GraphicalReportHandler, GraphicalTheme, JSONReportHandler};

use crate::diag::Diag;

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

/// One JSON object per line, as miette's JSON handler writes it.
pub fn json(diags: &[Diag]) -> String {
    let handler = JSONReportHandler::new();
    let mut out = String::new();
    for d in diags {
        let mut one = String::new();
        if handler.render_report(&mut one, d).is_ok() {
            out += &one;
            out.push('\n');
        }
    }
    out
}

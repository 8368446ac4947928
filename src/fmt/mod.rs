//! `resc fmt`: one canonical layout for `.res` text.
//!
//! The formatter works on tokens, not on the syntax tree, so comments and the
//! author's line structure survive; the parser only decides whether the text
//! may be formatted at all. Layout rules, in short:
//!
//! - 4 spaces per open bracket, 4 more for a statement continued on the next
//!   line (`then ..`, `on [..]`, `with ..`);
//! - spaces around binary operators and after `,` and `:`, none inside `( )`
//!   and `[ ]`, one inside a one-line `{ .. }`, none in a label (`layer{i + 1}`);
//!   two after a `;` that joins statements on one line (`bn1: bn;  relu`);
//! - at most one blank line, none after an opening or before a closing
//!   bracket, one after each block or network;
//! - a line over 100 columns is broken: an inline body, else before `then` /
//!   `on` / `with`, else its widest argument list, one item per line;
//! - consecutive one-line `model` items align their `=`, consecutive trailing
//!   comments their `//`.
//!
//! The result is checked before it is returned: it has the same tokens (plus
//! trailing commas) and parses.

mod align;
mod lex;
mod print;
mod roles;

use miette::Diagnostic;
use thiserror::Error;

use crate::diag::Diag;
use crate::source::{FileId, SourceMap};

pub use print::MAX_WIDTH;

#[derive(Debug, Error, Diagnostic)]
pub enum FmtError {
    /// The text does not parse; `diags` are the parser's errors.
    #[error("cannot format text with syntax errors ({} found)", diags.len())]
    #[diagnostic(code(resc::fmt::syntax), help("fix the syntax errors first; `resc check` lists them"))]
    Syntax {
        #[related]
        diags: Vec<Diag>,
    },
    /// The formatter would have changed the meaning: a bug, and no output.
    #[error("internal formatter error: {detail}")]
    #[diagnostic(code(resc::fmt::internal), help("this is a bug in resc fmt; please report it with the .res file"))]
    Internal { detail: String },
}

/// Formats a whole `.res` file. Refuses text that does not parse; the
/// diagnostics in the error point into `text` (as file `<input>`).
pub fn format_source(text: &str) -> Result<String, FmtError> {
    format_named("<input>", text)
}

/// [`format_source`], with `name` as the file name in the diagnostics.
pub fn format_named(name: &str, text: &str) -> Result<String, FmtError> {
    let diags = syntax_errors(name, text);
    if !diags.is_empty() {
        return Err(FmtError::Syntax { diags });
    }
    let tokens = lex::lex(text);
    let out = align::join(print::Printer::new(tokens.clone()).lines());
    verify(&tokens, &out)?;
    Ok(out)
}

fn syntax_errors(name: &str, text: &str) -> Vec<Diag> {
    let (_, mut diags) = crate::syntax::parse_file(FileId(0), text);
    let mut sources = SourceMap::new();
    sources.add(name, None, text);
    for d in &mut diags {
        d.resolve(&sources);
    }
    diags
}

/// The output must hold the input's tokens in order, comments included, with
/// only trailing commas added and `;` dropped at line ends, and must parse.
fn verify(before: &[lex::Token<'_>], out: &str) -> Result<(), FmtError> {
    let after = lex::lex(out);
    let internal = |detail: String| Err(FmtError::Internal { detail });
    let same = |a: &lex::Token<'_>, b: &lex::Token<'_>| {
        a.kind == b.kind
            && if a.kind == lex::Kind::BlockComment {
                a.text.lines().map(str::trim_end).eq(b.text.lines().map(str::trim_end))
            } else {
                a.text == b.text
            }
    };
    let mut k = 0;
    for (j, b) in after.iter().enumerate() {
        if before.get(k).is_some_and(|a| same(a, b)) {
            k += 1;
            continue;
        }
        if before.get(k).is_some_and(|a| a.is(";")) && before.get(k + 1).is_some_and(|a| same(a, b)) && b.newlines > 0 {
            k += 2;
            continue;
        }
        let closes_next = roles::next_code(&after, j).is_some_and(|n| after[n].is(")") || after[n].is("]"));
        if !(b.is(",") && closes_next) {
            return internal(format!(
                "token `{}` of the output is not the input's `{}`",
                b.text,
                before.get(k).map_or("", |a| a.text)
            ));
        }
    }
    if k != before.len() {
        return internal(format!("the output lost `{}`", before[k].text));
    }
    if !syntax_errors("<output>", out).is_empty() {
        return internal("the output does not parse".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;

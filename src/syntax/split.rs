//! Splits a file into top-level items before pest sees it, and checks
//! delimiters on the way. Two reasons: an error in one item must not hide the
//! errors of the next (pest stops at the first), and an unclosed `{` is best
//! reported at the `{`, not at the end of the file where pest notices it.

use crate::source::{FileId, Span};

use super::SyntaxError;
use super::limits::{MAX_CONDITIONS, MAX_NESTING};
use crate::diag::Diag;

/// A byte range of the file holding one top-level item.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    /// Delimiter errors were found in it; pest would only add noise.
    pub broken: bool,
}

const ITEM_KEYWORDS: [&str; 5] = ["use", "block", "network", "model", "let"];
/// Keywords that start an item even while a delimiter is still open, when they
/// stand at the start of a line: the likely place a missing `}` belonged.
const RECOVERY_KEYWORDS: [&str; 4] = ["use", "block", "network", "model"];

fn closer_for(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

pub fn split(file: FileId, text: &str, diags: &mut Vec<Diag>) -> Vec<Chunk> {
    let bytes = text.as_bytes();
    let mut chunks = Vec::new();
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut broken = false;
    // Reported once per item: pest recurses once per bracket level and per `?`.
    let mut too_deep = false;
    let mut conditions = 0usize;
    let mut i = 0;
    let span = |s: usize, e: usize| Span::new(file, s, e);

    let close_chunk = |chunks: &mut Vec<Chunk>, start: &mut Option<usize>, end: usize, broken: &mut bool| {
        if let Some(s) = start.take() {
            chunks.push(Chunk { start: s, end, broken: *broken });
        }
        *broken = false;
    };
    let item_bounds = |diags: &mut Vec<Diag>, conditions: &mut usize, too_deep: &mut bool, at: usize| {
        if *conditions > MAX_CONDITIONS {
            diags.push(
                Diag::new(SyntaxError::TooManyConditions { count: *conditions, limit: MAX_CONDITIONS })
                    .at(span(at, at + 1), "the first one past the limit"),
            );
        }
        *conditions = 0;
        *too_deep = false;
    };
    let mut first_excess_condition = 0;

    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let open = i;
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                if i >= bytes.len() {
                    diags.push(
                        Diag::new(SyntaxError::UnclosedComment)
                            .at(span(open, open + 2), "this comment is never closed"),
                    );
                    broken = true;
                } else {
                    i += 2;
                }
                continue;
            }
            b'"' => {
                let open = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'\n' {
                    diags.push(Diag::new(SyntaxError::UnclosedString).at(span(open, i), "this string is never closed"));
                    broken = true;
                } else {
                    i += 1;
                }
                if start.is_none() {
                    start = Some(open);
                }
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let word_start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[word_start..i];
                // Recovery needs a declaration's look: unindented, and a name
                // after the keyword (`block basic(`, not `block(planes)`).
                let at_line_start = (word_start == 0 || bytes[word_start - 1] == b'\n')
                    && text[i..].starts_with([' ', '\t'])
                    && text[i..].trim_start().starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
                let starts_item = (stack.is_empty() && ITEM_KEYWORDS.contains(&word))
                    || (!stack.is_empty() && at_line_start && RECOVERY_KEYWORDS.contains(&word));
                if starts_item {
                    if !stack.is_empty() {
                        report_unclosed(file, &stack, word_start, diags);
                        stack.clear();
                        broken = true;
                    }
                    item_bounds(diags, &mut conditions, &mut too_deep, first_excess_condition);
                    close_chunk(&mut chunks, &mut start, word_start, &mut broken);
                    start = Some(word_start);
                } else if start.is_none() {
                    start = Some(word_start);
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                if stack.len() >= MAX_NESTING && !too_deep {
                    diags.push(
                        Diag::new(SyntaxError::NestedTooDeeply { limit: MAX_NESTING })
                            .at(span(i, i + 1), format!("level {} opens here", MAX_NESTING + 1)),
                    );
                    too_deep = true;
                    broken = true;
                }
                stack.push((c, i));
                start.get_or_insert(i);
            }
            b'?' => {
                conditions += 1;
                if conditions == MAX_CONDITIONS + 1 {
                    first_excess_condition = i;
                    broken = true;
                }
                start.get_or_insert(i);
            }
            b')' | b']' | b'}' => {
                start.get_or_insert(i);
                match stack.iter().rposition(|&(open, _)| closer_for(open) == c) {
                    Some(pos) => {
                        if pos + 1 < stack.len() {
                            report_unclosed(file, &stack[pos + 1..], i, diags);
                            broken = true;
                        }
                        stack.truncate(pos);
                    }
                    None => {
                        diags.push(
                            Diag::new(SyntaxError::UnexpectedCloser { closer: c as char })
                                .at(span(i, i + 1), "nothing opened here to close"),
                        );
                        broken = true;
                    }
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                start.get_or_insert(i);
            }
        }
        i += 1;
    }
    if !stack.is_empty() {
        report_unclosed(file, &stack, text.len(), diags);
        broken = true;
    }
    item_bounds(diags, &mut conditions, &mut too_deep, first_excess_condition);
    close_chunk(&mut chunks, &mut start, text.len(), &mut broken);
    chunks
}

fn report_unclosed(file: FileId, open: &[(u8, usize)], found_at: usize, diags: &mut Vec<Diag>) {
    // The outermost unclosed delimiter is the one the user most likely forgot;
    // inner ones are usually a consequence.
    let &(c, at) = open.first().expect("non-empty");
    let closer = closer_for(c) as char;
    diags.push(
        Diag::new(SyntaxError::Unclosed { open: c as char, close: closer })
            .at(Span::new(file, at, at + 1), format!("this `{}` is never closed", c as char))
            .also(Span::new(file, found_at, found_at), format!("expected `{closer}` before here")),
    );
}

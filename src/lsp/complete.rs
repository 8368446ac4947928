//! Completion. It reads the text around the cursor rather than the syntax
//! tree, because the line being typed rarely parses.

use lsp_types::{CompletionItem, CompletionItemKind, Documentation, InsertTextFormat, MarkupContent, MarkupKind};

use crate::sema::{BUILTIN_FUNCTIONS, builtin_ops, builtin_params};

use super::analysis::Analysis;
use super::describe::{block_signature, leading_comment, op_signature, param_text};

const KEYWORDS: &[&str] = &[
    "use", "block", "network", "model", "let", "assert", "from", "residual", "shortcut", "if", "else", "for", "in",
    "then", "on", "with", "dense", "add", "concat", "mul", "and", "or", "not", "true", "false",
];

/// How far back the cursor's context is looked for.
const LOOK_BACK: usize = 8192;

pub fn complete(a: &Analysis, text: &str, offset: usize) -> Vec<CompletionItem> {
    let offset = floor_boundary(text, offset);
    let before = &text[floor_boundary(text, offset.saturating_sub(LOOK_BACK))..offset];
    if is_after_from(before) {
        return labels_before(text, offset)
            .into_iter()
            .map(|l| item(&l, CompletionItemKind::FIELD, Some("a layer of this block".into()), None))
            .collect();
    }
    let mut out = Vec::new();
    if let Some(callee) = argument_position(before) {
        out.extend(arguments(a, &callee));
    }
    out.extend(names(a, text));
    out
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `from ` or `from act` at the cursor.
fn is_after_from(before: &str) -> bool {
    let line = before.rsplit('\n').next().unwrap_or(before);
    let rest = line.trim_end_matches(is_ident);
    let Some(head) = rest.strip_suffix(|c: char| c == ' ' || c == '\t') else { return false };
    let head = head.trim_end();
    head.ends_with("from") && !head[..head.len() - 4].ends_with(is_ident)
}

/// The callee whose argument list the cursor is in, when the cursor is where
/// an argument's name goes (right after `(` or `,`, maybe with a partial name).
fn argument_position(before: &str) -> Option<String> {
    let mut depth = 0i32;
    let mut arg_start = None;
    for (i, c) in before.char_indices().rev() {
        match c {
            ')' | ']' => depth += 1,
            '(' | '[' if depth > 0 => depth -= 1,
            ',' if depth == 0 && arg_start.is_none() => arg_start = Some(i + 1),
            '(' => {
                let current = &before[arg_start.unwrap_or(i + 1)..];
                let name = current.trim_start();
                if !name.chars().all(is_ident) {
                    return None;
                }
                let head = before[..i].trim_end();
                let callee = &head[head.trim_end_matches(is_ident).len()..];
                return (!callee.is_empty()).then(|| callee.to_string());
            }
            '{' | '}' | ';' | '[' => return None,
            _ => {}
        }
    }
    None
}

/// Labels written in the enclosing block before the cursor.
fn labels_before(text: &str, offset: usize) -> Vec<String> {
    let before = &text[..offset];
    let start = ["\nblock ", "\nnetwork "].iter().filter_map(|k| before.rfind(k)).max().unwrap_or(0);
    let region = &before[start..];
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let bytes = region.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += 1;
            }
            i += 1;
            continue;
        }
        match c {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ => {}
        }
        if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') && (i == 0 || !is_ident(bytes[i - 1] as char)) {
            let s = i;
            while i < bytes.len() && is_ident(bytes[i] as char) {
                i += 1;
            }
            let word = &region[s..i];
            let mut j = i;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            if bytes.get(j) == Some(&b':') && bytes.get(j + 1) != Some(&b':') && !out.iter().any(|w| w == word) {
                out.push(word.to_string());
            }
            continue;
        }
        i += 1;
    }
    out
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<String>, doc: Option<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        documentation: doc
            .filter(|d| !d.is_empty())
            .map(|d| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: d })),
        ..Default::default()
    }
}

fn arguments(a: &Analysis, callee: &str) -> Vec<CompletionItem> {
    let params: Vec<(String, String)> = if let Some(b) = a.prog.block(callee) {
        b.params.iter().map(|p| (p.name.name.clone(), param_text(&a.prog, p))).collect()
    } else if let Some(ps) = builtin_params(callee) {
        ps.into_iter()
            .map(|(n, ty, d)| {
                let text = match d {
                    Some(d) => format!("{n}: {ty} = {d}"),
                    None => format!("{n}: {ty}"),
                };
                (n.to_string(), text)
            })
            .collect()
    } else {
        return Vec::new();
    };
    params
        .into_iter()
        .enumerate()
        .map(|(i, (name, text))| {
            let mut it = item(&format!("{name}:"), CompletionItemKind::PROPERTY, Some(text), None);
            it.insert_text = Some(format!("{name}: "));
            it.insert_text_format = Some(InsertTextFormat::PLAIN_TEXT);
            it.sort_text = Some(format!("0{i:03}"));
            it
        })
        .collect()
}

fn names(a: &Analysis, text: &str) -> Vec<CompletionItem> {
    let mut out = Vec::new();
    for op in builtin_ops() {
        let mut it = item(op, CompletionItemKind::FUNCTION, op_signature(op), Some("built-in op".into()));
        it.sort_text = Some(format!("2{op}"));
        out.push(it);
    }
    for b in &a.prog.blocks {
        let doc = leading_comment(a.text(b.span.file), b.span.start);
        let kind = if b.is_network { CompletionItemKind::CLASS } else { CompletionItemKind::MODULE };
        let mut it = item(&b.name.name, kind, Some(block_signature(&a.prog, b)), Some(doc));
        it.sort_text = Some(format!("1{}", b.name.name));
        out.push(it);
    }
    // Blocks of this text that do not parse right now (the one being typed).
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("block ").or_else(|| line.strip_prefix("network ")) else { continue };
        let name: String = rest.trim_start().chars().take_while(|&c| is_ident(c)).collect();
        if name.is_empty() || a.prog.block(&name).is_some() {
            continue;
        }
        let header = line.split_once('{').map_or(line, |h| h.0).trim_end();
        let mut it = item(&name, CompletionItemKind::MODULE, Some(header.to_string()), None);
        it.sort_text = Some(format!("1{name}"));
        out.push(it);
    }
    for f in BUILTIN_FUNCTIONS {
        let mut it = item(f, CompletionItemKind::FUNCTION, Some("function".into()), None);
        it.sort_text = Some(format!("3{f}"));
        out.push(it);
    }
    for k in KEYWORDS {
        let mut it = item(k, CompletionItemKind::KEYWORD, None, None);
        it.sort_text = Some(format!("4{k}"));
        out.push(it);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts() {
        assert!(is_after_from("    from "));
        assert!(is_after_from("  from ac"));
        assert!(!is_after_from("  fromage "));
        assert!(!is_after_from("  from"));
        assert_eq!(argument_position("conv1: conv(64, 3, "), Some("conv".into()));
        assert_eq!(argument_position("conv1: conv(64, 3, str"), Some("conv".into()));
        assert_eq!(argument_position("x: bottleneck("), Some("bottleneck".into()));
        assert_eq!(argument_position("conv(64, stride: "), None);
        assert_eq!(argument_position("conv(64, max(1, 2), "), Some("conv".into()));
        assert_eq!(argument_position("conv(64) "), None);
        assert_eq!(argument_position("relu; bn"), None);
    }

    #[test]
    fn labels_of_the_enclosing_block() {
        let text = "block a(x: int) {\n  c1: conv(x, 3, stride: 2)\n}\nblock b(y: int) {\n  act0: relu  // note: not a label\n  c2: conv(y, 1)\n  from ";
        assert_eq!(labels_before(text, text.len()), vec!["act0", "c2"]);
    }
}

//! Signatures and doc comments, as an editor shows them.

use crate::sema::{Program, builtin_params};
use crate::syntax::ast::BlockDecl;

/// `block bottleneck(planes: int, stride: int = 1)`, written as in the source.
pub fn block_signature(prog: &Program, b: &BlockDecl) -> String {
    let params: Vec<String> = b.params.iter().map(|p| param_text(prog, p)).collect();
    format!("{} {}({})", if b.is_network { "network" } else { "block" }, b.name.name, params.join(", "))
}

pub fn param_text(prog: &Program, p: &crate::syntax::ast::Param) -> String {
    let ty = prog.span_text(p.ty.span());
    match &p.default {
        Some(d) => format!("{}: {ty} = {}", p.name.name, prog.span_text(d.span)),
        None => format!("{}: {ty}", p.name.name),
    }
}

/// `conv(channels: int, kernel: int or [int, int], stride: int or [int, int] = 1, ...)`
pub fn op_signature(name: &str) -> Option<String> {
    let params = builtin_params(name)?;
    if params.is_empty() {
        return Some(name.to_string());
    }
    let parts: Vec<String> = params
        .iter()
        .map(|(n, ty, d)| match d {
            Some(d) => format!("{n}: {ty} = {d}"),
            None => format!("{n}: {ty}"),
        })
        .collect();
    Some(format!("{name}({})", parts.join(", ")))
}

/// The `//` comment lines right above an offset, without their slashes.
pub fn leading_comment(text: &str, start: usize) -> String {
    let before = &text[..start.min(text.len())];
    let mut lines: Vec<&str> = Vec::new();
    // Skip the rest of the declaration's own line.
    let mut rest = match before.rfind('\n') {
        Some(i) => &before[..i],
        None => return String::new(),
    };
    loop {
        let (head, line) = match rest.rfind('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => ("", rest),
        };
        let t = line.trim();
        match t.strip_prefix("//") {
            Some(c) => lines.push(c.strip_prefix(' ').unwrap_or(c)),
            None => break,
        }
        if head.is_empty() && rest.rfind('\n').is_none() {
            break;
        }
        rest = head;
    }
    lines.reverse();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_directly_above_only() {
        let text = "// not this\n\n// The basic block.\n// Two convs.\nblock basic() {}\n";
        let at = text.find("block basic").unwrap();
        assert_eq!(leading_comment(text, at), "The basic block.\nTwo convs.");
        assert_eq!(leading_comment("block x() {}", 0), "");
        let top = "// first\nblock y() {}";
        assert_eq!(leading_comment(top, top.find("block").unwrap()), "first");
    }

    #[test]
    fn op_signatures_show_defaults() {
        let s = op_signature("conv").unwrap();
        assert!(s.starts_with("conv(channels: int, kernel: "), "{s}");
        assert!(s.contains("groups: int = 1"), "{s}");
        assert_eq!(op_signature("relu").as_deref(), Some("relu"));
    }
}

//! Hover: a layer's op and, per model that builds it, its output shape,
//! parameters and MACs; a block's signature and comment; a model's totals.

use crate::backend::json;
use crate::source::Span;
use crate::syntax::ast::{BlockDecl, Layer};

use super::analysis::Analysis;
use super::describe::{block_signature, leading_comment, op_signature};
use super::facts::{self, Fact, fold, grouped, short};
use super::locate::{Target, layer_at, target_at};

/// At most this many lines of per-instance figures; the rest are counted.
const MAX_ROWS: usize = 16;

/// Markdown for the hover at `offset` in the root file, and the span it is about.
pub fn hover(a: &Analysis, offset: usize) -> Option<(String, Span)> {
    let items = &a.root_ast.items;
    match target_at(items, offset)? {
        Target::BlockDecl(b) => Some((block_doc(a, b), b.name.span)),
        Target::ModelDecl(m) => {
            let g = a.graphs.iter().find(|g| g.name == m.name.name);
            let mut md = format!("```res\nmodel {}\n```\n", m.name.name);
            match g {
                Some(g) => {
                    let s = json::summary(g);
                    md += &format!(
                        "{} → {}\n\nparams {} ({}), buffers {}, MACs {} at batch 1",
                        g.node(g.input).shape,
                        g.node(g.output).shape,
                        grouped(s.params),
                        short(s.params),
                        grouped(s.buffers),
                        short(s.macs)
                    );
                }
                None => md += "not built: the file has errors",
            }
            Some((md, m.name.span))
        }
        Target::Call(c, _) => {
            let name = &c.name.name;
            let mut md = if let Some(b) = a.prog.block(name) {
                block_doc(a, b)
            } else if let Some(sig) = op_signature(name) {
                format!("```res\n{sig}\n```\n")
            } else {
                format!("`{name}`\n")
            };
            // The figures of this call, or of the layer it makes.
            let mut f = facts::facts(&a.graphs, c.span);
            if f.is_empty()
                && let Some(l) = layer_at(items, offset)
            {
                f = facts::facts(&a.graphs, l.span);
            }
            if !f.is_empty() {
                md += "\n---\n";
                md += &figures(&f);
            }
            Some((md, c.name.span))
        }
        Target::From(t, _) => Some((format!("continues from `{}`", a.prog.span_text(t.span)), t.span)),
        Target::Use(u) => Some((format!("`{}`", a.prog.span_text(u.span)), u.span)),
        Target::Layer(l) => Some((layer_doc(a, l), l.span)),
    }
}

fn block_doc(a: &Analysis, b: &BlockDecl) -> String {
    let mut md = format!("```res\n{}\n```\n", block_signature(&a.prog, b));
    let doc = leading_comment(a.text(b.span.file), b.span.start);
    if !doc.is_empty() {
        md += &format!("\n{doc}\n");
    }
    md
}

fn layer_doc(a: &Analysis, l: &Layer) -> String {
    let f = facts::facts(&a.graphs, l.span);
    let head = l.label.as_ref().map_or_else(|| "layer".to_string(), |lb| format!("`{}`", a.prog.span_text(lb.span)));
    if f.is_empty() {
        return format!("{head}: no model in this file builds it");
    }
    format!("{head}\n\n{}", figures(&f))
}

/// One line per distinct (model, shape, counts), naming the instances.
pub fn figures(f: &[Fact]) -> String {
    let mut md = String::new();
    // The op, when every instance makes the same one.
    if let Some(op) = &f[0].op
        && f.iter().all(|x| x.op.as_ref() == Some(op))
    {
        md += &format!("op: `{op}`\n\n");
    }
    let rows = fold(f);
    for r in rows.iter().take(MAX_ROWS) {
        let where_ = instances(&r.instances);
        md += &format!(
            "- **{}**{}: `{}` · {} params · {} MACs\n",
            r.model,
            if where_.is_empty() { String::new() } else { format!(" {where_}") },
            r.shape,
            grouped(r.counts.params),
            short(r.counts.macs)
        );
    }
    if rows.len() > MAX_ROWS {
        md += &format!("- … and {} more\n", rows.len() - MAX_ROWS);
    }
    md
}

fn instances(list: &[String]) -> String {
    let named: Vec<&str> = list.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    match named.len() {
        0 => String::new(),
        1..=3 => named.join(", "),
        n => format!("{}, {} and {} more", named[0], named[1], n - 2),
    }
}

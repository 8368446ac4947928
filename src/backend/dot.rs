//! Graphviz: stages and blocks as nested clusters, shapes on the edges.

use std::collections::HashMap;
use std::fmt::Write;

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Child, Graph, ScopeId, ScopeKind};

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub fn emit(g: &Graph) -> String {
    let mut ids: HashMap<NodeIndex, usize> = HashMap::new();
    for (i, &ix) in g.order.iter().enumerate() {
        ids.insert(ix, i);
    }
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(&g.name));
    let _ = writeln!(out, "  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=8];");
    scope(g, ScopeId(0), &ids, 1, &mut out);
    for &ix in &g.order {
        for src in g.inputs(ix) {
            let _ = writeln!(
                out,
                "  n{} -> n{} [label=\"{}\"];",
                ids[&src],
                ids[&ix],
                escape(&g.node(src).shape.to_string())
            );
        }
    }
    out.push_str("}\n");
    out
}

fn scope(g: &Graph, id: ScopeId, ids: &HashMap<NodeIndex, usize>, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    for c in &g.scope(id).children {
        match c {
            Child::Node(n) => {
                let node = g.node(*n);
                let name = node.name.rsplit('.').next().unwrap_or(&node.name);
                let _ =
                    writeln!(out, "{pad}n{} [label=\"{}\\n{}\"];", ids[n], escape(name), escape(&node.op.describe()));
            }
            Child::Scope(s) => {
                let sc = g.scope(*s);
                let label = match &sc.kind {
                    ScopeKind::Instance { template } => format!("{} ({template})", sc.path),
                    _ => sc.path.clone(),
                };
                let _ = writeln!(out, "{pad}subgraph cluster_{} {{", s.0);
                let _ = writeln!(out, "{pad}  label=\"{}\"; style=rounded; color=gray60;", escape(&label));
                scope(g, *s, ids, indent + 1, out);
                let _ = writeln!(out, "{pad}}}");
            }
        }
    }
}

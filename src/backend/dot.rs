//! Graphviz: the summary table's rows as nodes, opened blocks and stages as
//! nested clusters, shapes on the edges. `depth` collapses everything below
//! that level into one node per block or stage, with its shape and counts, so
//! a whole network fits a page.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use petgraph::stable_graph::NodeIndex;

use super::summary::{self, Row, RowKind};
use super::{group_digits, short_count};
use crate::ir::{Graph, Op};

pub struct Options {
    /// Levels of blocks to open; `None` opens every level.
    pub depth: Option<usize>,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub fn emit(g: &Graph, opts: &Options) -> String {
    let rows = summary::rows(g, opts.depth.unwrap_or(usize::MAX));
    // Each graph node is drawn as the innermost row that is not opened.
    let mut drawn_as: HashMap<NodeIndex, String> = HashMap::new();
    drawn_as.insert(g.input, "input".into());
    for (i, r) in rows.iter().enumerate() {
        if !r.open {
            for &n in &r.nodes {
                drawn_as.insert(n, format!("r{i}"));
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(&g.name));
    let _ = writeln!(out, "  rankdir=TB; ranksep=0.25; nodesep=0.3;");
    let _ = writeln!(out, "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=8];");
    let input = g.node(g.input);
    let _ = writeln!(out, "  input [label=\"input\\n{}\", shape=plaintext];", escape(&input.shape.to_string()));
    clusters(&rows, &mut out);
    let mut seen = HashSet::new();
    for &ix in &g.order {
        if matches!(g.node(ix).op, Op::Input) {
            continue;
        }
        for src in g.inputs(ix) {
            let (from, to) = (&drawn_as[&src], &drawn_as[&ix]);
            if from != to && seen.insert((from.clone(), to.clone())) {
                let shape = escape(&g.node(src).shape.to_string());
                let _ = writeln!(out, "  {from} -> {to} [label=\"{shape}\"];");
            }
        }
    }
    out.push_str("}\n");
    out
}

/// Rows in order; an opened row starts a cluster that holds the rows after it
/// with a higher level.
fn clusters(rows: &[Row], out: &mut String) {
    let mut open_levels: Vec<usize> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        while open_levels.last().is_some_and(|&l| l >= r.level) {
            open_levels.pop();
            let _ = writeln!(out, "{}}}", "  ".repeat(open_levels.len() + 1));
        }
        let pad = "  ".repeat(open_levels.len() + 1);
        if r.open {
            let _ = writeln!(out, "{pad}subgraph cluster_{i} {{");
            let _ = writeln!(out, "{pad}  label=\"{}\"; style=rounded; color=gray60;", escape(&cluster_label(r)));
            open_levels.push(r.level);
        } else {
            let _ = writeln!(out, "{pad}r{i} [label=\"{}\"];", node_label(r));
        }
    }
    while open_levels.pop().is_some() {
        let _ = writeln!(out, "{}}}", "  ".repeat(open_levels.len() + 1));
    }
}

fn cluster_label(r: &Row) -> String {
    match r.kind {
        RowKind::Block => format!("{} ({})", r.name, r.op),
        _ => format!("{}: {}", r.name, r.op),
    }
}

/// A layer: its name, and its op when that says more (`relu` once, not twice).
/// A collapsed block or stage: also its output shape and counts.
fn node_label(r: &Row) -> String {
    let name = match r.kind {
        RowKind::Layer => r.name.rsplit('.').next().unwrap_or(&r.name),
        _ => &r.name,
    };
    let mut lines = vec![escape(name)];
    if r.op != name {
        lines.push(escape(&r.op));
    }
    if r.kind != RowKind::Layer {
        lines.push(escape(&r.shape));
        if r.counts.params > 0 {
            lines.push(format!("{} params, {} MACs", group_digits(r.counts.params), short_count(r.counts.macs)));
        }
    }
    lines.join("\\n")
}

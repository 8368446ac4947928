//! The summary table: one row per layer or group of layers, with repeated
//! blocks collapsed (`layer3 (0-22)  23 x bottleneck`).

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Child, Graph, ScopeId, ScopeKind};
use crate::passes::{self, Counts};

use super::{group_digits, short_count};

pub struct Options {
    /// How many levels of scopes to open; 1 shows the network's own layers.
    pub depth: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { depth: 1 }
    }
}

/// One line of the table: a layer, a block, or a run of identical blocks.
pub struct Row {
    pub name: String,
    pub op: String,
    pub shape: String,
    pub counts: Counts,
    /// The lowest and highest drop-path survival inside.
    pub survival: Option<(f64, f64)>,
    /// 1 for the network's own layers, 2 inside an opened stage, ...
    pub level: usize,
    /// The rows that follow with a higher level are this row's parts.
    pub open: bool,
    pub kind: RowKind,
    /// The graph nodes this row stands for.
    pub nodes: Vec<NodeIndex>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    Layer,
    Block,
    /// A stage, a list, or a run of identical blocks.
    Group,
}

/// The rows of the table, down to `depth` levels of blocks.
pub fn rows(g: &Graph, depth: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    rows_of(g, ScopeId(0), 1, depth.max(1), &mut rows);
    rows
}

pub fn emit(g: &Graph, opts: &Options) -> String {
    let rows = rows(g, opts.depth);
    let total = passes::total_counts(g);
    let input = &g.node(g.input).shape;
    let output = &g.node(g.output).shape;
    let template = match &g.scope(ScopeId(0)).kind {
        ScopeKind::Instance { template } => template.as_str(),
        _ => "",
    };
    let survival = passes::survival(g);

    let mut headers = vec!["layer", "op", "output", "params", "MACs"];
    if !survival.is_empty() {
        headers.push("survival");
    }
    let right_aligned = |col: usize| col >= 3;
    let mut cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.name.clone(),
                r.op.clone(),
                r.shape.clone(),
                dash_if_zero(r.counts.params),
                dash_if_zero(r.counts.macs),
            ];
            if !survival.is_empty() {
                row.push(match r.survival {
                    Some((lo, hi)) if (hi - lo).abs() < 5e-5 => format!("{lo:.4}"),
                    Some((lo, hi)) => format!("{hi:.4}-{lo:.4}"),
                    None => String::new(),
                });
            }
            row
        })
        .collect();
    let mut total_row =
        vec!["total".to_string(), String::new(), String::new(), group_digits(total.params), group_digits(total.macs)];
    total_row.resize(headers.len(), String::new());
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    cells.push(total_row);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let total_row = cells.pop().expect("pushed above");
    let line = |row: &[String]| -> String {
        let mut l = String::new();
        for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                l += "  ";
            }
            l += &if right_aligned(i) { format!("{c:>w$}") } else { format!("{c:<w$}") };
        }
        l.trim_end().to_string()
    };
    let rule: String = "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
    let mut out = String::new();
    out += &format!("model {} = {template}  {input} -> {output}\n", g.name);
    out += &line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    out.push('\n');
    out += &rule;
    out.push('\n');
    for c in &cells {
        out += &line(c);
        out.push('\n');
    }
    out += &rule;
    out.push('\n');
    out += &line(&total_row);
    out.push('\n');
    out += &format!(
        "params {} ({:.1} MiB as f32), buffers {}, MACs {} at batch 1\n",
        short_count(total.params),
        total.params as f64 * 4.0 / (1024.0 * 1024.0),
        group_digits(total.buffers),
        short_count(total.macs)
    );
    if let Some(desc) = &g.drop_path {
        out += &format!("stochastic depth: {desc}; survival of the {} residual blocks in order:\n", survival.len());
        for chunk in survival.chunks(10) {
            let line: Vec<String> = chunk.iter().map(|(_, p)| format!("{p:.4}")).collect();
            out += &format!("  {}\n", line.join(" "));
        }
    }
    out
}

fn dash_if_zero(n: u128) -> String {
    if n == 0 { "-".into() } else { group_digits(n) }
}

fn survival_range(g: &Graph, nodes: &[NodeIndex]) -> Option<(f64, f64)> {
    nodes.iter().fold(None, |acc, &n| match &g.node(n).op {
        crate::ir::Op::DropPath(d) => {
            let (lo, hi) = acc.unwrap_or((d.survival, d.survival));
            Some((lo.min(d.survival), hi.max(d.survival)))
        }
        _ => acc,
    })
}

fn scope_counts(g: &Graph, id: ScopeId) -> Counts {
    let mut nodes = Vec::new();
    g.scope_nodes(id, &mut nodes);
    let mut c = Counts::default();
    for n in nodes {
        c += passes::node_counts(g, n);
    }
    c
}

fn last_part(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn scope_shape(g: &Graph, id: ScopeId) -> String {
    g.scope_output(id).map_or_else(String::new, |n| g.node(n).shape.to_string())
}

/// What a collapsed scope holds, in a few words.
fn scope_op(g: &Graph, id: ScopeId) -> String {
    let s = g.scope(id);
    if let ScopeKind::Instance { template } = &s.kind {
        return template.clone();
    }
    // Runs of instances of one template: "1 x basic, 3 x bottleneck". Between
    // blocks, glue without parameters (a dense block's concats) is left out.
    let has_scopes = s.children.iter().any(|c| matches!(c, Child::Scope(_)));
    let mut runs: Vec<(String, usize)> = Vec::new();
    for c in &s.children {
        if has_scopes && matches!(c, Child::Node(n) if !g.node(*n).op.has_state()) {
            continue;
        }
        let what = match c {
            Child::Scope(cs) => match &g.scope(*cs).kind {
                ScopeKind::Instance { template } => template.clone(),
                _ => "group".into(),
            },
            Child::Node(n) => g.node(*n).op.kind_name().to_string(),
        };
        match runs.last_mut() {
            Some((w, k)) if *w == what => *k += 1,
            _ => runs.push((what, 1)),
        }
    }
    let text =
        runs.iter().map(|(w, k)| if *k == 1 { w.clone() } else { format!("{k} x {w}") }).collect::<Vec<_>>().join(", ");
    // A long mixed sequence says how long it is instead.
    if text.chars().count() > 40 { format!("{} layers", s.children.len()) } else { text }
}

/// A labelled group of mixed content (`features`, `stages`) gets no row of its
/// own: its parts are shown in its place. A stage (instances of one template),
/// a list of ops or a block instance is one row.
fn is_transparent(g: &Graph, id: ScopeId) -> bool {
    let s = g.scope(id);
    if s.kind != ScopeKind::Container {
        return false;
    }
    let mut templates = Vec::new();
    for c in &s.children {
        match c {
            Child::Scope(cs) => match &g.scope(*cs).kind {
                ScopeKind::Instance { template } => templates.push(template.as_str()),
                _ => return true,
            },
            Child::Node(n) if g.node(*n).op.has_state() => templates.push("op"),
            Child::Node(_) => {}
        }
    }
    templates.windows(2).any(|w| w[0] != w[1]) && templates.iter().any(|t| *t != "op")
}

fn rows_of(g: &Graph, id: ScopeId, level: usize, depth: usize, rows: &mut Vec<Row>) {
    let children = &g.scope(id).children;
    let mut i = 0;
    while i < children.len() {
        match children[i] {
            Child::Node(n) => {
                let node = g.node(n);
                if !matches!(node.op, crate::ir::Op::Input) {
                    rows.push(Row {
                        name: node.name.clone(),
                        op: node.op.describe(),
                        shape: node.shape.to_string(),
                        counts: passes::node_counts(g, n),
                        survival: survival_range(g, &[n]),
                        level,
                        open: false,
                        kind: RowKind::Layer,
                        nodes: vec![n],
                    });
                }
                i += 1;
            }
            Child::Scope(s) if is_transparent(g, s) => {
                rows_of(g, s, level, depth, rows);
                i += 1;
            }
            Child::Scope(s) if level < depth => {
                rows.push(scope_row(g, s, level, true));
                rows_of(g, s, level + 1, depth, rows);
                i += 1;
            }
            Child::Scope(s) => {
                // Collapse a run of identical siblings: same template, counts and output.
                let key = |s: ScopeId| (scope_op(g, s), scope_counts(g, s), scope_shape(g, s));
                let first = key(s);
                let mut j = i + 1;
                while let Some(Child::Scope(t)) = children.get(j) {
                    if key(*t) != first {
                        break;
                    }
                    j += 1;
                }
                let run = j - i;
                if run > 1 {
                    let sp = &g.scope(s).path;
                    let Child::Scope(last) = children[j - 1] else { unreachable!() };
                    let mut counts = Counts::default();
                    let mut nodes = Vec::new();
                    for c in &children[i..j] {
                        if let Child::Scope(t) = c {
                            counts += scope_counts(g, *t);
                            g.scope_nodes(*t, &mut nodes);
                        }
                    }
                    let survival = survival_range(g, &nodes);
                    let parent = sp.rsplit_once('.').map_or("", |p| p.0);
                    let range = format!("{}-{}", last_part(sp), last_part(&g.scope(last).path));
                    let name = if parent.is_empty() { range } else { format!("{parent}.{range}") };
                    rows.push(Row {
                        name,
                        op: format!("{run} x {}", first.0),
                        shape: first.2,
                        counts,
                        survival,
                        level,
                        open: false,
                        kind: RowKind::Group,
                        nodes,
                    });
                } else {
                    rows.push(scope_row(g, s, level, false));
                }
                i = j;
            }
        }
    }
}

/// One row for a whole scope: a block instance, a stage or a list.
fn scope_row(g: &Graph, s: ScopeId, level: usize, open: bool) -> Row {
    let mut nodes = Vec::new();
    g.scope_nodes(s, &mut nodes);
    let (name, kind) = match &g.scope(s).kind {
        ScopeKind::Container => (container_name(g, s), RowKind::Group),
        _ => (instance_name(g, s, &nodes), RowKind::Block),
    };
    Row {
        name,
        op: scope_op(g, s),
        shape: scope_shape(g, s),
        counts: scope_counts(g, s),
        survival: survival_range(g, &nodes),
        level,
        open,
        kind,
        nodes,
    }
}

/// An unlabelled block call (`proj(planes, stride)`) shares its caller's path;
/// its row is named by where its layers live (`layer1.0.downsample`).
fn instance_name(g: &Graph, s: ScopeId, nodes: &[NodeIndex]) -> String {
    let path = &g.scope(s).path;
    let mut common: Option<Vec<&str>> = None;
    for &n in nodes {
        let parts: Vec<&str> = g.node(n).name.split('.').collect();
        let parent = &parts[..parts.len().saturating_sub(1)];
        common = Some(match common {
            None => parent.to_vec(),
            Some(c) => c.iter().zip(parent).take_while(|(a, b)| a == b).map(|(a, _)| *a).collect(),
        });
    }
    let common = common.unwrap_or_default().join(".");
    if common.len() > path.len() && common.starts_with(path.as_str()) { common } else { path.clone() }
}

/// `layer3 (0-22)` for a stage of 23 numbered blocks.
fn container_name(g: &Graph, id: ScopeId) -> String {
    let s = g.scope(id);
    let names: Vec<&str> = s
        .children
        .iter()
        .map(|c| match c {
            Child::Scope(cs) => last_part(&g.scope(*cs).path),
            Child::Node(n) => last_part(&g.node(*n).name),
        })
        .collect();
    match (names.first(), names.last()) {
        (Some(a), Some(b)) if names.len() > 1 && a.parse::<u64>().is_ok() => {
            format!("{} ({a}-{b})", s.path)
        }
        _ => s.path.clone(),
    }
}

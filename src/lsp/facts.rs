//! What the built models say about a piece of source: for a span of a block
//! or network, the output shape, parameters and MACs of each instance that a
//! model builds from it.

use std::collections::{BTreeMap, HashMap, HashSet};

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Graph, ScopeId, ScopeKind};
use crate::passes::{self, Counts};
use crate::source::Span;

/// One instance of a span in one model.
#[derive(Clone, Debug)]
pub struct Fact {
    pub model: String,
    /// The block instance it sits in (`layer1.0`), empty at the network level.
    pub instance: String,
    pub shape: String,
    pub counts: Counts,
    /// The op, when the span is one op.
    pub op: Option<String>,
}

fn within(inner: Span, outer: Span) -> bool {
    inner.file == outer.file && outer.start <= inner.start && inner.end <= outer.end
}

/// The nearest block instance (or the model) at or above a scope.
fn instance_of(g: &Graph, mut s: ScopeId) -> ScopeId {
    loop {
        let scope = g.scope(s);
        match (&scope.kind, scope.parent) {
            (ScopeKind::Instance { .. } | ScopeKind::Model, _) | (_, None) => return s,
            (_, Some(p)) => s = p,
        }
    }
}

/// Each time a model builds the code under `span` is one occurrence: a scope
/// the span made (a stage, a block instance, one iteration's container), or
/// the plain ops it made directly inside one scope.
pub fn facts(graphs: &[Graph], span: Span) -> Vec<Fact> {
    let mut out = Vec::new();
    for g in graphs {
        let pos: HashMap<NodeIndex, usize> = g.order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let anchor: Vec<bool> = g.scopes.iter().map(|s| s.parent.is_some() && within(s.span, span)).collect();
        // Inside an anchor scope (itself included)?
        let under_anchor = |mut s: ScopeId| loop {
            if anchor[s.0 as usize] {
                return true;
            }
            match g.scope(s).parent {
                Some(p) => s = p,
                None => return false,
            }
        };
        // Keyed by (occurrence scope, made by the span itself).
        let mut groups: BTreeMap<(ScopeId, bool), HashSet<NodeIndex>> = BTreeMap::new();
        for (i, scope) in g.scopes.iter().enumerate() {
            let id = ScopeId(i as u32);
            if anchor[i] && !scope.parent.is_some_and(under_anchor) {
                let mut nodes = Vec::new();
                g.scope_nodes(id, &mut nodes);
                groups.entry((id, true)).or_default().extend(nodes);
            }
        }
        for &ix in &g.order {
            let n = g.node(ix);
            if within(n.span, span) && !under_anchor(n.scope) {
                groups.entry((n.scope, false)).or_default().insert(ix);
            }
        }
        let mut found: Vec<(usize, Fact)> = groups
            .into_iter()
            .filter_map(|((scope, made), nodes)| {
                let last = *nodes.iter().max_by_key(|n| pos.get(n).copied().unwrap_or(0))?;
                let first = nodes.iter().map(|n| pos.get(n).copied().unwrap_or(0)).min().unwrap_or(0);
                let mut counts = Counts::default();
                for &n in &nodes {
                    counts += passes::node_counts(g, n);
                }
                let op = (nodes.len() == 1).then(|| g.node(last).op.describe());
                let place = if made { scope } else { instance_of(g, scope) };
                Some((
                    first,
                    Fact {
                        model: g.name.clone(),
                        instance: g.scope(place).path.clone(),
                        shape: g.node(last).shape.to_string(),
                        counts,
                        op,
                    },
                ))
            })
            .collect();
        found.sort_by_key(|f| f.0);
        out.extend(found.into_iter().map(|f| f.1));
    }
    out
}

/// Facts that agree on model, shape and counts, with the instances that share them.
pub struct Folded {
    pub model: String,
    pub shape: String,
    pub counts: Counts,
    pub instances: Vec<String>,
}

pub fn fold(facts: &[Fact]) -> Vec<Folded> {
    let mut out: Vec<Folded> = Vec::new();
    for f in facts {
        if let Some(g) = out.iter_mut().find(|g| g.model == f.model && g.shape == f.shape && g.counts == f.counts) {
            g.instances.push(f.instance.clone());
        } else {
            out.push(Folded {
                model: f.model.clone(),
                shape: f.shape.clone(),
                counts: f.counts,
                instances: vec![f.instance.clone()],
            });
        }
    }
    out
}

/// The distinct output shapes, in first-seen order.
pub fn shapes(facts: &[Fact]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in facts {
        if !out.contains(&f.shape) {
            out.push(f.shape.clone());
        }
    }
    out
}

/// `25,557,032`
pub fn grouped(n: u128) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `4.09 G`, `118.0 M`, `9.4 K`
pub fn short(n: u128) -> String {
    let x = n as f64;
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} K", x / 1e3)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_the_summary() {
        assert_eq!(grouped(25_557_032), "25,557,032");
        assert_eq!(grouped(408), "408");
        assert_eq!(short(4_089_184_256), "4.09 G");
        assert_eq!(short(118_013_952), "118.0 M");
    }
}

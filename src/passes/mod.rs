//! Passes over a built graph: consistency checks and counts.

pub mod features;

use std::collections::HashSet;

use petgraph::stable_graph::NodeIndex;

use crate::ir::op::{StateKind, param_count};
use crate::ir::{Graph, Shape};

/// Parameters, buffers and MACs (batch 1) of a set of nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub params: u128,
    pub buffers: u128,
    pub macs: u128,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.params += o.params;
        self.buffers += o.buffers;
        self.macs += o.macs;
    }
}

pub fn node_counts(g: &Graph, ix: NodeIndex) -> Counts {
    let n = g.node(ix);
    let state = n.op.state();
    Counts {
        params: param_count(&state, StateKind::Param),
        buffers: param_count(&state, StateKind::Buffer),
        macs: n.op.macs(&n.shape),
    }
}

pub fn total_counts(g: &Graph) -> Counts {
    let mut c = Counts::default();
    for &ix in &g.order {
        c += node_counts(g, ix);
    }
    c
}

/// One entry of the model's `state_dict`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StateItem {
    pub name: String,
    pub shape: Vec<u64>,
    pub kind: StateKind,
}

/// Every parameter and buffer, named and ordered as the reference `state_dict`.
pub fn state(g: &Graph) -> Vec<StateItem> {
    let mut out = Vec::new();
    for &ix in &g.order {
        let n = g.node(ix);
        for e in n.op.state() {
            out.push(StateItem { name: format!("{}.{}", n.name, e.suffix), shape: e.shape, kind: e.kind });
        }
    }
    out
}

/// Drop-path survival probabilities in residual order, with the block they belong to.
pub fn survival(g: &Graph) -> Vec<(String, f64)> {
    g.order
        .iter()
        .filter_map(|&ix| match &g.node(ix).op {
            crate::ir::Op::DropPath(d) => {
                let name = &g.node(ix).name;
                Some((name.strip_suffix(".drop_path").unwrap_or(name).to_string(), d.survival))
            }
            _ => None,
        })
        .collect()
}

/// Re-derives every shape from the node's inputs and checks the graph's
/// invariants. A failure here is a compiler bug, not a user error.
pub fn verify(g: &Graph) -> Result<(), String> {
    let mut seen: HashSet<NodeIndex> = HashSet::new();
    for &ix in &g.order {
        let inputs = g.inputs(ix);
        for i in &inputs {
            if !seen.contains(i) {
                return Err(format!("node {} uses a node defined after it", g.node(ix).name));
            }
        }
        let shapes: Vec<&Shape> = inputs.iter().map(|&i| &g.node(i).shape).collect();
        let n = g.node(ix);
        if !inputs.is_empty() {
            let again = n.op.infer(&shapes).map_err(|e| format!("{}: {e}", n.name))?;
            if again != n.shape {
                return Err(format!("{}: stored shape {} but inferred {again}", n.name, n.shape));
            }
        }
        seen.insert(ix);
    }
    let mut names = HashSet::new();
    for s in state(g) {
        if !names.insert(s.name.clone()) {
            return Err(format!("state name {} appears twice", s.name));
        }
    }
    if g.graph.node_count() != g.order.len() {
        return Err("graph and order disagree".into());
    }
    Ok(())
}

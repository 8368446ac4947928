//! The summary as JSON, for scripts and tests: one object per model, and for
//! the command line an array of them.

use serde::Serialize;

use super::summary::RowKind;
use crate::ir::Graph;
use crate::passes::{self, StateItem};

#[derive(Serialize)]
pub struct Summary {
    pub model: String,
    /// Shapes at batch 1.
    pub input: Vec<u64>,
    pub output: Vec<u64>,
    pub params: u128,
    pub buffers: u128,
    pub macs: u128,
    pub state: Vec<StateItem>,
    /// Stochastic depth, when the model has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_path: Option<DropPathSummary>,
    /// The summary table's rows, down to the depth asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Layer>,
}

/// One row of the summary table.
#[derive(Serialize)]
pub struct Layer {
    pub name: String,
    pub op: String,
    /// 1 for the network's own layers, 2 for the parts of an opened stage, ...
    pub level: usize,
    /// "layer", "block", or "group" (a stage, a list, a run of identical blocks).
    pub kind: &'static str,
    /// The output shape at batch 1.
    pub output: Vec<u64>,
    pub params: u128,
    pub macs: u128,
}

#[derive(Serialize)]
pub struct DropPathSummary {
    pub schedule: String,
    pub blocks: Vec<BlockSurvival>,
}

#[derive(Serialize)]
pub struct BlockSurvival {
    pub block: String,
    pub survival: f64,
}

pub fn summary(g: &Graph) -> Summary {
    let c = passes::total_counts(g);
    Summary {
        model: g.name.clone(),
        input: g.node(g.input).shape.concrete(1),
        output: g.node(g.output).shape.concrete(1),
        params: c.params,
        buffers: c.buffers,
        macs: c.macs,
        state: passes::state(g),
        drop_path: g.drop_path.as_ref().map(|schedule| DropPathSummary {
            schedule: schedule.clone(),
            blocks: passes::survival(g)
                .into_iter()
                .map(|(block, survival)| BlockSurvival { block, survival })
                .collect(),
        }),
        layers: Vec::new(),
    }
}

/// The summary with the table's rows down to `depth`.
pub fn summary_with_layers(g: &Graph, depth: usize) -> Summary {
    let layers = super::summary::rows(g, depth)
        .into_iter()
        .map(|r| Layer {
            output: r.nodes.last().map_or_else(Vec::new, |&n| g.node(n).shape.concrete(1)),
            kind: match r.kind {
                RowKind::Layer => "layer",
                RowKind::Block => "block",
                RowKind::Group => "group",
            },
            name: r.name,
            op: r.op,
            level: r.level,
            params: r.counts.params,
            macs: r.counts.macs,
        })
        .collect();
    Summary { layers, ..summary(g) }
}

/// Every model as one JSON array (always an array, one model or several).
pub fn emit_all(graphs: &[Graph], depth: usize) -> String {
    let all: Vec<Summary> = graphs.iter().map(|g| summary_with_layers(g, depth)).collect();
    serde_json::to_string_pretty(&all).expect("plain data serializes")
}

pub fn emit(g: &Graph) -> String {
    serde_json::to_string_pretty(&summary(g)).expect("plain data serializes")
}

//! The summary as one JSON object, for scripts and tests.

use serde::Serialize;

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
    }
}

pub fn emit(g: &Graph) -> String {
    serde_json::to_string_pretty(&summary(g)).expect("plain data serializes")
}

//! ONNX export: a model as standard ONNX ops (opset 17), for the runtimes
//! people deploy with. The input is `input` and the output `output`, with the
//! batch dimension symbolic; initializers carry the state_dict's keys; dropout
//! and timm-style drop-path vanish, the paper's drop-path is its test-time scale.

pub(crate) mod builder;
pub mod check;
mod fold;
mod lower;
pub use lower::{Lowered, OnnxNode};
pub mod proto;

use std::collections::HashMap;

use miette::Diagnostic;
use prost::Message;
use thiserror::Error;

use crate::ir::Graph;
use builder::{GraphParts, value_info};
use lower::Lowering;
use proto::{GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto};

/// The operator set written; every op used is standard in it.
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
pub const IR_VERSION: i64 = 8;
/// A protobuf message may not exceed 2 GiB; initializers are kept inside.
const MAX_BYTES: u64 = (2 << 30) - (1 << 20);

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Batch norms that follow a convolution folded into its weight and bias.
    pub fold_bn: bool,
}

#[derive(Debug, Error, Diagnostic, Clone, PartialEq)]
pub enum OnnxError {
    #[error("the weights lack `{name}`")]
    #[diagnostic(code(resc::onnx::missing_weight))]
    MissingWeight { name: String },
    #[error("`{name}` has {got} values where the model needs {want}")]
    #[diagnostic(code(resc::onnx::weight_size))]
    WeightSize { name: String, want: u64, got: u64 },
    #[error("two tensors of the model would both be named `{name}`")]
    #[diagnostic(code(resc::onnx::duplicate_name), help("rename one of the layers"))]
    DuplicateName { name: String },
    #[error("the model's weights take {bytes} bytes, over the 2 GiB a single ONNX file can hold")]
    #[diagnostic(code(resc::onnx::too_large))]
    TooLarge { bytes: u64 },
}

/// The model as an ONNX `ModelProto`.
pub fn model(g: &Graph, weights: &HashMap<String, Vec<f32>>, options: Options) -> Result<ModelProto, OnnxError> {
    let bytes: u64 = weights.values().map(|v| v.len() as u64 * 4).sum();
    if bytes > MAX_BYTES {
        return Err(OnnxError::TooLarge { bytes });
    }
    // The file holds a standardised conv's filters as used: inference only.
    let weights = &*crate::ops::std_conv::standardised(g, weights);
    let folding = if options.fold_bn { fold::plan(g, weights) } else { fold::Folding::empty() };
    let mut cx = Lowering { g, weights, folding, parts: GraphParts::default(), values: HashMap::new() };
    cx.parts.claim("input");
    cx.parts.claim("output");
    cx.values.insert(g.input, "input".to_string());
    for &ix in &g.order {
        if ix == g.input {
            continue;
        }
        let value = match cx.node(ix)? {
            Lowered::Value(v) => {
                cx.parts.annotate(&v, &g.node(ix).shape);
                v
            }
            Lowered::Alias(v) => v,
        };
        cx.values.insert(ix, value);
    }
    let Lowering { values, mut parts, .. } = cx;
    name_output(&mut parts, &values[&g.output]);
    let graph = GraphProto {
        node: parts.nodes,
        name: Some(g.name.clone()),
        initializer: parts.initializers,
        input: vec![value_info("input", &g.node(g.input).shape)],
        output: vec![value_info("output", &g.node(g.output).shape)],
        value_info: parts.value_info,
        ..Default::default()
    };
    let mut metadata = vec![StringStringEntryProto {
        key: Some("batch_norm".into()),
        value: Some(if options.fold_bn { "folded into convolutions where one precedes it" } else { "kept" }.into()),
    }];
    if let Some(schedule) = &g.drop_path {
        metadata.push(StringStringEntryProto { key: Some("drop_path".into()), value: Some(schedule.clone()) });
    }
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
        producer_name: Some("resc".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(format!("{}, exported by resc for inference", g.name)),
        graph: Some(graph),
        metadata_props: metadata,
        ..Default::default()
    })
}

/// The model as the bytes of a `.onnx` file.
pub fn export(g: &Graph, weights: &HashMap<String, Vec<f32>>, options: Options) -> Result<Vec<u8>, OnnxError> {
    Ok(model(g, weights, options)?.encode_to_vec())
}

/// Renames the value the graph returns to `output`; a model that returns its
/// input unchanged gets an `Identity`.
fn name_output(parts: &mut GraphParts, value: &str) {
    if value == "input" {
        parts.node_into("Identity", &["input"], vec![], "output");
        return;
    }
    // The graph's output is described there, not among the intermediates.
    parts.value_info.retain(|v| v.name.as_deref() != Some(value));
    for node in &mut parts.nodes {
        for name in node.input.iter_mut().chain(node.output.iter_mut()) {
            if name == value {
                *name = "output".to_string();
            }
        }
        if node.output.first().is_some_and(|o| o == "output") {
            node.name = Some(format!("{}:output", node.op_type.as_deref().unwrap_or("")));
        }
    }
}

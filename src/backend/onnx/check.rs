//! The structural rules of the ONNX checker that an exporter can break: every
//! node reads only values defined before it (the graph is topologically
//! sorted), names are unique, initializers hold as many bytes as their shape
//! says, and only standard ops of the declared opset appear.

use std::collections::HashSet;

use super::proto::{ModelProto, tensor_proto};

/// Every op the exporter writes, all in the default domain at opset 17.
pub const OPS: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Elu",
    "Erf",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LeakyRelu",
    "MaxPool",
    "Mul",
    "Pad",
    "ReduceMean",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Softplus",
    "Sqrt",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// The rules broken, one line each; empty when the model is well formed.
pub fn problems(model: &ModelProto) -> Vec<String> {
    let mut out = Vec::new();
    let Some(graph) = &model.graph else {
        return vec!["the model has no graph".into()];
    };
    if !model.opset_import.iter().any(|o| o.domain.as_deref().unwrap_or("").is_empty()) {
        out.push("no opset is imported for the default domain".into());
    }
    let mut defined: HashSet<&str> = HashSet::new();
    for v in &graph.input {
        define(&mut defined, v.name.as_deref().unwrap_or(""), "graph input", &mut out);
    }
    for t in &graph.initializer {
        let name = t.name.as_deref().unwrap_or("");
        define(&mut defined, name, "initializer", &mut out);
        let count = t.dims.iter().try_fold(1i64, |a, &d| if d < 0 { None } else { a.checked_mul(d) });
        let bytes = t.raw_data.as_ref().map_or(0, |r| r.len() as i64);
        if t.data_type != Some(tensor_proto::DataType::Float as i32) || count.map(|c| c * 4) != Some(bytes) {
            out.push(format!("initializer `{name}` holds {bytes} bytes for dims {:?}", t.dims));
        }
    }
    let mut node_names = HashSet::new();
    for n in &graph.node {
        let name = n.name.clone().unwrap_or_default();
        if !node_names.insert(name.clone()) {
            out.push(format!("node name `{name}` is used twice"));
        }
        let op = n.op_type.as_deref().unwrap_or("");
        if !OPS.contains(&op) || n.domain.as_deref().is_some_and(|d| !d.is_empty()) {
            out.push(format!("node `{name}` is `{op}`, not a standard op this exporter writes"));
        }
        for i in &n.input {
            if !i.is_empty() && !defined.contains(i.as_str()) {
                out.push(format!("node `{name}` reads `{i}` before anything defines it"));
            }
        }
        for o in &n.output {
            define(&mut defined, o, "node output", &mut out);
        }
    }
    for v in graph.output.iter().chain(&graph.value_info) {
        let name = v.name.as_deref().unwrap_or("");
        if !defined.contains(name) {
            out.push(format!("`{name}` is described but nothing defines it"));
        }
    }
    out
}

fn define<'a>(defined: &mut HashSet<&'a str>, name: &'a str, what: &str, out: &mut Vec<String>) {
    if name.is_empty() {
        out.push(format!("a {what} has no name"));
    }
    if !defined.insert(name) {
        out.push(format!("`{name}` is defined twice (a {what})"));
    }
}

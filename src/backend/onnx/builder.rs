//! Building an ONNX graph: unique value names, nodes, constants and
//! initializers, with the protobuf's optional fields filled in one place.

use std::collections::HashSet;

use super::proto::{
    AttributeProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto, tensor_proto,
    tensor_shape_proto, type_proto,
};
use crate::ir::{Dim, Shape};

#[derive(Default)]
pub struct GraphParts {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    pub value_info: Vec<ValueInfoProto>,
    used: HashSet<String>,
}

impl GraphParts {
    /// `base`, or `base_2`, `base_3`, ... when taken: the IR's display names of
    /// stateless ops repeat (`relu` in every block), ONNX names may not.
    pub fn fresh(&mut self, base: &str) -> String {
        let base = if base.is_empty() { "value" } else { base };
        let mut name = base.to_string();
        let mut k = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// Claims a name that must be exactly this (graph input and output, state_dict keys).
    pub fn claim(&mut self, name: &str) -> bool {
        self.used.insert(name.to_string())
    }

    /// Adds a node writing a fresh value named after `out`; returns that name.
    pub fn node(&mut self, op_type: &str, inputs: &[&str], attributes: Vec<AttributeProto>, out: &str) -> String {
        let output = self.fresh(out);
        self.node_into(op_type, inputs, attributes, &output);
        output
    }

    /// Adds a node writing a value whose name the caller claimed.
    pub fn node_into(&mut self, op_type: &str, inputs: &[&str], attributes: Vec<AttributeProto>, output: &str) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(format!("{op_type}:{output}")),
            op_type: Some(op_type.to_string()),
            attribute: attributes,
            ..Default::default()
        });
    }

    pub fn initializer(&mut self, name: &str, dims: &[u64], data: &[f32]) {
        self.initializers.push(f32_tensor(name, dims, data));
    }

    /// A `Constant` node: shapes, pads and scalars are not weights, so they
    /// stay out of the initializers, which are exactly the state_dict.
    pub fn constant_i64(&mut self, base: &str, values: &[i64]) -> String {
        let name = self.fresh(base);
        let t = TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(tensor_proto::DataType::Int64 as i32),
            int64_data: values.to_vec(),
            name: Some(name.clone()),
            ..Default::default()
        };
        self.node_into("Constant", &[], vec![tensor_attr("value", t)], &name);
        name
    }

    /// A scalar f32 `Constant`, broadcast by the ops that read it.
    pub fn constant_f32(&mut self, base: &str, value: f32) -> String {
        let name = self.fresh(base);
        let t = f32_tensor(&name, &[], &[value]);
        self.node_into("Constant", &[], vec![tensor_attr("value", t)], &name);
        name
    }

    /// Records a value's type and shape, so that tools show it without inference.
    pub fn annotate(&mut self, name: &str, shape: &Shape) {
        self.value_info.push(value_info(name, shape));
    }
}

pub fn f32_tensor(name: &str, dims: &[u64], data: &[f32]) -> TensorProto {
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(tensor_proto::DataType::Float as i32),
        name: Some(name.to_string()),
        raw_data: Some(raw),
        ..Default::default()
    }
}

/// A float tensor value; the batch dimension stays symbolic, named as in the model.
pub fn value_info(name: &str, shape: &Shape) -> ValueInfoProto {
    use tensor_shape_proto::dimension::Value;
    let dim = shape
        .0
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Dim::Size(n) => Value::DimValue(*n as i64),
                Dim::Sym(s) => Value::DimParam(s.clone()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(tensor_proto::DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn attr(name: &str, kind: attribute_proto::AttributeType) -> AttributeProto {
    AttributeProto { name: Some(name.to_string()), r#type: Some(kind as i32), ..Default::default() }
}

pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { ints: values.to_vec(), ..attr(name, attribute_proto::AttributeType::Ints) }
}

pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { i: Some(value), ..attr(name, attribute_proto::AttributeType::Int) }
}

pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { f: Some(value), ..attr(name, attribute_proto::AttributeType::Float) }
}

pub fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto { s: Some(value.as_bytes().to_vec()), ..attr(name, attribute_proto::AttributeType::String) }
}

fn tensor_attr(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto { t: Some(t), ..attr(name, attribute_proto::AttributeType::Tensor) }
}

/// `(x - mean) / sqrt(var + eps)` over `axis` (kept), the biased variance
/// from the centred values, with opset-17 ops: group and layer norm's core.
pub fn normalise(p: &mut GraphParts, x: &str, axis: i64, eps: f64, name: &str) -> String {
    let mean_of = |p: &mut GraphParts, v: &str, out: &str| {
        p.node("ReduceMean", &[v], vec![ints("axes", &[axis]), int("keepdims", 1)], &format!("{name}.{out}"))
    };
    let mean = mean_of(p, x, "mean");
    let centred = p.node("Sub", &[x, &mean], vec![], &format!("{name}.centred"));
    let squares = p.node("Mul", &[&centred, &centred], vec![], &format!("{name}.squares"));
    let var = mean_of(p, &squares, "var");
    let eps = p.constant_f32(&format!("{name}.eps"), eps as f32);
    let var_eps = p.node("Add", &[&var, &eps], vec![], &format!("{name}.var_eps"));
    let std = p.node("Sqrt", &[&var_eps], vec![], &format!("{name}.std"));
    p.node("Div", &[&centred, &std], vec![], &format!("{name}.normed"))
}

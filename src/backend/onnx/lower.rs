//! Each IR op as standard ONNX ops (opset 17).

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use super::OnnxError;
use super::builder::GraphParts;
use super::fold::Folding;
use crate::ir::{Graph, Shape};

pub struct Lowering<'a> {
    pub g: &'a Graph,
    pub weights: &'a HashMap<String, Vec<f32>>,
    pub folding: Folding,
    pub parts: GraphParts,
    /// The ONNX value holding each IR node's output.
    pub values: HashMap<NodeIndex, String>,
}

/// What an IR node became: a new value, or another node's value unchanged
/// (dropout, identity, a folded batch norm).
pub enum Lowered {
    Value(String),
    Alias(String),
}

impl Lowering<'_> {
    fn weight(&mut self, ix: NodeIndex, suffix: &str, dims: &[u64]) -> Result<String, OnnxError> {
        let name = format!("{}.{suffix}", self.g.node(ix).name);
        let data = self.weights.get(&name).ok_or_else(|| OnnxError::MissingWeight { name: name.clone() })?;
        let want: u64 = dims.iter().product();
        if data.len() as u64 != want {
            return Err(OnnxError::WeightSize { name, want, got: data.len() as u64 });
        }
        if !self.parts.claim(&name) {
            return Err(OnnxError::DuplicateName { name });
        }
        self.parts.initializer(&name, dims, data);
        Ok(name)
    }

    pub fn node(&mut self, ix: NodeIndex) -> Result<Lowered, OnnxError> {
        let g = self.g;
        let inputs: Vec<String> = g.inputs(ix).iter().map(|i| self.values[i].clone()).collect();
        g.node(ix).op.to_onnx(&mut OnnxNode { lowering: self, ix, inputs })
    }
}

/// What an op's ONNX lowering sees of its node.
pub struct OnnxNode<'l, 'a> {
    lowering: &'l mut Lowering<'a>,
    ix: NodeIndex,
    /// The ONNX values of the node's inputs.
    pub inputs: Vec<String>,
}

impl OnnxNode<'_, '_> {
    /// The first input's ONNX value.
    pub fn x(&self) -> String {
        self.inputs.first().cloned().unwrap_or_default()
    }

    /// The node's name, which names its ONNX node and weights.
    pub fn name(&self) -> String {
        self.lowering.g.node(self.ix).name.clone()
    }

    pub fn parts(&mut self) -> &mut GraphParts {
        &mut self.lowering.parts
    }

    /// The node's output shape.
    pub fn shape(&self) -> &Shape {
        &self.lowering.g.node(self.ix).shape
    }

    pub fn input_shape(&self, i: usize) -> &Shape {
        let g = self.lowering.g;
        &g.node(g.inputs(self.ix)[i]).shape
    }

    /// The weight `suffix` as an initializer, checked against `dims`.
    pub fn weight(&mut self, suffix: &str, dims: &[u64]) -> Result<String, OnnxError> {
        self.lowering.weight(self.ix, suffix, dims)
    }

    /// Whether this batch norm was folded into the conv before it.
    pub fn folded_norm(&self) -> bool {
        self.lowering.folding.norms.contains_key(&self.ix)
    }

    /// This conv's weights and bias with a batch norm folded in, if one was.
    pub fn folded_conv(&mut self) -> Option<super::fold::Folded> {
        self.lowering.folding.convs.remove(&self.ix)
    }
}

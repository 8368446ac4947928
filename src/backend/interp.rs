//! A reference interpreter: runs a graph's inference forward pass in plain,
//! obvious Rust. Slow on purpose; it defines what the IR ops compute, for
//! checking faster backends against.

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use crate::ir::Graph;
use crate::ir::op::Op;

/// A dense row-major f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "shape and data agree");
        Tensor { shape, data }
    }

    pub fn zeros(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor { shape, data: vec![0.0; n] }
    }

    pub fn nchw(&self) -> (usize, usize, usize, usize) {
        match self.shape.as_slice() {
            [n, c, h, w] => (*n, *c, *h, *w),
            [n, c] => (*n, *c, 1, 1),
            other => panic!("not a feature map: {other:?}"),
        }
    }
}

/// Why a forward pass could not run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    #[error("the weights lack `{0}`")]
    #[diagnostic(code(resc::interp::missing_weight))]
    MissingWeight(String),
    #[error("`{name}` has {got} values where {want} were expected")]
    #[diagnostic(code(resc::interp::weight_size))]
    WeightSize { name: String, want: usize, got: usize },
    #[error("the input has shape {got:?}, the model takes {want:?}")]
    #[diagnostic(code(resc::interp::input_shape))]
    InputShape { want: Vec<usize>, got: Vec<usize> },
}

/// One node's weights, named `{node}.{suffix}` in the state_dict.
pub struct Weights<'a> {
    node: &'a str,
    all: &'a HashMap<String, Vec<f32>>,
}

impl<'a> Weights<'a> {
    /// The tensor `suffix`, which must hold `len` values.
    pub fn get(&self, suffix: &str, len: usize) -> Result<&'a [f32], RunError> {
        let name = format!("{}.{suffix}", self.node);
        let v = self.all.get(&name).ok_or_else(|| RunError::MissingWeight(name.clone()))?;
        if v.len() != len {
            return Err(RunError::WeightSize { name, want: len, got: v.len() });
        }
        Ok(v)
    }
}

/// Runs the graph on `input` with `weights` named as the state_dict.
pub fn run(g: &Graph, weights: &HashMap<String, Vec<f32>>, input: &Tensor) -> Result<Tensor, RunError> {
    Ok(run_keeping(g, weights, input, &[g.output])?.remove(0))
}

/// Runs the graph and returns the values of `keep` (the output, and any
/// intermediate a test compares), in that order.
pub fn run_keeping(
    g: &Graph,
    weights: &HashMap<String, Vec<f32>>,
    input: &Tensor,
    keep: &[NodeIndex],
) -> Result<Vec<Tensor>, RunError> {
    let want = g.node(g.input).shape.concrete(input.shape[0] as u64);
    let want: Vec<usize> = want.iter().map(|&d| d as usize).collect();
    if input.shape != want {
        return Err(RunError::InputShape { want, got: input.shape.clone() });
    }
    let mut values: HashMap<NodeIndex, Tensor> = HashMap::new();
    for &ix in &g.order {
        let node = g.node(ix);
        let ins: Vec<&Tensor> = g.inputs(ix).iter().map(|i| &values[i]).collect();
        let w = Weights { node: &node.name, all: weights };
        let out = match &node.op {
            Op::Input => input.clone(),
            op => op.evaluate(&ins, &w)?,
        };
        values.insert(ix, out);
    }
    Ok(keep.iter().map(|k| values[k].clone()).collect())
}

pub(crate) fn map(t: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    Tensor { shape: t.shape.clone(), data: t.data.iter().map(|&v| f(v)).collect() }
}

/// An op defined on one sample at a time (`src/ops`' references), with the
/// output's shape.
pub(crate) fn per_sample(t: &Tensor, shape: Vec<usize>, f: impl Fn(&[f32]) -> Vec<f32>) -> Tensor {
    let per = (t.data.len() / t.shape[0].max(1)).max(1);
    Tensor { shape, data: t.data.chunks(per).flat_map(f).collect() }
}

/// An op defined on one `h` x `w` plane at a time; `size` gives its output's.
pub(crate) fn per_plane(
    t: &Tensor,
    size: impl Fn(usize, usize) -> (usize, usize),
    f: impl Fn(&[f32], usize, usize) -> Vec<f32>,
) -> Tensor {
    let (n, c, h, w) = t.nchw();
    let (oh, ow) = size(h, w);
    Tensor { shape: vec![n, c, oh, ow], data: t.data.chunks((h * w).max(1)).flat_map(|x| f(x, h, w)).collect() }
}

/// The shape of `x` with `c` channels: channel ops keep a rank-2 input rank 2.
pub(crate) fn with_channels(x: &Tensor, c: usize) -> Vec<usize> {
    let mut shape = x.shape.clone();
    shape[1] = c;
    shape
}

pub(crate) fn per_channel(t: &Tensor, f: impl Fn(usize, f32) -> f32) -> Tensor {
    let (_, c, h, w) = t.nchw();
    let plane = h * w;
    Tensor { shape: t.shape.clone(), data: t.data.iter().enumerate().map(|(i, &v)| f(i / plane % c, v)).collect() }
}

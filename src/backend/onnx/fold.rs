//! Batch norms folded into the convolutions before them, for `--fold-bn`.

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use crate::ir::op::BatchNorm;
use crate::ir::{Graph, Op};

/// A convolution that absorbs the batch norm reading it: the folded weight
/// keeps the conv's state_dict key, the folded bias takes the norm's `.bias`.
pub struct Folded {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub bias_name: String,
}

/// Batch norms that follow a convolution read by nothing else, keyed by the
/// conv (its folded weights) and the norm (which becomes an alias).
pub struct Folding {
    pub convs: HashMap<NodeIndex, Folded>,
    pub norms: HashMap<NodeIndex, NodeIndex>,
}

impl Folding {
    pub fn empty() -> Folding {
        Folding { convs: HashMap::new(), norms: HashMap::new() }
    }
}

pub fn plan(g: &Graph, weights: &HashMap<String, Vec<f32>>) -> Folding {
    let mut folding = Folding::empty();
    for &bn in &g.order {
        let Op::BatchNorm(BatchNorm { channels, eps }) = g.node(bn).op else { continue };
        let [conv] = g.inputs(bn)[..] else { continue };
        let Op::Conv2d(c) = &g.node(conv).op else { continue };
        let sole_reader = g.graph.neighbors_directed(conv, petgraph::Direction::Outgoing).count() == 1;
        if !sole_reader || conv == g.output {
            continue;
        }
        let (cn, bnn) = (&g.node(conv).name, &g.node(bn).name);
        let get = |key: String| weights.get(&key);
        let (Some(w), Some(gamma), Some(beta), Some(mean), Some(var)) = (
            get(format!("{cn}.weight")),
            get(format!("{bnn}.weight")),
            get(format!("{bnn}.bias")),
            get(format!("{bnn}.running_mean")),
            get(format!("{bnn}.running_var")),
        ) else {
            continue;
        };
        let out = channels as usize;
        let conv_bias = if c.bias { get(format!("{cn}.bias")).cloned() } else { None };
        if w.len() % out != 0 || [gamma, beta, mean, var].iter().any(|v| v.len() != out) {
            continue;
        }
        let per = w.len() / out;
        // In f64, so that folding adds no error of its own beyond the final rounding.
        let scale: Vec<f64> = (0..out).map(|o| gamma[o] as f64 / (var[o] as f64 + eps).sqrt()).collect();
        let weight = w.iter().enumerate().map(|(i, &v)| (v as f64 * scale[i / per]) as f32).collect();
        let bias = (0..out)
            .map(|o| {
                let b = conv_bias.as_ref().map_or(0.0, |b| b[o] as f64);
                ((b - mean[o] as f64) * scale[o] + beta[o] as f64) as f32
            })
            .collect();
        folding.convs.insert(conv, Folded { weight, bias, bias_name: format!("{bnn}.bias") });
        folding.norms.insert(bn, conv);
    }
    folding
}

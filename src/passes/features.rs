//! The model cut before its classifier, for comparing penultimate features
//! with a reference (PyTorch's `forward_features` and pooling, or the
//! classifier's input).

use crate::ir::op::Op;
use crate::ir::{Child, Graph, ScopeId};

/// The graph whose output is the classifier's input, named
/// `<model>_features`. The classifier is the last `linear`, or a 1x1 `conv`
/// (timm's DPN and ResNetV2 heads), followed only by flatten, dropout or
/// identity, which go with it. `None` when the model ends otherwise.
pub fn up_to_classifier(g: &Graph) -> Option<Graph> {
    let mut tail = vec![g.output];
    let mut at = g.output;
    while matches!(g.node(at).op, Op::Flatten | Op::Dropout(_) | Op::Identity) {
        at = single_input(g, at)?;
        tail.push(at);
    }
    let is_classifier = match &g.node(at).op {
        Op::Linear(_) => true,
        Op::Conv2d(c) => c.kernel == [1, 1] && c.stride == [1, 1] && c.padding == [0, 0] && c.groups == 1,
        _ => false,
    };
    let features = single_input(g, at).filter(|_| is_classifier)?;
    // Only the tail may read the nodes it removes.
    let used_elsewhere =
        tail[1..].iter().any(|&n| g.graph.neighbors_directed(n, petgraph::Direction::Outgoing).count() > 1);
    if used_elsewhere || features == g.input {
        return None;
    }
    let mut cut = g.clone();
    for &n in &tail {
        cut.graph.remove_node(n);
    }
    cut.order.retain(|n| !tail.contains(n));
    for scope in &mut cut.scopes {
        scope.children.retain(|c| !matches!(c, Child::Node(n) if tail.contains(n)));
    }
    // A scope left empty (a `head` that held only the classifier) goes too:
    // the backends expect every scope to compute something.
    loop {
        let empty: Vec<ScopeId> = (0..cut.scopes.len() as u32)
            .map(ScopeId)
            .filter(|&id| id.0 != 0 && cut.scope(id).children.is_empty())
            .filter(|&id| cut.scopes.iter().any(|s| s.children.contains(&Child::Scope(id))))
            .collect();
        if empty.is_empty() {
            break;
        }
        for scope in &mut cut.scopes {
            scope.children.retain(|c| !matches!(c, Child::Scope(id) if empty.contains(id)));
        }
    }
    cut.output = features;
    cut.name = format!("{}_features", g.name);
    Some(cut)
}

fn single_input(g: &Graph, n: petgraph::stable_graph::NodeIndex) -> Option<petgraph::stable_graph::NodeIndex> {
    match g.inputs(n)[..] {
        [x] => Some(x),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::driver::{self, Select};
    use crate::sema::Program;

    #[test]
    fn resnet18_features_are_the_pooled_512_channels_and_lose_only_fc() {
        let prog = Program::load_text("stdlib/resnet.res", None, crate::stdlib::source("resnet").unwrap());
        let g = driver::compile(&prog, Select::Named("resnet18")).unwrap().remove(0);
        let f = super::up_to_classifier(&g).unwrap();
        assert_eq!(f.node(f.output).shape.concrete(1), vec![1, 512]);
        let names = |g: &crate::ir::Graph| crate::passes::state(g).into_iter().map(|e| e.name).collect::<Vec<_>>();
        let mut want = names(&g);
        want.retain(|n| !n.starts_with("fc."));
        assert_eq!(names(&f), want);
        crate::passes::verify(&f).unwrap();
    }

    #[test]
    fn a_1x1_conv_head_and_the_flatten_after_it_are_cut() {
        let prog = Program::load_text("stdlib/dpn.res", None, crate::stdlib::source("dpn").unwrap());
        let g = driver::compile(&prog, Select::Named("dpn68")).unwrap().remove(0);
        let f = super::up_to_classifier(&g).unwrap();
        assert_eq!(f.node(f.output).shape.concrete(1), vec![1, 832, 1, 1]);
        assert_eq!(f.order.len(), g.order.len() - 2);
    }

    #[test]
    fn the_cut_models_emit_as_burn_modules() {
        for (module, model) in [("resnetv2", "resnetv2_50"), ("dpn", "dpn68"), ("resnest", "resnest14d")] {
            let prog = Program::load_text(module, None, crate::stdlib::source(module).unwrap());
            let g = driver::compile(&prog, Select::Named(model)).unwrap().remove(0);
            let f = super::up_to_classifier(&g).unwrap();
            crate::backend::burn::emit(&f, &prog).unwrap_or_else(|e| panic!("{model}: {e}"));
        }
    }
}

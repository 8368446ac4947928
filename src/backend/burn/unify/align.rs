//! Phase one: every instance's program, its `identity` steps dropped, the
//! steps in one canonical order, and which canonical value each node is.

use std::collections::{HashMap, HashSet};

use petgraph::stable_graph::NodeIndex;

use super::unsupported;
use crate::backend::burn::CodegenError;
use crate::backend::burn::plan::{Plan, Step, StepKind, StructType};

/// A value in the canonical program: the struct's input or a step's output.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ref {
    Input,
    Step(String),
}

/// What every later phase reads: the instances' programs, aligned.
pub struct Ctx<'a, 'g> {
    pub plan: &'a Plan<'g>,
    pub ty: &'a StructType,
    /// The struct's place in the model, for messages.
    pub at: String,
    /// Per instance: its input node and its steps.
    pub progs: Vec<(NodeIndex, Vec<Step>)>,
    /// Step keys in the canonical order, every instance's merged.
    pub order: Vec<String>,
    /// Per instance: the canonical value each node is.
    value_of: Vec<HashMap<NodeIndex, Ref>>,
}

impl Ctx<'_, '_> {
    pub fn n_inst(&self) -> usize {
        self.progs.len()
    }

    pub fn step_of(&self, i: usize, key: &str) -> Option<&Step> {
        self.progs[i].1.iter().find(|s| s.key == key)
    }

    /// Which instances have the step.
    pub fn present(&self, key: &str) -> Vec<bool> {
        (0..self.n_inst()).map(|i| self.step_of(i, key).is_some()).collect()
    }

    /// The step as the first instance that has it has it.
    pub fn representative(&self, key: &str) -> &Step {
        (0..self.n_inst()).find_map(|i| self.step_of(i, key)).expect("some instance has every step of the order")
    }

    /// The canonical value node `n` is in instance `i`.
    pub fn actual(&self, i: usize, n: NodeIndex) -> Result<Ref, CodegenError> {
        self.value_of[i].get(&n).cloned().ok_or_else(|| unsupported("a value read across a block boundary", &self.at))
    }

    /// A value's place in program order: the input first.
    pub fn pos(&self, r: &Ref) -> usize {
        match r {
            Ref::Input => 0,
            Ref::Step(k) => 1 + self.order.iter().position(|o| o == k).unwrap_or(0),
        }
    }
}

pub fn align<'a, 'g>(plan: &'a Plan<'g>, ty: &'a StructType) -> Result<Ctx<'a, 'g>, CodegenError> {
    let g = plan.g;
    let at = g.scope(ty.instances[0]).path.clone();
    let at = if at.is_empty() { g.name.clone() } else { at };
    let mut progs: Vec<(NodeIndex, Vec<Step>)> =
        ty.instances.iter().map(|&s| plan.program(s)).collect::<Result<_, _>>()?;
    // Where one instance holds a layer and another an `identity` in its place
    // (`[if s > 1 { avgpool(..) } else { identity }, ..]`), the identity is the
    // layer's absence: drop it, and let its output stand for its input. An
    // identity everywhere (`se: attn` without attention) goes the same way.
    let module_keys: HashSet<String> = progs
        .iter()
        .flat_map(|p| &p.1)
        .filter(|s| !matches!(s.kind, StepKind::Inline(_)))
        .map(|s| s.key.clone())
        .collect();
    let mut aliases: Vec<Vec<(NodeIndex, NodeIndex)>> = vec![Vec::new(); progs.len()];
    for (i, (_, steps)) in progs.iter_mut().enumerate() {
        let mut kept = Vec::new();
        for st in steps.drain(..) {
            let identity = matches!(g.node(st.out).op, crate::ir::Op::Identity);
            if matches!(st.kind, StepKind::Inline(_)) && (identity || module_keys.contains(&st.key)) {
                if !identity {
                    return Err(unsupported(
                        format!("`{}` being a layer in some instances and an op in others", st.key),
                        &at,
                    ));
                }
                aliases[i].push((st.out, st.inputs[0]));
            } else {
                kept.push(st);
            }
        }
        *steps = kept;
    }
    let order = canonical_order(&progs);
    let value_of = progs
        .iter()
        .zip(&aliases)
        .map(|((input, steps), aliases)| {
            let mut m = HashMap::new();
            m.insert(*input, Ref::Input);
            for s in steps {
                m.insert(s.out, Ref::Step(s.key.clone()));
            }
            for (out, inp) in aliases {
                if let Some(r) = m.get(inp).cloned() {
                    m.insert(*out, r);
                }
            }
            m
        })
        .collect();
    Ok(Ctx { plan, ty, at, progs, order, value_of })
}

/// The longest instance's steps, with every other instance's steps merged in
/// after the step they follow.
fn canonical_order(progs: &[(NodeIndex, Vec<Step>)]) -> Vec<String> {
    let longest = (0..progs.len()).max_by_key(|&i| progs[i].1.len()).unwrap_or(0);
    let mut order: Vec<String> = progs[longest].1.iter().map(|s| s.key.clone()).collect();
    for (_, steps) in progs {
        let mut prev: Option<usize> = None;
        for s in steps {
            match order.iter().position(|k| *k == s.key) {
                Some(p) => prev = Some(p),
                None => {
                    let at = prev.map_or(0, |p| p + 1);
                    order.insert(at, s.key.clone());
                    prev = Some(at);
                }
            }
        }
    }
    order
}

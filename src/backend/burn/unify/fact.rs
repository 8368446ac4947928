//! What an instance is built from, one typed key per construction fact.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A construction fact whose value may differ between instances.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fact {
    /// An op constant that differs (`relu_alpha`), or whether an optional
    /// inline op is there (`use_relu`).
    Const(String),
    /// Whether an optional field or tuple element is there.
    Has(String),
    /// One builder argument of a module field (`conv1`, `out`).
    Builder(String, String),
    /// The `j`th `init` argument of a block field.
    CallArg(String, usize),
    /// The `j`th `init` argument of block `k` of a stage.
    StageArg { field: String, block: usize, arg: usize },
    /// A whole stage, built by the caller (stages of different lengths).
    Stage(String),
}

impl Fact {
    /// How the fact reads; it orders the facts, and so the `init` arguments,
    /// and names an argument that no block parameter names.
    pub fn text(&self) -> String {
        match self {
            Fact::Const(name) => format!("const:{name}"),
            Fact::Has(field) => format!("has:{field}"),
            Fact::Builder(field, arg) => format!("{field}.{arg}"),
            Fact::CallArg(field, j) => format!("{field}:{j}"),
            Fact::StageArg { field, block, arg } => format!("{field}[{block}]:{arg}"),
            Fact::Stage(field) => field.clone(),
        }
    }
}

impl Ord for Fact {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text().cmp(&other.text()).then_with(|| format!("{self:?}").cmp(&format!("{other:?}")))
    }
}

impl PartialOrd for Fact {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per instance, the value of each fact.
pub type Facts = BTreeMap<Fact, super::Lit>;

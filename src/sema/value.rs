//! Values and types of the expression language.

use std::fmt;
use std::rc::Rc;

use crate::ir::Shape;

#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(Rc<str>),
    List(Rc<Vec<Value>>),
    /// `a..b`, kept lazy so `0..1000000000` costs nothing until iterated.
    Range(i64, i64),
    Block(Rc<BlockVal>),
    /// `in`: the input shape of the current block.
    Shape(Rc<Shape>),
    /// `linear(0.5)`, `linspace(0.1)`, `constant(0.8)`: survival by block.
    Schedule(Rc<Schedule>),
    /// `drop_path(schedule, ..)`: a model's stochastic depth.
    DropPath(Rc<DropPathSpec>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Huang et al.: `p_l = 1 - l / L * (1 - p_L)` for blocks l = 1..L.
    Linear {
        p_last: f64,
    },
    /// timm: drop rates `linspace(0, rate)` over the blocks, survival `1 - rate_l`.
    Linspace {
        rate: f64,
    },
    Constant {
        survival: f64,
    },
    Explicit(Vec<f64>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DropPathSpec {
    pub schedule: Schedule,
    pub scale_at_test: bool,
    pub per_sample: bool,
}

impl DropPathSpec {
    /// Survival probabilities of `blocks` residual blocks, in order.
    pub fn survival(&self, blocks: usize) -> Result<Vec<f64>, super::SemaError> {
        let l = blocks as f64;
        Ok(match &self.schedule {
            Schedule::Linear { p_last } => (1..=blocks).map(|i| 1.0 - i as f64 / l * (1.0 - p_last)).collect(),
            Schedule::Linspace { rate } => {
                (0..blocks).map(|i| if blocks > 1 { 1.0 - rate * i as f64 / (l - 1.0) } else { 1.0 }).collect()
            }
            Schedule::Constant { survival } => vec![*survival; blocks],
            Schedule::Explicit(v) => {
                if v.len() != blocks {
                    return Err(super::SemaError::ScheduleLength { blocks, got: v.len() });
                }
                v.clone()
            }
        })
    }

    /// One line for the summary: `linear(p_L = 0.5), scaled at test time, per batch`.
    pub fn describe(&self) -> String {
        let s = match &self.schedule {
            Schedule::Linear { p_last } => format!("linear(p_L = {p_last})"),
            Schedule::Linspace { rate } => format!("linspace(0, {rate}) drop rates"),
            Schedule::Constant { survival } => format!("constant({survival})"),
            Schedule::Explicit(v) => format!("{} explicit probabilities", v.len()),
        };
        let scaling = if self.scale_at_test { "scaled by p at test time" } else { "divided by p in training" };
        let per = if self.per_sample { "drawn per sample" } else { "drawn per batch" };
        format!("{s}, {scaling}, {per}")
    }
}

/// A block template with some arguments already bound: `bottleneck(groups: 32)`.
#[derive(Clone, Debug)]
pub struct BlockVal {
    pub template: String,
    pub bound: Vec<(String, Value)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Int,
    Float,
    Bool,
    Str,
    Block,
    /// `int` or `[int, int]`: kernel sizes, strides, paddings.
    Pair,
    List(Box<Type>, Option<usize>),
    Any,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int => write!(f, "int"),
            Type::Float => write!(f, "float"),
            Type::Bool => write!(f, "bool"),
            Type::Str => write!(f, "str"),
            Type::Block => write!(f, "block"),
            Type::Pair => write!(f, "int or [int, int]"),
            Type::List(t, Some(n)) => write!(f, "[{t}; {n}]"),
            Type::List(t, None) => write!(f, "[{t}]"),
            Type::Any => write!(f, "any"),
        }
    }
}

impl Value {
    pub fn type_name(&self) -> String {
        match self {
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Bool(_) => "bool".into(),
            Value::Str(_) => "str".into(),
            Value::List(v) => format!("a list of {} value{}", v.len(), if v.len() == 1 { "" } else { "s" }),
            Value::Range(..) => "range".into(),
            Value::Block(_) => "block".into(),
            Value::Shape(_) => "shape".into(),
            Value::Schedule(_) => "schedule".into(),
            Value::DropPath(_) => "drop_path".into(),
        }
    }

    pub fn len(&self) -> Option<usize> {
        match self {
            Value::List(v) => Some(v.len()),
            Value::Range(a, b) => Some((b - a).max(0) as usize),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "\"{s}\""),
            Value::List(v) => {
                write!(f, "[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{x}")?;
                }
                write!(f, "]")
            }
            Value::Range(a, b) => write!(f, "{a}..{b}"),
            Value::Block(b) => write!(f, "{}", b.template),
            Value::Shape(s) => write!(f, "{s}"),
            Value::Schedule(s) => write!(f, "{s:?}"),
            Value::DropPath(d) => write!(f, "{}", d.describe()),
        }
    }
}

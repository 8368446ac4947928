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
        }
    }
}

//! The built-in ops: their signatures, and how bound arguments become IR ops.

use std::sync::LazyLock;

use super::SemaError;
use super::value::{Type, Value};
use crate::ir::Shape;
use crate::ir::op::{MAX_DIM, Op, PoolKind};

#[derive(Debug, Clone)]
pub enum ArgDefault {
    Required,
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Pooling stride defaults to the kernel size, as in PyTorch.
    SameAsKernel,
}

#[derive(Debug, Clone)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: Type,
    pub default: ArgDefault,
}

/// How bound, type-checked arguments and the input's shape make the op.
pub type Build = fn(&Args<'_>, &Shape) -> Result<Op, ArgError>;

/// A built-in op: its name, its parameters and its builder, each given by
/// the op's own module (`crate::ops`).
pub struct OpSig {
    pub name: &'static str,
    pub params: Vec<ParamSpec>,
    pub build: Build,
}

impl std::fmt::Debug for OpSig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpSig").field("name", &self.name).field("params", &self.params).finish()
    }
}

pub fn p(name: &'static str, ty: Type, default: ArgDefault) -> ParamSpec {
    ParamSpec { name, ty, default }
}

/// Every built-in op, in the order the language lists them.
static SIGS: LazyLock<Vec<OpSig>> = LazyLock::new(|| {
    use crate::ops::*;
    let mut sigs = vec![
        conv::builtin(),
        std_conv::builtin(),
        batch_norm::builtin(),
        group_norm::builtin(),
        channel_conv::builtin(),
        pad::builtin(),
        blur_pool::builtin(),
        layer_norm::builtin(),
        attention_pool::builtin(),
    ];
    sigs.extend(activation::builtins());
    sigs.extend([
        pool::builtin(PoolKind::Max),
        pool::builtin(PoolKind::Avg),
        global_avg::builtin(),
        flatten::builtin(),
        linear::builtin(),
        dropout::builtin(),
        identity::builtin(),
        slice::builtin(),
        split_sum::builtin(),
        radix_softmax::builtin(),
        subsample::builtin(),
        pad_channels::builtin(),
    ]);
    sigs
});

pub fn sig(name: &str) -> Option<&'static OpSig> {
    SIGS.iter().find(|s| s.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    SIGS.iter().map(|s| s.name)
}

/// A built-in op's parameters as text, for editors: (name, type, default).
pub fn param_docs(name: &str) -> Option<Vec<(&'static str, String, Option<String>)>> {
    let sig = sig(name)?;
    Some(
        sig.params
            .iter()
            .map(|p| {
                let default = match &p.default {
                    ArgDefault::Required => None,
                    ArgDefault::Int(v) => Some(v.to_string()),
                    ArgDefault::Float(v) => Some(format!("{v:?}")),
                    ArgDefault::Bool(v) => Some(v.to_string()),
                    ArgDefault::SameAsKernel => Some("kernel".to_string()),
                };
                (p.name, p.ty.to_string(), default)
            })
            .collect(),
    )
}

/// Functions usable in expressions.
pub const FUNCTIONS: &[&str] = &[
    "floor",
    "ceil",
    "round",
    "min",
    "max",
    "abs",
    "len",
    "int",
    "float",
    "log2",
    "make_divisible",
    // stochastic depth
    "drop_path",
    "linear",
    "linspace",
    "constant",
];

/// A failed argument check: which parameter, and why.
pub struct ArgError {
    pub param: &'static str,
    pub error: SemaError,
}

pub(crate) fn range_err(param: &'static str, what: &str, allowed: &str, value: impl ToString) -> ArgError {
    ArgError {
        param,
        error: SemaError::OutOfRange { what: what.into(), allowed: allowed.into(), value: value.to_string() },
    }
}

pub struct Args<'a> {
    sig: &'static OpSig,
    vals: &'a [Value],
}

impl Args<'_> {
    fn idx(&self, name: &str) -> usize {
        self.sig.params.iter().position(|p| p.name == name).expect("known param")
    }

    pub fn int(&self, name: &'static str, min: i64, max: i64) -> Result<u64, ArgError> {
        let Value::Int(v) = self.vals[self.idx(name)] else { unreachable!("checked type") };
        if v < min || v > max {
            let allowed = if max == i64::MAX { format!("at least {min}") } else { format!("between {min} and {max}") };
            return Err(range_err(name, &format!("`{}` {name}", self.sig.name), &allowed, v));
        }
        Ok(v as u64)
    }

    pub fn pair(&self, name: &'static str, min: i64) -> Result<[u64; 2], ArgError> {
        let check = |v: &Value| -> Result<u64, ArgError> {
            let Value::Int(v) = v else { unreachable!("checked type") };
            if *v < min || *v > MAX_DIM as i64 {
                return Err(range_err(
                    name,
                    &format!("`{}` {name}", self.sig.name),
                    &format!("between {min} and {MAX_DIM}"),
                    v,
                ));
            }
            Ok(*v as u64)
        };
        match &self.vals[self.idx(name)] {
            Value::List(l) => Ok([check(&l[0])?, check(&l[1])?]),
            v => {
                let x = check(v)?;
                Ok([x, x])
            }
        }
    }

    pub fn float(&self, name: &'static str) -> f64 {
        match self.vals[self.idx(name)] {
            Value::Float(f) => f,
            Value::Int(i) => i as f64,
            _ => unreachable!("checked type"),
        }
    }

    pub fn bool(&self, name: &'static str) -> bool {
        matches!(self.vals[self.idx(name)], Value::Bool(true))
    }
}

impl Args<'_> {
    /// The op's name, for messages.
    pub fn op(&self) -> &'static str {
        self.sig.name
    }

    /// A float parameter that must lie in (0, 1): an eps.
    pub fn eps(&self, name: &'static str) -> Result<f64, ArgError> {
        let eps = self.float(name);
        if !(eps > 0.0 && eps < 1.0) {
            return Err(range_err(name, &format!("`{}` {name}", self.sig.name), "in (0, 1)", eps));
        }
        Ok(eps)
    }
}

/// Dims and counts are at most this.
pub const MAX: i64 = MAX_DIM as i64;

/// Build the op from bound, type-checked arguments and the input shape.
pub fn build(sig: &'static OpSig, vals: &[Value], input: &Shape) -> Result<Op, ArgError> {
    (sig.build)(&Args { sig, vals }, input)
}

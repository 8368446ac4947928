//! The built-in ops: their signatures, and how bound arguments become IR ops.

use std::sync::LazyLock;

use super::SemaError;
use super::value::{Type, Value};
use crate::ir::Shape;
use crate::ir::op::{
    AttentionPool, BlurPool, ChannelConv, Conv2d, LayerNorm, MAX_DIM, Op, Pad2d, Pool, PoolKind, RadixSoftmax, SplitSum,
};
use crate::ir::op::{BatchNorm, Dropout, GroupNorm, Linear, PadChannels, Slice, Subsample};
use crate::ops::{activation, std_conv};

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

#[derive(Debug)]
pub struct OpSig {
    pub name: &'static str,
    pub params: Vec<ParamSpec>,
}

fn p(name: &'static str, ty: Type, default: ArgDefault) -> ParamSpec {
    ParamSpec { name, ty, default }
}

static SIGS: LazyLock<Vec<OpSig>> =
    LazyLock::new(|| {
        use ArgDefault::*;
        let sig = |name, params| OpSig { name, params };
        let pool = |name| {
            sig(
                name,
                vec![
                    p("kernel", Type::Pair, Required),
                    p("stride", Type::Pair, SameAsKernel),
                    p("pad", Type::Pair, Int(0)),
                    p("ceil", Type::Bool, Bool(false)),
                    p("count_pad", Type::Bool, Bool(true)),
                ],
            )
        };
        let conv = || {
            vec![
                p("channels", Type::Int, Required),
                p("kernel", Type::Pair, Required),
                p("stride", Type::Pair, Int(1)),
                p("pad", Type::Pair, Int(0)),
                p("dilation", Type::Pair, Int(1)),
                p("groups", Type::Int, Int(1)),
                p("bias", Type::Bool, Bool(false)),
            ]
        };
        let std_conv = conv().into_iter().chain([p("eps", Type::Float, Float(std_conv::DEFAULT_EPS))]).collect();
        vec![
            sig("conv", conv()),
            sig(std_conv::NAME, std_conv),
            sig("bn", vec![p("eps", Type::Float, Float(1e-5))]),
            sig("group_norm", vec![p("groups", Type::Int, Required), p("eps", Type::Float, Float(1e-5))]),
            sig("channel_conv", vec![p("kernel", Type::Int, Required)]),
            sig(Pad2d::NAME, vec![p("amount", Type::Int, Required), p("value", Type::Float, Float(0.0))]),
            sig(BlurPool::NAME, vec![p("stride", Type::Int, Int(2)), p("size", Type::Int, Int(3))]),
            sig(LayerNorm::NAME, vec![p("eps", Type::Float, Float(LayerNorm::DEFAULT_EPS))]),
            sig(AttentionPool::NAME, vec![]),
        ]
        .into_iter()
        .chain(activation::SPECS.iter().map(|s| {
            sig(s.name, s.params.iter().map(|&(name, default)| p(name, Type::Float, Float(default))).collect())
        }))
        .chain([
            pool("maxpool"),
            pool("avgpool"),
            sig("global_avg", vec![]),
            sig("flatten", vec![]),
            sig("linear", vec![p("features", Type::Int, Required), p("bias", Type::Bool, Bool(true))]),
            sig("dropout", vec![p("p", Type::Float, Float(0.5))]),
            sig("identity", vec![]),
            sig("slice", vec![p("start", Type::Int, Required), p("end", Type::Int, Int(0))]),
            sig(SplitSum::NAME, vec![p("radix", Type::Int, Required)]),
            sig(RadixSoftmax::NAME, vec![p("radix", Type::Int, Required), p("groups", Type::Int, Int(1))]),
            sig("subsample", vec![p("stride", Type::Int, Required)]),
            sig("pad_channels", vec![p("channels", Type::Int, Required)]),
        ])
        .collect()
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

fn range_err(param: &'static str, what: &str, allowed: &str, value: impl ToString) -> ArgError {
    ArgError {
        param,
        error: SemaError::OutOfRange { what: what.into(), allowed: allowed.into(), value: value.to_string() },
    }
}

struct Args<'a> {
    sig: &'static OpSig,
    vals: &'a [Value],
}

impl Args<'_> {
    fn idx(&self, name: &str) -> usize {
        self.sig.params.iter().position(|p| p.name == name).expect("known param")
    }

    fn int(&self, name: &'static str, min: i64, max: i64) -> Result<u64, ArgError> {
        let Value::Int(v) = self.vals[self.idx(name)] else { unreachable!("checked type") };
        if v < min || v > max {
            let allowed = if max == i64::MAX { format!("at least {min}") } else { format!("between {min} and {max}") };
            return Err(range_err(name, &format!("`{}` {name}", self.sig.name), &allowed, v));
        }
        Ok(v as u64)
    }

    fn pair(&self, name: &'static str, min: i64) -> Result<[u64; 2], ArgError> {
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

    fn float(&self, name: &'static str) -> f64 {
        match self.vals[self.idx(name)] {
            Value::Float(f) => f,
            Value::Int(i) => i as f64,
            _ => unreachable!("checked type"),
        }
    }

    fn bool(&self, name: &'static str) -> bool {
        matches!(self.vals[self.idx(name)], Value::Bool(true))
    }
}

/// Build the op from bound, type-checked arguments and the input shape.
pub fn build(sig: &'static OpSig, vals: &[Value], input: &Shape) -> Result<Op, ArgError> {
    let a = Args { sig, vals };
    let max = MAX_DIM as i64;
    let channels = input.channels().unwrap_or(0);
    if let Some(spec) = activation::spec(sig.name) {
        let vals: Vec<f64> = spec.params.iter().map(|&(name, _)| a.float(name)).collect();
        return Ok(Op::Act((spec.build)(&vals)));
    }
    Ok(match sig.name {
        "conv" | std_conv::NAME => Op::Conv2d(Conv2d {
            in_channels: channels,
            out_channels: a.int("channels", 1, max)?,
            kernel: a.pair("kernel", 1)?,
            stride: a.pair("stride", 1)?,
            padding: a.pair("pad", 0)?,
            dilation: a.pair("dilation", 1)?,
            groups: a.int("groups", 1, max)?,
            bias: a.bool("bias"),
            standardize: if sig.name == std_conv::NAME {
                let eps = a.float("eps");
                if !(eps > 0.0 && eps < 1.0) {
                    return Err(range_err("eps", "`std_conv` eps", "in (0, 1)", eps));
                }
                Some(eps)
            } else {
                None
            },
        }),
        "bn" => {
            let eps = a.float("eps");
            if !(eps > 0.0 && eps < 1.0) {
                return Err(range_err("eps", "`bn` eps", "in (0, 1)", eps));
            }
            Op::BatchNorm(BatchNorm { channels, eps })
        }
        "group_norm" => {
            let eps = a.float("eps");
            if !(eps > 0.0 && eps < 1.0) {
                return Err(range_err("eps", "`group_norm` eps", "in (0, 1)", eps));
            }
            Op::GroupNorm(GroupNorm { channels, groups: a.int("groups", 1, max)?, eps })
        }
        "channel_conv" => {
            let kernel = a.int("kernel", 1, max)?;
            if kernel % 2 == 0 {
                return Err(range_err(
                    "kernel",
                    "`channel_conv` kernel",
                    "odd, so that the output keeps its channels",
                    kernel,
                ));
            }
            Op::ChannelConv(ChannelConv { channels, kernel })
        }
        Pad2d::NAME => {
            let value = a.float("value");
            if !value.is_finite() {
                return Err(range_err("value", "`pad` value", "a finite number", value));
            }
            Op::Pad(Pad2d { amount: a.int("amount", 0, max)?, value })
        }
        LayerNorm::NAME => {
            let eps = a.float("eps");
            if !(eps > 0.0 && eps < 1.0) {
                return Err(range_err("eps", "`layer_norm` eps", "in (0, 1)", eps));
            }
            Op::LayerNorm(LayerNorm { channels, eps })
        }
        AttentionPool::NAME => {
            let positions = input.size(2).unwrap_or(1) * input.size(3).unwrap_or(1);
            Op::AttentionPool(AttentionPool { channels, positions })
        }
        BlurPool::NAME => {
            let size = a.int("size", 2, 16)?;
            Op::BlurPool(BlurPool { channels, stride: a.int("stride", 1, max)?, size })
        }
        "maxpool" | "avgpool" => {
            let kernel = a.pair("kernel", 1)?;
            let stride = a.pair("stride", 1)?;
            Op::Pool(Pool {
                kind: if sig.name == "maxpool" { PoolKind::Max } else { PoolKind::Avg },
                kernel,
                stride,
                padding: a.pair("pad", 0)?,
                ceil_mode: a.bool("ceil"),
                count_include_pad: a.bool("count_pad"),
            })
        }
        "global_avg" => Op::GlobalAvgPool,
        "flatten" => Op::Flatten,
        "linear" => {
            Op::Linear(Linear { in_features: channels, out_features: a.int("features", 1, max)?, bias: a.bool("bias") })
        }
        "dropout" => {
            let p = a.float("p");
            if !(0.0..1.0).contains(&p) {
                return Err(range_err("p", "dropout probability", "in [0, 1)", p));
            }
            Op::Dropout(Dropout { p })
        }
        "identity" => Op::Identity,
        "slice" => {
            let start = a.int("start", 0, max)?;
            let end = a.int("end", 0, max)?;
            if end != 0 && end <= start {
                return Err(range_err(
                    "end",
                    "`slice` end",
                    &format!("greater than the start {start}, or 0 for all"),
                    end,
                ));
            }
            Op::Slice(Slice { start, end })
        }
        SplitSum::NAME => Op::SplitSum(SplitSum { radix: a.int("radix", 1, max)? }),
        RadixSoftmax::NAME => {
            Op::RadixSoftmax(RadixSoftmax { radix: a.int("radix", 1, max)?, groups: a.int("groups", 1, max)? })
        }
        "subsample" => Op::Subsample(Subsample { stride: a.int("stride", 1, max)? }),
        "pad_channels" => {
            let want = a.int("channels", 1, max)?;
            if want < channels {
                return Err(ArgError {
                    param: "channels",
                    error: SemaError::OutOfRange {
                        what: "`pad_channels` target".into(),
                        allowed: format!("at least the input's {channels} channels"),
                        value: want.to_string(),
                    },
                });
            }
            let extra = want - channels;
            Op::PadChannels(PadChannels { before: extra / 2, after: extra - extra / 2 })
        }
        other => unreachable!("no builder for op {other}"),
    })
}

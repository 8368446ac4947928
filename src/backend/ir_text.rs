//! The IR as text: one line per node, in order, with every attribute of its
//! op (padding, dilation, groups, bias), its shape and its source.

use std::collections::HashMap;
use std::fmt::Write;

use crate::ir::op::PoolKind;
use crate::ir::op::{BatchNorm, GroupNorm, Linear};
use crate::ir::{Graph, Op};
use crate::source::SourceMap;

pub fn emit(g: &Graph, sources: &SourceMap) -> String {
    let mut num = HashMap::new();
    let mut out = String::new();
    let _ = writeln!(out, "model {}  // {}", g.name, sources.describe(g.span));
    for (i, &ix) in g.order.iter().enumerate() {
        num.insert(ix, i);
        let n = g.node(ix);
        let args: Vec<String> = g.inputs(ix).iter().map(|a| format!("%{}", num[a])).collect();
        let _ = writeln!(
            out,
            "  %{i} = {}({})  [{}] : {}  // {}",
            op_text(&n.op),
            args.join(", "),
            n.name,
            n.shape,
            sources.describe(n.span)
        );
    }
    let _ = writeln!(out, "  return %{}", num[&g.output]);
    out
}

fn hw(v: [u64; 2]) -> String {
    if v[0] == v[1] { v[0].to_string() } else { format!("{}x{}", v[0], v[1]) }
}

/// The op with all its attributes: `conv{in: 64, out: 64, kernel: 3, stride: 1,
/// pad: 1, dilation: 1, groups: 1, bias: false}`.
pub fn op_text(op: &Op) -> String {
    match op {
        Op::Conv2d(c) => format!(
            "{}{{in: {}, out: {}, kernel: {}, stride: {}, pad: {}, dilation: {}, groups: {}, bias: {}{}}}",
            op.kind_name(),
            c.in_channels,
            c.out_channels,
            hw(c.kernel),
            hw(c.stride),
            hw(c.padding),
            hw(c.dilation),
            c.groups,
            c.bias,
            c.standardize.map_or(String::new(), |eps| format!(", eps: {eps}"))
        ),
        Op::LayerNorm(l) => format!("layer_norm{{channels: {}, eps: {}}}", l.channels, l.eps),
        Op::AttentionPool(a) => format!("attention_pool{{channels: {}}}", a.channels),
        Op::Pad(p) => format!("pad{{amount: {}, value: {}}}", p.amount, p.value),
        Op::BlurPool(b) => format!("blur_pool{{channels: {}, stride: {}, size: {}}}", b.channels, b.stride, b.size),
        Op::Pool(p) => format!(
            "{}{{kernel: {}, stride: {}, pad: {}, ceil: {}{}}}",
            match p.kind {
                PoolKind::Max => "maxpool",
                PoolKind::Avg => "avgpool",
            },
            hw(p.kernel),
            hw(p.stride),
            hw(p.padding),
            p.ceil_mode,
            if p.kind == PoolKind::Avg { format!(", count_pad: {}", p.count_include_pad) } else { String::new() }
        ),
        Op::BatchNorm(BatchNorm { channels, eps }) => format!("bn{{channels: {channels}, eps: {eps}}}"),
        Op::ChannelConv(c) => format!("channel_conv{{channels: {}, kernel: {}}}", c.channels, c.kernel),
        Op::GroupNorm(GroupNorm { channels, groups, eps }) => {
            format!("group_norm{{channels: {channels}, groups: {groups}, eps: {eps}}}")
        }
        Op::Linear(Linear { in_features, out_features, bias }) => {
            format!("linear{{in: {in_features}, out: {out_features}, bias: {bias}}}")
        }
        other => other.describe(),
    }
}

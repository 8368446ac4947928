//! The IR as text: one line per node, in order, with every attribute of its
//! op (padding, dilation, groups, bias), its shape and its source.

use std::collections::HashMap;
use std::fmt::Write;

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

/// The op with all its attributes: `conv{in: 64, out: 64, kernel: 3, stride: 1,
/// pad: 1, dilation: 1, groups: 1, bias: false}`.
pub fn op_text(op: &Op) -> String {
    op.attributes()
}

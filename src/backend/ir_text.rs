//! The IR as text: one line per node, in order, with its shape and source.

use std::collections::HashMap;
use std::fmt::Write;

use crate::ir::Graph;
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
            n.op.describe(),
            args.join(", "),
            n.name,
            n.shape,
            sources.describe(n.span)
        );
    }
    let _ = writeln!(out, "  return %{}", num[&g.output]);
    out
}

//! The shape check of a model, as a small straight-line program over i64:
//! from the input's four dims it derives every value's dims, checking each
//! constraint the network has on the way. The JIT compiles it to one native
//! function (`jit::compile_shape_check`); `eval` interprets it, as the
//! reference the compiled function is tested against.
//!
//! Every value gets four slots (N, C, H, W); rank-2 values store (N, F, 1, 1).

use petgraph::stable_graph::NodeIndex;

use crate::ir::Graph;
use crate::ir::op::Op;

pub type Reg = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ins {
    /// Input dimension 0..4.
    Input(u8),
    Const(i64),
    Add(Reg, Reg),
    Sub(Reg, Reg),
    Mul(Reg, Reg),
    /// Division by a positive constant register, of a non-negative value.
    Div(Reg, Reg),
    Rem(Reg, Reg),
    /// 1 if equal, else 0.
    Eq(Reg, Reg),
    /// 1 if `a >= b`, else 0.
    Ge(Reg, Reg),
    And(Reg, Reg),
    Or(Reg, Reg),
    Select(Reg, Reg, Reg),
    /// Stop with check `id` failed unless the register is 1.
    Check(Reg, u32),
    /// Write a register into output slot.
    Store(u32, Reg),
}

/// What a failing check means, for its message.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    Channels {
        want: i64,
    },
    Features {
        want: i64,
    },
    /// The (padded) input must be at least this large.
    MinSize {
        need_h: i64,
        need_w: i64,
    },
    /// The inputs of an add, concat or mul must agree.
    Agree,
    Divisible {
        by: i64,
    },
    SliceEnd {
        end: i64,
    },
    /// Pooled channels: height and width 1.
    Pooled,
}

#[derive(Clone, Debug)]
pub struct Check {
    pub node: NodeIndex,
    pub kind: CheckKind,
}

#[derive(Clone, Debug, Default)]
pub struct Program {
    pub ins: Vec<Ins>,
    pub checks: Vec<Check>,
    /// Output slots: 4 per value, values in `Graph::order`.
    pub slots: usize,
}

struct Builder {
    p: Program,
}

impl Builder {
    fn push(&mut self, i: Ins) -> Reg {
        self.p.ins.push(i);
        (self.p.ins.len() - 1) as Reg
    }
    fn k(&mut self, v: i64) -> Reg {
        self.push(Ins::Const(v))
    }
    fn check(&mut self, cond: Reg, node: NodeIndex, kind: CheckKind) {
        let id = self.p.checks.len() as u32;
        self.p.checks.push(Check { node, kind });
        self.push(Ins::Check(cond, id));
    }
    fn eq(&mut self, a: Reg, b: Reg) -> Reg {
        self.push(Ins::Eq(a, b))
    }
    fn eq_k(&mut self, a: Reg, v: i64) -> Reg {
        let k = self.k(v);
        self.eq(a, k)
    }
    fn add_k(&mut self, a: Reg, v: i64) -> Reg {
        let k = self.k(v);
        self.push(Ins::Add(a, k))
    }
    fn div_k(&mut self, a: Reg, v: i64) -> Reg {
        let k = self.k(v);
        self.push(Ins::Div(a, k))
    }
    fn and(&mut self, a: Reg, b: Reg) -> Reg {
        self.push(Ins::And(a, b))
    }
}

/// Builds the check program of a graph. Ops whose constants are not
/// positive where they divide have been rejected by the front end; they are
/// checked again here so the program never divides by zero.
pub fn build(g: &Graph) -> Program {
    let mut b = Builder { p: Program::default() };
    let mut dims: Vec<[Reg; 4]> = Vec::with_capacity(g.order.len());
    let pos: std::collections::HashMap<NodeIndex, usize> = g.order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    for &ix in &g.order {
        let node = g.node(ix);
        let ins: Vec<[Reg; 4]> = g.inputs(ix).iter().map(|i| dims[pos[i]]).collect();
        let one = b.k(1);
        let out: [Reg; 4] = match &node.op {
            Op::Input => {
                let d = [0, 1, 2, 3].map(|i| b.push(Ins::Input(i)));
                // Stored before the check, for its message.
                let slot = dims.len() as u32 * 4;
                for (k, &r) in d.iter().enumerate() {
                    b.push(Ins::Store(slot + k as u32, r));
                }
                let want = node.shape.channels().unwrap_or(0) as i64;
                let ok = b.eq_k(d[1], want);
                b.check(ok, ix, CheckKind::Channels { want });
                d
            }
            Op::Conv2d(c) => {
                let [n, ch, h, w] = ins[0];
                let ok = b.eq_k(ch, c.in_channels as i64);
                b.check(ok, ix, CheckKind::Channels { want: c.in_channels as i64 });
                let eff = |i: usize| (c.dilation[i] * (c.kernel[i] - 1) + 1) as i64;
                let (need_h, need_w) = (eff(0) - 2 * c.padding[0] as i64, eff(1) - 2 * c.padding[1] as i64);
                let (kh, kw) = (b.k(need_h), b.k(need_w));
                let (okh, okw) = (b.push(Ins::Ge(h, kh)), b.push(Ins::Ge(w, kw)));
                let ok = b.and(okh, okw);
                b.check(ok, ix, CheckKind::MinSize { need_h, need_w });
                let oh = b.push(Ins::Sub(h, kh));
                let oh = b.div_k(oh, c.stride[0].max(1) as i64);
                let oh = b.push(Ins::Add(oh, one));
                let ow = b.push(Ins::Sub(w, kw));
                let ow = b.div_k(ow, c.stride[1].max(1) as i64);
                let ow = b.push(Ins::Add(ow, one));
                [n, b.k(c.out_channels as i64), oh, ow]
            }
            Op::ChannelConv(op) => {
                let [_, c, h, w] = ins[0];
                let ok = b.eq_k(c, op.channels as i64);
                b.check(ok, ix, CheckKind::Channels { want: op.channels as i64 });
                let (oh, ow) = (b.eq_k(h, 1), b.eq_k(w, 1));
                let ok = b.and(oh, ow);
                b.check(ok, ix, CheckKind::Pooled);
                ins[0]
            }
            Op::BatchNorm { channels, .. } | Op::GroupNorm { channels, .. } => {
                let ok = b.eq_k(ins[0][1], *channels as i64);
                b.check(ok, ix, CheckKind::Channels { want: *channels as i64 });
                ins[0]
            }
            Op::Act(_) | Op::Dropout { .. } | Op::Identity | Op::DropPath(_) => ins[0],
            Op::Pool(p) => {
                let [n, ch, h, w] = ins[0];
                let need = |i: usize| p.kernel[i] as i64 - 2 * p.padding[i] as i64;
                let (need_h, need_w) = (need(0), need(1));
                let (kh, kw) = (b.k(need_h), b.k(need_w));
                let (okh, okw) = (b.push(Ins::Ge(h, kh)), b.push(Ins::Ge(w, kw)));
                let ok = b.and(okh, okw);
                b.check(ok, ix, CheckKind::MinSize { need_h, need_w });
                let mut side = |len: Reg, k: Reg, i: usize| {
                    let s = p.stride[i].max(1) as i64;
                    let span = b.push(Ins::Sub(len, k));
                    let span = if p.ceil_mode { b.add_k(span, s - 1) } else { span };
                    let o = b.div_k(span, s);
                    let o = b.push(Ins::Add(o, one));
                    if !p.ceil_mode {
                        return o;
                    }
                    // A last window starting in the right padding is dropped, as PyTorch does.
                    let om1 = b.push(Ins::Sub(o, one));
                    let sk = b.k(s);
                    let start = b.push(Ins::Mul(om1, sk));
                    let limit = b.add_k(len, p.padding[i] as i64);
                    let past = b.push(Ins::Ge(start, limit));
                    b.push(Ins::Select(past, om1, o))
                };
                let oh = side(h, kh, 0);
                let ow = side(w, kw, 1);
                [n, ch, oh, ow]
            }
            Op::GlobalAvgPool => [ins[0][0], ins[0][1], one, one],
            Op::Flatten => {
                let [n, c, h, w] = ins[0];
                let f = b.push(Ins::Mul(c, h));
                let f = b.push(Ins::Mul(f, w));
                [n, f, one, one]
            }
            Op::Linear { in_features, out_features, .. } => {
                let ok = b.eq_k(ins[0][1], *in_features as i64);
                b.check(ok, ix, CheckKind::Features { want: *in_features as i64 });
                [ins[0][0], b.k(*out_features as i64), one, one]
            }
            Op::Add { .. } => {
                let first = ins[0];
                for other in &ins[1..] {
                    let mut ok = one;
                    for d in 1..4 {
                        let e = b.eq(first[d], other[d]);
                        ok = b.and(ok, e);
                    }
                    // The front end let a pooled second input through: it stays pooled.
                    let pooled = |s: &crate::ir::Shape| s.size(2) == Some(1) && s.size(3) == Some(1);
                    let second = g.inputs(ix)[1];
                    if ins.len() == 2 && pooled(&g.node(second).shape) && !pooled(&node.shape) {
                        let ec = b.eq(first[1], other[1]);
                        let (h1, w1) = (b.eq(other[2], one), b.eq(other[3], one));
                        let p = b.and(h1, w1);
                        ok = b.and(ec, p);
                    }
                    b.check(ok, ix, CheckKind::Agree);
                }
                first
            }
            Op::Concat => {
                let first = ins[0];
                let mut c = first[1];
                for other in &ins[1..] {
                    let eh = b.eq(first[2], other[2]);
                    let ew = b.eq(first[3], other[3]);
                    let ok = b.and(eh, ew);
                    b.check(ok, ix, CheckKind::Agree);
                    c = b.push(Ins::Add(c, other[1]));
                }
                [first[0], c, first[2], first[3]]
            }
            Op::Mul => {
                let (a, s) = (ins[0], ins[1]);
                let ec = b.eq(a[1], s[1]);
                let (h1, w1) = (b.eq(s[2], one), b.eq(s[3], one));
                let broadcast = b.and(h1, w1);
                let (eh, ew) = (b.eq(a[2], s[2]), b.eq(a[3], s[3]));
                let same = b.and(eh, ew);
                let spatial = b.push(Ins::Or(broadcast, same));
                let ok = b.and(ec, spatial);
                b.check(ok, ix, CheckKind::Agree);
                a
            }
            Op::Subsample { stride } => {
                let [n, c, h, w] = ins[0];
                let s = (*stride).max(1) as i64;
                let h = b.add_k(h, s - 1);
                let h = b.div_k(h, s);
                let w = b.add_k(w, s - 1);
                let w = b.div_k(w, s);
                [n, c, h, w]
            }
            Op::LayerNorm(op) => {
                let ok = b.eq_k(ins[0][1], op.channels as i64);
                b.check(ok, ix, CheckKind::Channels { want: op.channels as i64 });
                ins[0]
            }
            Op::AttentionPool(op) => {
                let [n, c, _, _] = ins[0];
                let ok = b.eq_k(c, op.channels as i64);
                b.check(ok, ix, CheckKind::Channels { want: op.channels as i64 });
                [n, c, one, one]
            }
            Op::Pad(op) => {
                let [n, c, h, w] = ins[0];
                let grow = 2 * op.amount as i64;
                [n, c, b.add_k(h, grow), b.add_k(w, grow)]
            }
            Op::BlurPool(op) => {
                let [n, c, h, w] = ins[0];
                let ok = b.eq_k(c, op.channels as i64);
                b.check(ok, ix, CheckKind::Channels { want: op.channels as i64 });
                let need = op.min_side() as i64;
                let k = b.k(need);
                let (okh, okw) = (b.push(Ins::Ge(h, k)), b.push(Ins::Ge(w, k)));
                let ok = b.and(okh, okw);
                b.check(ok, ix, CheckKind::MinSize { need_h: need, need_w: need });
                let mut side = |len: Reg| {
                    let span = b.add_k(len, 2 * op.pad() as i64 - op.size as i64);
                    let o = b.div_k(span, op.stride.max(1) as i64);
                    b.push(Ins::Add(o, one))
                };
                let (oh, ow) = (side(h), side(w));
                [n, c, oh, ow]
            }
            Op::PadChannels { before, after } => {
                let [n, c, h, w] = ins[0];
                [n, b.add_k(c, (*before + *after) as i64), h, w]
            }
            Op::Slice { start, end } => {
                let [n, c, h, w] = ins[0];
                let end = if *end == 0 {
                    c
                } else {
                    let e = b.k(*end as i64);
                    let ok = b.push(Ins::Ge(c, e));
                    b.check(ok, ix, CheckKind::SliceEnd { end: *end as i64 });
                    e
                };
                let s = b.k(*start as i64);
                [n, b.push(Ins::Sub(end, s)), h, w]
            }
            Op::SplitSum(op) => {
                let [n, c, h, w] = ins[0];
                let r = op.radix.max(1) as i64;
                let rk = b.k(r);
                let rem = b.push(Ins::Rem(c, rk));
                let ok = b.eq_k(rem, 0);
                b.check(ok, ix, CheckKind::Divisible { by: r });
                [n, b.push(Ins::Div(c, rk)), h, w]
            }
            Op::RadixSoftmax(op) => {
                let by = (op.radix * op.groups).max(1) as i64;
                let k = b.k(by);
                let rem = b.push(Ins::Rem(ins[0][1], k));
                let ok = b.eq_k(rem, 0);
                b.check(ok, ix, CheckKind::Divisible { by });
                ins[0]
            }
        };
        let slot = dims.len() as u32 * 4;
        for (d, &r) in out.iter().enumerate() {
            b.push(Ins::Store(slot + d as u32, r));
        }
        dims.push(out);
    }
    b.p.slots = dims.len() * 4;
    b.p
}

/// Runs the program: `Ok(())` with `out` filled, or the index of the first
/// failing check (slots of the values before it are filled).
pub fn eval(p: &Program, input: [i64; 4], out: &mut [i64]) -> Result<(), u32> {
    let mut r = vec![0i64; p.ins.len()];
    for (i, ins) in p.ins.iter().enumerate() {
        let g = |x: &Reg| r[*x as usize];
        r[i] = match ins {
            Ins::Input(d) => input[*d as usize],
            Ins::Const(v) => *v,
            Ins::Add(a, b) => g(a).wrapping_add(g(b)),
            Ins::Sub(a, b) => g(a).wrapping_sub(g(b)),
            Ins::Mul(a, b) => g(a).wrapping_mul(g(b)),
            Ins::Div(a, b) => g(a) / g(b),
            Ins::Rem(a, b) => g(a) % g(b),
            Ins::Eq(a, b) => (g(a) == g(b)) as i64,
            Ins::Ge(a, b) => (g(a) >= g(b)) as i64,
            Ins::And(a, b) => g(a) & g(b),
            Ins::Or(a, b) => g(a) | g(b),
            Ins::Select(c, a, b) => {
                if g(c) != 0 {
                    g(a)
                } else {
                    g(b)
                }
            }
            Ins::Check(c, id) => {
                if g(c) != 1 {
                    return Err(*id);
                }
                0
            }
            Ins::Store(slot, v) => {
                out[*slot as usize] = g(v);
                0
            }
        };
    }
    Ok(())
}

/// The message of a failed check, from the dims computed before it.
pub fn describe(g: &Graph, p: &Program, id: u32, dims: &[i64]) -> String {
    let check = &p.checks[id as usize];
    let pos: std::collections::HashMap<NodeIndex, usize> = g.order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let node = g.node(check.node);
    let input_dims = |i: NodeIndex| -> String {
        let at = pos[&i] * 4;
        let d = &dims[at..at + 4];
        if g.node(i).shape.rank() == 2 {
            format!("[{}, {}]", d[0], d[1])
        } else {
            format!("[{}, {}, {}, {}]", d[0], d[1], d[2], d[3])
        }
    };
    let inputs = g.inputs(check.node);
    let first = inputs.first().map(|&i| input_dims(i)).unwrap_or_default();
    let what = node.op.describe();
    match &check.kind {
        CheckKind::Channels { want } if matches!(node.op, Op::Input) => {
            let at = pos[&check.node] * 4;
            format!("the model takes {want} input channels, the input has {}", dims.get(at + 1).copied().unwrap_or(0))
        }
        CheckKind::Channels { want } => {
            format!("`{}` ({what}) takes {want} channels, its input is {first}", node.name)
        }
        CheckKind::Features { want } => {
            format!("`{}` ({what}) takes {want} features, its input is {first}", node.name)
        }
        CheckKind::MinSize { need_h, need_w } => {
            let pad = match &node.op {
                Op::Conv2d(c) => c.padding,
                Op::Pool(p) => p.padding,
                _ => [0, 0],
            };
            let (h, w) = (need_h + 2 * pad[0] as i64, need_w + 2 * pad[1] as i64);
            let padded = if pad == [0, 0] { String::new() } else { format!(" ({h}x{w} after padding)") };
            format!(
                "`{}` ({what}) needs an input of at least {need_h}x{need_w}{padded}; its input is {first}",
                node.name
            )
        }
        CheckKind::Agree => {
            let all: Vec<String> = inputs.iter().map(|&i| input_dims(i)).collect();
            let rule = match node.op {
                Op::Concat => "the same height and width",
                Op::Mul => "the same channels, and the same or 1x1 spatial size",
                Op::Add { .. } if inputs.len() == 2 => "the same shape, or the same channels at 1x1 for the second",
                _ => "the same shape",
            };
            format!("the inputs of `{}` ({what}) must have {rule}; they are {}", node.name, all.join(" and "))
        }
        CheckKind::Divisible { by } => {
            format!("`{}` ({what}) needs channels divisible by {by}; its input is {first}", node.name)
        }
        CheckKind::Pooled => {
            format!("`{}` ({what}) reads pooled channels [N, C, 1, 1]; its input is {first}", node.name)
        }
        CheckKind::SliceEnd { end } => {
            format!("`{}` ({what}) reads channels up to {end}; its input is {first}", node.name)
        }
    }
}

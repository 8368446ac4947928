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
use crate::ops::dims::DimAlgebra;

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

pub use crate::ops::dims::CheckKind;

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
    /// The node whose rule is being built, for its checks' messages.
    node: NodeIndex,
}

impl Builder {
    fn push(&mut self, i: Ins) -> Reg {
        self.p.ins.push(i);
        (self.p.ins.len() - 1) as Reg
    }

    /// Pushes `i`, or its value where every operand is a constant: what
    /// does not depend on the input is known when the model is compiled
    /// (a pooled value stays 1x1 through the convs after it).
    fn fold(&mut self, i: Ins) -> Reg {
        let operands: &[Reg] = match &i {
            Ins::Add(a, b)
            | Ins::Sub(a, b)
            | Ins::Mul(a, b)
            | Ins::Div(a, b)
            | Ins::Rem(a, b)
            | Ins::Eq(a, b)
            | Ins::Ge(a, b)
            | Ins::And(a, b)
            | Ins::Or(a, b) => &[*a, *b],
            Ins::Select(c, a, b) => &[*c, *a, *b],
            _ => &[],
        };
        if !operands.is_empty()
            && operands.iter().all(|r| self.known(*r).is_some())
            && let Some(v) = arith(&i, |r| self.known(r).unwrap_or(0))
        {
            return self.push(Ins::Const(v));
        }
        self.push(i)
    }
}

/// The rules as instructions: every value a register, every requirement a
/// check the program makes when it runs.
impl DimAlgebra for Builder {
    type V = Reg;

    fn k(&mut self, v: i64) -> Reg {
        self.push(Ins::Const(v))
    }
    fn add(&mut self, a: Reg, b: Reg) -> Reg {
        self.fold(Ins::Add(a, b))
    }
    fn sub(&mut self, a: Reg, b: Reg) -> Reg {
        self.fold(Ins::Sub(a, b))
    }
    fn mul(&mut self, a: Reg, b: Reg) -> Reg {
        self.fold(Ins::Mul(a, b))
    }
    fn div(&mut self, a: Reg, by: i64) -> Reg {
        let k = self.k(by.max(1));
        self.fold(Ins::Div(a, k))
    }
    fn rem(&mut self, a: Reg, by: i64) -> Reg {
        let k = self.k(by.max(1));
        self.fold(Ins::Rem(a, k))
    }
    fn eq(&mut self, a: Reg, b: Reg) -> Reg {
        self.fold(Ins::Eq(a, b))
    }
    fn ge(&mut self, a: Reg, b: Reg) -> Reg {
        self.fold(Ins::Ge(a, b))
    }
    fn and(&mut self, a: Reg, b: Reg) -> Reg {
        self.fold(Ins::And(a, b))
    }
    fn or(&mut self, a: Reg, b: Reg) -> Reg {
        self.fold(Ins::Or(a, b))
    }
    fn select(&mut self, c: Reg, a: Reg, b: Reg) -> Reg {
        self.fold(Ins::Select(c, a, b))
    }
    fn known(&self, v: Reg) -> Option<i64> {
        match self.p.ins.get(v as usize) {
            Some(Ins::Const(k)) => Some(*k),
            _ => None,
        }
    }
    fn require(&mut self, ok: Reg, kind: CheckKind) -> Result<(), CheckKind> {
        // Holds at every input size: nothing to check when the model runs.
        if self.known(ok) == Some(1) {
            return Ok(());
        }
        let id = self.p.checks.len() as u32;
        self.p.checks.push(Check { node: self.node, kind });
        self.push(Ins::Check(ok, id));
        Ok(())
    }
}

/// Builds the check program of a graph. Ops whose constants are not
/// positive where they divide have been rejected by the front end; they are
/// checked again here so the program never divides by zero.
pub fn build(g: &Graph) -> Program {
    let mut b = Builder { p: Program::default(), node: NodeIndex::new(0) };
    let mut dims: Vec<[Reg; 4]> = Vec::with_capacity(g.order.len());
    let pos: std::collections::HashMap<NodeIndex, usize> = g.order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    for &ix in &g.order {
        let node = g.node(ix);
        let ins: Vec<[Reg; 4]> = g.inputs(ix).iter().map(|i| dims[pos[i]]).collect();
        b.node = ix;
        let out: [Reg; 4] = match &node.op {
            Op::Input => {
                let d = [0, 1, 2, 3].map(|i| b.push(Ins::Input(i)));
                // Stored before the check, for its message.
                let slot = dims.len() as u32 * 4;
                for (k, &r) in d.iter().enumerate() {
                    b.push(Ins::Store(slot + k as u32, r));
                }
                let want = node.shape.channels().unwrap_or(0) as i64;
                let _ = b.want_channels(d[1], want as u64);
                d
            }
            // The builder never fails: its requirements are checks run later.
            op => op.dims(&mut b, &ins).unwrap_or_else(|_| ins[0]),
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
        r[i] = match ins {
            Ins::Input(d) => input[*d as usize],
            Ins::Check(c, id) => {
                if r[*c as usize] != 1 {
                    return Err(*id);
                }
                0
            }
            Ins::Store(slot, v) => {
                out[*slot as usize] = r[*v as usize];
                0
            }
            _ => arith(ins, |x| r[x as usize]).unwrap_or(0),
        };
    }
    Ok(())
}

/// The value of an arithmetic instruction, from its operands' values.
fn arith(ins: &Ins, g: impl Fn(Reg) -> i64) -> Option<i64> {
    Some(match *ins {
        Ins::Const(v) => v,
        Ins::Add(a, b) => g(a).wrapping_add(g(b)),
        Ins::Sub(a, b) => g(a).wrapping_sub(g(b)),
        Ins::Mul(a, b) => g(a).wrapping_mul(g(b)),
        Ins::Div(a, b) => g(a).checked_div(g(b))?,
        Ins::Rem(a, b) => g(a).checked_rem(g(b))?,
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
        Ins::Input(_) | Ins::Check(..) | Ins::Store(..) => return None,
    })
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
                Op::Add(_) if inputs.len() == 2 => "the same shape, or the same channels at 1x1 for the second",
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

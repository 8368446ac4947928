//! A grammar-aware generator: `Spec` is a small syntax tree of blocks, a
//! network and models, built by `arbitrary` from the fuzzer's bytes and
//! printed as well-formed `.res` text. Sizes are capped (channels up to 16,
//! inputs up to 16x16, short bodies, shallow nesting) so that most programs
//! build and the small ones run in well under a millisecond.

use std::cell::Cell;

use arbitrary::{Arbitrary, Unstructured};

/// Statements per body, blocks per program, models per program, nesting.
const MAX_BODY: usize = 6;
const MAX_BLOCKS: usize = 3;
const MAX_MODELS: usize = 2;
const MAX_DEPTH: usize = 3;

thread_local! {
    /// How deeply bodies nest while a `Spec` is generated.
    static NESTING: Cell<usize> = const { Cell::new(0) };
}

/// A list of layers: its length is one number from the input (not a byte
/// per element, as `Vec`'s is), and nesting stops at `MAX_DEPTH`.
#[derive(Debug, Default)]
struct Body(Vec<Layer>);

impl<'a> Arbitrary<'a> for Body {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let depth = NESTING.with(Cell::get);
        if depth > MAX_DEPTH {
            return Ok(Body::default());
        }
        NESTING.with(|d| d.set(depth + 1));
        let mut layers = Vec::new();
        let n = u.int_in_range(0..=MAX_BODY)?;
        let result = (0..n).try_for_each(|_| {
            layers.push(u.arbitrary()?);
            Ok(())
        });
        NESTING.with(|d| d.set(depth));
        result.map(|()| Body(layers))
    }
}

impl std::ops::Deref for Body {
    type Target = [Layer];
    fn deref(&self) -> &[Layer] {
        &self.0
    }
}

#[derive(Arbitrary, Debug)]
pub struct Spec {
    /// Run tiny models on the engine and the interpreter.
    pub run: bool,
    blocks: Vec<Body>,
    net: Body,
    head: Head,
    models: Vec<ModelSpec>,
}

#[derive(Arbitrary, Debug)]
enum Head {
    None,
    Classifier(u8),
    Flatten,
    ConvClassifier(u8),
}

#[derive(Arbitrary, Debug)]
struct ModelSpec {
    width: u8,
    block: u8,
    channels: u8,
    h: u8,
    w: u8,
    batch: Batch,
    drop_path: Option<DropPath>,
}

#[derive(Arbitrary, Debug)]
enum Batch {
    N,
    One,
    Two,
}

#[derive(Arbitrary, Debug)]
struct DropPath {
    schedule: Schedule,
    inverted: Option<bool>,
    per_sample: Option<bool>,
}

#[derive(Arbitrary, Debug)]
enum Schedule {
    Linear(u8),
    Linspace(u8),
    Constant(u8),
}

#[derive(Arbitrary, Debug)]
enum Num {
    Lit(u8),
    Name(u8),
    InC,
    InH,
    Add(Box<Num>, Box<Num>),
    Sub(Box<Num>, Box<Num>),
    Mul(Box<Num>, Box<Num>),
    Div(Box<Num>, Box<Num>),
    Rem(Box<Num>, Box<Num>),
    Min(Box<Num>, Box<Num>),
    Max(Box<Num>, Box<Num>),
    Cond(Box<Cond>, Box<Num>, Box<Num>),
    MakeDivisible(Box<Num>),
    Floor(Box<Num>),
}

#[derive(Arbitrary, Debug)]
enum Cond {
    True,
    Flag,
    Lt(Num, Num),
    Eq(Num, Num),
    Ne(Num, Num),
    Ge(Num, Num),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

#[derive(Arbitrary, Debug)]
enum Layer {
    Conv { channels: Num, kernel: u8, stride: u8, pad: Option<u8>, dilation: u8, groups: Groups, bias: bool },
    Bn { eps: bool },
    Act(u8),
    Pool { max: bool, kernel: u8, stride: Option<u8>, pad: u8, ceil: bool, count_pad: bool },
    GlobalAvg,
    Flatten,
    Linear { features: Num, bias: bool },
    Subsample(u8),
    PadChannels(Num),
    Slice { start: u8, end: Option<u8> },
    SplitSum(u8),
    RadixSoftmax(u8, u8),
    Residual { body: Body, shortcut: Option<Shortcut> },
    Combine { kind: u8, branches: Vec<Body> },
    Dense { n: u8, body: Body },
    For { over: ForOver, labelled: bool, body: Body },
    Call { target: u8, channels: Num, stride: Option<bool>, flag: Option<bool>, label: bool },
    Group { body: Body, label: bool },
    List(Body),
    Then { first: Box<Layer>, rest: Box<Layer>, repeat: Num },
    If { cond: Cond, then: Body, otherwise: Option<Body>, label: bool },
    From(u8),
    Let(Num),
    Assert(Cond),
}

#[derive(Arbitrary, Debug)]
enum Groups {
    One,
    Depthwise,
    Of(u8),
}

#[derive(Arbitrary, Debug)]
struct Shortcut {
    from: Option<u8>,
    cond: Option<Cond>,
    body: Body,
    otherwise: Option<Body>,
}

#[derive(Arbitrary, Debug)]
enum ForOver {
    Range(u8),
    List(Vec<Num>),
}

/// What a body can name: its integer names, a bool flag, earlier labels.
#[derive(Clone)]
struct Scope {
    ints: Vec<String>,
    flag: Option<String>,
    labels: Vec<String>,
    /// Blocks callable from here (by name).
    callees: Vec<String>,
}

struct Printer {
    out: String,
    next: usize,
}

impl Printer {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }
}

fn lit(v: u8, lo: u8, span: u8) -> String {
    (lo + v % span).to_string()
}

fn num(n: &Num, s: &Scope, depth: usize) -> String {
    let deep = depth >= MAX_DEPTH;
    match n {
        Num::Lit(v) => lit(*v, 1, 12),
        Num::Name(i) if !s.ints.is_empty() => s.ints[*i as usize % s.ints.len()].clone(),
        Num::Name(v) => lit(*v, 1, 8),
        Num::InC => "in.c".into(),
        Num::InH => "in.h".into(),
        _ if deep => "2".into(),
        Num::Add(a, b) => format!("({} + {})", num(a, s, depth + 1), num(b, s, depth + 1)),
        Num::Sub(a, b) => format!("max(1, {} - {})", num(a, s, depth + 1), num(b, s, depth + 1)),
        Num::Mul(a, b) => format!("{} * {}", num(a, s, depth + 1), num(b, s, depth + 1)),
        Num::Div(a, b) => format!("{} / {}", num(a, s, depth + 1), num(b, s, depth + 1)),
        Num::Rem(a, b) => format!("(1 + {} % {})", num(a, s, depth + 1), num(b, s, depth + 1)),
        Num::Min(a, b) => format!("min({}, {})", num(a, s, depth + 1), num(b, s, depth + 1)),
        Num::Max(a, b) => format!("max({}, {})", num(a, s, depth + 1), num(b, s, depth + 1)),
        Num::Cond(c, a, b) => {
            format!("({} ? {} : {})", cond(c, s, depth + 1), num(a, s, depth + 1), num(b, s, depth + 1))
        }
        Num::MakeDivisible(a) => format!("make_divisible({}, 4)", num(a, s, depth + 1)),
        Num::Floor(a) => format!("floor({} * 0.5)", num(a, s, depth + 1)),
    }
}

fn cond(c: &Cond, s: &Scope, depth: usize) -> String {
    let deep = depth >= MAX_DEPTH;
    match c {
        Cond::True => "true".into(),
        Cond::Flag => s.flag.clone().unwrap_or_else(|| "false".into()),
        _ if deep => "in.c > 1".into(),
        Cond::Lt(a, b) => format!("{} < {}", num(a, s, depth + 1), num(b, s, depth + 1)),
        Cond::Eq(a, b) => format!("{} == {}", num(a, s, depth + 1), num(b, s, depth + 1)),
        Cond::Ne(a, b) => format!("{} != {}", num(a, s, depth + 1), num(b, s, depth + 1)),
        Cond::Ge(a, b) => format!("{} >= {}", num(a, s, depth + 1), num(b, s, depth + 1)),
        Cond::And(a, b) => format!("({} and {})", cond(a, s, depth + 1), cond(b, s, depth + 1)),
        Cond::Or(a, b) => format!("({} or {})", cond(a, s, depth + 1), cond(b, s, depth + 1)),
        Cond::Not(a) => format!("not ({})", cond(a, s, depth + 1)),
    }
}

/// Whether a layer is an op with parameters (which needs a label outside a numbered sequence).
fn has_params(l: &Layer) -> bool {
    matches!(l, Layer::Conv { .. } | Layer::Bn { .. } | Layer::Linear { .. })
}

/// A layer as an atom of a chain (no label); statements become a group.
fn atom(p: &mut Printer, l: &Layer, s: &mut Scope, depth: usize) -> String {
    let deep = depth >= MAX_DEPTH;
    match l {
        Layer::Conv { channels, kernel, stride, pad, dilation, groups, bias } => {
            let k = 1 + kernel % 3;
            let d = 1 + dilation % 4 / 3;
            let mut t = match groups {
                Groups::Depthwise => format!("conv(in.c, {k}, groups: in.c"),
                Groups::Of(g) => {
                    let g = 1 + g % 4;
                    format!("conv({g} * {}, {k}, groups: {g}", num(channels, s, depth + 1))
                }
                Groups::One => format!("conv({}, {k}", num(channels, s, depth + 1)),
            };
            if stride % 3 == 1 {
                t += ", stride: 2";
            } else if stride % 3 == 2 && !s.ints.is_empty() && s.ints[0] == "c" {
                t += ", stride: s";
            }
            let pad = pad.map_or(d * (k / 2), |v| v % 3);
            if pad > 0 {
                t += &format!(", pad: {pad}");
            }
            if d > 1 {
                t += &format!(", dilation: {d}");
            }
            if *bias {
                t += ", bias: true";
            }
            t + ")"
        }
        Layer::Bn { eps } => if *eps { "bn(eps: 0.001)" } else { "bn" }.into(),
        Layer::Act(a) => match a % 13 {
            0 | 1 => "relu",
            2 => "relu6",
            3 => "leaky_relu(0.1)",
            4 => "sigmoid",
            5 => "tanh",
            6 => "gelu",
            7 => "silu",
            8 => "elu(alpha: 0.5)",
            9 => "hard_swish",
            10 => "hard_sigmoid",
            11 => "mish",
            _ => "dropout(0.25)",
        }
        .into(),
        Layer::Pool { max, kernel, stride, pad, ceil, count_pad } => {
            let k = 1 + kernel % 3;
            let mut t = format!("{}({k}", if *max { "maxpool" } else { "avgpool" });
            if let Some(st) = stride {
                t += &format!(", stride: {}", 1 + st % 2);
            }
            let pad = pad % 3;
            if pad > 0 && pad <= k / 2 {
                t += &format!(", pad: {pad}");
            }
            if *ceil {
                t += ", ceil: true";
            }
            if !count_pad {
                t += ", count_pad: false";
            }
            t + ")"
        }
        Layer::GlobalAvg => "global_avg".into(),
        Layer::Flatten => "flatten".into(),
        Layer::Linear { features, bias } => {
            format!("linear({}{})", num(features, s, depth + 1), if *bias { "" } else { ", bias: false" })
        }
        Layer::Subsample(v) => format!("subsample({})", 1 + v % 2),
        Layer::PadChannels(n) => format!("pad_channels(in.c + {})", num(n, s, depth + 1)),
        Layer::Slice { start, end } => match end {
            Some(e) => format!("slice({}, {})", start % 4, start % 4 + 1 + e % 4),
            None => format!("slice({})", start % 4),
        },
        Layer::SplitSum(r) => format!("split_sum({})", 1 + r % 2),
        Layer::RadixSoftmax(r, g) => format!("radix_softmax({}, {})", 1 + r % 2, 1 + g % 2),
        _ if deep => "identity".into(),
        Layer::Residual { body: b, shortcut } => {
            let mut inner = s.clone();
            inner.labels.clear();
            let text = body(p, b, &mut inner, depth + 1);
            let mut t = format!("residual {{\n{text}}}");
            if let Some(sc) = shortcut {
                t += " shortcut";
                if let Some(from) = sc.from {
                    match inner.labels.get(from as usize % inner.labels.len().max(1)) {
                        Some(l) => t += &format!(" from {l}"),
                        None => t += " from in",
                    }
                }
                if let Some(c) = &sc.cond {
                    t += &format!(" if {}", cond(c, s, depth + 1));
                }
                let mut sc_scope = s.clone();
                t += &format!(" {{\n{}}}", body(p, &sc.body, &mut sc_scope, depth + 1));
                if let Some(o) = &sc.otherwise {
                    let mut o_scope = s.clone();
                    t += &format!(" else {{\n{}}}", body(p, o, &mut o_scope, depth + 1));
                }
            }
            t
        }
        Layer::Combine { kind, branches } => {
            let kind = ["add", "concat", "mul"][*kind as usize % 3];
            let mut t = kind.to_string();
            for b in branches.iter().take(3) {
                let mut inner = s.clone();
                t += &format!(" {{\n{}}}", body(p, b, &mut inner, depth + 1));
            }
            for _ in branches.len()..2 {
                t += " { identity }";
            }
            t
        }
        Layer::Dense { n, body: b } => {
            let name = p.fresh("dl");
            let mut inner = s.clone();
            inner.labels.clear();
            inner.ints.push("j".into());
            let text = body(p, b, &mut inner, depth + 1);
            format!("dense {{\n for j in 0..{} {{ {name}_{{j}}: {{\n{text}}} }}\n}}", 1 + n % 3)
        }
        Layer::For { over, labelled, body: b } => {
            let mut inner = s.clone();
            let (header, var) = match over {
                ForOver::Range(n) => (format!("i in 0..{}", 1 + n % 3), "i"),
                ForOver::List(items) => {
                    let items: Vec<String> = items.iter().take(3).map(|n| num(n, s, depth + 1)).collect();
                    (format!("i, ch in [{}]", items.join(", ")), "ch")
                }
            };
            inner.ints.push(var.into());
            let text = body(p, b, &mut inner, depth + 1);
            if *labelled {
                format!("for {header} {{ {{\n{text}}} }}")
            } else {
                let name = p.fresh("f");
                format!("for {header} {{ {name}_{{i}}: {{\n{text}}} }}")
            }
        }
        Layer::Call { target, channels, stride, flag, .. } => {
            if s.callees.is_empty() {
                return "identity".into();
            }
            let name = &s.callees[*target as usize % s.callees.len()];
            let mut t = format!("{name}({}", num(channels, s, depth + 1));
            if let Some(st) = stride {
                t += if *st { ", s: 2" } else { ", s: 1" };
            }
            if let Some(f) = flag {
                t += &format!(", f: {f}");
            }
            t + ")"
        }
        Layer::Group { body: b, .. } => {
            let mut inner = s.clone();
            format!("{{\n{}}}", body(p, b, &mut inner, depth + 1))
        }
        Layer::List(items) => {
            let mut parts = Vec::new();
            for l in items.iter().take(4) {
                parts.push(atom(p, l, s, depth + 1));
            }
            format!("[{}]", parts.join(", "))
        }
        Layer::Then { first, rest, repeat } => {
            let a = atom(p, first, s, depth + 1);
            let b = atom(p, rest, s, depth + 1);
            let r = match repeat {
                Num::Lit(v) => (v % 3).to_string(),
                n => format!("min(2, {})", num(n, s, depth + 1)),
            };
            format!("{a} then {b} * {r}")
        }
        Layer::If { cond: c, then, otherwise, .. } => {
            let mut inner = s.clone();
            let mut t = format!("if {} {{\n{}}}", cond(c, s, depth + 1), body(p, then, &mut inner, depth + 1));
            if let Some(o) = otherwise {
                let mut inner = s.clone();
                t += &format!(" else {{\n{}}}", body(p, o, &mut inner, depth + 1));
            }
            t
        }
        Layer::From(_) | Layer::Let(_) | Layer::Assert(_) => "identity".into(),
    }
}

/// One statement of a body, with a label where one is needed or asked for.
fn statement(p: &mut Printer, l: &Layer, s: &mut Scope, depth: usize) -> String {
    match l {
        Layer::From(i) => match s.labels.get(*i as usize % s.labels.len().max(1)) {
            Some(label) if i % 4 != 0 => format!("from {label}"),
            _ => "from in".into(),
        },
        Layer::Let(n) => {
            let name = p.fresh("v");
            let t = format!("let {name} = {}", num(n, s, depth + 1));
            s.ints.push(name);
            t
        }
        Layer::Assert(c) => format!("assert {}, \"generated assertion\"", cond(c, s, depth + 1)),
        _ => {
            let wants_label = has_params(l)
                || matches!(
                    l,
                    Layer::Residual { .. }
                        | Layer::Dense { .. }
                        | Layer::Then { .. }
                        | Layer::List(_)
                        | Layer::Call { label: true, .. }
                        | Layer::Group { label: true, .. }
                        | Layer::If { label: true, .. }
                        | Layer::For { labelled: true, .. }
                        | Layer::Act(0)
                );
            let text = atom(p, l, s, depth);
            if wants_label {
                let label = p.fresh("l");
                s.labels.push(label.clone());
                format!("{label}: {text}")
            } else {
                text
            }
        }
    }
}

fn body(p: &mut Printer, layers: &[Layer], s: &mut Scope, depth: usize) -> String {
    let mut t = String::new();
    for l in layers.iter().take(MAX_BODY) {
        t += &statement(p, l, s, depth);
        t.push('\n');
    }
    if layers.is_empty() {
        t += "identity\n";
    }
    t
}

impl Spec {
    /// The program as `.res` text.
    pub fn render(&self) -> String {
        let mut p = Printer { out: String::new(), next: 0 };
        let mut names = Vec::new();
        for (i, b) in self.blocks.iter().take(MAX_BLOCKS).enumerate() {
            let name = format!("b{i}");
            let mut s = Scope {
                ints: vec!["c".into(), "s".into()],
                flag: Some("f".into()),
                labels: Vec::new(),
                callees: names.clone(),
            };
            let text = body(&mut p, b, &mut s, 0);
            p.out += &format!("block {name}(c: int, s: int = 1, f: bool = false) {{\n{text}}}\n\n");
            names.push(name);
        }
        let mut callees = names.clone();
        let params = if names.is_empty() {
            "width: int = 8".to_string()
        } else {
            callees.push("blk".into());
            "width: int = 8, blk: block = b0".to_string()
        };
        let mut s = Scope { ints: vec!["width".into()], flag: None, labels: Vec::new(), callees };
        let text = body(&mut p, &self.net, &mut s, 0);
        let head = match self.head {
            Head::None => String::new(),
            Head::Classifier(n) => format!("global_avg;  flatten\nfc: linear({})\n", 1 + n % 10),
            Head::Flatten => "flatten\n".into(),
            Head::ConvClassifier(n) => {
                format!("global_avg\nclassifier: conv({}, 1, bias: true)\nflatten\n", 1 + n % 10)
            }
        };
        p.out += &format!("network net({params}) {{\n{text}{head}}}\n\n");
        for (i, m) in self.models.iter().take(MAX_MODELS).enumerate() {
            let mut args = format!("width: {}", 1 + m.width % 16);
            if !names.is_empty() {
                args += &format!(", blk: {}", names[m.block as usize % names.len()]);
            }
            let batch = match m.batch {
                Batch::N => "N",
                Batch::One => "1",
                Batch::Two => "2",
            };
            p.out += &format!(
                "model m{i} = net({args}) on [{batch}, {}, {}, {}]",
                1 + m.channels % 4,
                1 + m.h % 16,
                1 + m.w % 16
            );
            if let Some(d) = &m.drop_path {
                let schedule = match d.schedule {
                    Schedule::Linear(v) => format!("linear(0.{})", 5 + v % 5),
                    Schedule::Linspace(v) => format!("linspace(0.{})", 1 + v % 5),
                    Schedule::Constant(v) => format!("constant(0.{})", 5 + v % 5),
                };
                let mut t = format!(" with drop_path({schedule}");
                if let Some(inv) = d.inverted {
                    t += if inv { ", scaling: \"inverted\"" } else { ", scaling: \"test\"" };
                }
                if let Some(ps) = d.per_sample {
                    t += if ps { ", per: \"sample\"" } else { ", per: \"batch\"" };
                }
                p.out += &t;
                p.out += ")";
            }
            p.out += "\n";
        }
        if self.models.is_empty() {
            p.out += "model m0 = net() on [N, 3, 8, 8]\n";
        }
        p.out
    }
}

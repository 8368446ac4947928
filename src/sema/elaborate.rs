//! Instantiation: evaluates a model's network with its arguments, expands
//! blocks, repetitions and loops, and builds the IR graph. Shapes are inferred
//! as nodes are added, since blocks may read their input's shape (`in.c`).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use petgraph::stable_graph::NodeIndex;

use super::builtins::{self, ArgDefault as OpDefault, OpSig};
use super::program::{ModelRef, Program};
use super::value::{BlockVal, DropPathSpec, Type, Value};
use super::{SemaError, did_you_mean};
use crate::diag::{Diag, Diags};
use crate::ir::op::{DropPath, MAX_DIM, Op};
use crate::ir::{Dim, Graph, GraphBuilder, Node, ScopeId, ScopeKind, Shape};
use crate::source::Span;
use crate::syntax::ast::{
    self, Arg, Atom, Body, Call, Chain, CombineKind, Expr, ExprKind, FromTarget, Label, LabelPart, Layer, Stmt,
};

/// Bounds that keep absurd inputs from hanging or exhausting memory.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_repeat: i64,
    pub max_nodes: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_repeat: 10_000, max_nodes: 1_000_000, max_depth: 64 }
    }
}

/// The error has been reported; stop evaluating this part.
#[derive(Debug, Clone, Copy)]
pub struct Poison;
pub type R<T> = Result<T, Poison>;

/// The tensor flowing through a sequence; `None` after an error upstream, so
/// later layers are still checked for names and types but not for shapes.
type Cur = Option<NodeIndex>;

#[derive(Clone, Debug, Default)]
pub struct Env {
    /// Variables in scope; `None` marks one whose value failed to evaluate.
    pub vars: Vec<(String, Option<Value>)>,
    /// `in`: `None` outside blocks, `Some(None)` after an upstream error.
    pub input: Option<Option<Rc<Shape>>>,
    /// The node `in` refers to, for `from in`.
    pub input_node: Option<NodeIndex>,
}

impl Env {
    pub fn lookup(&self, name: &str) -> Option<&Option<Value>> {
        self.vars.iter().rev().find(|v| v.0 == name).map(|v| &v.1)
    }
}

/// Where layers go: the scope and the name prefix of their parameters.
#[derive(Clone, Debug)]
struct Ctx {
    scope: ScopeId,
    prefix: String,
    /// Inside `dense { }`: the block input and every layer output so far.
    dense: Option<Rc<RefCell<Vec<NodeIndex>>>>,
}

impl Ctx {
    fn plain(&self) -> Ctx {
        Ctx { dense: None, ..self.clone() }
    }
}

struct Frame {
    path: String,
    template: String,
    use_span: Span,
}

pub struct Elab<'p> {
    pub(super) prog: &'p Program,
    pub(super) limits: Limits,
    b: GraphBuilder,
    diags: Diags,
    frames: Vec<Frame>,
    names: HashMap<String, Span>,
    globals: HashMap<String, Option<Value>>,
    aborted: bool,
    model_name: String,
    /// The output of every labelled layer, by path, for `from`.
    outputs: HashMap<String, NodeIndex>,
    /// Labelled layers that failed: `from` them is silent.
    poisoned: HashSet<String>,
    /// Drop-path nodes in residual order; their survival is set once all are known.
    drop_path: Option<Rc<DropPathSpec>>,
    dp_nodes: Vec<NodeIndex>,
}

/// Build the IR graph of one model, or report everything wrong with it.
pub fn elaborate_model(prog: &Program, m: ModelRef, limits: Limits) -> Result<Graph, Diags> {
    let decl = prog.model(m);
    let mut e = Elab {
        prog,
        limits,
        b: GraphBuilder::new(decl.span),
        diags: Diags::default(),
        frames: Vec::new(),
        names: HashMap::new(),
        globals: HashMap::new(),
        aborted: false,
        model_name: decl.name.name.clone(),
        outputs: HashMap::new(),
        poisoned: HashSet::new(),
        drop_path: None,
        dp_nodes: Vec::new(),
    };
    let out = e.model(decl);
    match out {
        Some((input, output)) if e.diags.is_empty() => {
            let mut g = e.b.finish(decl.name.name.clone(), input, output, decl.span);
            g.drop_path = e.drop_path.map(|d| d.describe());
            Ok(g)
        }
        _ if e.diags.is_empty() => {
            // Every failure path reports; reaching here is a bug, said plainly.
            e.diags.push(
                Diag::new(crate::driver::InternalError::Verify {
                    model: decl.name.name.clone(),
                    detail: "the model could not be built, and no error says why".into(),
                })
                .at(decl.name.span, "this model"),
            );
            Err(e.diags)
        }
        _ => Err(e.diags),
    }
}

/// Evaluate every top-level constant, so that errors in unused ones show too.
pub fn check_constants(prog: &Program) -> Diags {
    let mut e = Elab {
        prog,
        limits: Limits::default(),
        b: GraphBuilder::new(Span::default()),
        diags: Diags::default(),
        frames: Vec::new(),
        names: HashMap::new(),
        globals: HashMap::new(),
        aborted: false,
        model_name: String::new(),
        outputs: HashMap::new(),
        poisoned: HashSet::new(),
        drop_path: None,
        dp_nodes: Vec::new(),
    };
    for l in &prog.lets {
        let _ = e.global(&l.name.name);
    }
    e.diags
}

impl<'p> Elab<'p> {
    pub(super) fn fail<T>(&mut self, mut d: Diag) -> R<T> {
        if let Some(f) = self.frames.last() {
            let (ctx, made) = if self.frames.len() == 1 {
                (format!("in model `{}`", self.model_name), format!("model `{}` is made here", self.model_name))
            } else if f.path.is_empty() {
                (format!("in an instance of `{}`", f.template), "the instance is made here".to_string())
            } else {
                let path = short_path(&f.path);
                (format!("in {path}, an instance of `{}`", f.template), format!("{path} is made here"))
            };
            d = d.in_context(ctx);
            if d.primary_span() != Some(f.use_span) {
                d = d.also(f.use_span, made);
            }
        }
        self.diags.push(d);
        Err(Poison)
    }

    fn model(&mut self, decl: &ast::ModelDecl) -> Option<(NodeIndex, NodeIndex)> {
        let env = Env::default();
        let shape = self.input_shape(&decl.input, &env);
        let net = self.eval(&decl.network, &env).ok();
        if let Some(w) = &decl.with {
            match self.eval(w, &env) {
                Ok(Value::DropPath(d)) => self.drop_path = Some(d),
                Ok(other) => {
                    let found = other.type_name();
                    let _ = self.fail::<()>(
                        Diag::new(SemaError::TypeMismatch { expected: "a `drop_path(..)` schedule".into(), found })
                            .at(w.span, "the only model option is stochastic depth"),
                    );
                }
                Err(_) => {}
            }
        }
        let bv = match net {
            Some(Value::Block(bv)) => bv,
            Some(other) => {
                let found = other.type_name();
                let _ =
                    self.fail::<()>(Diag::new(SemaError::NotANetwork { found }).at(decl.network.span, "not a block"));
                return None;
            }
            None => return None,
        };
        let shape = shape?;
        let root = self.b.root();
        let input = self
            .b
            .add_node(Node { op: Op::Input, name: "input".into(), span: decl.input.span, shape, scope: root }, &[]);
        let ctx = Ctx { scope: root, prefix: String::new(), dense: None };
        let (args, call_span) = match &decl.network.kind {
            ExprKind::Call(c) => (None::<&[Arg]>, c.span),
            _ => (None, decl.network.span),
        };
        let out = self.instantiate(&bv, args, call_span, None, &ctx, &env, Some(input), true)?;
        self.set_survival(decl)?;
        Some((input, out))
    }

    /// Number the residual blocks 1..L and give each drop-path its survival.
    fn set_survival(&mut self, decl: &ast::ModelDecl) -> Option<()> {
        let Some(spec) = self.drop_path.clone() else { return Some(()) };
        let span = decl.with.as_ref().map_or(decl.span, |w| w.span);
        let probs = match spec.survival(self.dp_nodes.len()) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.fail::<()>(Diag::new(e).at(span, "this schedule"));
                return None;
            }
        };
        for (&n, p) in self.dp_nodes.iter().zip(probs) {
            if let Op::DropPath(d) = &mut self.b.graph[n].op {
                d.survival = p;
            }
        }
        Some(())
    }

    fn input_shape(&mut self, e: &Expr, env: &Env) -> Option<Shape> {
        let ExprKind::List(items) = &e.kind else {
            return None;
        };
        let mut dims = Vec::new();
        let mut ok = items.len() >= 2;
        for (i, item) in items.iter().enumerate() {
            match &item.kind {
                ExprKind::Call(Call { name, args: None, .. })
                    if i == 0 && env.lookup(&name.name).is_none() && self.prog.block(&name.name).is_none() =>
                {
                    dims.push(Dim::Sym(name.name.clone()));
                }
                _ => match self.eval(item, env) {
                    Ok(Value::Int(n)) if n > 0 && n <= MAX_DIM as i64 => dims.push(Dim::Size(n as u64)),
                    Ok(_) => ok = false,
                    Err(_) => return None,
                },
            }
        }
        if !ok {
            let _ = self.fail::<()>(Diag::new(SemaError::BadInputShape).at(e.span, "this input shape"));
            return None;
        }
        Some(Shape(dims))
    }

    pub(super) fn global(&mut self, name: &str) -> R<Option<Value>> {
        if let Some(v) = self.globals.get(name) {
            return v.clone().map(Some).ok_or(Poison);
        }
        let Some(l) = self.prog.lets.iter().find(|l| l.name.name == name) else {
            return Ok(None);
        };
        // Mark first, so a constant defined through itself fails instead of recursing.
        self.globals.insert(name.into(), None);
        let v = self.eval(&l.value, &Env::default());
        self.globals.insert(name.into(), v.clone().ok());
        v.map(Some)
    }

    pub(super) fn unknown_name<T>(&mut self, id: &ast::Ident, what: &'static str, env: &Env) -> R<T> {
        let mut cands: Vec<String> = env.vars.iter().map(|v| v.0.clone()).collect();
        cands.extend(self.prog.block_index.keys().cloned());
        cands.extend(self.prog.lets.iter().map(|l| l.name.name.clone()));
        cands.extend(builtins::names().map(String::from));
        cands.extend(builtins::FUNCTIONS.iter().map(|s| s.to_string()));
        let mut d = Diag::new(SemaError::UnknownName { what, name: id.name.clone() }).at(id.span, "not found");
        if let Some(s) = did_you_mean(&id.name, cands.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.fail(d)
    }

    pub(super) fn unknown_arg<T>(&mut self, callee: &str, span: Span, name: &str, cands: &[&str]) -> R<T> {
        let mut d = Diag::new(SemaError::UnknownArg { callee: callee.into(), name: name.into() }).at(span, "unknown");
        d = match did_you_mean(name, cands.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None if cands.is_empty() => d.with_help(format!("`{callee}` takes no arguments")),
            None => d.with_help(format!("its parameters are: {}", cands.join(", "))),
        };
        self.fail(d)
    }

    pub(super) fn param_type(&mut self, t: &ast::TypeExpr) -> Type {
        match t {
            ast::TypeExpr::Named(id) => match id.name.as_str() {
                "int" => Type::Int,
                "float" => Type::Float,
                "bool" => Type::Bool,
                "str" => Type::Str,
                "block" => Type::Block,
                _ => Type::Any, // reported by the resolver
            },
            ast::TypeExpr::List { elem, len, .. } => {
                let elem = self.param_type(elem);
                let len = len.as_ref().and_then(|e| match self.eval(e, &Env::default()) {
                    Ok(Value::Int(n)) if n >= 0 => Some(n as usize),
                    _ => None,
                });
                Type::List(Box::new(elem), len)
            }
        }
    }

    // ------------------------------------------------------------ naming

    fn join(prefix: &str, name: &str) -> String {
        if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
    }

    fn register(&mut self, path: &str, span: Span, label: &str) -> R<()> {
        if let Some(&first) = self.names.get(path) {
            return self.fail(
                Diag::new(SemaError::DuplicateLabel { label: label.into() })
                    .at(span, "used again here")
                    .also(first, "first used here"),
            );
        }
        self.names.insert(path.to_string(), span);
        Ok(())
    }

    fn label_text(&mut self, l: &Label, env: &Env) -> R<String> {
        let mut s = String::new();
        for p in &l.parts {
            match p {
                LabelPart::Text(t) => s.push_str(t),
                LabelPart::Expr(e) => match self.eval(e, env)? {
                    Value::Int(i) => s.push_str(&i.to_string()),
                    Value::Str(t) => s.push_str(&t),
                    v => return self.mismatch(e.span, "an int or str", &v),
                },
            }
        }
        Ok(s)
    }

    /// A labelled group gets its own scope and name prefix; an unlabelled one
    /// puts its layers in the enclosing scope.
    fn container(&mut self, ctx: &Ctx, name: Option<&str>, span: Span) -> R<Ctx> {
        match name {
            None => Ok(ctx.clone()),
            Some(n) => {
                let path = Self::join(&ctx.prefix, n);
                self.register(&path, span, n)?;
                let scope = self.b.add_scope(ctx.scope, path.clone(), ScopeKind::Container, span);
                Ok(Ctx { scope, prefix: path, dense: ctx.dense.clone() })
            }
        }
    }

    fn add(&mut self, op: Op, name: String, span: Span, inputs: &[NodeIndex], ctx: &Ctx) -> Cur {
        if self.aborted {
            return None;
        }
        if self.b.order.len() >= self.limits.max_nodes {
            self.aborted = true;
            let _ = self.fail::<()>(
                Diag::new(SemaError::ModelTooLarge { max: self.limits.max_nodes }).at(span, "while adding this layer"),
            );
            return None;
        }
        let shapes: Vec<&Shape> = inputs.iter().map(|&i| self.b.shape(i)).collect();
        let shape = match op.infer(&shapes) {
            Ok(s) => s,
            Err(e) => {
                let _ = self.fail::<()>(Diag::new(e).at(span, "here"));
                return None;
            }
        };
        Some(self.b.add_node(Node { op, name, span, shape, scope: ctx.scope }, inputs))
    }

    // ------------------------------------------------------------ layers

    fn body(&mut self, body: &Body, env: &mut Env, ctx: &Ctx, mut cur: Cur, auto: Option<&str>) -> Cur {
        let mark = env.vars.len();
        for stmt in &body.stmts {
            if self.aborted {
                break;
            }
            match stmt {
                Stmt::Let(l) => {
                    let v = self.eval(&l.value, env).ok();
                    env.vars.push((l.name.name.clone(), v));
                }
                Stmt::Assert { cond, message, span } => {
                    if let Ok(false) = self.eval_bool(cond, env) {
                        let message = message.clone().unwrap_or_else(|| "assertion failed".into());
                        let _ = self
                            .fail::<()>(Diag::new(SemaError::Assertion { message }).at(*span, "this check fails here"));
                        // The template said its arguments are wrong: building
                        // the rest of it would only report consequences.
                        env.vars.truncate(mark);
                        return None;
                    }
                }
                Stmt::From(f) => cur = self.continue_from(f, env, ctx),
                Stmt::Layer(layer) => match &ctx.dense {
                    Some(feats) if !Self::is_generator(layer) => {
                        let feats = feats.clone();
                        let input = self.dense_input(&feats.borrow(), layer.span, ctx);
                        let out = self.layer(layer, env, &ctx.plain(), input, auto.map(String::from));
                        match out {
                            Some(o) => feats.borrow_mut().push(o),
                            None => cur = None,
                        }
                    }
                    _ => cur = self.layer(layer, env, ctx, cur, auto.map(String::from)),
                },
            }
        }
        env.vars.truncate(mark);
        cur
    }

    fn layer(&mut self, l: &Layer, env: &mut Env, ctx: &Ctx, cur: Cur, auto: Option<String>) -> Cur {
        let (name, nspan) = match &l.label {
            Some(label) => (Some(self.label_text(label, env).ok()?), label.span),
            None => (auto, l.span),
        };
        let out = self.chain(&l.chain, env, ctx, cur, name.as_deref(), nspan);
        if let Some(n) = &name {
            let path = Self::join(&ctx.prefix, n);
            match out {
                Some(o) => {
                    self.outputs.insert(path, o);
                }
                // `from` this label later is a consequence, not a new error.
                None => {
                    self.poisoned.insert(path);
                }
            }
        }
        out
    }

    /// Unlabelled `for` and `if` only generate layers: inside `dense`, the
    /// layers they generate are the dense units, not the loop.
    fn is_generator(l: &Layer) -> bool {
        l.label.is_none()
            && matches!(l.chain.terms.as_slice(), [t] if t.repeat.is_none() && matches!(t.atom, Atom::For(_) | Atom::If(_)))
    }

    /// The input of the next layer of a dense block: everything so far, concatenated.
    fn dense_input(&mut self, feats: &[NodeIndex], span: Span, ctx: &Ctx) -> Cur {
        match feats {
            [] => None,
            [one] => Some(*one),
            many => {
                let path = Self::join(&ctx.prefix, "concat");
                self.add(Op::Concat, path, span, many, &ctx.plain())
            }
        }
    }

    /// `from label`: the output of a labelled layer of the current block,
    /// looked up from the innermost name scope outwards.
    fn continue_from(&mut self, f: &FromTarget, env: &Env, ctx: &Ctx) -> Cur {
        let Some(label) = &f.label else {
            return env.input_node;
        };
        let name = self.label_text(label, env).ok()?;
        let root = self.frames.last().map(|fr| fr.path.clone()).unwrap_or_default();
        let mut prefix = ctx.prefix.clone();
        loop {
            let path = Self::join(&prefix, &name);
            if let Some(&n) = self.outputs.get(&path) {
                return Some(n);
            }
            if self.poisoned.contains(&path) {
                return None;
            }
            if prefix.len() <= root.len() || prefix.is_empty() {
                break;
            }
            prefix = prefix.rsplit_once('.').map_or(String::new(), |p| p.0.to_string());
        }
        let _ = self.fail::<()>(
            Diag::new(SemaError::UnknownName { what: "layer to continue from", name })
                .at(label.span, "no earlier layer of this block has this label")
                .with_help("`from` takes the label of a layer written before it in the same block, or `in`"),
        );
        None
    }

    fn chain(&mut self, ch: &Chain, env: &mut Env, ctx: &Ctx, cur: Cur, name: Option<&str>, nspan: Span) -> Cur {
        if let [t] = ch.terms.as_slice()
            && t.repeat.is_none()
        {
            return self.atom(&t.atom, env, ctx, cur, name, nspan);
        }
        // An indexed sequence: children are named 0, 1, ... like nn.Sequential.
        let inner = self.container(ctx, name, nspan).ok()?;
        let mut cur = cur;
        let mut k = 0usize;
        for t in &ch.terms {
            let n = match &t.repeat {
                None => 1,
                Some(e) => self.repeat_count(e, env).ok()?,
            };
            for _ in 0..n {
                if self.aborted {
                    return None;
                }
                let child = k.to_string();
                cur = self.atom(&t.atom, env, &inner, cur, Some(&child), t.atom.span());
                k += 1;
            }
        }
        cur
    }

    fn repeat_count(&mut self, e: &Expr, env: &Env) -> R<i64> {
        let n = self.eval_int(e, env)?;
        if n < 0 {
            return self.fail(Diag::new(SemaError::NegativeRepeat { count: n }).at(e.span, "negative"));
        }
        if n > self.limits.max_repeat {
            return self.fail(
                Diag::new(SemaError::RepeatTooLarge { count: n, max: self.limits.max_repeat }).at(e.span, "too many"),
            );
        }
        Ok(n)
    }

    fn atom(&mut self, atom: &Atom, env: &mut Env, ctx: &Ctx, cur: Cur, name: Option<&str>, nspan: Span) -> Cur {
        match atom {
            Atom::Call(c) => self.call(c, env, ctx, cur, name, nspan),
            Atom::Residual(r) => {
                let inner = self.container(ctx, name, nspan).ok()?;
                let x = cur;
                let f = self.body(&r.body, env, &inner, x, None);
                let mut s = x;
                let mut s_span = None;
                if let Some(sc) = &r.shortcut {
                    let take = match &sc.cond {
                        None => true,
                        Some(c) => self.eval_bool(c, env).ok()?,
                    };
                    if take {
                        // Pre-activation blocks project the activated input, not `x`.
                        let start = match &sc.from {
                            Some(t) => self.continue_from(t, env, &inner),
                            None => x,
                        };
                        s = self.body(&sc.then, env, &inner, start, None);
                        s_span = Some(sc.then.span);
                    } else if let Some(o) = &sc.otherwise {
                        s = self.body(o, env, &inner, x, None);
                        s_span = Some(o.span);
                    }
                }
                let (f, s) = (f?, s?);
                let (fs, ss) = (self.b.shape(f).clone(), self.b.shape(s).clone());
                if fs != ss {
                    let help = match s_span {
                        None => format!(
                            "the branch changes the shape, so the shortcut needs a projection: \
                             `shortcut if <shape changes> {{ downsample: [conv({}, 1, stride: <s>), bn] }}`",
                            fs.channels().unwrap_or(0)
                        ),
                        Some(_) => format!("make both sides produce {fs}"),
                    };
                    let _ = self.fail::<()>(
                        Diag::new(crate::ir::ShapeError::Mismatch { op: "residual add", a: fs.clone(), b: ss.clone() })
                            .at(r.body.span, format!("the residual branch gives {fs}"))
                            .also(
                                s_span.unwrap_or(Span { end: r.span.start + "residual".len(), ..r.span }),
                                match s_span {
                                    Some(_) => format!("the shortcut gives {ss}"),
                                    None => format!("the identity shortcut gives {ss}"),
                                },
                            )
                            .with_help(help),
                    );
                    return None;
                }
                let f = match self.drop_path.clone() {
                    Some(spec) => {
                        let path = Self::join(&inner.prefix, "drop_path");
                        let op = Op::DropPath(DropPath {
                            survival: 1.0,
                            scale_at_test: spec.scale_at_test,
                            per_sample: spec.per_sample,
                        });
                        let n = self.add(op, path, r.span, &[f], &inner)?;
                        self.dp_nodes.push(n);
                        n
                    }
                    None => f,
                };
                let path = Self::join(&inner.prefix, "add");
                self.add(Op::Add { residual: true }, path, r.span, &[f, s], &inner)
            }
            Atom::Combine { kind, branches, span } => {
                let inner = self.container(ctx, name, nspan).ok()?;
                let outs: Vec<Cur> = branches.iter().map(|b| self.body(b, env, &inner, cur, None)).collect();
                let outs: Vec<NodeIndex> = outs.into_iter().collect::<Option<_>>()?;
                let shapes: Vec<Shape> = outs.iter().map(|&o| self.b.shape(o).clone()).collect();
                let (op, opname) = match kind {
                    CombineKind::Add => (Op::Add { residual: false }, "add"),
                    CombineKind::Concat => (Op::Concat, "concat"),
                    CombineKind::Mul => (Op::Mul, "mul"),
                };
                if let Err(e) = op.infer(&shapes.iter().collect::<Vec<_>>()) {
                    let keyword = Span { end: span.start + opname.len(), ..*span };
                    let mut d = Diag::new(e).at(keyword, format!("the branches of `{opname}` disagree"));
                    for (b, s) in branches.iter().zip(&shapes) {
                        d = d.also(b.span, format!("gives {s}"));
                    }
                    let _ = self.fail::<()>(d);
                    return None;
                }
                let path = Self::join(&inner.prefix, opname);
                self.add(op, path, *span, &outs, &inner)
            }
            Atom::List { items, span } => {
                let inner = self.container(ctx, name, nspan).ok()?;
                let _ = span;
                let mut cur = cur;
                for (k, item) in items.iter().enumerate() {
                    cur = self.layer(item, env, &inner, cur, Some(k.to_string()));
                }
                cur
            }
            Atom::Group(b) => {
                let inner = self.container(ctx, name, nspan).ok()?;
                self.body(b, env, &inner.plain(), cur, None)
            }
            Atom::Dense(b) => {
                let inner = self.container(ctx, name, nspan).ok()?;
                let feats = Rc::new(RefCell::new(vec![cur?]));
                let dctx = Ctx { dense: Some(feats.clone()), ..inner.clone() };
                self.body(b, env, &dctx, cur, None)?;
                let feats = feats.borrow().clone();
                self.dense_input(&feats, b.span, &inner)
            }
            Atom::If(i) => {
                // `if` makes no scope: its name goes to the layer it chooses.
                let taken = if self.eval_bool(&i.cond, env).ok()? { Some(&i.then) } else { i.otherwise.as_ref() };
                match taken {
                    Some(b) => self.body(b, env, ctx, cur, name),
                    None => cur,
                }
            }
            Atom::For(f) => {
                let inner = self.container(ctx, name, nspan).ok()?;
                let it = self.eval(&f.iter, env).ok()?;
                let n = match it.len() {
                    Some(n) => n,
                    None => {
                        let _ = self.fail::<()>(
                            Diag::new(SemaError::NotIterable { found: it.type_name() }).at(f.iter.span, "here"),
                        );
                        return None;
                    }
                };
                if n as i64 > self.limits.max_repeat {
                    let _ = self.fail::<()>(
                        Diag::new(SemaError::RepeatTooLarge { count: n as i64, max: self.limits.max_repeat })
                            .at(f.iter.span, "too many iterations"),
                    );
                    return None;
                }
                let mut cur = cur;
                for k in 0..n {
                    if self.aborted {
                        return None;
                    }
                    let v = match &it {
                        Value::List(l) => l[k].clone(),
                        Value::Range(a, _) => Value::Int(a + k as i64),
                        _ => unreachable!("iterable"),
                    };
                    let mark = env.vars.len();
                    if let Some(ix) = &f.index {
                        env.vars.push((ix.name.clone(), Some(Value::Int(k as i64))));
                    }
                    env.vars.push((f.var.name.clone(), Some(v)));
                    let auto = name.map(|_| k.to_string());
                    cur = self.body(&f.body, env, &inner, cur, auto.as_deref());
                    env.vars.truncate(mark);
                }
                cur
            }
        }
    }

    fn call(&mut self, c: &Call, env: &mut Env, ctx: &Ctx, cur: Cur, name: Option<&str>, nspan: Span) -> Cur {
        let id = &c.name;
        let args = c.args.as_deref();
        if let Some(v) = env.lookup(&id.name) {
            return match v.clone()? {
                Value::Block(bv) => self.instantiate(&bv, args, c.span, name, ctx, env, cur, false),
                other => {
                    let found = other.type_name();
                    let _ = self.fail::<()>(
                        Diag::new(SemaError::NotALayer { name: id.name.clone(), found })
                            .at(id.span, format!("`{}` is a parameter or variable", id.name)),
                    );
                    None
                }
            };
        }
        if self.prog.block(&id.name).is_some() {
            let bv = BlockVal { template: id.name.clone(), bound: Vec::new() };
            return self.instantiate(&bv, args, c.span, name, ctx, env, cur, false);
        }
        if let Some(sig) = builtins::sig(&id.name) {
            return self.op_call(sig, c, env, ctx, cur, name, nspan);
        }
        if self.prog.lets.iter().any(|l| l.name.name == id.name) {
            let _ = self.fail::<()>(
                Diag::new(SemaError::NotALayer { name: id.name.clone(), found: "a constant".into() })
                    .at(id.span, "a constant"),
            );
            return None;
        }
        let _ = self.unknown_name::<()>(id, "layer", env);
        None
    }

    /// Bind call arguments to parameters: positional in order, then named,
    /// then defaults. Returns values in parameter order.
    fn bind(
        &mut self,
        callee: &str,
        params: &[(String, Type, Option<DefaultSrc<'_>>)],
        prebound: &[(String, Value)],
        args: &[Arg],
        call_span: Span,
        env: &Env,
    ) -> R<Vec<Value>> {
        let mut vals: Vec<Option<Value>> = vec![None; params.len()];
        for (n, v) in prebound {
            if let Some(i) = params.iter().position(|p| &p.0 == n) {
                vals[i] = Some(v.clone());
            }
        }
        let mut given: Vec<Option<Span>> = vec![None; params.len()];
        let mut named_seen = false;
        let mut failed = false;
        for arg in args {
            let idx = match &arg.name {
                Some(n) => {
                    named_seen = true;
                    match params.iter().position(|p| p.0 == n.name) {
                        Some(i) => i,
                        None => {
                            let cands: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
                            // Reported; the other arguments still bind, so later
                            // layers keep their shapes and their own errors show.
                            let _ = self.unknown_arg::<()>(callee, n.span, &n.name, &cands);
                            continue;
                        }
                    }
                }
                None => {
                    if named_seen {
                        let _ = self
                            .fail::<()>(Diag::new(SemaError::PositionalAfterNamed).at(arg.span, "positional argument"));
                        failed = true;
                        continue;
                    }
                    match (0..params.len())
                        .find(|&i| given[i].is_none() && !prebound.iter().any(|b| b.0 == params[i].0))
                    {
                        Some(i) => i,
                        None => {
                            let _ = self.fail::<()>(
                                Diag::new(SemaError::TooManyArgs { callee: callee.into(), max: params.len() })
                                    .at(arg.span, "extra argument"),
                            );
                            continue;
                        }
                    }
                }
            };
            if let Some(first) = given[idx] {
                let _ = self.fail::<()>(
                    Diag::new(SemaError::DuplicateArg { name: params[idx].0.clone() })
                        .at(arg.span, "given again here")
                        .also(first, "first given here"),
                );
                continue;
            }
            given[idx] = Some(arg.span);
            match self.eval(&arg.value, env).and_then(|v| self.coerce(v, &params[idx].1, arg.value.span)) {
                Ok(v) => vals[idx] = Some(v),
                Err(_) => failed = true,
            }
        }
        // Defaults may read earlier parameters: `out: int = planes * 4`.
        let mut denv = Env { vars: Vec::new(), input: env.input.clone(), input_node: env.input_node };
        let mut out = Vec::with_capacity(params.len());
        for (i, (pname, ty, default)) in params.iter().enumerate() {
            let v = match vals[i].take() {
                Some(v) => Some(v),
                None => match default {
                    Some(DefaultSrc::Expr(e)) => self.eval(e, &denv).and_then(|v| self.coerce(v, ty, e.span)).ok(),
                    Some(DefaultSrc::Op(OpDefault::Int(n))) => Some(Value::Int(*n)),
                    Some(DefaultSrc::Op(OpDefault::Float(f))) => Some(Value::Float(*f)),
                    Some(DefaultSrc::Op(OpDefault::Bool(b))) => Some(Value::Bool(*b)),
                    Some(DefaultSrc::Op(OpDefault::SameAsKernel)) => {
                        params.iter().position(|p| p.0 == "kernel").and_then(|k| out.get(k).cloned())
                    }
                    Some(DefaultSrc::Op(OpDefault::Required)) | None => {
                        if !failed {
                            let _ = self.fail::<()>(
                                Diag::new(SemaError::MissingArg {
                                    callee: callee.into(),
                                    name: pname.clone(),
                                    ty: ty.to_string(),
                                })
                                .at(call_span, format!("`{pname}` is not given")),
                            );
                        }
                        failed = true;
                        None
                    }
                },
            };
            if let Some(v) = &v {
                denv.vars.push((pname.clone(), Some(v.clone())));
                out.push(v.clone());
            } else {
                failed = true;
                out.push(Value::Int(0));
            }
        }
        if failed { Err(Poison) } else { Ok(out) }
    }

    #[allow(clippy::too_many_arguments)]
    fn op_call(
        &mut self,
        sig: &'static OpSig,
        c: &Call,
        env: &Env,
        ctx: &Ctx,
        cur: Cur,
        name: Option<&str>,
        nspan: Span,
    ) -> Cur {
        let params: Vec<(String, Type, Option<DefaultSrc>)> = sig
            .params
            .iter()
            .map(|p| (p.name.to_string(), p.ty.clone(), Some(DefaultSrc::Op(p.default.clone()))))
            .collect();
        let args = c.args.as_deref().unwrap_or(&[]);
        let vals = self.bind(sig.name, &params, &[], args, c.span, env).ok();
        let needs_label = matches!(sig.name, "conv" | "bn" | "linear");
        if needs_label && name.is_none() {
            let _ = self.fail::<()>(
                Diag::new(SemaError::NeedsLabel { op: sig.name.into() }).at(c.span, "this layer has no name"),
            );
            return None;
        }
        let path = match name {
            Some(n) => {
                let p = Self::join(&ctx.prefix, n);
                self.register(&p, nspan, n).ok()?;
                p
            }
            None => Self::join(&ctx.prefix, sig.name),
        };
        let (vals, x) = (vals?, cur?);
        let input = self.b.shape(x).clone();
        let op = match builtins::build(sig, &vals, &input) {
            Ok(op) => op,
            Err(e) => {
                let span = args
                    .iter()
                    .enumerate()
                    .find(|(i, a)| match &a.name {
                        Some(n) => n.name == e.param,
                        None => sig.params.get(*i).is_some_and(|p| p.name == e.param),
                    })
                    .map_or(c.span, |(_, a)| a.span);
                let _ = self.fail::<()>(Diag::new(e.error).at(span, "out of range"));
                return None;
            }
        };
        self.add(op, path, c.span, &[x], ctx)
    }

    #[allow(clippy::too_many_arguments)]
    fn instantiate(
        &mut self,
        bv: &BlockVal,
        args: Option<&[Arg]>,
        call_span: Span,
        name: Option<&str>,
        ctx: &Ctx,
        env: &Env,
        cur: Cur,
        is_root: bool,
    ) -> Cur {
        let decl = self.prog.block(&bv.template)?;
        if self.frames.len() >= self.limits.max_depth {
            self.aborted = true;
            let _ = self.fail::<()>(Diag::new(SemaError::TooDeep { max: self.limits.max_depth }).at(call_span, "here"));
            return None;
        }
        let params: Vec<(String, Type, Option<DefaultSrc>)> = decl
            .params
            .iter()
            .map(|p| (p.name.name.clone(), self.param_type(&p.ty), p.default.as_ref().map(DefaultSrc::Expr)))
            .collect();
        let vals = self.bind(&bv.template, &params, &bv.bound, args.unwrap_or(&[]), call_span, env).ok()?;
        let path = match name {
            Some(n) => {
                let p = Self::join(&ctx.prefix, n);
                self.register(&p, call_span, n).ok()?;
                p
            }
            None => ctx.prefix.clone(),
        };
        let scope = if is_root {
            ctx.scope
        } else {
            self.b.add_scope(ctx.scope, path.clone(), ScopeKind::Instance { template: bv.template.clone() }, call_span)
        };
        if is_root {
            self.b.scopes[0].kind = ScopeKind::Instance { template: bv.template.clone() };
        }
        let input = cur.map(|x| Rc::new(self.b.shape(x).clone()));
        let mut inner_env = Env {
            vars: params.iter().zip(vals).map(|(p, v)| (p.0.clone(), Some(v))).collect(),
            input: Some(input),
            input_node: cur,
        };
        self.frames.push(Frame { path: path.clone(), template: bv.template.clone(), use_span: call_span });
        let out = self.body(&decl.body, &mut inner_env, &Ctx { scope, prefix: path, dense: None }, cur, None);
        self.frames.pop();
        out
    }
}

/// Long generated paths (deep recursion) keep their tail.
fn short_path(path: &str) -> String {
    const MAX: usize = 60;
    if path.len() <= MAX {
        return path.to_string();
    }
    let cut = path.len() - MAX;
    let start = path[cut..].find('.').map_or(cut, |i| cut + i + 1);
    format!("...{}", &path[start..])
}

enum DefaultSrc<'a> {
    Expr(&'a Expr),
    Op(OpDefault),
}

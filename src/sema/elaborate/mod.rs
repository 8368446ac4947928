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
use crate::ir::{ArgValue, Dim, Graph, GraphBuilder, ModelArg, Node, ScopeId, ScopeKind, Shape};
use crate::source::Span;
use crate::syntax::ast::{
    self, Arg, Atom, Body, Call, Chain, CombineKind, Expr, ExprKind, FromTarget, Label, LabelPart, Layer, Stmt,
};

mod blocks;
mod layers;

/// Bounds that keep absurd inputs from hanging or exhausting memory.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_repeat: i64,
    pub max_nodes: usize,
    pub max_depth: usize,
    /// Loop iterations, repeats and block instances in one model, nodes or
    /// not: nested loops that build nothing must still end quickly.
    pub max_steps: u64,
    /// Nodes of all the models of one compile together.
    pub max_total_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_repeat: 10_000,
            max_nodes: 1_000_000,
            max_depth: 64,
            max_steps: 4_000_000,
            max_total_nodes: 1_000_000,
        }
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
    /// Loop iterations, repeats and instances so far (`Limits::max_steps`).
    steps: u64,
    model_name: String,
    input_override: Option<Vec<u64>>,
    /// Network arguments to build the model with instead of the model's own.
    arg_overrides: Vec<(String, ArgValue)>,
    /// The network's number and flag arguments as bound.
    root_args: Vec<ModelArg>,
    /// An error was left unsaid because a syntax error already covers it.
    silenced: bool,
    /// The output of every labelled layer, by path, for `from`.
    outputs: HashMap<String, NodeIndex>,
    /// Labelled layers that failed: `from` them is silent.
    poisoned: HashSet<String>,
    /// Drop-path nodes in residual order; their survival is set once all are known.
    drop_path: Option<Rc<DropPathSpec>>,
    dp_nodes: Vec<NodeIndex>,
}

/// Build the IR graph of one model, or report everything wrong with it.
/// `input` replaces the declared input's sizes (`--input`).
pub fn elaborate_model(prog: &Program, m: ModelRef, limits: Limits, input: Option<&[u64]>) -> Result<Graph, Diags> {
    elaborate_model_spending(prog, m, limits, input).0
}

/// What building a model used of the budgets in `Limits`, failed or not.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spent {
    pub nodes: usize,
    pub steps: u64,
}

/// `elaborate_model`, also saying what it spent, so a caller can share one
/// budget among many models.
pub fn elaborate_model_spending(
    prog: &Program,
    m: ModelRef,
    limits: Limits,
    input: Option<&[u64]>,
) -> (Result<Graph, Diags>, Spent) {
    elaborate_model_with(prog, m, limits, input, &[])
}

/// `elaborate_model_spending` with some of the network's number and flag
/// arguments replaced (a generated model's configuration is checked this way).
pub fn elaborate_model_with(
    prog: &Program,
    m: ModelRef,
    limits: Limits,
    input: Option<&[u64]>,
    overrides: &[(String, ArgValue)],
) -> (Result<Graph, Diags>, Spent) {
    let decl = prog.model(m);
    let (mut e, out) = run(prog, m, limits, input, overrides);
    let spent = Spent { nodes: e.b.order.len(), steps: e.steps };
    let result = match out {
        Some((input, output)) if e.diags.is_empty() => {
            let mut g = e.b.finish(decl.name.name.clone(), input, output, decl.span);
            g.drop_path = e.drop_path.map(|d| d.describe());
            g.args = e.root_args;
            Ok(g)
        }
        _ if e.diags.is_empty() && !e.silenced => {
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
    };
    (result, spent)
}

/// What could be built of a model that has errors: every layer up to the
/// failures, for a summary "up to the failing layer". `None` if nothing was.
pub fn elaborate_partial(prog: &Program, m: ModelRef, limits: Limits, input: Option<&[u64]>) -> Option<Graph> {
    elaborate_partial_spending(prog, m, limits, input).0
}

pub fn elaborate_partial_spending(
    prog: &Program,
    m: ModelRef,
    limits: Limits,
    input: Option<&[u64]>,
) -> (Option<Graph>, Spent) {
    let decl = prog.model(m);
    let (e, _) = run(prog, m, limits, input, &[]);
    let spent = Spent { nodes: e.b.order.len(), steps: e.steps };
    let (Some(&first), Some(&last)) = (e.b.order.first(), e.b.order.last()) else { return (None, spent) };
    if first == last {
        return (None, spent);
    }
    (Some(e.b.finish(decl.name.name.clone(), first, last, decl.span)), spent)
}

fn run<'p>(
    prog: &'p Program,
    m: ModelRef,
    limits: Limits,
    input: Option<&[u64]>,
    overrides: &[(String, ArgValue)],
) -> (Elab<'p>, Option<(NodeIndex, NodeIndex)>) {
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
        steps: 0,
        model_name: decl.name.name.clone(),
        input_override: input.map(<[u64]>::to_vec),
        arg_overrides: overrides.to_vec(),
        root_args: Vec::new(),
        silenced: false,
        outputs: HashMap::new(),
        poisoned: HashSet::new(),
        drop_path: None,
        dp_nodes: Vec::new(),
    };
    let out = e.model(decl);
    (e, out)
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
        steps: 0,
        model_name: String::new(),
        input_override: None,
        arg_overrides: Vec::new(),
        root_args: Vec::new(),
        silenced: false,
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
    /// One more loop iteration, repeat or instance; past the budget the
    /// model is abandoned with one error.
    pub(super) fn step(&mut self, span: Span) -> R<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            if !self.aborted {
                self.aborted = true;
                let _ = self.fail::<()>(
                    Diag::new(SemaError::TooMuchWork { max: self.limits.max_steps }).at(span, "while repeating this"),
                );
            }
            return Err(Poison);
        }
        Ok(())
    }

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
            // The innermost place in the user's own file that led here.
            let root = self.prog.root;
            if d.primary_span().is_some_and(|s| s.file != root)
                && let Some(o) = self.frames.iter().rev().map(|f| f.use_span).find(|s| s.file == root)
            {
                d = d.with_origin(o);
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
            Some(Value::Block(bv)) if !self.arg_overrides.is_empty() => {
                let mut bv = (*bv).clone();
                for (name, v) in self.arg_overrides.clone() {
                    let v = match v {
                        ArgValue::Int(i) => Value::Int(i),
                        ArgValue::Float(f) => Value::Float(f),
                        ArgValue::Bool(b) => Value::Bool(b),
                    };
                    match bv.bound.iter_mut().find(|b| b.0 == name) {
                        Some(b) => b.1 = v,
                        None => bv.bound.push((name, v)),
                    }
                }
                Rc::new(bv)
            }
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
        // `[3, 224, 224]`: an image without the batch would fail deep inside
        // the first conv; say what is wrong where it is written.
        if dims.len() == 3 && !matches!(dims[0], Dim::Sym(_)) {
            let fixed = format!("[N, {}]", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
            let _ = self.fail::<()>(
                Diag::new(SemaError::NoBatchDim)
                    .at(e.span, "three sizes: channels, height, width")
                    .suggest(e.span, fixed),
            );
            return None;
        }
        if let Some(given) = self.input_override.clone() {
            // `--input CxHxW` keeps a symbolic batch; `NxCxHxW` sets it too.
            let skip = usize::from(given.len() + 1 == dims.len() && matches!(dims[0], Dim::Sym(_)));
            if given.len() + skip != dims.len() || given.iter().any(|&d| d == 0 || d > MAX_DIM) {
                let _ = self.fail::<()>(
                    Diag::new(SemaError::InputOverride {
                        given: given.iter().map(u64::to_string).collect::<Vec<_>>().join("x"),
                        rank: dims.len(),
                    })
                    .at(e.span, "the model's declared input"),
                );
                return None;
            }
            for (d, &g) in dims.iter_mut().skip(skip).zip(&given) {
                *d = Dim::Size(g);
            }
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
        if self.prog.broken.contains(&id.name) {
            self.silenced = true;
            return Err(Poison);
        }
        let mut cands: Vec<String> = env.vars.iter().map(|v| v.0.clone()).collect();
        cands.extend(self.prog.block_index.keys().cloned());
        cands.extend(self.prog.lets.iter().map(|l| l.name.name.clone()));
        cands.extend(builtins::names().map(String::from));
        cands.extend(builtins::FUNCTIONS.iter().map(|s| s.to_string()));
        let mut d = Diag::new(SemaError::UnknownName { what, name: id.name.clone() }).at(id.span, "not found");
        if let Some(s) = did_you_mean(&id.name, cands.iter().map(String::as_str)) {
            d = d.suggest(id.span, s);
        }
        self.fail(d)
    }

    pub(super) fn unknown_arg<T>(&mut self, callee: &str, span: Span, name: &str, cands: &[&str]) -> R<T> {
        let mut d = Diag::new(SemaError::UnknownArg { callee: callee.into(), name: name.into() }).at(span, "unknown");
        d = match did_you_mean(name, cands.iter().copied()) {
            Some(s) => d.suggest(span, s),
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

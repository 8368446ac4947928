//! The syntax tree. It owns spans and knows nothing of shapes or values.

use crate::source::{FileId, Span};

#[derive(Clone, Debug)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Default)]
pub struct File {
    pub id: FileId,
    pub items: Vec<Item>,
    /// Names declared by items that failed to parse: later "unknown name"
    /// errors about them would only repeat the syntax error.
    pub broken: Vec<String>,
}

#[derive(Debug)]
pub enum Item {
    Use(Use),
    Block(Box<BlockDecl>),
    Model(Box<ModelDecl>),
    Let(Let),
}

#[derive(Debug)]
pub struct Use {
    /// A quoted path (`use "blocks.res"`) or a standard-library name (`use resnet`).
    pub target: UseTarget,
    pub span: Span,
}

#[derive(Debug)]
pub enum UseTarget {
    Path(String),
    Stdlib(String),
}

#[derive(Debug)]
pub struct BlockDecl {
    pub name: Ident,
    /// `network` and `block` mean the same; `network` says "a whole model".
    pub is_network: bool,
    pub params: Vec<Param>,
    pub body: Body,
    pub span: Span,
}

#[derive(Debug)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
}

#[derive(Clone, Debug)]
pub enum TypeExpr {
    Named(Ident),
    List { elem: Box<TypeExpr>, len: Option<Expr>, span: Span },
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(id) => id.span,
            TypeExpr::List { span, .. } => *span,
        }
    }
}

#[derive(Debug)]
pub struct ModelDecl {
    pub name: Ident,
    pub network: Expr,
    pub input: Expr,
    pub with: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Let {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub struct Body {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Let(Let),
    Layer(Layer),
    /// `assert cond, "message"`
    Assert {
        cond: Expr,
        message: Option<String>,
        span: Span,
    },
    /// `from label`: the flow continues from an earlier labelled layer.
    From(FromTarget),
}

/// A labelled layer of the current block (`act0`, `c1x1_w_s{s}`), or `in`.
#[derive(Clone, Debug)]
pub struct FromTarget {
    /// `None` for `in`.
    pub label: Option<Label>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub label: Option<Label>,
    pub chain: Chain,
    pub span: Span,
}

/// `layer{i + 1}`: literal text and computed parts.
#[derive(Clone, Debug)]
pub struct Label {
    pub parts: Vec<LabelPart>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum LabelPart {
    Text(String),
    Expr(Expr),
}

#[derive(Clone, Debug)]
pub struct Chain {
    pub terms: Vec<Term>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Term {
    pub atom: Atom,
    pub repeat: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Atom {
    Call(Call),
    Residual(Residual),
    Combine {
        kind: CombineKind,
        branches: Vec<Body>,
        span: Span,
    },
    List {
        items: Vec<Layer>,
        span: Span,
    },
    For(ForLayer),
    /// `{ ... }`: a group of layers, a name scope when labelled.
    Group(Body),
    /// `dense { ... }`: each layer sees the concat of everything before it.
    Dense(Body),
    If(IfLayer),
}

#[derive(Clone, Debug)]
pub struct IfLayer {
    pub cond: Expr,
    pub then: Body,
    /// `else if` is an `else` whose body holds one `if` layer.
    pub otherwise: Option<Body>,
    pub span: Span,
}

impl Atom {
    pub fn span(&self) -> Span {
        match self {
            Atom::Call(c) => c.span,
            Atom::Residual(r) => r.span,
            Atom::Combine { span, .. } | Atom::List { span, .. } => *span,
            Atom::For(f) => f.span,
            Atom::Group(b) | Atom::Dense(b) => b.span,
            Atom::If(i) => i.span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CombineKind {
    Add,
    Concat,
    /// Elementwise product, broadcasting `[N, C, 1, 1]` over `[N, C, H, W]`.
    Mul,
}

#[derive(Clone, Debug)]
pub struct Residual {
    pub body: Body,
    pub shortcut: Option<Shortcut>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Shortcut {
    /// Where the shortcut starts, when not at the residual's input.
    pub from: Option<FromTarget>,
    pub cond: Option<Expr>,
    pub then: Body,
    pub otherwise: Option<Body>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ForLayer {
    pub index: Option<Ident>,
    pub var: Ident,
    pub iter: Expr,
    pub body: Body,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub name: Ident,
    pub args: Option<Vec<Arg>>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<Expr>),
    /// A name, or a call of a function or block (`floor(x)`, `bottleneck(groups: 32)`).
    Call(Call),
    In,
    Index(Box<Expr>, Box<Expr>),
    Field(Box<Expr>, Ident),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Range,
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Range => "..",
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

//! pest pairs to AST. The grammar has already checked the structure, so the
//! `expect`s here state grammar invariants, not user errors.

use std::sync::LazyLock;

use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::limits;
use super::{Rule, SyntaxError};
use crate::diag::Diag;
use crate::source::{FileId, Span};

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::range, Assoc::Left))
        .op(Op::infix(Rule::or, Assoc::Left))
        .op(Op::infix(Rule::and, Assoc::Left))
        .op(Op::prefix(Rule::not))
        .op(Op::infix(Rule::eq, Assoc::Left)
            | Op::infix(Rule::ne, Assoc::Left)
            | Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left) | Op::infix(Rule::rem, Assoc::Left))
        .op(Op::prefix(Rule::neg))
});

pub(super) struct Builder<'d> {
    pub file: FileId,
    pub offset: usize,
    pub diags: &'d mut Vec<Diag>,
    /// How deep the expression tree being built already is along the current
    /// path (operators, conditions, indexing); bounded by `MAX_EXPR_DEPTH`.
    pub depth: usize,
}

impl Builder<'_> {
    /// The pair's span without the whitespace pest skipped after it while
    /// trying an optional part.
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        let len = p.as_str().trim_end().len();
        Span::new(self.file, self.offset + s.start(), self.offset + s.start() + len)
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        debug_assert_eq!(p.as_rule(), Rule::ident);
        Ident { name: p.as_str().to_string(), span: self.span(&p) }
    }

    pub fn top_item(&mut self, top: Pair<Rule>) -> Option<Item> {
        let item = top.into_inner().find(|p| p.as_rule() != Rule::EOI)?;
        let span = self.span(&item);
        Some(match item.as_rule() {
            Rule::use_decl => {
                let target = item.into_inner().next().expect("use target");
                let target = match target.as_rule() {
                    Rule::string => {
                        let s = target.as_str();
                        UseTarget::Path(s[1..s.len() - 1].to_string())
                    }
                    _ => UseTarget::Stdlib(target.as_str().to_string()),
                };
                Item::Use(Use { target, span })
            }
            Rule::block_decl => Item::Block(Box::new(self.block_decl(item))),
            Rule::model_decl => {
                let mut it = item.into_inner();
                let name = self.ident(it.next().expect("name"));
                let network = self.expr(it.next().expect("network"));
                let input = self.list_as_expr(it.next().expect("input"));
                let with = it.next().map(|w| self.expr(w.into_inner().next().expect("with expr")));
                Item::Model(Box::new(ModelDecl { name, network, input, with, span }))
            }
            Rule::let_stmt => Item::Let(self.let_stmt(item)),
            r => unreachable!("top item {r:?}"),
        })
    }

    fn block_decl(&mut self, p: Pair<Rule>) -> BlockDecl {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let is_network = it.next().expect("kw").as_str() == "network";
        let name = self.ident(it.next().expect("name"));
        let mut params = Vec::new();
        let mut body = None;
        for q in it {
            match q.as_rule() {
                Rule::params => {
                    for param in q.into_inner() {
                        let mut pi = param.into_inner();
                        let name = self.ident(pi.next().expect("param name"));
                        let ty = self.type_expr(pi.next().expect("type"));
                        let default = pi.next().map(|d| self.expr(d));
                        params.push(Param { name, ty, default });
                    }
                }
                Rule::body => body = Some(self.body(q)),
                r => unreachable!("block part {r:?}"),
            }
        }
        BlockDecl { name, is_network, params, body: body.expect("body"), span }
    }

    fn type_expr(&mut self, p: Pair<Rule>) -> TypeExpr {
        let inner = p.into_inner().next().expect("type");
        match inner.as_rule() {
            Rule::ident => TypeExpr::Named(self.ident(inner)),
            Rule::list_type => {
                let span = self.span(&inner);
                let mut it = inner.into_inner();
                let elem = Box::new(self.type_expr(it.next().expect("elem")));
                let len = it.next().map(|e| self.expr(e));
                TypeExpr::List { elem, len, span }
            }
            r => unreachable!("type {r:?}"),
        }
    }

    fn let_stmt(&mut self, p: Pair<Rule>) -> Let {
        let mut it = p.into_inner();
        let name = self.ident(it.next().expect("name"));
        let value = self.expr(it.next().expect("value"));
        Let { name, value }
    }

    fn body(&mut self, p: Pair<Rule>) -> Body {
        let span = self.span(&p);
        let stmts = p
            .into_inner()
            .map(|s| match s.as_rule() {
                Rule::let_stmt => Stmt::Let(self.let_stmt(s)),
                Rule::layer_stmt => Stmt::Layer(self.layer(s)),
                Rule::assert_stmt => {
                    let span = self.span(&s);
                    let mut it = s.into_inner().skip(1); // the keyword
                    let cond = self.expr(it.next().expect("condition"));
                    let message = it.next().map(|m| {
                        let m = m.as_str();
                        m[1..m.len() - 1].to_string()
                    });
                    Stmt::Assert { cond, message, span }
                }
                Rule::from_stmt => Stmt::From(self.continue_from(s.into_inner().nth(1).expect("target"))),
                r => unreachable!("stmt {r:?}"),
            })
            .collect();
        Body { stmts, span }
    }

    fn layer(&mut self, p: Pair<Rule>) -> Layer {
        let span = self.span(&p);
        let mut label = None;
        let mut chain = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::label => label = Some(self.label(q)),
                Rule::chain => chain = Some(self.chain(q)),
                r => unreachable!("layer part {r:?}"),
            }
        }
        Layer { label, chain: chain.expect("chain"), span }
    }

    fn continue_from(&mut self, p: Pair<Rule>) -> FromTarget {
        let span = self.span(&p);
        let inner = p.into_inner().next().expect("target");
        let label = match inner.as_rule() {
            Rule::label => Some(self.label(inner)),
            _ => None,
        };
        FromTarget { label, span }
    }

    fn if_layer(&mut self, p: Pair<Rule>) -> IfLayer {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let cond = self.expr(it.next().expect("condition"));
        let then = self.body(it.next().expect("then"));
        let otherwise = it.next().map(|q| match q.as_rule() {
            Rule::body => self.body(q),
            _ => {
                // `else if`: a body holding the one nested `if` layer.
                let inner_span = self.span(&q);
                let nested = Atom::If(self.if_layer(q));
                let chain =
                    Chain { terms: vec![Term { atom: nested, repeat: None, span: inner_span }], span: inner_span };
                Body { stmts: vec![Stmt::Layer(Layer { label: None, chain, span: inner_span })], span: inner_span }
            }
        });
        IfLayer { cond, then, otherwise, span }
    }

    fn label(&mut self, p: Pair<Rule>) -> Label {
        let span = self.span(&p);
        let parts = p
            .into_inner()
            .map(|q| match q.as_rule() {
                Rule::label_head | Rule::label_tail => LabelPart::Text(q.as_str().to_string()),
                Rule::interp => LabelPart::Expr(self.expr(q.into_inner().next().expect("expr"))),
                r => unreachable!("label part {r:?}"),
            })
            .collect();
        Label { parts, span }
    }

    fn chain(&mut self, p: Pair<Rule>) -> Chain {
        let span = self.span(&p);
        let terms = p.into_inner().map(|t| self.term(t)).collect();
        Chain { terms, span }
    }

    fn term(&mut self, p: Pair<Rule>) -> Term {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let atom = self.atom(it.next().expect("atom"));
        // `*` then the count.
        let repeat = it.next().map(|_star| self.postfix(it.next().expect("count")));
        Term { atom, repeat, span }
    }

    fn atom(&mut self, p: Pair<Rule>) -> Atom {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::call => Atom::Call(self.call(p)),
            Rule::residual => {
                let mut it = p.into_inner();
                let body = self.body(it.next().expect("body"));
                let shortcut = it.next().map(|s| {
                    let sspan = self.span(&s);
                    let mut cond = None;
                    let mut from = None;
                    let mut bodies = Vec::new();
                    for q in s.into_inner() {
                        match q.as_rule() {
                            Rule::from_target => from = Some(self.continue_from(q)),
                            Rule::from_kw => {}
                            Rule::expr => cond = Some(self.expr(q)),
                            Rule::body => bodies.push(self.body(q)),
                            r => unreachable!("shortcut part {r:?}"),
                        }
                    }
                    let mut bodies = bodies.into_iter();
                    Shortcut {
                        from,
                        cond,
                        then: bodies.next().expect("shortcut body"),
                        otherwise: bodies.next(),
                        span: sspan,
                    }
                });
                Atom::Residual(Residual { body, shortcut, span })
            }
            Rule::combinator => {
                let mut it = p.into_inner();
                let kind = match it.next().expect("kind").as_str() {
                    "add" => CombineKind::Add,
                    "mul" => CombineKind::Mul,
                    _ => CombineKind::Concat,
                };
                let branches = it.map(|b| self.body(b)).collect();
                Atom::Combine { kind, branches, span }
            }
            Rule::body => Atom::Group(self.body(p)),
            Rule::dense => Atom::Dense(self.body(p.into_inner().next().expect("body"))),
            Rule::if_layer => Atom::If(self.if_layer(p)),
            Rule::seq_list => {
                let items = p.into_inner().map(|l| self.layer(l)).collect();
                Atom::List { items, span }
            }
            Rule::for_layer => {
                let mut idents = Vec::new();
                let mut iter = None;
                let mut body = None;
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::ident => idents.push(self.ident(q)),
                        Rule::expr => iter = Some(self.expr(q)),
                        Rule::body => body = Some(self.body(q)),
                        r => unreachable!("for part {r:?}"),
                    }
                }
                let var = idents.pop().expect("loop variable");
                Atom::For(ForLayer {
                    index: idents.pop(),
                    var,
                    iter: iter.expect("iterable"),
                    body: body.expect("body"),
                    span,
                })
            }
            r => unreachable!("atom {r:?}"),
        }
    }

    fn call(&mut self, p: Pair<Rule>) -> Call {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let name = self.ident(it.next().expect("name"));
        let args = it.next().map(|a| {
            a.into_inner()
                .map(|arg| {
                    let aspan = self.span(&arg);
                    let mut ai = arg.into_inner().peekable();
                    let name = if ai.peek().map(|q| q.as_rule()) == Some(Rule::ident) {
                        Some(self.ident(ai.next().expect("arg name")))
                    } else {
                        None
                    };
                    let value = self.expr(ai.next().expect("arg value"));
                    Arg { name, value, span: aspan }
                })
                .collect()
        });
        Call { name, args, span }
    }

    fn list_as_expr(&mut self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let items = p.into_inner().map(|e| self.expr(e)).collect();
        Expr { kind: ExprKind::List(items), span }
    }

    pub fn expr(&mut self, p: Pair<Rule>) -> Expr {
        debug_assert_eq!(p.as_rule(), Rule::expr);
        let span = self.span(&p);
        let mut it = p.into_inner();
        let cond = self.binary(it.next().expect("binary"));
        match it.next() {
            None => cond,
            Some(_question) => {
                let Some(()) = self.deeper(1, span) else { return placeholder(span) };
                let a = self.expr(it.next().expect("then"));
                let b = self.expr(it.next().expect("else"));
                self.depth -= 1;
                Expr { kind: ExprKind::Cond(Box::new(cond), Box::new(a), Box::new(b)), span }
            }
        }
    }

    /// Goes `levels` deeper into an expression tree, or reports that it is too deep.
    fn deeper(&mut self, levels: usize, span: Span) -> Option<()> {
        if self.depth + levels > limits::MAX_EXPR_DEPTH {
            self.diags.push(
                Diag::new(SyntaxError::ExpressionTooDeep { limit: limits::MAX_EXPR_DEPTH }).at(span, "this expression"),
            );
            return None;
        }
        self.depth += levels;
        Some(())
    }

    fn binary(&mut self, p: Pair<Rule>) -> Expr {
        // The tree built below is as deep as the operators are many; bound it
        // before building anything.
        let ops = p.clone().into_inner().filter(|q| q.as_rule() != Rule::postfix_expr).count();
        let whole = self.span(&p);
        if ops > limits::MAX_EXPR_OPS {
            self.diags.push(
                Diag::new(SyntaxError::ExpressionTooLong { count: ops, limit: limits::MAX_EXPR_OPS })
                    .at(whole, "this expression"),
            );
            return placeholder(whole);
        }
        let Some(()) = self.deeper(ops, whole) else { return placeholder(whole) };
        let depth = self.depth;
        let file = self.file;
        let offset = self.offset;
        let span_of = move |p: &Pair<Rule>| {
            let s = p.as_span();
            Span::new(file, offset + s.start(), offset + s.start() + p.as_str().trim_end().len())
        };
        // The Pratt closures cannot borrow `self` mutably more than once, so
        // literal errors are collected here and appended afterwards.
        let diags = std::cell::RefCell::new(Vec::new());
        let result = PRATT
            .map_primary(|q| {
                let mut b = Builder { file, offset, diags: &mut diags.borrow_mut(), depth };
                b.postfix(q)
            })
            .map_prefix(|op, rhs| {
                let span = span_of(&op).to(rhs.span);
                let op = if op.as_rule() == Rule::neg { UnOp::Neg } else { UnOp::Not };
                Expr { kind: ExprKind::Unary(op, Box::new(rhs)), span }
            })
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::range => BinOp::Range,
                    Rule::or => BinOp::Or,
                    Rule::and => BinOp::And,
                    Rule::eq => BinOp::Eq,
                    Rule::ne => BinOp::Ne,
                    Rule::lt => BinOp::Lt,
                    Rule::le => BinOp::Le,
                    Rule::gt => BinOp::Gt,
                    Rule::ge => BinOp::Ge,
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    Rule::rem => BinOp::Rem,
                    r => unreachable!("infix {r:?}"),
                };
                let span = lhs.span.to(rhs.span);
                Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span }
            })
            .parse(p.into_inner());
        self.diags.extend(diags.into_inner());
        self.depth -= ops;
        result
    }

    fn postfix(&mut self, p: Pair<Rule>) -> Expr {
        debug_assert_eq!(p.as_rule(), Rule::postfix_expr);
        let suffixes = p.clone().into_inner().count() - 1;
        let whole = self.span(&p);
        let Some(()) = self.deeper(suffixes, whole) else { return placeholder(whole) };
        let e = self.postfix_within_depth(p);
        self.depth -= suffixes;
        e
    }

    fn postfix_within_depth(&mut self, p: Pair<Rule>) -> Expr {
        let mut it = p.into_inner();
        let mut e = self.primary(it.next().expect("primary"));
        for q in it {
            let qspan = self.span(&q);
            let span = e.span.to(qspan);
            e = match q.as_rule() {
                Rule::index => {
                    let idx = self.expr(q.into_inner().next().expect("index"));
                    Expr { kind: ExprKind::Index(Box::new(e), Box::new(idx)), span }
                }
                Rule::field => {
                    let f = self.ident(q.into_inner().next().expect("field"));
                    Expr { kind: ExprKind::Field(Box::new(e), f), span }
                }
                r => unreachable!("postfix {r:?}"),
            };
        }
        e
    }

    fn primary(&mut self, p: Pair<Rule>) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::int => {
                let text = p.as_str().replace('_', "");
                match text.parse::<i64>() {
                    Ok(v) => ExprKind::Int(v),
                    Err(_) => {
                        self.diags.push(
                            Diag::new(SyntaxError::IntTooLarge { text: p.as_str().into() }).at(span, "too large"),
                        );
                        ExprKind::Int(0)
                    }
                }
            }
            Rule::float => match p.as_str().parse::<f64>() {
                Ok(v) if v.is_finite() => ExprKind::Float(v),
                _ => {
                    self.diags.push(Diag::new(SyntaxError::BadFloat { text: p.as_str().into() }).at(span, "here"));
                    ExprKind::Float(0.0)
                }
            },
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::string => {
                let s = p.as_str();
                ExprKind::Str(s[1..s.len() - 1].to_string())
            }
            Rule::list_lit => ExprKind::List(p.into_inner().map(|e| self.expr(e)).collect()),
            Rule::paren => return self.expr(p.into_inner().next().expect("inner")),
            Rule::in_shape => ExprKind::In,
            Rule::call_expr => ExprKind::Call(self.call(p)),
            r => unreachable!("primary {r:?}"),
        };
        Expr { kind, span }
    }
}

/// Stands for an expression that was refused (its error is reported).
fn placeholder(span: Span) -> Expr {
    Expr { kind: ExprKind::Int(0), span }
}

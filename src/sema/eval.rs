//! Expression evaluation: checked integer arithmetic, floats, lists, `in`.

use std::rc::Rc;

use super::SemaError;
use super::builtins::{self, FUNCTIONS};
use super::elaborate::{Elab, Env, Poison, R};
use super::value::{BlockVal, DropPathSpec, Schedule, Type, Value};
use crate::diag::Diag;
use crate::source::Span;
use crate::syntax::ast::{Arg, BinOp, Call, Expr, ExprKind, UnOp};

impl Elab<'_> {
    pub(super) fn eval(&mut self, e: &Expr, env: &Env) -> R<Value> {
        match &e.kind {
            ExprKind::Int(v) => Ok(Value::Int(*v)),
            ExprKind::Float(v) => Ok(Value::Float(*v)),
            ExprKind::Bool(v) => Ok(Value::Bool(*v)),
            ExprKind::Str(s) => Ok(Value::Str(s.as_str().into())),
            ExprKind::List(items) => {
                let mut v = Vec::with_capacity(items.len());
                for x in items {
                    v.push(self.eval(x, env)?);
                }
                Ok(Value::List(Rc::new(v)))
            }
            ExprKind::In => match &env.input {
                Some(Some(s)) => Ok(Value::Shape(s.clone())),
                Some(None) => Err(Poison),
                None => self.fail(Diag::new(SemaError::InOutsideBlock).at(e.span, "not inside a block")),
            },
            ExprKind::Call(c) => self.eval_call(c, env),
            ExprKind::Index(base, idx) => {
                let b = self.eval(base, env)?;
                let i = self.eval_int(idx, env)?;
                let len = match &b {
                    Value::List(l) => l.len(),
                    Value::Range(a, z) => (z - a).max(0) as usize,
                    Value::Shape(s) => s.rank(),
                    other => {
                        let found = other.type_name();
                        return self.fail(
                            Diag::new(SemaError::TypeMismatch { expected: "a list".into(), found })
                                .at(base.span, "indexed here"),
                        );
                    }
                };
                if i < 0 || i as usize >= len {
                    return self.fail(
                        Diag::new(SemaError::IndexOutOfRange { index: i, len })
                            .at(idx.span, format!("valid indices are 0 to {}", len as i64 - 1)),
                    );
                }
                Ok(match b {
                    Value::List(l) => l[i as usize].clone(),
                    Value::Range(a, _) => Value::Int(a + i),
                    Value::Shape(s) => match s.size(i as usize) {
                        Some(n) => Value::Int(n as i64),
                        None => Value::Int(1),
                    },
                    _ => unreachable!(),
                })
            }
            ExprKind::Field(base, field) => {
                let b = self.eval(base, env)?;
                if let Value::Shape(s) = &b {
                    let dim = match field.name.as_str() {
                        "c" | "channels" => Some(1),
                        "h" | "height" => Some(2),
                        "w" | "width" => Some(3),
                        "rank" => return Ok(Value::Int(s.rank() as i64)),
                        _ => None,
                    };
                    if let Some(d) = dim
                        && let Some(n) = s.size(d)
                    {
                        return Ok(Value::Int(n as i64));
                    }
                }
                self.fail(
                    Diag::new(SemaError::UnknownField { found: b.type_name(), field: field.name.clone() })
                        .at(field.span, "no such field"),
                )
            }
            ExprKind::Unary(op, x) => {
                let v = self.eval(x, env)?;
                match (op, v) {
                    (UnOp::Neg, Value::Int(i)) => match i.checked_neg() {
                        Some(n) => Ok(Value::Int(n)),
                        None => self.overflow(e.span, "-", i, 0),
                    },
                    (UnOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
                    (UnOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (op, v) => {
                        let expected = if *op == UnOp::Neg { "a number" } else { "a bool" };
                        self.mismatch(x.span, expected, &v)
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.eval_binary(*op, a, b, e.span, env),
            ExprKind::Cond(c, a, b) => {
                if self.eval_bool(c, env)? {
                    self.eval(a, env)
                } else {
                    self.eval(b, env)
                }
            }
        }
    }

    pub(super) fn eval_int(&mut self, e: &Expr, env: &Env) -> R<i64> {
        match self.eval(e, env)? {
            Value::Int(i) => Ok(i),
            v => self.mismatch(e.span, "an int", &v),
        }
    }

    pub(super) fn eval_bool(&mut self, e: &Expr, env: &Env) -> R<bool> {
        match self.eval(e, env)? {
            Value::Bool(b) => Ok(b),
            v => self.mismatch(e.span, "a bool", &v),
        }
    }

    pub(super) fn mismatch<T>(&mut self, span: Span, expected: &str, found: &Value) -> R<T> {
        let found_desc = found.type_name();
        let label = format!("this is {found_desc}");
        let mut d = Diag::new(SemaError::TypeMismatch { expected: expected.into(), found: found_desc }).at(span, label);
        if expected.ends_with("int") && matches!(found, Value::Float(_)) {
            // `conv(in.c * theta, 1)`: say how to get an int from a float.
            let text = &self.prog.sources.get(span.file).text[span.start..span.end];
            d = d.with_help(format!(
                "a float becomes an int by rounding it down, up or to the nearest: `floor({text})`, `ceil({text})` or \
                 `round({text})`"
            ));
        }
        self.fail(d)
    }

    fn overflow<T>(&mut self, span: Span, op: &'static str, a: i64, b: i64) -> R<T> {
        self.fail(
            Diag::new(SemaError::Overflow { op, a: a.to_string(), b: b.to_string() })
                .at(span, "this does not fit in 64 bits"),
        )
    }

    fn eval_binary(&mut self, op: BinOp, a: &Expr, b: &Expr, span: Span, env: &Env) -> R<Value> {
        if matches!(op, BinOp::And | BinOp::Or) {
            let x = self.eval_bool(a, env)?;
            if (op == BinOp::And && !x) || (op == BinOp::Or && x) {
                return Ok(Value::Bool(x));
            }
            return Ok(Value::Bool(self.eval_bool(b, env)?));
        }
        let x = self.eval(a, env)?;
        let y = self.eval(b, env)?;
        use Value::{Float, Int};
        match (op, &x, &y) {
            (BinOp::Range, Int(i), Int(j)) => Ok(Value::Range(*i, *j)),
            (BinOp::Range, _, _) => {
                let (bad, span) = if matches!(x, Int(_)) { (&y, b.span) } else { (&x, a.span) };
                self.mismatch(span, "an int", bad)
            }
            (BinOp::Eq | BinOp::Ne, _, _) if !is_num(&x) || !is_num(&y) => {
                let same = match (&x, &y) {
                    (Value::Bool(p), Value::Bool(q)) => p == q,
                    (Value::Str(p), Value::Str(q)) => p == q,
                    _ => {
                        let expected = format!("a value comparable with {}", x.type_name());
                        return self.mismatch(b.span, &expected, &y);
                    }
                };
                Ok(Value::Bool(same == (op == BinOp::Eq)))
            }
            (_, Int(i), Int(j)) => {
                let (i, j) = (*i, *j);
                let r = match op {
                    BinOp::Add => i.checked_add(j),
                    BinOp::Sub => i.checked_sub(j),
                    BinOp::Mul => i.checked_mul(j),
                    BinOp::Div | BinOp::Rem => {
                        if j == 0 {
                            return self.fail(Diag::new(SemaError::DivByZero).at(b.span, "this is zero"));
                        }
                        // Floor division, as the papers' width formulas mean it.
                        if op == BinOp::Div { i.checked_div_euclid(j) } else { i.checked_rem_euclid(j) }
                    }
                    _ => return Ok(Value::Bool(compare(op, i as f64, j as f64))),
                };
                match r {
                    Some(v) => Ok(Int(v)),
                    None => self.overflow(span, op.symbol(), i, j),
                }
            }
            (_, _, _) if is_num(&x) && is_num(&y) => {
                let (p, q) = (as_f64(&x), as_f64(&y));
                let r = match op {
                    BinOp::Add => p + q,
                    BinOp::Sub => p - q,
                    BinOp::Mul => p * q,
                    BinOp::Div | BinOp::Rem => {
                        if q == 0.0 {
                            return self.fail(Diag::new(SemaError::DivByZero).at(b.span, "this is zero"));
                        }
                        if op == BinOp::Div { p / q } else { p.rem_euclid(q) }
                    }
                    _ => return Ok(Value::Bool(compare(op, p, q))),
                };
                Ok(Float(r))
            }
            _ => {
                let (bad, bspan) = if is_num(&x) { (&y, b.span) } else { (&x, a.span) };
                self.mismatch(bspan, "a number", bad)
            }
        }
    }

    fn eval_call(&mut self, c: &Call, env: &Env) -> R<Value> {
        let name = c.name.name.as_str();
        if let Some(v) = env.lookup(name) {
            let v = v.clone().ok_or(Poison)?;
            return match (&v, &c.args) {
                (_, None) => Ok(v),
                (Value::Block(bv), Some(args)) => self.partial(bv, args, env),
                (_, Some(_)) => self.fail(
                    Diag::new(SemaError::NotCallable { name: name.into() })
                        .at(c.span, format!("`{name}` is {}", v.type_name())),
                ),
            };
        }
        if let Some(v) = self.global(name)? {
            return match &c.args {
                None => Ok(v),
                Some(_) => self.fail(Diag::new(SemaError::NotCallable { name: name.into() }).at(c.span, "a constant")),
            };
        }
        if self.prog.block(name).is_some() {
            let bv = BlockVal { template: name.into(), bound: Vec::new() };
            return match &c.args {
                None => Ok(Value::Block(Rc::new(bv))),
                Some(args) => self.partial(&bv, args, env),
            };
        }
        if FUNCTIONS.contains(&name) {
            return self.function(c, env);
        }
        // `norm: block = bn`, `norm: group_norm(32)`: an op is a block value
        // too, so a template can take its norm or activation as an argument.
        if builtins::sig(name).is_some() {
            let bv = BlockVal { template: name.into(), bound: Vec::new() };
            return match &c.args {
                None => Ok(Value::Block(Rc::new(bv))),
                Some(args) => self.partial(&bv, args, env),
            };
        }
        self.unknown_name(&c.name, "name", env)
    }

    /// `bottleneck(groups: 32)`: a block with some arguments bound now and the
    /// rest bound where it is used as a layer.
    fn partial(&mut self, bv: &BlockVal, args: &[Arg], env: &Env) -> R<Value> {
        let params: Vec<(String, Type)> = match (self.prog.block(&bv.template), builtins::sig(&bv.template)) {
            (Some(decl), _) => decl.params.iter().map(|p| (p.name.name.clone(), self.param_type(&p.ty))).collect(),
            (None, Some(sig)) => sig.params.iter().map(|p| (p.name.to_string(), p.ty.clone())).collect(),
            (None, None) => return Err(Poison),
        };
        let mut bound = bv.bound.clone();
        let mut named_seen = false;
        let names: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
        for arg in args {
            let open = |i: usize| !bound.iter().any(|b| b.0 == params[i].0);
            let idx = self.arg_slot(&bv.template, &names, arg, &mut named_seen, open).ok_or(Poison)?;
            let v = self.eval(&arg.value, env)?;
            let v = self.coerce(v, &params[idx].1, arg.value.span)?;
            bound.retain(|b| b.0 != params[idx].0);
            bound.push((params[idx].0.clone(), v));
        }
        Ok(Value::Block(Rc::new(BlockVal { template: bv.template.clone(), bound })))
    }

    fn function(&mut self, c: &Call, env: &Env) -> R<Value> {
        let name = c.name.name.as_str();
        let args = c.args.as_deref().unwrap_or(&[]);
        if name == "drop_path" {
            return self.drop_path_fn(c, args, env);
        }
        let mut vals = Vec::new();
        for a in args {
            if let Some(n) = &a.name {
                return self.fail(
                    Diag::new(SemaError::UnknownArg { callee: name.into(), name: n.name.clone() })
                        .at(n.span, "functions take positional arguments only"),
                );
            }
            vals.push((self.eval(&a.value, env)?, a.value.span));
        }
        let (least, most) = match name {
            "min" | "max" => (2, 2),
            "make_divisible" => (1, 4),
            _ => (1, 1),
        };
        if vals.len() < least || vals.len() > most {
            let what = if least == most { format!("{least}") } else { format!("{least} to {most}") };
            return self.fail(
                Diag::new(SemaError::TooManyArgs { callee: name.into(), max: most })
                    .at(c.span, format!("`{name}` takes {what} argument{}", if most == 1 { "" } else { "s" })),
            );
        }
        let (v, vspan) = vals[0].clone();
        let num = |me: &mut Self, v: &Value, span: Span| -> R<f64> {
            if is_num(v) { Ok(as_f64(v)) } else { me.mismatch(span, "a number", v) }
        };
        let to_int = |me: &mut Self, f: f64, span: Span| -> R<Value> {
            if f.is_finite() && f.abs() < 9.0e18 {
                Ok(Value::Int(f as i64))
            } else {
                me.fail(
                    Diag::new(SemaError::OutOfRange {
                        what: "the value".into(),
                        allowed: "within the 64-bit integer range".into(),
                        value: f.to_string(),
                    })
                    .at(span, "here"),
                )
            }
        };
        match name {
            "floor" | "ceil" | "round" | "int" => {
                if let Value::Int(i) = v {
                    return Ok(Value::Int(i));
                }
                let f = num(self, &v, vspan)?;
                let r = match name {
                    "floor" => f.floor(),
                    "ceil" => f.ceil(),
                    "round" => f.round(),
                    _ => f.trunc(),
                };
                to_int(self, r, vspan)
            }
            "float" => Ok(Value::Float(num(self, &v, vspan)?)),
            "log2" => {
                let f = num(self, &v, vspan)?;
                if f <= 0.0 {
                    return self.fail(
                        Diag::new(SemaError::OutOfRange {
                            what: "log2's argument".into(),
                            allowed: "positive".into(),
                            value: f.to_string(),
                        })
                        .at(vspan, "not positive"),
                    );
                }
                Ok(Value::Float(f.log2()))
            }
            "abs" => match v {
                Value::Int(i) => match i.checked_abs() {
                    Some(a) => Ok(Value::Int(a)),
                    None => self.overflow(vspan, "abs", i, 0),
                },
                other => Ok(Value::Float(num(self, &other, vspan)?.abs())),
            },
            "len" => match v.len() {
                Some(n) => Ok(Value::Int(n as i64)),
                None => self.mismatch(vspan, "a list", &v),
            },
            "min" | "max" => {
                let (w, wspan) = vals[1].clone();
                if let (Value::Int(a), Value::Int(b)) = (&v, &w) {
                    return Ok(Value::Int(if name == "min" { *a.min(b) } else { *a.max(b) }));
                }
                let (a, b) = (num(self, &v, vspan)?, num(self, &w, wspan)?);
                Ok(Value::Float(if name == "min" { a.min(b) } else { a.max(b) }))
            }
            "make_divisible" => {
                // timm's rounding of channel counts: to the nearest multiple of
                // `divisor`, at least `min`, and never below `round_limit` of
                // `v` (0.9 by default; timm's squeeze-excitation passes 0).
                let v = num(self, &v, vspan)?;
                let divisor = match vals.get(1) {
                    Some((Value::Int(d), _)) if *d > 0 => *d,
                    Some((other, span)) => return self.mismatch(*span, "a positive int", other),
                    None => 8,
                };
                let min = match vals.get(2) {
                    Some((Value::Int(m), _)) => *m,
                    Some((other, span)) => return self.mismatch(*span, "an int", other),
                    None => divisor,
                };
                let round_limit = match vals.get(3) {
                    Some((limit, span)) => {
                        let limit = num(self, limit, *span)?;
                        if !(0.0..=1.0).contains(&limit) {
                            return self.fail(
                                Diag::new(SemaError::OutOfRange {
                                    what: "make_divisible's round_limit".into(),
                                    allowed: "in [0, 1]".into(),
                                    value: limit.to_string(),
                                })
                                .at(*span, "out of range"),
                            );
                        }
                        limit
                    }
                    None => 0.9,
                };
                let mut out = min.max(((v + divisor as f64 / 2.0) as i64) / divisor * divisor);
                if (out as f64) < round_limit * v {
                    out += divisor;
                }
                Ok(Value::Int(out))
            }
            "linear" | "linspace" | "constant" => {
                let p = num(self, &v, vspan)?;
                let (schedule, ok, allowed) = match name {
                    "linear" => (Schedule::Linear { p_last: p }, p > 0.0 && p <= 1.0, "in (0, 1]"),
                    "linspace" => (Schedule::Linspace { rate: p }, (0.0..1.0).contains(&p), "in [0, 1)"),
                    _ => (Schedule::Constant { survival: p }, p > 0.0 && p <= 1.0, "in (0, 1]"),
                };
                if !ok {
                    let what = match name {
                        "linear" => "the last block's survival p_L",
                        "linspace" => "the last block's drop rate",
                        _ => "the survival probability",
                    };
                    return self.fail(
                        Diag::new(SemaError::OutOfRange {
                            what: what.into(),
                            allowed: allowed.into(),
                            value: p.to_string(),
                        })
                        .at(vspan, "out of range"),
                    );
                }
                Ok(Value::Schedule(Rc::new(schedule)))
            }
            _ => unreachable!("function {name}"),
        }
    }

    /// `drop_path(schedule, scaling: "test" | "inverted", per: "sample" | "batch")`.
    /// The paper's linear rule defaults to its own conventions (scale at test
    /// time, one draw per batch), timm's linspace to timm's.
    fn drop_path_fn(&mut self, c: &Call, args: &[Arg], env: &Env) -> R<Value> {
        let mut schedule = None;
        let mut scaling: Option<(String, Span)> = None;
        let mut per: Option<(String, Span)> = None;
        for a in args {
            let v = self.eval(&a.value, env)?;
            match a.name.as_ref().map(|n| n.name.as_str()) {
                None | Some("schedule") => {
                    schedule = Some(match v {
                        Value::Schedule(s) => s.as_ref().clone(),
                        Value::List(l) => {
                            let mut probs = Vec::new();
                            for x in l.iter() {
                                let p = match x {
                                    Value::Int(i) => *i as f64,
                                    Value::Float(f) => *f,
                                    other => return self.mismatch(a.value.span, "a list of probabilities", other),
                                };
                                if !(p > 0.0 && p <= 1.0) {
                                    return self.fail(
                                        Diag::new(SemaError::OutOfRange {
                                            what: "a survival probability".into(),
                                            allowed: "in (0, 1]".into(),
                                            value: p.to_string(),
                                        })
                                        .at(a.value.span, "in this list"),
                                    );
                                }
                                probs.push(p);
                            }
                            Schedule::Explicit(probs)
                        }
                        other => {
                            return self.mismatch(
                                a.value.span,
                                "a schedule: linear(p_L), linspace(rate), constant(p) or a list",
                                &other,
                            );
                        }
                    })
                }
                Some(key @ ("scaling" | "per")) => {
                    let Value::Str(s) = v else { return self.mismatch(a.value.span, "a string", &v) };
                    let allowed: &[&str] = if key == "scaling" { &["test", "inverted"] } else { &["sample", "batch"] };
                    if !allowed.contains(&s.as_ref()) {
                        return self.fail(
                            Diag::new(SemaError::OutOfRange {
                                what: format!("`{key}`"),
                                allowed: format!("\"{}\" or \"{}\"", allowed[0], allowed[1]),
                                value: format!("\"{s}\""),
                            })
                            .at(a.value.span, "here"),
                        );
                    }
                    let slot = if key == "scaling" { &mut scaling } else { &mut per };
                    *slot = Some((s.to_string(), a.value.span));
                }
                Some(other) => {
                    let span = a.name.as_ref().map_or(a.span, |n| n.span);
                    return self.unknown_arg("drop_path", span, other, &["schedule", "scaling", "per"]);
                }
            }
        }
        let Some(schedule) = schedule else {
            return self.fail(
                Diag::new(SemaError::MissingArg {
                    callee: "drop_path".into(),
                    name: "schedule".into(),
                    ty: "schedule".into(),
                })
                .at(c.span, "which survival schedule?"),
            );
        };
        let timm_style = matches!(schedule, Schedule::Linspace { .. });
        let scale_at_test = scaling.map_or(!timm_style, |s| s.0 == "test");
        let per_sample = per.map_or(timm_style, |p| p.0 == "sample");
        Ok(Value::DropPath(Rc::new(DropPathSpec { schedule, scale_at_test, per_sample })))
    }

    /// Check a value against a declared type, converting where the language
    /// allows (int to float, a range to a list).
    pub(super) fn coerce(&mut self, v: Value, ty: &Type, span: Span) -> R<Value> {
        let ok = match (ty, &v) {
            (Type::Any, _) => true,
            (Type::Int, Value::Int(_)) => true,
            (Type::Float, Value::Int(i)) => return Ok(Value::Float(*i as f64)),
            (Type::Float, Value::Float(_)) => true,
            (Type::Bool, Value::Bool(_)) => true,
            (Type::Str, Value::Str(_)) => true,
            (Type::Block, Value::Block(_)) => true,
            (Type::Pair, Value::Int(_)) => true,
            (Type::Pair, Value::List(l)) => l.len() == 2 && l.iter().all(|x| matches!(x, Value::Int(_))),
            (Type::List(elem, len), Value::List(_) | Value::Range(..)) => {
                let items: Vec<Value> = match &v {
                    Value::List(l) => l.as_ref().clone(),
                    Value::Range(a, b) => {
                        if b - a > self.limits.max_repeat {
                            return self.fail(
                                Diag::new(SemaError::RepeatTooLarge { count: b - a, max: self.limits.max_repeat })
                                    .at(span, "this range is too long"),
                            );
                        }
                        (*a..*b).map(Value::Int).collect()
                    }
                    _ => unreachable!(),
                };
                if let Some(n) = len
                    && items.len() != *n
                {
                    return self.fail(
                        Diag::new(SemaError::ListLength { expected: *n, got: items.len() })
                            .at(span, format!("this list has {}", items.len())),
                    );
                }
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    out.push(self.coerce(x, elem, span)?);
                }
                return Ok(Value::List(Rc::new(out)));
            }
            _ => false,
        };
        if ok { Ok(v) } else { self.mismatch(span, &ty.to_string(), &v) }
    }
}

fn is_num(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_))
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

fn compare(op: BinOp, a: f64, b: f64) -> bool {
    match op {
        BinOp::Eq => a == b,
        BinOp::Ne => a != b,
        BinOp::Lt => a < b,
        BinOp::Le => a <= b,
        BinOp::Gt => a > b,
        BinOp::Ge => a >= b,
        _ => unreachable!("not a comparison"),
    }
}

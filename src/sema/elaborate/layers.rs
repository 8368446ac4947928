//! Layers: bodies, chains, residuals, combinators, dense blocks and calls.

use super::*;
use crate::ir::op::Add;

impl Elab<'_> {
    pub(super) fn body(&mut self, body: &Body, env: &mut Env, ctx: &Ctx, mut cur: Cur, auto: Option<&str>) -> Cur {
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
                self.step(t.span).ok()?;
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
                // The condition that chose the identity, when one did.
                let mut identity_by = None;
                if let Some(sc) = &r.shortcut {
                    let take = match &sc.cond {
                        None => true,
                        Some(c) => self.eval_bool(c, env).ok()?,
                    };
                    if !take && sc.otherwise.is_none() {
                        identity_by = sc.cond.as_ref();
                    }
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
                    let help = match (s_span, identity_by) {
                        (None, Some(cond)) => format!(
                            "the shortcut's condition `{}` is false here (the block's input is {ss}), so the \
                             identity was used; the branch gives {fs}, so the condition must hold whenever the \
                             shape changes",
                            self.prog.span_text(cond.span)
                        ),
                        (None, None) => format!(
                            "the branch changes the shape, so the shortcut needs a projection: \
                             `shortcut if <shape changes> {{ downsample: [conv({}, 1, stride: <s>), bn] }}`",
                            fs.channels().unwrap_or(0)
                        ),
                        (Some(_), _) => format!("make both sides produce {fs}"),
                    };
                    let d =
                        Diag::new(crate::ir::ShapeError::Mismatch { op: "residual add", a: fs.clone(), b: ss.clone() })
                            .at(r.body.span, format!("the residual branch gives {fs}"))
                            .also(
                                s_span.unwrap_or(Span { end: r.span.start + "residual".len(), ..r.span }),
                                match s_span {
                                    Some(_) => format!("the shortcut gives {ss}"),
                                    None => format!("the identity shortcut gives {ss}"),
                                },
                            )
                            .with_help(help);
                    let d = match identity_by {
                        Some(cond) => d.also(cond.span, "false here: the identity was used"),
                        None => d,
                    };
                    let _ = self.fail::<()>(d);
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
                self.add(Op::Add(Add { residual: true }), path, r.span, &[f, s], &inner)
            }
            Atom::Combine { kind, branches, span } => {
                let inner = self.container(ctx, name, nspan).ok()?;
                let outs: Vec<Cur> = branches.iter().map(|b| self.body(b, env, &inner, cur, None)).collect();
                let outs: Vec<NodeIndex> = outs.into_iter().collect::<Option<_>>()?;
                let shapes: Vec<Shape> = outs.iter().map(|&o| self.b.shape(o).clone()).collect();
                let (op, opname) = match kind {
                    CombineKind::Add => (Op::Add(Add { residual: false }), "add"),
                    CombineKind::Concat => (Op::Concat, "concat"),
                    CombineKind::Mul => (Op::Mul, "mul"),
                };
                if let Err(e) = op.infer(&shapes.iter().collect::<Vec<_>>()) {
                    let keyword = Span { end: span.start + opname.len(), ..*span };
                    let label = match e {
                        crate::ir::ShapeError::ArityExact { want, .. } => format!("takes {want} branches"),
                        _ => format!("the branches of `{opname}` disagree"),
                    };
                    let mut d = Diag::new(e).at(keyword, label);
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
                    self.step(f.iter.span).ok()?;
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
                Value::Block(bv) => match (self.prog.block(&bv.template), builtins::sig(&bv.template)) {
                    (None, Some(sig)) => self.op_call(sig, &bv.bound, c, env, ctx, cur, name, nspan),
                    _ => self.instantiate(&bv, args, c.span, name, ctx, env, cur, false),
                },
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
            return self.op_call(sig, &[], c, env, ctx, cur, name, nspan);
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
}

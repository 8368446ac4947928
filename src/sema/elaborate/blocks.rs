//! Calls of ops and blocks: binding arguments, building ops, instantiating templates.

use super::*;

impl Elab<'_> {
    /// Which parameter an argument binds: its name's, or for a positional
    /// argument the first still open. Reports and returns `None` when there is
    /// none (unknown name, positional after named, too many).
    pub(in crate::sema) fn arg_slot(
        &mut self,
        callee: &str,
        names: &[&str],
        arg: &Arg,
        named_seen: &mut bool,
        open: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        if let Some(n) = &arg.name {
            *named_seen = true;
            let found = names.iter().position(|p| *p == n.name);
            if found.is_none() {
                let _ = self.unknown_arg::<()>(callee, n.span, &n.name, names);
            }
            return found;
        }
        if *named_seen {
            let _ = self.fail::<()>(Diag::new(SemaError::PositionalAfterNamed).at(arg.span, "positional argument"));
            return None;
        }
        let found = (0..names.len()).find(|&i| open(i));
        if found.is_none() {
            let _ = self.fail::<()>(
                Diag::new(SemaError::TooManyArgs { callee: callee.into(), max: names.len() })
                    .at(arg.span, "extra argument"),
            );
        }
        found
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
            let open = |i: usize| given[i].is_none() && !prebound.iter().any(|b| b.0 == params[i].0);
            let names: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
            // A bad argument is reported and skipped; the others still bind,
            // so later layers keep their shapes and their own errors show.
            let Some(idx) = self.arg_slot(callee, &names, arg, &mut named_seen, open) else {
                failed |= arg.name.is_none() && named_seen;
                continue;
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
    pub(super) fn op_call(
        &mut self,
        sig: &'static OpSig,
        prebound: &[(String, Value)],
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
        let vals = self.bind(sig.name, &params, prebound, args, c.span, env).ok();
        let needs_label = matches!(sig.name, "conv" | "bn" | "linear");
        if needs_label && name.is_none() {
            let _ = self.fail::<()>(
                Diag::new(SemaError::NeedsLabel {
                    op: sig.name.into(),
                    label: super::super::free_label(sig.name, |l| self.names.contains_key(&Self::join(&ctx.prefix, l))),
                })
                .at(c.span, "this layer has no name"),
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
    pub(super) fn instantiate(
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
        self.step(call_span).ok()?;
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
            self.root_args = decl
                .params
                .iter()
                .zip(&vals)
                .filter_map(|(p, v)| {
                    let value = match v {
                        Value::Int(i) => ArgValue::Int(*i),
                        Value::Float(f) => ArgValue::Float(*f),
                        Value::Bool(b) => ArgValue::Bool(*b),
                        _ => return None,
                    };
                    Some(ModelArg { name: p.name.name.clone(), value, span: p.name.span })
                })
                .collect();
        }
        let mut args: Vec<(String, i64)> = params
            .iter()
            .zip(&vals)
            .filter_map(|(p, v)| match v {
                Value::Int(i) => Some((p.0.clone(), *i)),
                _ => None,
            })
            .collect();
        if let Some(c) = cur.and_then(|x| self.b.shape(x).channels()) {
            args.push(("in_channels".into(), c as i64));
        }
        self.b.scopes[scope.0 as usize].args = args;
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

enum DefaultSrc<'a> {
    Expr(&'a Expr),
    Op(OpDefault),
}

//! Tidying of the generated forward passes that is easier on the parsed file
//! than while generating: one `match` over an optional numbered list
//! (`downsample`) instead of one per element.

use quote::ToTokens;
use syn::visit_mut::VisitMut;

/// In every `forward`, consecutive statements that each match the same
/// optional field become one match whose `Some` arm runs them in order:
///
/// ```text
/// let d0 = match &self.downsample { Some(t) => t.0.forward(x.clone()), None => x.clone() };
/// let d1 = match &self.downsample { Some(t) => t.1.forward(d0.clone()), None => d0 };
/// ```
///
/// becomes `let d1 = match &self.downsample { Some(t) => { let d0 = ..; t.1.forward(d0) } None => x.clone() };`
/// The `None` arm is the last statement's; the values in between must not be
/// read after the run, and the last `None` arm must not read them.
pub fn merge_option_matches(file: &mut syn::File) {
    for item in &mut file.items {
        let syn::Item::Impl(imp) = item else { continue };
        for it in &mut imp.items {
            if let syn::ImplItem::Fn(f) = it
                && f.sig.ident.to_string().starts_with("forward")
            {
                merge_in(&mut f.block);
                unclone_last_uses(&mut f.block, &[]);
            }
        }
    }
}

/// `let var = match &self.field { Some(bind) => some, None => none };`
struct Link {
    var: syn::Ident,
    field: String,
    bind: String,
    some: syn::Expr,
    none: syn::Expr,
}

fn link(stmt: &syn::Stmt) -> Option<Link> {
    let syn::Stmt::Local(local) = stmt else { return None };
    let syn::Pat::Ident(var) = &local.pat else { return None };
    let syn::Expr::Match(m) = &*local.init.as_ref()?.expr else { return None };
    let syn::Expr::Reference(r) = &*m.expr else { return None };
    let syn::Expr::Field(field) = &*r.expr else { return None };
    if field.base.to_token_stream().to_string() != "self" || m.arms.len() != 2 {
        return None;
    }
    let syn::Pat::TupleStruct(some) = &m.arms[0].pat else { return None };
    let (true, [syn::Pat::Ident(bind)]) =
        (some.path.is_ident("Some"), some.elems.iter().collect::<Vec<_>>().as_slice())
    else {
        return None;
    };
    let syn::Pat::Ident(none) = &m.arms[1].pat else { return None };
    if none.ident != "None" {
        return None;
    }
    Some(Link {
        var: var.ident.clone(),
        field: field.to_token_stream().to_string(),
        bind: bind.ident.to_string(),
        some: (*m.arms[0].body).clone(),
        none: (*m.arms[1].body).clone(),
    })
}

fn mentions(tokens: &impl ToTokens, name: &syn::Ident) -> usize {
    fn count(ts: proc_macro2::TokenStream, name: &syn::Ident) -> usize {
        ts.into_iter()
            .map(|tt| match tt {
                proc_macro2::TokenTree::Ident(i) => usize::from(i == *name),
                proc_macro2::TokenTree::Group(g) => count(g.stream(), name),
                _ => 0,
            })
            .sum()
    }
    count(tokens.to_token_stream(), name)
}

fn merge_in(block: &mut syn::Block) {
    let mut i = 0;
    while i < block.stmts.len() {
        let Some(first) = link(&block.stmts[i]) else {
            i += 1;
            continue;
        };
        let mut run = vec![first];
        while let Some(next) = block.stmts.get(i + run.len()).and_then(link) {
            if next.field != run[0].field || next.bind != run[0].bind {
                break;
            }
            run.push(next);
        }
        // Shorten the run until its inner values stay inside it.
        while run.len() > 1 {
            let (inner, last) = (&run[..run.len() - 1], &run[run.len() - 1]);
            let after = &block.stmts[i + run.len()..];
            let escapes =
                inner.iter().any(|l| mentions(&last.none, &l.var) > 0 || after.iter().any(|s| mentions(s, &l.var) > 0));
            if !escapes {
                break;
            }
            run.pop();
        }
        if run.len() < 2 {
            i += 1;
            continue;
        }
        let n = run.len();
        let last = run.pop().expect("a run");
        let mut lets: Vec<syn::Stmt> = Vec::new();
        let mut tail = last.some;
        for l in &run {
            let (var, some) = (&l.var, &l.some);
            lets.push(syn::parse_quote! { let #var = #some; });
        }
        // A value read once in the arm no longer needs the clone that its
        // `None` arm's use forced.
        for k in 0..lets.len() {
            let var = run[k].var.clone();
            let later = lets[k + 1..].iter().map(|s| mentions(s, &var)).sum::<usize>() + mentions(&tail, &var);
            if later == 1 {
                let mut unclone = Unclone { var };
                for s in &mut lets[k + 1..] {
                    unclone.visit_stmt_mut(s);
                }
                unclone.visit_expr_mut(&mut tail);
            }
        }
        let (var, none) = (&last.var, &last.none);
        let field: syn::Expr = syn::parse_str(&run[0].field).expect("a field");
        let bind = syn::Ident::new(&run[0].bind, proc_macro2::Span::call_site());
        let merged: syn::Stmt = syn::parse_quote! {
            let #var = match &#field {
                Some(#bind) => {
                    #(#lets)*
                    #tail
                }
                None => #none,
            };
        };
        block.stmts.splice(i..i + n, [merged]);
        i += 1;
    }
}

/// The model's plain `impl` blocks (`forward` and `forward_features` are
/// generated apart) as one.
pub fn merge_impls(file: &mut syn::File, model: &str) {
    let plain = |item: &syn::Item| {
        matches!(item, syn::Item::Impl(imp) if imp.trait_.is_none() && imp.attrs.is_empty()
            && imp.self_ty.to_token_stream().to_string() == model)
    };
    let Some(first) = file.items.iter().position(plain) else { return };
    let mut moved = Vec::new();
    let mut k = first + 1;
    while k < file.items.len() {
        if plain(&file.items[k]) {
            if let syn::Item::Impl(imp) = file.items.remove(k) {
                moved.extend(imp.items);
            }
        } else {
            k += 1;
        }
    }
    if let syn::Item::Impl(imp) = &mut file.items[first] {
        imp.items.extend(moved);
    }
}

/// `if c { Some(e) } else { None }` as `c.then(|| e)`: an optional layer
/// built in one line instead of five.
pub fn optional_then(file: &mut syn::File) {
    struct Then;
    impl VisitMut for Then {
        fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
            syn::visit_mut::visit_expr_mut(self, e);
            let syn::Expr::If(i) = e else { return };
            let Some((_, other)) = &i.else_branch else { return };
            let only = |b: &syn::Block| match b.stmts.as_slice() {
                [syn::Stmt::Expr(x, None)] => Some(x.clone()),
                _ => None,
            };
            let syn::Expr::Block(other) = &**other else { return };
            let (Some(none), Some(some)) = (only(&other.block), only(&i.then_branch)) else { return };
            let syn::Expr::Path(none) = none else { return };
            let syn::Expr::Call(some) = some else { return };
            if !none.path.is_ident("None") || some.args.len() != 1 {
                return;
            }
            let syn::Expr::Path(f) = &*some.func else { return };
            if !f.path.is_ident("Some") {
                return;
            }
            let (cond, value) = (&i.cond, &some.args[0]);
            *e = syn::parse_quote! { #cond.then(|| #value) };
        }
    }
    Then.visit_file_mut(file);
}

/// A value cloned where nothing reads it later is moved instead: for each
/// statement (each arm of a `match` on its own), a `w.clone()` that is the
/// statement's only mention of `w`, with no mention after it in the block or
/// in the blocks around it. Statements with closures are left alone (a
/// closure may run many times).
fn unclone_last_uses(block: &mut syn::Block, after_block: &[proc_macro2::TokenStream]) {
    let n = block.stmts.len();
    for i in 0..n {
        let mut after: Vec<proc_macro2::TokenStream> =
            block.stmts[i + 1..].iter().map(ToTokens::to_token_stream).collect();
        after.extend(after_block.iter().cloned());
        let expr = match &mut block.stmts[i] {
            syn::Stmt::Local(local) => match &mut local.init {
                Some(init) => &mut *init.expr,
                None => continue,
            },
            syn::Stmt::Expr(e, _) => e,
            _ => continue,
        };
        unclone_in(expr, &after);
    }
}

fn unclone_in(expr: &mut syn::Expr, after: &[proc_macro2::TokenStream]) {
    match expr {
        syn::Expr::Match(m) => {
            for arm in &mut m.arms {
                unclone_in(&mut arm.body, after);
            }
        }
        syn::Expr::Block(b) => unclone_last_uses(&mut b.block, after),
        e => {
            let text = e.to_token_stream();
            if text.clone().into_iter().any(|t| matches!(&t, proc_macro2::TokenTree::Punct(p) if p.as_char() == '|')) {
                return;
            }
            let mut cloned = Vec::new();
            Cloned(&mut cloned).visit_expr_mut(e);
            for var in cloned {
                let later = after.iter().map(|t| mentions(t, &var)).sum::<usize>();
                if mentions(e, &var) == 1 && later == 0 {
                    Unclone { var }.visit_expr_mut(e);
                }
            }
        }
    }
}

/// The variables `e` clones (`w.clone()`).
struct Cloned<'a>(&'a mut Vec<syn::Ident>);

impl VisitMut for Cloned<'_> {
    fn visit_expr_method_call_mut(&mut self, call: &mut syn::ExprMethodCall) {
        if call.method == "clone"
            && call.args.is_empty()
            && let syn::Expr::Path(p) = &*call.receiver
            && let Some(id) = p.path.get_ident()
            && !self.0.contains(id)
        {
            self.0.push(id.clone());
        }
        syn::visit_mut::visit_expr_method_call_mut(self, call);
    }
}

/// `var.clone()` becomes `var`.
struct Unclone {
    var: syn::Ident,
}

impl VisitMut for Unclone {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        if let syn::Expr::MethodCall(call) = e
            && call.method == "clone"
            && call.args.is_empty()
            && matches!(&*call.receiver, syn::Expr::Path(p) if p.path.is_ident(&self.var))
        {
            *e = (*call.receiver).clone();
            return;
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
}

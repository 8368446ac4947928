//! The generated `Config`: the network's number and flag arguments as fields
//! with their `.res` values as defaults (`Resnet50Config::new().with_classes(10)`).
//!
//! The code generator works on the elaborated model, where every argument is
//! already a number. So an argument becomes a field by experiment: the model
//! is built again with the argument changed, and the generated code compared.
//! An argument is offered when the code differs only in literals, inside
//! `init` functions, and each such literal is an affine function of the
//! argument (`classes`, `2 * width`, `1.0 - 0.5 * rate`) that predicts a
//! third and a fourth build exactly; those literals are then written as that
//! function of the config field. Arguments that change the structure (a
//! depth, a layer that appears only when a rate is positive) stay fixed.

use proc_macro2::{Delimiter, Group, Literal, TokenStream, TokenTree};
use quote::{format_ident, quote};

use crate::driver::{self, Options, Select};
use crate::ir::{ArgValue, Graph, ModelArg};
use crate::sema::Program;

/// A config field: the argument and how each literal it moves depends on it.
pub struct Field {
    pub arg: ModelArg,
    /// (literal index in the items, slope) for every literal the argument moves.
    slopes: Vec<(usize, f64)>,
}

/// The fields offered, and the items with their literals written in terms of them.
pub struct Config {
    pub fields: Vec<Field>,
    pub items: TokenStream,
}

/// What the model's items look like with each argument changed, by rebuilding
/// the model; `None` where the model cannot be rebuilt with that value.
pub fn infer(
    g: &Graph,
    prog: &Program,
    items: &TokenStream,
    emit_items: &dyn Fn(&Graph) -> Option<TokenStream>,
) -> Config {
    let unchanged = Config { fields: Vec::new(), items: items.clone() };
    let base = flatten(items);
    let input: Option<Vec<u64>> = {
        let shape = g.node(g.input).shape.concrete(1);
        (shape.len() > 1).then(|| shape[1..].to_vec())
    };
    let build = |args: Vec<(String, ArgValue)>| -> Option<Vec<Tok>> {
        let opts = Options { input: input.clone(), args, ..Default::default() };
        let graphs = driver::compile_with(prog, Select::Named(&g.name), &opts).ok()?;
        let g2 = graphs.into_iter().next()?;
        emit_items(&g2).map(|t| flatten(&t))
    };
    // The model as it is, rebuilt: when it differs from `items`, the graph
    // was not built from the program's model as declared (a cut, another size).
    if build(Vec::new()).as_ref() != Some(&base) {
        return unchanged;
    }
    let mut fields: Vec<Field> = Vec::new();
    for arg in &g.args {
        let Some(field) = experiment(arg, &base, &build) else { continue };
        // Together with the fields taken so far, the predictions must still hold.
        let mut trial: Vec<&Field> = fields.iter().collect();
        trial.push(&field);
        let point: Vec<(String, ArgValue)> =
            trial.iter().map(|f| (f.arg.name.clone(), samples(f.arg.value)[0])).collect();
        let Some(joint) = build(point.clone()) else { continue };
        if predicts(&base, &trial, &point, &joint) {
            fields.push(field);
        }
    }
    if fields.is_empty() {
        return unchanged;
    }
    let items = substitute(items, &base, &fields);
    Config { fields, items }
}

/// The argument's values to try: three others of its type.
fn samples(v: ArgValue) -> [ArgValue; 3] {
    match v {
        ArgValue::Int(d) => [ArgValue::Int(d + 1), ArgValue::Int(2 * d + 3), ArgValue::Int(3 * d + 8)],
        ArgValue::Float(d) => {
            [ArgValue::Float(d * 0.75 + 0.01), ArgValue::Float(d * 0.5 + 0.02), ArgValue::Float(d * 0.9 + 0.005)]
        }
        ArgValue::Bool(b) => [ArgValue::Bool(!b), ArgValue::Bool(!b), ArgValue::Bool(!b)],
    }
}

fn as_f64(v: ArgValue) -> f64 {
    match v {
        ArgValue::Int(i) => i as f64,
        ArgValue::Float(f) => f,
        ArgValue::Bool(b) => f64::from(u8::from(b)),
    }
}

/// The argument's field, when changing it moves only literals, each affinely.
fn experiment(
    arg: &ModelArg,
    base: &[Tok],
    build: &dyn Fn(Vec<(String, ArgValue)>) -> Option<Vec<Tok>>,
) -> Option<Field> {
    if matches!(arg.value, ArgValue::Int(i) if i < 0) {
        return None;
    }
    let d = as_f64(arg.value);
    let mut runs = Vec::new();
    for v in samples(arg.value) {
        let toks = build(vec![(arg.name.clone(), v)])?;
        runs.push((as_f64(v), literal_values(base, &toks)?));
    }
    let (v1, first) = &runs[0];
    if first.is_empty() {
        return None;
    }
    let mut slopes = Vec::new();
    for &(i, f1) in first {
        let f0 = base[i].value()?;
        let fits = match (base[i].kind, arg.value) {
            (Kind::Ident, ArgValue::Bool(_)) | (Kind::Number, ArgValue::Int(_)) => true,
            (Kind::Number, ArgValue::Float(_)) => !base[i].is_int(),
            _ => false,
        };
        if !base[i].in_init || !fits {
            return None;
        }
        let slope = (f1 - f0) / (v1 - d);
        let integral = base[i].is_int();
        if integral && (slope.fract() != 0.0 || (f0 - slope * d).fract() != 0.0 || slope < 0.0) {
            return None;
        }
        slopes.push((i, slope));
    }
    // Every later run moves the same literals, to where the line says.
    for (v, moved) in &runs[1..] {
        if moved.len() != slopes.len() {
            return None;
        }
        for (&(i, f), &(j, slope)) in moved.iter().zip(&slopes) {
            let f0 = base[i].value()?;
            if i != j || !close(f, f0 + slope * (v - d)) {
                return None;
            }
        }
    }
    Some(Field { arg: arg.clone(), slopes })
}

/// Whether the fields' lines predict the literals of a build at `point`.
fn predicts(base: &[Tok], fields: &[&Field], point: &[(String, ArgValue)], joint: &[Tok]) -> bool {
    let Some(moved) = literal_values(base, joint) else { return false };
    let mut predicted: std::collections::BTreeMap<usize, f64> = Default::default();
    for (f, (_, v)) in fields.iter().zip(point) {
        for &(i, slope) in &f.slopes {
            let start = predicted.get(&i).copied().unwrap_or_else(|| base[i].value().unwrap_or(f64::NAN));
            predicted.insert(i, start + slope * (as_f64(*v) - as_f64(f.arg.value)));
        }
    }
    predicted.len() == moved.len() && moved.iter().all(|&(i, f)| predicted.get(&i).is_some_and(|&p| close(f, p)))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

/// One token of the items, flattened, with whether it sits inside an `init`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tok {
    text: String,
    kind: Kind,
    in_init: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Open(char),
    Close,
    Ident,
    Punct,
    Number,
    /// A string literal (doc comments): allowed to differ, kept as generated.
    Text,
}

impl Tok {
    fn value(&self) -> Option<f64> {
        match self.kind {
            Kind::Number => self.text.replace('_', "").parse().ok(),
            Kind::Ident if self.text == "true" => Some(1.0),
            Kind::Ident if self.text == "false" => Some(0.0),
            _ => None,
        }
    }

    /// A number literal's value (not `true`/`false`).
    pub(crate) fn number(&self) -> Option<f64> {
        if self.kind == Kind::Number { self.value() } else { None }
    }

    pub(crate) fn is_int(&self) -> bool {
        self.kind != Kind::Number || !self.text.contains(['.', 'e', 'E'])
    }
}

pub(crate) fn flatten(ts: &TokenStream) -> Vec<Tok> {
    let mut out = Vec::new();
    walk(ts.clone(), false, &mut out);
    out
}

fn walk(ts: TokenStream, in_init: bool, out: &mut Vec<Tok>) {
    // `fn init ( .. ) -> Self { body }`: the body is the next brace group.
    let mut init_next = false;
    let mut after_fn = false;
    for tt in ts {
        match tt {
            TokenTree::Group(g) => {
                let open = match g.delimiter() {
                    Delimiter::Brace => '{',
                    Delimiter::Parenthesis => '(',
                    Delimiter::Bracket => '[',
                    Delimiter::None => ' ',
                };
                out.push(Tok { text: open.to_string(), kind: Kind::Open(open), in_init });
                let body_is_init = init_next && g.delimiter() == Delimiter::Brace;
                walk(g.stream(), in_init || body_is_init, out);
                if body_is_init {
                    init_next = false;
                }
                out.push(Tok { text: String::new(), kind: Kind::Close, in_init });
            }
            TokenTree::Ident(i) => {
                let text = i.to_string();
                if after_fn {
                    init_next = text == "init";
                }
                after_fn = text == "fn";
                out.push(Tok { text, kind: Kind::Ident, in_init });
            }
            TokenTree::Punct(p) => {
                after_fn = false;
                out.push(Tok { text: p.as_char().to_string(), kind: Kind::Punct, in_init });
            }
            TokenTree::Literal(l) => {
                after_fn = false;
                let text = l.to_string();
                let kind = if text.starts_with('"') || text.starts_with('r') { Kind::Text } else { Kind::Number };
                out.push(Tok { text, kind, in_init });
            }
        }
    }
}

/// The literals (numbers and `true`/`false`) that differ between two token
/// lists of the same structure, by index; `None` when anything else differs.
fn literal_values(base: &[Tok], other: &[Tok]) -> Option<Vec<(usize, f64)>> {
    if base.len() != other.len() {
        return None;
    }
    let mut moved = Vec::new();
    for (i, (a, b)) in base.iter().zip(other).enumerate() {
        if a == b || (a.kind == Kind::Text && b.kind == Kind::Text) {
            continue;
        }
        let literal = |t: &Tok| t.value().is_some();
        if !(literal(a) && literal(b) && a.is_int() == b.is_int()) {
            return None;
        }
        moved.push((i, b.value()?));
    }
    Some(moved)
}

/// The items with each moved literal written as its line in the fields.
fn substitute(items: &TokenStream, base: &[Tok], fields: &[Field]) -> TokenStream {
    let mut terms: std::collections::BTreeMap<usize, Vec<(&Field, f64)>> = Default::default();
    for f in fields {
        for &(i, slope) in &f.slopes {
            terms.entry(i).or_default().push((f, slope));
        }
    }
    let mut index = 0;
    rewrite(items.clone(), &mut index, &|i| terms.get(&i).map(|t| expression(&base[i], t)))
}

/// `ts` with the token at each flattened index (as `flatten` counts them) that
/// `at` gives code for replaced by that code.
pub(crate) fn rewrite(ts: TokenStream, index: &mut usize, at: &dyn Fn(usize) -> Option<TokenStream>) -> TokenStream {
    let mut out = TokenStream::new();
    for tt in ts {
        let i = *index;
        *index += 1;
        match tt {
            TokenTree::Group(g) => {
                let inner = rewrite(g.stream(), index, at);
                *index += 1; // the close
                let mut ng = Group::new(g.delimiter(), inner);
                ng.set_span(g.span());
                out.extend([TokenTree::Group(ng)]);
            }
            other => match at(i) {
                Some(expr) => out.extend(expr),
                None => out.extend([other]),
            },
        }
    }
    out
}

/// `config.classes`, `(2 * config.width + 3)`, `(1.0 - 0.5 * config.rate)`,
/// `!config.flag`: the literal at `base` written in terms of the fields.
fn expression(base: &Tok, terms: &[(&Field, f64)]) -> TokenStream {
    let f0 = base.value().unwrap_or(0.0);
    if let [(f, _)] = terms
        && let ArgValue::Bool(d) = f.arg.value
    {
        let name = format_ident!("{}", f.arg.name);
        return if (f0 != 0.0) == d {
            quote! { config.#name }
        } else {
            quote! { !config.#name }
        };
    }
    let intercept = f0 - terms.iter().map(|(f, s)| s * as_f64(f.arg.value)).sum::<f64>();
    let number = |x: f64| -> TokenStream {
        let lit = if base.is_int() { Literal::u64_unsuffixed(x.round() as u64) } else { Literal::f64_unsuffixed(x) };
        TokenStream::from(TokenTree::Literal(lit))
    };
    // Signed terms: the fields', and the intercept first when it is positive
    // (`1.0 - 0.5 * config.rate`), else last (`config.n - 1`).
    let mut signed: Vec<(bool, TokenStream)> = Vec::new();
    for (f, slope) in terms {
        let name = format_ident!("{}", f.arg.name);
        let mut field = quote! { config.#name };
        // An int argument read where a float is wanted (a rate from a count).
        if !base.is_int() && matches!(f.arg.value, ArgValue::Int(_)) {
            field = quote! { (config.#name as f64) };
        }
        let term = if close(slope.abs(), 1.0) {
            field
        } else {
            let s = number(slope.abs());
            quote! { #s * #field }
        };
        signed.push((*slope < 0.0, term));
    }
    if intercept.abs() > 1e-15 * f0.abs().max(1.0) {
        let term = (intercept < 0.0, number(intercept.abs()));
        if intercept > 0.0 { signed.insert(0, term) } else { signed.push(term) }
    }
    if let [(false, only)] = signed.as_slice()
        && terms.len() == 1
        && close(terms[0].1, 1.0)
    {
        return only.clone();
    }
    let mut expr = quote! {};
    for (k, (negative, term)) in signed.into_iter().enumerate() {
        expr = match (k, negative) {
            (0, false) => term,
            (0, true) => quote! { -#term },
            (_, false) => quote! { #expr + #term },
            (_, true) => quote! { #expr - #term },
        };
    }
    TokenStream::from(TokenTree::Group(Group::new(Delimiter::Parenthesis, expr)))
}

/// Hands the config to every `init` that reads it, and to the `init`s that
/// call those: `Basic::init(device, config, ..)`, and from the config's own
/// `init`, `Resnet18::init(device, self)`.
pub fn thread(file: &mut syn::File, config_ty: &str) {
    use quote::ToTokens;
    use syn::visit_mut::VisitMut;
    let self_name = |imp: &syn::ItemImpl| imp.self_ty.to_token_stream().to_string();
    let init_of = |imp: &syn::ItemImpl| -> Option<TokenStream> {
        imp.items.iter().find_map(|i| match i {
            syn::ImplItem::Fn(f) if f.sig.ident == "init" => Some(f.block.to_token_stream()),
            _ => None,
        })
    };
    let impls: Vec<(String, TokenStream)> = file
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Impl(imp) if self_name(imp) != config_ty => init_of(imp).map(|b| (self_name(imp), b)),
            _ => None,
        })
        .collect();
    let reads_config = |body: &TokenStream| flatten(body).iter().any(|t| t.kind == Kind::Ident && t.text == "config");
    let calls = |body: &TokenStream, callee: &str| {
        let toks = flatten(body);
        toks.windows(4).any(|w| w[0].text == callee && w[1].text == ":" && w[2].text == ":" && w[3].text == "init")
    };
    let mut needs: Vec<String> = impls.iter().filter(|(_, b)| reads_config(b)).map(|(n, _)| n.clone()).collect();
    loop {
        let more: Vec<String> = impls
            .iter()
            .filter(|(n, b)| !needs.contains(n) && needs.iter().any(|callee| calls(b, callee)))
            .map(|(n, _)| n.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        needs.extend(more);
    }

    struct Calls<'a> {
        needs: &'a [String],
        arg: syn::Expr,
    }
    impl VisitMut for Calls<'_> {
        // `vec![A::init(..), ..]`: syn leaves macro bodies as tokens.
        fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
            use syn::parse::Parser;
            if !mac.path.is_ident("vec") {
                return;
            }
            let parser = syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
            let Ok(mut elems) = parser.parse2(mac.tokens.clone()) else { return };
            for e in elems.iter_mut() {
                self.visit_expr_mut(e);
                unparen(e);
            }
            mac.tokens = elems.to_token_stream();
        }

        fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
            syn::visit_mut::visit_expr_mut(self, e);
            // The lines written for literals come in parentheses, which are
            // needless (and a warning) as arguments and elements.
            match e {
                syn::Expr::Call(c) => c.args.iter_mut().for_each(unparen),
                syn::Expr::MethodCall(c) => c.args.iter_mut().for_each(unparen),
                syn::Expr::Array(a) => a.elems.iter_mut().for_each(unparen),
                syn::Expr::Struct(s) => s.fields.iter_mut().for_each(|f| unparen(&mut f.expr)),
                _ => {}
            }
        }

        fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
            syn::visit_mut::visit_expr_call_mut(self, call);
            if let syn::Expr::Path(p) = &*call.func {
                let segs: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
                if let [ty, f] = segs.as_slice()
                    && f == "init"
                    && self.needs.contains(ty)
                    && !call.args.is_empty()
                {
                    let rest: Vec<syn::Expr> = call.args.iter().skip(1).cloned().collect();
                    let device = call.args[0].clone();
                    call.args.clear();
                    call.args.push(device);
                    call.args.push(self.arg.clone());
                    call.args.extend(rest);
                }
            }
        }
    }
    fn unparen(e: &mut syn::Expr) {
        if let syn::Expr::Paren(p) = e {
            *e = (*p.expr).clone();
        }
    }
    let ty: syn::Type = syn::parse_str(config_ty).expect("a type name");
    for item in &mut file.items {
        let syn::Item::Impl(imp) = item else { continue };
        let name = self_name(imp);
        let arg: syn::Expr = if name == config_ty { syn::parse_quote!(self) } else { syn::parse_quote!(config) };
        for i in &mut imp.items {
            let syn::ImplItem::Fn(f) = i else { continue };
            if f.sig.ident != "init" {
                continue;
            }
            if needs.contains(&name) {
                let param: syn::FnArg = syn::parse_quote!(config: &#ty);
                let mut inputs: Vec<syn::FnArg> = f.sig.inputs.iter().cloned().collect();
                inputs.insert(1.min(inputs.len()), param);
                f.sig.inputs = inputs.into_iter().collect();
            }
            Calls { needs: &needs, arg: arg.clone() }.visit_block_mut(&mut f.block);
        }
    }
}

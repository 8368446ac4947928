//! Text to syntax tree: split into items, parse each with pest, build the AST.

pub mod ast;
mod build;
mod split;

use miette::Diagnostic;
use pest::Parser;
use pest::error::InputLocation;
use thiserror::Error;

use crate::diag::Diag;
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "grammar/res.pest"]
pub(crate) struct ResParser;

#[derive(Debug, Error, Diagnostic)]
pub enum SyntaxError {
    #[error("expected {expected}, found {found}")]
    #[diagnostic(code(resc::syntax::unexpected))]
    Unexpected { expected: String, found: String },

    #[error("unclosed `{open}`")]
    #[diagnostic(code(resc::syntax::unclosed), help("add the matching `{close}`"))]
    Unclosed { open: char, close: char },

    #[error("unexpected `{closer}`")]
    #[diagnostic(code(resc::syntax::unexpected_closer), help("remove it, or add the opening delimiter it closes"))]
    UnexpectedCloser { closer: char },

    #[error("unclosed comment")]
    #[diagnostic(code(resc::syntax::unclosed_comment), help("end the comment with `*/`"))]
    UnclosedComment,

    #[error("unclosed string")]
    #[diagnostic(code(resc::syntax::unclosed_string), help("end the string with `\"` on the same line"))]
    UnclosedString,

    #[error("integer literal `{text}` is too large")]
    #[diagnostic(code(resc::syntax::int_too_large), help("integers are 64-bit: at most 9223372036854775807"))]
    IntTooLarge { text: String },

    #[error("bad float literal `{text}`")]
    #[diagnostic(code(resc::syntax::bad_float))]
    BadFloat { text: String },

    #[error("brackets nested too deeply: more than {limit} levels")]
    #[diagnostic(
        code(resc::syntax::nested_too_deeply),
        help("no network needs this; split the expression or the block with `let` or another block")
    )]
    NestedTooDeeply { limit: usize },

    #[error("expression too long: {count} operators, the limit is {limit}")]
    #[diagnostic(code(resc::syntax::expression_too_long), help("compute parts of it with `let`"))]
    ExpressionTooLong { count: usize, limit: usize },

    #[error("expression nested too deeply: more than {limit} levels of operators, conditions and indexing")]
    #[diagnostic(code(resc::syntax::expression_too_deep), help("compute parts of it with `let`"))]
    ExpressionTooDeep { limit: usize },

    #[error("too many conditional expressions in one item: {count}, the limit is {limit}")]
    #[diagnostic(code(resc::syntax::too_many_conditions), help("split the item, or compute conditions with `let`"))]
    TooManyConditions { count: usize, limit: usize },
}

/// Bounds that keep every recursion over text and syntax tree shallow, so
/// that any input is handled on a default thread stack. Real networks stay far
/// below them (the standard library nests brackets 6 deep, and its longest
/// expression has 4 operators).
pub mod limits {
    /// Brackets of all kinds, `(`, `[` and `{`, open at once.
    pub const MAX_NESTING: usize = 64;
    /// Operators in one expression between brackets.
    pub const MAX_EXPR_OPS: usize = 1000;
    /// Operators, `? :` and indexing along any path of an expression tree.
    pub const MAX_EXPR_DEPTH: usize = 1000;
    /// `?` in one top-level item (the grammar nests one level per `?`).
    pub const MAX_CONDITIONS: usize = 256;
}

/// Parse one file. Returns the items that parsed and the errors of those that
/// did not; the caller goes on with the good items so later phases still report.
pub fn parse_file(file: FileId, text: &str) -> (ast::File, Vec<Diag>) {
    let mut diags = Vec::new();
    let mut out = ast::File { id: file, items: Vec::new(), broken: Vec::new() };
    for chunk in split::split(file, text, &mut diags) {
        let src = &text[chunk.start..chunk.end];
        if chunk.broken {
            out.broken.extend(declared_name(src));
            continue;
        }
        match ResParser::parse(Rule::top_item, src) {
            Ok(mut pairs) => {
                let top = pairs.next().expect("top_item");
                let before = diags.len();
                let mut b = build::Builder { file, offset: chunk.start, diags: &mut diags, depth: 0 };
                let item = b.top_item(top);
                // An item with a refused expression is reported once, not again
                // through the placeholder that stands for it.
                let refused = diags[before..].iter().any(|d| {
                    d.code().is_some_and(|c| c.ends_with("expression_too_long") || c.ends_with("expression_too_deep"))
                });
                if refused {
                    out.broken.extend(declared_name(src));
                } else if let Some(item) = item {
                    out.items.push(item);
                }
            }
            Err(e) => {
                // Parse again with pest's attempt tracking, which names the
                // expected tokens but slows every parse. The switch is global
                // and only ever turned on, so concurrent parses stay correct.
                pest::set_error_detail(true);
                let e = ResParser::parse(Rule::top_item, src).err().unwrap_or(e);
                diags.push(pest_error(file, chunk.start, src, e));
                out.broken.extend(declared_name(src));
            }
        }
    }
    (out, diags)
}

/// `block basic(` / `network net(` / `model m =` / `let x =`: the name an item declares.
fn declared_name(src: &str) -> Option<String> {
    let mut words = src.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
    match words.next()? {
        "block" | "network" | "model" | "let" => words.next().map(String::from),
        _ => None,
    }
}

fn pest_error(file: FileId, offset: usize, src: &str, e: pest::error::Error<Rule>) -> Diag {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !expected.contains(&s) {
            expected.push(s);
        }
    };
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            if let Some(d) = describe_rule(*r) {
                push(d.to_string());
            }
        }
    }
    if let Some(attempts) = e.parse_attempts() {
        for t in attempts.expected_tokens() {
            let token = t.to_string();
            if OPERATORS.contains(&token.as_str()) {
                push("an operator".into());
            } else if KEYWORDS.contains(&token.as_str())
                || (!token.is_empty()
                    && token != "_"
                    && token.chars().all(|c| c.is_ascii_punctuation())
                    && !token.contains(".."))
                    && !matches!(token.as_str(), "//" | "/*" | "\"")
            {
                push(format!("`{token}`"));
            }
        }
    }
    if expected.is_empty() {
        expected.push("something else".into());
    }
    // A model without its input: the one item whose end can be missing
    // when all before it parses.
    let wants_input = expected.iter().any(|e| e == "`on`") && src.trim_start().starts_with("model");
    let expected = join_or(&expected);
    let (found, len) = describe_found(&src[pos..]);
    if len == 0 {
        // Nothing left to point at: point at what came last instead.
        let last = src[..pos].trim_end();
        let end = last.len();
        let start = last.char_indices().next_back().map_or(0, |(i, _)| i);
        let span = Span::new(file, offset + start, offset + end);
        let d = Diag::new(SyntaxError::Unexpected { expected, found }).at(span, "the item ends here, unfinished");
        return if wants_input {
            d.with_help("a model ends with the input it runs on, e.g. `on [N, 3, 224, 224]`")
        } else {
            d
        };
    }
    let span = Span::new(file, offset + pos, offset + pos + len);
    let d = Diag::new(SyntaxError::Unexpected { expected: expected.clone(), found }).at(span, "unexpected here");
    let wants_name = ["a name", "a parameter", "a label"].iter().any(|w| expected.contains(w));
    match RESERVED.iter().find(|k| **k == &src[pos..pos + len]) {
        Some(k) if wants_name => d.with_help(format!(
            "`{k}` is a keyword: it can label a layer (`{k}: conv(..)`, giving `{k}.weight`), but it cannot name a \
             parameter, a `let`, a block or a model"
        )),
        _ => d,
    }
}

/// The grammar's keywords (`keyword` in grammar/res.pest), for the help that
/// says where one may still be written.
const RESERVED: &[&str] = &[
    "network", "model", "use", "let", "for", "if", "else", "residual", "shortcut", "then", "on", "with", "true",
    "false", "and", "or", "not",
];

/// Tokens summarised as "an operator" rather than listed one by one.
const OPERATORS: &[&str] = &["!=", "%", "*", "+", "-", "/", "<", "<=", "==", ">", ">=", "?"];
/// Keywords worth naming in "expected ..." (the others are operators or item starts).
const KEYWORDS: &[&str] = &["on", "with", "then", "shortcut", "else", "if"];

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn describe_found(rest: &str) -> (String, usize) {
    let Some(c) = rest.chars().next() else {
        return ("the end of the item".into(), 0);
    };
    if c.is_alphanumeric() || c == '_' {
        let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        return (format!("`{word}`"), word.len());
    }
    (format!("`{c}`"), c.len_utf8())
}

fn describe_rule(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        EOI => "the end of the item",
        use_decl | block_decl | model_decl | block_kw => "`use`, `block`, `network`, `model` or `let`",
        let_stmt => "`let`",
        ident | call | call_expr => "a name",
        label | label_head => "a label",
        type_expr | list_type => "a type",
        params | param => "a parameter",
        layer_stmt | list_layer | chain | term | residual | combinator | seq_list | for_layer => "a layer",
        shortcut => "`shortcut`",
        expr | binary | postfix_expr | paren | list_lit | in_shape | float | int | boolean | string | neg | not => {
            "an expression"
        }
        range | or | and | eq | ne | le | ge | lt | gt | add | sub | mul | div | rem | question | repeat => {
            "an operator"
        }
        index => "`[`",
        field => "`.`",
        args | arg => "arguments",
        body => "`{`",
        with_clause => "`with`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ast::{ExprKind, Item};

    fn first_let(src: &str) -> ast::Expr {
        let (file, diags) = parse_file(FileId(0), src);
        assert!(diags.is_empty(), "{diags:?}");
        match file.items.into_iter().next() {
            Some(Item::Let(l)) => l.value,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence() {
        // 1 + (2 * 3) == 7 and true
        let e = first_let("let x = 1 + 2 * 3 == 7 and true");
        let ExprKind::Binary(ast::BinOp::And, lhs, _) = e.kind else { panic!("{e:?}") };
        assert!(matches!(lhs.kind, ExprKind::Binary(ast::BinOp::Eq, ..)));
    }

    #[test]
    fn one_error_per_broken_item() {
        let src = "block a() { x: conv(1,, 2) }\nblock b() { relu }\nblock c() { y: [1, 2 }\n";
        let (file, diags) = parse_file(FileId(0), src);
        assert_eq!(file.items.len(), 1, "the good item survives");
        assert_eq!(diags.len(), 2, "{diags:?}");
    }

    #[test]
    fn keywords_need_a_word_boundary() {
        // `order` starts with `or`, `android` contains `and`: names, not operators.
        let e = first_let("let x = order + android");
        assert!(matches!(e.kind, ExprKind::Binary(ast::BinOp::Add, ..)), "{e:?}");
    }
}

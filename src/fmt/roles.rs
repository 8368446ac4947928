//! What each token is doing, as far as spacing and line breaking need to know:
//! which bracket closes which, which braces belong to a label (`layer{i + 1}`),
//! which `-` is a sign and which `:` belongs to `c ? a : b`. All of it depends on
//! the tokens alone, not on the layout, so it is worked out once, in loops (no
//! recursion, whatever the nesting).

use super::lex::{Kind, Token};

/// Words after which an expression starts: a `-` there is a sign, and a
/// `(` there is a parenthesis, not a call.
const EXPR_KEYWORDS: [&str; 17] = [
    "if", "on", "with", "then", "and", "or", "not", "assert", "else", "for", "let", "model", "use", "network",
    "residual", "shortcut", "from",
];

/// The grammar's reserved words, plus `assert` and `from`: never a called name.
pub const KEYWORDS: [&str; 20] = [
    "network", "model", "use", "let", "for", "in", "if", "else", "residual", "shortcut", "then", "on", "with", "true",
    "false", "and", "or", "not", "assert", "from",
];

pub struct Roles {
    /// The matching bracket of each bracket.
    pub partner: Vec<Option<usize>>,
    /// The `{` and `}` of a label's computed part.
    pub interp: Vec<bool>,
    /// Printed with nothing before it: a label's `{`, `}` and the name part after `}`.
    pub glued: Vec<bool>,
    pub ternary_colon: Vec<bool>,
    /// A `-` that is a sign.
    pub unary: Vec<bool>,
    /// The innermost bracket around the token: `b'{'`, `b'('`, `b'['`, or 0 at top level.
    pub enclosing: Vec<u8>,
    /// For an opening bracket: whether a comma separates items directly inside it,
    /// which makes it an argument, parameter or list group (a trailing comma is legal).
    pub has_comma: Vec<bool>,
}

impl Roles {
    pub fn new(toks: &[Token<'_>]) -> Roles {
        let n = toks.len();
        let mut r = Roles {
            partner: vec![None; n],
            interp: vec![false; n],
            glued: vec![false; n],
            ternary_colon: vec![false; n],
            unary: vec![false; n],
            enclosing: vec![0; n],
            has_comma: vec![false; n],
        };
        r.brackets(toks);
        r.labels(toks);
        r.operators(toks);
        r
    }

    fn brackets(&mut self, toks: &[Token<'_>]) {
        let mut stack: Vec<usize> = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            if t.kind == Kind::Close {
                // Text that parses has matched brackets; anything else is left unpaired.
                if let Some(&open) = stack.last()
                    && closer(toks[open].text) == t.text
                {
                    stack.pop();
                    self.partner[open] = Some(i);
                    self.partner[i] = Some(open);
                }
            }
            self.enclosing[i] = stack.last().map_or(0, |&o| toks[o].text.as_bytes()[0]);
            if t.kind == Kind::Open {
                stack.push(i);
            }
            if t.is(",")
                && let Some(&open) = stack.last()
            {
                self.has_comma[open] = true;
            }
        }
    }

    /// `name{expr}tail{expr}..` written without spaces, and followed by `:`
    /// (or after `from`), is a label: its braces stay glued to their neighbours.
    fn labels(&mut self, toks: &[Token<'_>]) {
        let glued_to_prev = |j: usize| j < toks.len() && !toks[j].spaced;
        for i in 0..toks.len() {
            if toks[i].kind != Kind::Word || KEYWORDS.contains(&toks[i].text) || self.glued[i] {
                continue;
            }
            let mut braces = Vec::new();
            let mut last = i;
            while glued_to_prev(last + 1) && toks[last + 1].is("{") {
                let Some(close) = self.partner[last + 1] else { break };
                braces.push((last + 1, close));
                last = close;
                while glued_to_prev(last + 1) && matches!(toks[last + 1].kind, Kind::Word | Kind::Number) {
                    last += 1;
                }
            }
            if braces.is_empty() {
                continue;
            }
            let before = prev_code(toks, i);
            let after = next_code(toks, last);
            let is_label = after.is_some_and(|a| toks[a].is(":")) || before.is_some_and(|b| toks[b].is("from"));
            if !is_label {
                continue;
            }
            for (open, close) in braces {
                self.interp[open] = true;
                self.interp[close] = true;
            }
            for j in i + 1..=last {
                let t = &toks[j];
                // Inside the braces the expression is spaced as any other.
                let boundary =
                    self.interp[j] || (t.kind != Kind::Open && j > 0 && self.interp[j - 1] && toks[j - 1].is("}"));
                if boundary {
                    self.glued[j] = true;
                }
            }
        }
    }

    fn operators(&mut self, toks: &[Token<'_>]) {
        let mut depth: usize = 0;
        let mut questions: Vec<usize> = Vec::new();
        let mut prev: Option<usize> = None;
        let mut for_state = 0u8; // 1: after `for`, 2: after its name, 3: after `,`, 4: after the second name
        for (i, t) in toks.iter().enumerate() {
            if t.is_comment() {
                continue;
            }
            match t.kind {
                Kind::Open => depth += 1,
                Kind::Close => {
                    depth = depth.saturating_sub(1);
                    while questions.last().is_some_and(|&d| d > depth) {
                        questions.pop();
                    }
                }
                _ => {}
            }
            if t.is("?") {
                questions.push(depth);
            } else if t.is(":") && questions.last() == Some(&depth) {
                questions.pop();
                self.ternary_colon[i] = true;
            } else if t.is("-") {
                self.unary[i] = !prev.is_some_and(|p| self.ends_operand(toks, p, for_state));
            }
            let is_for_in = t.is("in") && matches!(for_state, 2 | 4);
            for_state = match (for_state, t.kind, t.text) {
                (_, Kind::Word, "for") => 1,
                (1, Kind::Word, _) => 2,
                (2, Kind::Punct, ",") => 3,
                (3, Kind::Word, _) => 4,
                _ if is_for_in => 5,
                _ => 0,
            };
            prev = Some(i);
        }
    }

    /// Whether an operator after token `p` is binary (it follows a value).
    fn ends_operand(&self, toks: &[Token<'_>], p: usize, for_state: u8) -> bool {
        let t = &toks[p];
        match t.kind {
            Kind::Number | Kind::Str | Kind::Close => true,
            // `for i in -3..3`: that `in` starts an expression; `in - 1` reads the input.
            Kind::Word if t.text == "in" => for_state != 5,
            Kind::Word => !EXPR_KEYWORDS.contains(&t.text),
            _ => false,
        }
    }
}

pub fn closer(open: &str) -> &'static str {
    match open {
        "(" => ")",
        "[" => "]",
        _ => "}",
    }
}

pub fn prev_code(toks: &[Token<'_>], i: usize) -> Option<usize> {
    (0..i).rev().find(|&j| !toks[j].is_comment())
}

pub fn next_code(toks: &[Token<'_>], i: usize) -> Option<usize> {
    (i + 1..toks.len()).find(|&j| !toks[j].is_comment())
}

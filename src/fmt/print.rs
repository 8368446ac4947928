//! Tokens to lines. The author's line structure is kept (the grammar treats a
//! line break as a space, so it is the author's to choose), except that blank
//! lines are collapsed and a line over [`MAX_WIDTH`] columns is broken: an
//! inline `{ .. }` body first, then before `then` / `on` / `with`, then its
//! widest argument or list group, one item per line. Every line is indented by
//! the brackets open before it, one more step for the continuation of a
//! statement.

use super::lex::{Kind, Token};
use super::roles::{KEYWORDS, Roles};

pub const MAX_WIDTH: usize = 100;
pub const INDENT: usize = 4;

/// Words that start a top-level item; any other line at the top level continues one.
const ITEM_KEYWORDS: [&str; 5] = ["use", "block", "network", "model", "let"];
/// Words a statement continues with on its next line, and where a long one is broken.
const SOFT_BREAKS: [&str; 3] = ["then", "on", "with"];
/// Words that cannot end a statement: the line after one continues it.
/// (`in` is not among them: `from in` ends one.)
const UNFINISHED: [&str; 17] = [
    "then", "on", "with", "if", "for", "let", "assert", "and", "or", "not", "shortcut", "residual", "else", "use",
    "model", "network", "from",
];

/// One output line before the alignment pass.
pub struct Line {
    pub indent: usize,
    /// The code, without indentation or the trailing line comment.
    pub code: String,
    /// Columns of the code (with indentation); 0 for a line holding a multi-line block comment.
    pub width: usize,
    pub comment: Option<String>,
    pub blank_before: bool,
    /// A whole `model` item on one line: the byte offset of its `=` in `code`.
    pub model_eq: Option<usize>,
}

struct Group {
    tok: usize,
    /// The indentation of the line that opened it.
    base: usize,
}

struct Rendered {
    code: String,
    /// Column of each token of the line, relative to the start of the code.
    cols: Vec<usize>,
    width: usize,
    comment: Option<String>,
    multiline: bool,
}

pub struct Printer<'a> {
    toks: Vec<Token<'a>>,
    roles: Roles,
    comma_after: Vec<bool>,
    /// A `;` made redundant by the line break after it.
    dropped: Vec<bool>,
}

/// Words a statement can be continued with: a `;` before one is kept.
const CONTINUING: [&str; 11] = ["then", "on", "with", "and", "or", "not", "else", "shortcut", "in", "true", "false"];

impl<'a> Printer<'a> {
    pub fn new(toks: Vec<Token<'a>>) -> Self {
        let roles = Roles::new(&toks);
        let comma_after = vec![false; toks.len()];
        let dropped = vec![false; toks.len()];
        Printer { toks, roles, comma_after, dropped }
    }

    pub fn lines(mut self) -> Vec<Line> {
        let n = self.toks.len();
        let mut lines: Vec<Line> = Vec::new();
        let mut stack: Vec<Group> = Vec::new();
        let mut last_code: Option<usize> = None;
        let mut after_open = false;
        let mut after_item = false;
        let mut i = 0;
        while i < n {
            let (end, indent, r) = loop {
                let end = self.line_end(i);
                let (indent, cont) = self.indent(i, &stack, last_code);
                let r = self.render(i, end);
                if r.multiline || indent + r.width <= MAX_WIDTH || !self.shorten(i, end, indent, cont, &r) {
                    break (end, indent, r);
                }
            };
            let first = &self.toks[i];
            let starts_closed = first.kind == Kind::Close;
            let blank_before =
                !lines.is_empty() && !after_open && !starts_closed && (first.newlines >= 2 || after_item);
            let top_level_start = stack.is_empty();
            for t in i..end {
                match self.toks[t].kind {
                    Kind::Open => stack.push(Group { tok: t, base: indent }),
                    Kind::Close => {
                        stack.pop();
                    }
                    _ => {}
                }
            }
            let line_last_code = (i..end).rev().find(|&t| !self.toks[t].is_comment());
            if let Some(t) = line_last_code {
                last_code = Some(t);
            }
            after_open = line_last_code.is_some_and(|t| self.toks[t].kind == Kind::Open);
            // A block or network ends here: a blank line before what follows.
            after_item = stack.is_empty() && starts_closed && line_last_code.is_some_and(|t| self.toks[t].is("}"));
            let model_eq = (top_level_start && stack.is_empty() && self.toks[i].is("model"))
                .then(|| self.model_eq(i, end, &r))
                .flatten();
            let width = if r.multiline { 0 } else { indent + r.width };
            lines.push(Line { indent, code: r.code, width, comment: r.comment, blank_before, model_eq });
            i = end;
        }
        lines
    }

    fn line_end(&self, i: usize) -> usize {
        (i + 1..self.toks.len()).find(|&t| self.toks[t].newlines > 0).unwrap_or(self.toks.len())
    }

    /// The indentation of the line starting at token `i`, and whether it
    /// continues a statement begun on an earlier line.
    fn indent(&self, i: usize, stack: &[Group], last_code: Option<usize>) -> (usize, bool) {
        let first = &self.toks[i];
        if first.kind == Kind::Close {
            return (stack.last().map_or(0, |g| g.base), false);
        }
        let Some(top) = stack.last() else {
            let cont = !(first.is_comment()
                || first.is("{")
                || (first.kind == Kind::Word && ITEM_KEYWORDS.contains(&first.text)));
            return if cont { (INDENT, true) } else { (0, false) };
        };
        let base = top.base + INDENT;
        let in_body = self.toks[top.tok].is("{") && !self.roles.interp[top.tok];
        if in_body && self.continues(i, last_code) { (base + INDENT, true) } else { (base, false) }
    }

    /// Inside a body: whether the line at `i` continues the statement above.
    fn continues(&self, i: usize, last_code: Option<usize>) -> bool {
        let t = &self.toks[i];
        if t.is_comment() || t.is("{") || t.is("[") {
            return false;
        }
        // `then: relu`, `shortcut: [conv, bn]`: a keyword labelling a layer
        // starts a statement (unless it is the `: else` part of `c ? a : b`).
        let is = |k: usize, s: &str| self.toks.get(k).is_some_and(|t| t.is(s));
        if t.kind == Kind::Word && is(i + 1, ":") && !is(i + 2, ":") && !last_code.is_some_and(|p| is(p, "?")) {
            return false;
        }
        if (t.kind == Kind::Word && SOFT_BREAKS.contains(&t.text)) || t.is("(") || (t.kind == Kind::Punct && !t.is(";"))
        {
            return true;
        }
        last_code.is_some_and(|p| {
            let a = &self.toks[p];
            (a.kind == Kind::Punct && !a.is(";")) || (a.kind == Kind::Word && UNFINISHED.contains(&a.text))
        })
    }

    fn render(&self, i: usize, end: usize) -> Rendered {
        let mut r = Rendered {
            code: String::new(),
            cols: Vec::with_capacity(end - i),
            width: 0,
            comment: None,
            multiline: false,
        };
        for t in i..end {
            let tok = &self.toks[t];
            if tok.kind == Kind::LineComment && t > i {
                r.cols.push(r.width);
                r.comment = Some(tok.text.to_string());
                break;
            }
            if self.dropped[t] {
                r.cols.push(r.width);
                continue;
            }
            if t > i {
                let gap = self.gap(t - 1, t);
                r.code += gap;
                r.width += gap.len();
            }
            r.cols.push(r.width);
            if tok.kind == Kind::BlockComment && tok.text.contains('\n') {
                r.multiline = true;
                let mut parts = tok.text.split('\n').map(str::trim_end);
                r.code += parts.next().unwrap_or_default();
                for part in parts {
                    r.code.push('\n');
                    r.code += part;
                }
                r.width = r.code.rsplit('\n').next().map_or(0, |l| l.chars().count());
            } else {
                r.code += tok.text;
                r.width += tok.text.chars().count();
            }
            if self.comma_after[t] {
                r.code.push(',');
                r.width += 1;
            }
        }
        r
    }

    /// The space between two neighbouring tokens of a line.
    fn gap(&self, p: usize, c: usize) -> &'static str {
        let (a, b) = (&self.toks[p], &self.toks[c]);
        let roles = &self.roles;
        if roles.glued[c] || (roles.interp[p] && a.is("{")) {
            return "";
        }
        if a.kind == Kind::Open {
            return if a.is("{") && !b.is("}") { " " } else { "" };
        }
        if b.kind == Kind::Close {
            return if b.is("}") { " " } else { "" };
        }
        if b.is(",") || b.is(";") {
            return "";
        }
        if a.is(",") {
            return " ";
        }
        if a.is(";") {
            // `[int; 4]` is a type; elsewhere `;` joins statements on one line.
            return if roles.enclosing[p] == b'[' { " " } else { "  " };
        }
        if a.is(".") || b.is(".") || a.is("..") || b.is("..") {
            return "";
        }
        let is_name = |t: &Token<'_>| t.kind == Kind::Word && !KEYWORDS.contains(&t.text);
        if b.is("(") {
            return if is_name(a) { "" } else { " " };
        }
        if b.is("[") && (is_name(a) || matches!(a.kind, Kind::Number | Kind::Str) || a.is(")") || a.is("]")) {
            // An index inside brackets; at statement level `relu [conv, bn]` may be
            // two statements, so the author's space stays.
            let in_expr = matches!(roles.enclosing[c], b'(' | b'[');
            return if b.spaced && !in_expr { " " } else { "" };
        }
        if b.is(":") {
            return if roles.ternary_colon[c] { " " } else { "" };
        }
        if a.is("-") && roles.unary[p] {
            return "";
        }
        " "
    }

    /// Breaks the over-long line `i..end` once; false when nothing can be broken.
    fn shorten(&mut self, i: usize, end: usize, indent: usize, cont: bool, r: &Rendered) -> bool {
        let mut body: Option<(usize, usize)> = None;
        let mut list: Option<(usize, usize)> = None;
        for t in i..end {
            if self.toks[t].kind != Kind::Open || self.roles.interp[t] || r.cols.len() <= t - i {
                continue;
            }
            let Some(p) = self.roles.partner[t] else { continue };
            let next = &self.toks[t + 1];
            if p == t + 1 || next.newlines > 0 || next.kind == Kind::LineComment {
                continue;
            }
            let close_col = if p < end && p - i < r.cols.len() { r.cols[p - i] } else { r.width };
            let extent = close_col - r.cols[t - i];
            let slot = if self.toks[t].is("{") {
                &mut body
            } else if self.roles.has_comma[t] {
                &mut list
            } else {
                continue;
            };
            if slot.is_none_or(|(e, _)| extent > e) {
                *slot = Some((extent, t));
            }
        }
        if let Some((_, t)) = body {
            self.explode_body(t);
            return true;
        }
        if self.split_statements(i, end, indent, cont, r) {
            return true;
        }
        if self.soft_break(i, end, indent, cont, r) {
            return true;
        }
        if let Some((_, t)) = list {
            self.explode_list(t);
            return true;
        }
        false
    }

    /// `a;  b;  c` too long for a line: as many statements per line as fit.
    fn split_statements(&mut self, i: usize, end: usize, indent: usize, cont: bool, r: &Rendered) -> bool {
        let semis = self.top_level_tokens(i, end, r, |t| t.is(";"));
        let semis: Vec<usize> = semis
            .into_iter()
            .filter(|&s| s + 1 < end && s + 1 - i < r.cols.len() && !self.toks[s + 1].is_comment())
            .collect();
        let col = |t: usize| r.cols[t - i];
        let stmt_indent = if cont { indent - INDENT } else { indent };
        let (mut line_indent, mut start) = (indent, 0);
        let mut broke = false;
        for (k, &s) in semis.iter().enumerate() {
            let next_end = semis.get(k + 1).map_or(r.width, |&n| col(n) + 1);
            if line_indent + next_end - start > MAX_WIDTH && col(s) + 1 > start {
                self.break_after(s);
                // Nothing can continue a statement with a name, so the `;` says nothing.
                let next = &self.toks[s + 1];
                self.dropped[s] = next.kind == Kind::Word && !CONTINUING.contains(&next.text);
                broke = true;
                (line_indent, start) = (stmt_indent, col(s + 1));
            }
        }
        broke
    }

    /// Tokens of the line not inside a bracket opened on it, in a body or at
    /// the top level, that `pick` selects.
    fn top_level_tokens(&self, i: usize, end: usize, r: &Rendered, pick: impl Fn(&Token<'_>) -> bool) -> Vec<usize> {
        let mut depth = 0usize;
        let mut found = Vec::new();
        for t in i..end.min(i + r.cols.len()) {
            let tok = &self.toks[t];
            match tok.kind {
                Kind::Open => depth += 1,
                Kind::Close => depth = depth.saturating_sub(1),
                _ if depth == 0 && t > i && pick(tok) && matches!(self.roles.enclosing[t], 0 | b'{') => found.push(t),
                _ => {}
            }
        }
        found
    }

    /// Breaks before the fewest trailing `then` / `on` / `with` of the statement
    /// that make every piece fit; false if none do.
    fn soft_break(&mut self, i: usize, end: usize, indent: usize, cont: bool, r: &Rendered) -> bool {
        let words = self.top_level_tokens(i, end, r, |t| t.kind == Kind::Word && SOFT_BREAKS.contains(&t.text));
        let cont_indent = if cont { indent } else { indent + INDENT };
        let col = |t: usize| r.cols[t - i];
        for k in 1..=words.len() {
            let breaks = &words[words.len() - k..];
            let mut fits = indent + col(breaks[0]) - 1 <= MAX_WIDTH;
            for (j, &b) in breaks.iter().enumerate() {
                let seg_end = breaks.get(j + 1).map_or(r.width, |&nb| col(nb) - 1);
                fits &= cont_indent + seg_end - col(b) <= MAX_WIDTH;
            }
            if fits {
                for &b in breaks {
                    self.toks[b].newlines = self.toks[b].newlines.max(1);
                }
                return true;
            }
        }
        false
    }

    /// `{ a;  b }` to three lines, and the bodies that follow it on the line
    /// (`} else { .. }`, a combinator's next branch) with it.
    fn explode_body(&mut self, open: usize) {
        let Some(close) = self.roles.partner[open] else { return };
        self.break_after(open);
        self.break_before(close);
        let mut j = close + 1;
        while j < self.toks.len() && self.toks[j].newlines == 0 {
            let tok = &self.toks[j];
            if tok.kind == Kind::Close || tok.is(",") || tok.is(";") || tok.is_comment() {
                break;
            }
            if tok.kind == Kind::Open {
                let Some(q) = self.roles.partner[j] else { break };
                let inline = q > j + 1 && self.toks[j + 1].newlines == 0 && self.toks[j + 1].kind != Kind::LineComment;
                if tok.is("{") && !self.roles.interp[j] && inline {
                    self.break_after(j);
                    self.break_before(q);
                }
                j = q + 1;
                continue;
            }
            j += 1;
        }
    }

    /// `f(a, b)` to one item per line, with a trailing comma.
    fn explode_list(&mut self, open: usize) {
        let Some(close) = self.roles.partner[open] else { return };
        self.break_after(open);
        let mut last_item = None;
        let mut j = open + 1;
        while j < close {
            let tok = &self.toks[j];
            if tok.kind == Kind::Open
                && let Some(q) = self.roles.partner[j]
            {
                last_item = Some(q);
                j = q + 1;
                continue;
            }
            if tok.is(",") {
                self.break_after(j);
                last_item = Some(j);
            } else if !tok.is_comment() {
                last_item = Some(j);
            }
            j += 1;
        }
        if let Some(q) = last_item
            && !self.toks[q].is(",")
        {
            self.comma_after[q] = true;
        }
        self.break_before(close);
        // `)` alone, then `on [..]` on the next line: one line, `) on [..]`.
        if let Some(next) = self.toks.get_mut(close + 1)
            && next.kind == Kind::Word
            && SOFT_BREAKS.contains(&next.text)
        {
            next.newlines = 0;
        }
    }

    fn break_after(&mut self, t: usize) {
        let Some(next) = self.toks.get_mut(t + 1) else { return };
        // A comment on the same line stays there; the line ends after it anyway.
        if next.kind == Kind::LineComment && next.newlines == 0 {
            return;
        }
        next.newlines = next.newlines.max(1);
    }

    fn break_before(&mut self, t: usize) {
        self.toks[t].newlines = self.toks[t].newlines.max(1);
    }

    fn model_eq(&self, i: usize, end: usize, r: &Rendered) -> Option<usize> {
        let eq = (i..end).find(|&t| self.toks[t].is("="))?;
        let off = *r.cols.get(eq - i)?;
        (r.code.is_char_boundary(off) && r.code[..off].is_ascii()).then_some(off)
    }
}

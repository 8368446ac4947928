//! A lexer for `.res` that keeps what the parser throws away: comments, and
//! where the line breaks were. The printer works on these tokens alone, so
//! the layout can change but the token sequence (and so the meaning) cannot.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A name or keyword.
    Word,
    Number,
    Str,
    /// An operator or separator: `+ == .. , ; : .` and the like.
    Punct,
    Open,
    Close,
    LineComment,
    BlockComment,
    /// A character the grammar has no use for; only seen in text that does
    /// not parse, which the formatter refuses before printing.
    Other,
}

#[derive(Clone, Debug)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    /// Line breaks in the whitespace before the token (0: same line as the
    /// previous one). The printer raises it to break a long line.
    pub newlines: u32,
    /// Whether any whitespace separated it from the previous token.
    pub spaced: bool,
}

impl Token<'_> {
    pub fn is(&self, text: &str) -> bool {
        self.text == text && !matches!(self.kind, Kind::Str | Kind::LineComment | Kind::BlockComment)
    }

    pub fn is_comment(&self) -> bool {
        matches!(self.kind, Kind::LineComment | Kind::BlockComment)
    }
}

const TWO_CHAR_OPS: [&str; 5] = ["==", "!=", "<=", ">=", ".."];

pub fn lex(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut newlines = 0;
    let mut spaced = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            newlines += u32::from(c == b'\n');
            spaced = true;
            i += 1;
            continue;
        }
        let start = i;
        let kind = match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
                Kind::LineComment
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(bytes.len(), |n| i + 2 + n + 2);
                Kind::BlockComment
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'"') {
                    i += 1;
                }
                Kind::Str
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                i = word_end(bytes, i);
                Kind::Word
            }
            c if c.is_ascii_digit() => {
                i = number_end(bytes, i);
                Kind::Number
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                Kind::Open
            }
            b')' | b']' | b'}' => {
                i += 1;
                Kind::Close
            }
            _ if TWO_CHAR_OPS.iter().any(|op| text[i..].starts_with(op)) => {
                i += 2;
                Kind::Punct
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'<' | b'>' | b'=' | b'?' | b':' | b',' | b';' | b'.' => {
                i += 1;
                Kind::Punct
            }
            _ => {
                // Whole characters, so a token never splits a UTF-8 sequence.
                i += text[i..].chars().next().map_or(1, char::len_utf8);
                Kind::Other
            }
        };
        let mut tok_text = &text[start..i];
        if kind == Kind::LineComment {
            // `\r` of CRLF files and trailing blanks are whitespace, not comment text.
            tok_text = tok_text.trim_end();
        }
        tokens.push(Token { kind, text: tok_text, newlines, spaced });
        newlines = 0;
        spaced = false;
    }
    tokens
}

fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    i
}

/// The grammar's `int` (`1_000`) and `float` (`0.5`, `1e-3`, `2.5E+4`); `0..n`
/// is an int and a range, not a float.
fn number_end(bytes: &[u8], mut i: usize) -> usize {
    let digits = |mut j: usize| {
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let int_part = digits(i);
    if bytes.get(int_part) == Some(&b'.') && bytes.get(int_part + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(int_part + 1);
    } else {
        i = int_part;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
            i += 1;
        }
        if i != int_part {
            return i;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            return digits(j);
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<&str> {
        lex(src).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn numbers_ranges_and_labels() {
        assert_eq!(texts("0..n 1.5e-3 1_000 2e5 x.c"), ["0", "..", "n", "1.5e-3", "1_000", "2e5", "x", ".", "c"]);
        assert_eq!(texts("layer{i + 1}_a:"), ["layer", "{", "i", "+", "1", "}", "_a", ":"]);
    }

    #[test]
    fn comments_strings_and_breaks() {
        let toks = lex("a // c /* d\r\n\n\"s // t\" /* x\ny */ b");
        let kinds: Vec<Kind> = toks.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [Kind::Word, Kind::LineComment, Kind::Str, Kind::BlockComment, Kind::Word]);
        assert_eq!(toks[1].text, "// c /* d");
        assert_eq!(toks[2].newlines, 2);
        assert_eq!(toks[3].text, "/* x\ny */");
    }

    #[test]
    fn unclosed_things_end_the_token_without_panicking() {
        assert_eq!(texts("\"abc\nd /* e"), ["\"abc", "d", "/* e"]);
        assert_eq!(texts("é!"), ["é", "!"]);
    }
}

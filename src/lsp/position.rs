//! Byte offsets <-> LSP positions. Clients count columns in UTF-16 code units
//! unless both sides agree on UTF-8; every conversion clamps, since a position
//! from a client may point past the end of a line or into a character.

use lsp_types::{Position, Range};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// Line starts of one text.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts, len: text.len() }
    }

    pub fn position(&self, text: &str, offset: usize, enc: Encoding) -> Position {
        let mut offset = offset.min(self.len).min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let before = &text[self.starts[line]..offset];
        let col = match enc {
            Encoding::Utf8 => before.len(),
            Encoding::Utf16 => before.encode_utf16().count(),
        };
        Position::new(line as u32, col as u32)
    }

    pub fn range(&self, text: &str, start: usize, end: usize, enc: Encoding) -> Range {
        Range::new(self.position(text, start, enc), self.position(text, end, enc))
    }

    pub fn offset(&self, text: &str, pos: Position, enc: Encoding) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return text.len();
        };
        let end = self.starts.get(pos.line as usize + 1).map_or(text.len(), |&e| e - 1);
        let line = &text[start..end.max(start)];
        let want = pos.character as usize;
        let mut units = 0;
        for (i, ch) in line.char_indices() {
            if units >= want {
                return start + i;
            }
            units += match enc {
                Encoding::Utf8 => ch.len_utf8(),
                Encoding::Utf16 => ch.len_utf16(),
            };
        }
        start + line.len()
    }

    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset.min(self.len)) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_counts_surrogate_pairs_and_accents() {
        let text = "// é𝄞\nconv1: cnv\n";
        let idx = LineIndex::new(text);
        let off = text.find("cnv").unwrap();
        assert_eq!(idx.position(text, off, Encoding::Utf16), Position::new(1, 7));
        let after = text.find('\n').unwrap();
        // "// " (3) + é (1) + 𝄞 (2 units)
        assert_eq!(idx.position(text, after, Encoding::Utf16), Position::new(0, 6));
        assert_eq!(idx.position(text, after, Encoding::Utf8), Position::new(0, 9));
        assert_eq!(idx.offset(text, Position::new(0, 6), Encoding::Utf16), after);
        assert_eq!(idx.offset(text, Position::new(1, 7), Encoding::Utf16), off);
        // Past the end of a line clamps to the line end; past the last line to the text end.
        assert_eq!(idx.offset(text, Position::new(0, 99), Encoding::Utf16), after);
        assert_eq!(idx.offset(text, Position::new(9, 0), Encoding::Utf16), text.len());
        // Inside a surrogate pair rounds to the character after it.
        assert_eq!(idx.offset(text, Position::new(0, 5), Encoding::Utf16), after);
    }
}

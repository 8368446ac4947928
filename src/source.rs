//! Source files and byte spans. Every AST and IR node keeps a `Span`, so an error
//! found in any phase can still point at the `.res` text it came from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }

    /// The smallest span covering both (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

#[derive(Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (`examples/resnet50.res`, `stdlib/resnet.res`).
    pub name: String,
    /// Where relative `use` paths resolve from; `None` for the embedded stdlib.
    pub dir: Option<PathBuf>,
    pub text: Arc<str>,
}

#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<String>, dir: Option<&Path>, text: impl Into<Arc<str>>) -> FileId {
        self.files.push(SourceFile { name: name.into(), dir: dir.map(Path::to_path_buf), text: text.into() });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn try_get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Every file, the root first, then each `use`d file as it was loaded.
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn find(&self, name: &str) -> Option<FileId> {
        self.files.iter().position(|f| f.name == name).map(|i| FileId(i as u32))
    }

    pub fn text(&self, span: Span) -> &str {
        &self.get(span.file).text[span.start..span.end]
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let text = &self.get(file).text;
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
        (line, col)
    }

    /// 1-based line and column of a byte offset, the column counted in characters.
    pub fn line_char_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let text = &self.get(file).text;
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    pub fn describe(&self, span: Span) -> String {
        let (line, col) = self.line_col(span.file, span.start);
        format!("{}:{line}:{col}", self.get(span.file).name)
    }

    /// As [`describe`](Self::describe), but naming a file on disk by its
    /// file name alone: generated code says where it came from without
    /// changing with the directory it was generated from.
    pub fn describe_stable(&self, span: Span) -> String {
        let (line, col) = self.line_col(span.file, span.start);
        let file = self.get(span.file);
        let name = match file.dir {
            None => file.name.as_str(),
            Some(_) => std::path::Path::new(&file.name).file_name().and_then(|n| n.to_str()).unwrap_or(&file.name),
        };
        format!("{name}:{line}:{col}")
    }
}

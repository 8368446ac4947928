//! One document's analysis: the program it loads (unsaved buffers of other
//! open documents included), every diagnostic `resc check` would report, and
//! the graphs of its models (partial ones when the file has errors), so that
//! hover and inlay hints still work while the file is broken.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_types::Url;

use crate::diag::Diag;
use crate::driver::{self, Options, Select};
use crate::ir::Graph;
use crate::sema::Program;
use crate::source::FileId;
use crate::stdlib;
use crate::syntax::{self, ast};

use super::position::LineIndex;

pub struct Analysis {
    pub prog: Program,
    /// The root file's items, `use`s included (the program keeps only declarations).
    pub root_ast: ast::File,
    pub diags: Vec<Diag>,
    pub graphs: Vec<Graph>,
    /// Where each loaded file can be opened.
    pub uris: Vec<Option<Url>>,
    pub lines: Vec<LineIndex>,
}

/// Unsaved text of open documents, by path.
pub type Overlay = HashMap<PathBuf, String>;

pub fn analyze(uri: &Url, text: &str, overlay: &Overlay) -> Analysis {
    let path = uri.to_file_path().ok();
    let name = path.as_ref().map_or_else(|| uri.to_string(), |p| p.display().to_string());
    let dir = path.as_deref().and_then(Path::parent);
    let read = |p: &Path| -> std::io::Result<String> {
        match overlay.get(p) {
            Some(t) => Ok(t.clone()),
            None => std::fs::read_to_string(p),
        }
    };
    let prog = Program::load_text_with(&name, dir, text, &read);
    let (root_ast, _) = syntax::parse_file(prog.root, text);
    let opts = Options::default();
    let (diags, graphs) = match driver::compile_with(&prog, Select::Root, &opts) {
        Ok(graphs) => (Vec::new(), graphs),
        Err(diags) => (diags, driver::partial(&prog, Select::Root, &opts)),
    };
    let mut uris = Vec::new();
    let mut lines = Vec::new();
    for id in (0..prog.sources.len()).map(|i| FileId(i as u32)) {
        let file = prog.sources.get(id);
        lines.push(LineIndex::new(&file.text));
        uris.push(if id == prog.root { Some(uri.clone()) } else { file_uri(&file.name, file.dir.is_some()) });
    }
    Analysis { prog, root_ast, diags, graphs, uris, lines }
}

/// A used file's URI: its path, or the standard library's copy on disk.
fn file_uri(name: &str, on_disk: bool) -> Option<Url> {
    if on_disk {
        let p = Path::new(name);
        let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().ok()?.join(p) };
        return Url::from_file_path(abs).ok();
    }
    Url::from_file_path(stdlib::on_disk(stdlib::module_of_display_name(name)?)?).ok()
}

impl Analysis {
    pub fn text(&self, file: FileId) -> &str {
        &self.prog.sources.get(file).text
    }

    pub fn root(&self) -> FileId {
        self.prog.root
    }

    pub fn uri(&self, file: FileId) -> Option<&Url> {
        self.uris.get(file.0 as usize)?.as_ref()
    }

    pub fn lines(&self, file: FileId) -> &LineIndex {
        &self.lines[file.0 as usize]
    }

    pub fn file_of_uri(&self, uri: &Url) -> Option<FileId> {
        self.uris.iter().position(|u| u.as_ref() == Some(uri)).map(|i| FileId(i as u32))
    }
}

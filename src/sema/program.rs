//! Loading a file and everything it `use`s into one table of declarations.

use std::collections::HashMap;
use std::path::Path;

use crate::diag::{Diag, Diags};
use crate::source::{FileId, SourceMap, Span};
use crate::stdlib;
use crate::syntax::{self, ast};

use super::{SemaError, did_you_mean};

/// Everything the files define, indexed by name.
#[derive(Debug, Default)]
pub struct Program {
    pub sources: SourceMap,
    pub root: FileId,
    pub blocks: Vec<ast::BlockDecl>,
    pub block_index: HashMap<String, usize>,
    pub models: Vec<ast::ModelDecl>,
    pub lets: Vec<ast::Let>,
    /// Load and parse errors.
    pub diags: Diags,
    /// Names declared by items that failed to parse.
    pub broken: Vec<String>,
    /// For each file but the root: the `use` that first loaded it.
    pub loaded_by: HashMap<FileId, Span>,
}

/// Reads a used file: from disk, or from an editor's unsaved buffer.
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

#[derive(Debug, Clone, Copy)]
pub struct ModelRef(pub usize);

impl Program {
    /// Load a file from disk, and what it uses.
    pub fn load_path(path: &Path) -> std::io::Result<Program> {
        let text = std::fs::read_to_string(path)?;
        let name = path.display().to_string();
        Ok(Self::load_text(&name, path.parent(), &text))
    }

    /// Load source text (a file's, or an embedded stdlib module's).
    pub fn load_text(name: &str, dir: Option<&Path>, text: &str) -> Program {
        Self::load_text_with(name, dir, text, &|path| std::fs::read_to_string(path))
    }

    /// Like `load_text`, with used files read through `read`.
    pub fn load_text_with(name: &str, dir: Option<&Path>, text: &str, read: ReadFile<'_>) -> Program {
        let mut p = Program::default();
        let root = p.sources.add(name, dir, text);
        p.root = root;
        let mut queue = vec![root];
        let mut seen = vec![root];
        while let Some(file) = queue.pop() {
            let text = p.sources.get(file).text.clone();
            let (ast, diags) = syntax::parse_file(file, &text);
            for d in diags {
                p.diags.push(d);
            }
            p.broken.extend(ast.broken);
            for item in ast.items {
                match item {
                    ast::Item::Use(u) => {
                        if let Some(id) = p.load_use(file, &u, read)
                            && !seen.contains(&id)
                        {
                            seen.push(id);
                            p.loaded_by.insert(id, u.span);
                            queue.push(id);
                        }
                    }
                    ast::Item::Block(b) => p.add_block(*b),
                    ast::Item::Model(m) => p.models.push(*m),
                    ast::Item::Let(l) => p.lets.push(l),
                }
            }
        }
        p
    }

    fn add_block(&mut self, b: ast::BlockDecl) {
        if let Some(&prev) = self.block_index.get(&b.name.name) {
            let prev_span = self.blocks[prev].name.span;
            // Definitions in different files: the one loaded first (the user's
            // own file comes first) shadows a library one.
            if prev_span.file == b.name.span.file {
                self.diags.push(
                    Diag::new(SemaError::DuplicateDefinition { name: b.name.name.clone() })
                        .at(b.name.span, "defined again here")
                        .also(prev_span, "first defined here"),
                );
            }
            return;
        }
        self.block_index.insert(b.name.name.clone(), self.blocks.len());
        self.blocks.push(b);
    }

    fn load_use(&mut self, from: FileId, u: &ast::Use, read: ReadFile<'_>) -> Option<FileId> {
        let (name, text, dir) = match &u.target {
            ast::UseTarget::Stdlib(name) => match stdlib::source(name) {
                Some(text) => (stdlib::display_name(name), text.to_string(), None),
                None => {
                    let mut d = Diag::new(SemaError::UseNotFound {
                        path: name.clone(),
                        reason: "not a standard-library module".into(),
                    })
                    .at(u.span, "no such module");
                    d = match did_you_mean(name, stdlib::NAMES.iter().copied()) {
                        Some(s) => d.suggest(u.span, format!("use {s}")),
                        None => d.with_help(format!(
                            "the standard library has: {}; use a quoted path for a file",
                            stdlib::NAMES.join(", ")
                        )),
                    };
                    self.diags.push(d);
                    return None;
                }
            },
            ast::UseTarget::Path(rel) => {
                let base = self.sources.get(from).dir.clone().unwrap_or_default();
                let path = base.join(rel);
                match read(&path) {
                    Ok(text) => (path.display().to_string(), text, path.parent().map(Path::to_path_buf)),
                    Err(e) => {
                        self.diags.push(
                            Diag::new(SemaError::UseNotFound {
                                path: path.display().to_string(),
                                reason: e.to_string(),
                            })
                            .at(u.span, e.to_string())
                            .with_help("paths are relative to the file that says `use`"),
                        );
                        return None;
                    }
                }
            }
        };
        if let Some(id) = self.sources.find(&name) {
            return Some(id);
        }
        Some(self.sources.add(name, dir.as_deref(), text))
    }

    /// The `use` in the root file through which `file` was loaded.
    pub fn root_use_of(&self, mut file: FileId) -> Option<Span> {
        let mut hops = 0;
        while let Some(&span) = self.loaded_by.get(&file) {
            if span.file == self.root {
                return Some(span);
            }
            file = span.file;
            hops += 1;
            if hops > self.loaded_by.len() {
                return None;
            }
        }
        None
    }

    pub fn block(&self, name: &str) -> Option<&ast::BlockDecl> {
        self.block_index.get(name).map(|&i| &self.blocks[i])
    }

    /// The models written in the root file, in order.
    pub fn root_models(&self) -> Vec<ModelRef> {
        (0..self.models.len()).filter(|&i| self.models[i].span.file == self.root).map(ModelRef).collect()
    }

    pub fn model(&self, r: ModelRef) -> &ast::ModelDecl {
        &self.models[r.0]
    }

    /// Find a model by name: the root file's first, then those it uses.
    pub fn find_model(&self, name: &str) -> Result<ModelRef, Box<Diag>> {
        let mut order: Vec<usize> = self.root_models().into_iter().map(|m| m.0).collect();
        let rest: Vec<usize> = (0..self.models.len()).filter(|i| !order.contains(i)).collect();
        order.extend(rest);
        if let Some(&i) = order.iter().find(|&&i| self.models[i].name.name == name) {
            return Ok(ModelRef(i));
        }
        let names: Vec<&str> = self.models.iter().map(|m| m.name.name.as_str()).collect();
        let mut d = Diag::new(SemaError::NoSuchModel { name: name.into() });
        d = match did_you_mean(name, names.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None if names.is_empty() => {
                d.with_help("this file defines no model; add `model NAME = network(..) on [N, C, H, W]`")
            }
            None => d.with_help(format!("models here: {}", names.join(", "))),
        };
        Err(Box::new(d))
    }

    pub fn span_text(&self, span: Span) -> &str {
        self.sources.text(span)
    }
}

//! The whole front end in one call: load, check, build the selected models.

use std::path::Path;

use miette::Diagnostic;
use thiserror::Error;

use crate::diag::{Diag, Diags};
use crate::ir::Graph;
use crate::passes;
use crate::sema::{self, Limits, ModelRef, Program};

#[derive(Debug, Error, Diagnostic)]
pub enum InternalError {
    #[error("internal compiler error in model `{model}`: {detail}")]
    #[diagnostic(code(resc::internal), help("this is a bug in resc; please report it with the .res file"))]
    Verify { model: String, detail: String },
}

/// Which models to build.
#[derive(Clone, Copy, Debug)]
pub enum Select<'a> {
    /// Every model written in the root file.
    Root,
    Named(&'a str),
}

pub fn load(path: &Path) -> std::io::Result<Program> {
    Program::load_path(path)
}

/// Check the program and build the selected models' graphs. On failure,
/// every error found in every phase, sorted by position.
pub fn compile(prog: &Program, select: Select<'_>) -> Result<Vec<Graph>, Vec<Diag>> {
    compile_with(prog, select, &Options::default())
}

/// For a program with errors: what each selected model's build got to, so a
/// summary can show the layers up to the failure.
pub fn partial(prog: &Program, select: Select<'_>, opts: &Options) -> Vec<Graph> {
    let models: Vec<ModelRef> = match select {
        Select::Root => prog.root_models(),
        Select::Named(name) => prog.find_model(name).into_iter().collect(),
    };
    let mut budget = Budget::new(opts.limits);
    let mut out = Vec::new();
    for m in models {
        let Some(limits) = budget.next() else { break };
        let (g, spent) = sema::elaborate_partial_spending(prog, m, limits, opts.input.as_deref());
        budget.spend(spent);
        out.extend(g);
    }
    out
}

/// One budget of nodes and steps for all the models of a compile, so that
/// many large models in one file cannot take minutes and gigabytes between them.
struct Budget {
    limits: Limits,
    nodes: usize,
    steps: u64,
}

impl Budget {
    fn new(limits: Limits) -> Self {
        Budget { limits, nodes: limits.max_total_nodes, steps: limits.max_steps }
    }

    /// The limits for the next model, or `None` when the budget is spent.
    fn next(&self) -> Option<Limits> {
        (self.nodes > 0 && self.steps > 0).then(|| Limits {
            max_nodes: self.limits.max_nodes.min(self.nodes),
            max_steps: self.steps,
            ..self.limits
        })
    }

    fn spend(&mut self, spent: sema::Spent) {
        self.nodes = self.nodes.saturating_sub(spent.nodes);
        self.steps = self.steps.saturating_sub(spent.steps);
    }
}

/// How to build: bounds on absurd input, and an input size other than the declared one.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub limits: Limits,
    pub input: Option<Vec<u64>>,
    /// Network arguments to build each model with instead of its own.
    pub args: Vec<(String, crate::ir::ArgValue)>,
}

pub fn compile_with(prog: &Program, select: Select<'_>, opts: &Options) -> Result<Vec<Graph>, Vec<Diag>> {
    let mut diags = Diags::default();
    for d in sema::resolve(prog) {
        diags.push(d);
    }
    diags.extend(sema::check_constants(prog));
    let models: Vec<ModelRef> = match select {
        Select::Root => prog.root_models(),
        Select::Named(name) => match prog.find_model(name) {
            Ok(m) => vec![m],
            Err(d) => {
                diags.push(*d);
                vec![]
            }
        },
    };
    let mut graphs = Vec::new();
    let mut budget = Budget::new(opts.limits);
    for m in models {
        let Some(limits) = budget.next() else {
            let decl = prog.model(m);
            diags.push(
                Diag::new(sema::SemaError::ModelsTooLarge {
                    max: opts.limits.max_total_nodes,
                    steps: opts.limits.max_steps,
                })
                .at(decl.name.span, "not built: the file's budget is spent"),
            );
            break;
        };
        let (result, spent) = sema::elaborate_model_with(prog, m, limits, opts.input.as_deref(), &opts.args);
        budget.spend(spent);
        match result {
            Ok(g) => {
                if let Err(detail) = passes::verify(&g) {
                    let decl = prog.model(m);
                    diags.push(
                        Diag::new(InternalError::Verify { model: g.name.clone(), detail })
                            .at(decl.name.span, "while building this model"),
                    );
                }
                graphs.push(g);
            }
            Err(ds) => diags.extend(ds),
        }
    }
    let mut all = Diags::default();
    all.extend(prog.diags.clone());
    all.extend(diags);
    if all.is_empty() {
        return Ok(graphs);
    }
    let mut out: Vec<Diag> = all
        .into_resolved(&prog.sources)
        .into_iter()
        .map(|d| match (d.primary_span(), d.origin()) {
            (Some(s), None) if s.file != prog.root => match prog.root_use_of(s.file) {
                Some(u) => d.with_origin(u),
                None => d,
            },
            _ => d,
        })
        .collect();
    out.sort_by_key(|d| d.primary_span().map(|s| (s.file, s.start)));
    Err(out)
}

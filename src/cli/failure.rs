//! How a command fails, and the exit code each way gets: 1 when the model (or
//! the weights or input it was given) has errors, 2 when the command could not
//! run at all.

use std::path::Path;

use miette::Diagnostic;
use thiserror::Error;

use resc::diag::Diag;
use resc::report;

pub enum Failure {
    /// The input has errors; they were printed. Exit 1.
    Diagnostics,
    /// The command could not run (unreadable input, unwritable output, bad
    /// flags); the reason was printed. Exit 2.
    Usage,
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Diagnostics => 1,
            Failure::Usage => 2,
        }
    }

    /// The worse of two outcomes: could-not-run beats has-errors.
    pub fn worst(a: Result<(), Failure>, b: Result<(), Failure>) -> Result<(), Failure> {
        match (a, b) {
            (Err(Failure::Usage), _) | (_, Err(Failure::Usage)) => Err(Failure::Usage),
            (Err(f), _) | (_, Err(f)) => Err(f),
            (Ok(()), Ok(())) => Ok(()),
        }
    }
}

/// Why a command could not run. Each has a code, like the compiler's errors.
#[derive(Debug, Error, Diagnostic)]
pub enum CliError {
    #[error("cannot read {path}: {detail}")]
    #[diagnostic(code(resc::cli::unreadable))]
    Unreadable { path: String, detail: String },
    #[error("cannot write {path}: {detail}")]
    #[diagnostic(code(resc::cli::unwritable))]
    Unwritable { path: String, detail: String },
    #[error("`{name}` is not a resc command")]
    #[diagnostic(
        code(resc::cli::unknown_command),
        help("did you mean `{suggestion}`? (resc --help lists the commands)")
    )]
    UnknownCommand { name: String, suggestion: String },
    #[error("no file and no model given")]
    #[diagnostic(
        code(resc::cli::no_input),
        help("give a FILE.res, or --model NAME for a standard-library model (`resc list` names them)")
    )]
    NoInput,
    #[error("the standard library has no model `{name}`")]
    #[diagnostic(code(resc::cli::unknown_model), help("{help}"))]
    UnknownStdlibModel { name: String, help: String },
    #[error("{file} defines several models ({names}); choose one with --model")]
    #[diagnostic(code(resc::cli::several_models))]
    SeveralModels { file: String, names: String },
    #[error("{file} defines no model")]
    #[diagnostic(code(resc::cli::no_model), help("add `model NAME = network(..) on [N, C, H, W]`"))]
    NoModel { file: String },
    #[error("{0}")]
    #[diagnostic(code(resc::cli::usage))]
    Usage(String),
}

impl CliError {
    pub fn unreadable(path: &Path, e: impl std::fmt::Display) -> Self {
        CliError::Unreadable { path: path.display().to_string(), detail: e.to_string() }
    }

    pub fn unwritable(path: &Path, e: impl std::fmt::Display) -> Self {
        CliError::Unwritable { path: path.display().to_string(), detail: e.to_string() }
    }
}

/// Prints the reason and gives exit 2.
pub fn could_not_run(e: impl Diagnostic + Send + Sync + 'static) -> Failure {
    print_diag(Diag::new(e));
    Failure::Usage
}

/// Prints errors in what was given and gives exit 1.
pub fn has_errors(e: impl Diagnostic + Send + Sync + 'static) -> Failure {
    print_diag(Diag::new(e));
    Failure::Diagnostics
}

fn print_diag(d: Diag) {
    eprint!("{}", report::human(&[d], crate::term_width(), crate::use_color(crate::Color::Auto)));
}

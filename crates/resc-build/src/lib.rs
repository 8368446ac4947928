//! Build-script support for resc: generates burn modules from `.res` files
//! into `OUT_DIR`.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), resc_build::Error> {
//!     resc_build::Config::new().model("res/net.res", "preact_se20").compile()
//! }
//! ```
//!
//! and in the crate, every generated model and the support module they share:
//!
//! ```ignore
//! mod models {
//!     include!(concat!(env!("OUT_DIR"), "/resc_models.rs"));
//! }
//! use models::preact_se20::{PreactSe20, PreactSe20Config};
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use resc::driver::{self, Select};
use resc::sema::Program;

/// Which models to generate, and where.
#[derive(Clone, Debug, Default)]
pub struct Config {
    models: Vec<Wanted>,
    out_dir: Option<PathBuf>,
    base: Option<PathBuf>,
}

#[derive(Clone, Debug)]
struct Wanted {
    /// `None`: a standard-library model.
    file: Option<PathBuf>,
    model: String,
}

/// Why generation failed. The diagnostics themselves were already printed
/// for cargo; this says how many.
#[derive(Debug)]
pub enum Error {
    /// A `.res` file could not be read.
    Read { path: PathBuf, error: std::io::Error },
    /// The models have errors (printed as cargo errors, with their source lines).
    Diagnostics { model: String, count: usize, report: String },
    /// A generated file could not be written.
    Write { path: PathBuf, error: std::io::Error },
    /// Neither `out_dir` nor cargo's `OUT_DIR` says where to write.
    NoOutDir,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            Error::Diagnostics { model, count, .. } => {
                write!(f, "`{model}`: {count} error{} in the .res source", if *count == 1 { "" } else { "s" })
            }
            Error::Write { path, error } => write!(f, "cannot write {}: {error}", path.display()),
            Error::NoOutDir => write!(f, "OUT_DIR is not set: call `compile` from a build script, or set `out_dir`"),
        }
    }
}

impl std::error::Error for Error {}

/// What one `generate` wrote and read.
#[derive(Debug, Default)]
pub struct Generated {
    /// The generated Rust files: one per model, then the support module
    /// they share (`resc_support.rs`) and the index that declares them all
    /// (`resc_models.rs`).
    pub files: Vec<PathBuf>,
    /// Every `.res` file on disk that the models read.
    pub sources: Vec<PathBuf>,
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    /// A model named `model` in the `.res` file at `file` (relative to the
    /// crate's manifest directory), written to `OUT_DIR/<model>.rs`.
    pub fn model(mut self, file: impl AsRef<Path>, model: &str) -> Config {
        self.models.push(Wanted { file: Some(file.as_ref().to_path_buf()), model: model.to_string() });
        self
    }

    /// A standard-library model (`resnet50`, `densenet121`, ...; `resc list` names them all).
    pub fn stdlib_model(mut self, model: &str) -> Config {
        self.models.push(Wanted { file: None, model: model.to_string() });
        self
    }

    /// Where to write (default: cargo's `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Config {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// What relative `.res` paths start from (default: `CARGO_MANIFEST_DIR`,
    /// else the current directory).
    pub fn base_dir(mut self, dir: impl AsRef<Path>) -> Config {
        self.base = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Generates every model, for a build script: cargo is told to rerun
    /// when a source changes, and errors are printed as cargo errors.
    pub fn compile(self) -> Result<(), Error> {
        let result = self.generate();
        let (Ok(Generated { sources, .. }) | Err((_, sources))) = &result;
        for s in sources {
            println!("cargo::rerun-if-changed={}", s.display());
        }
        match result {
            Ok(_) => Ok(()),
            Err((e, _)) => {
                let lines = match &e {
                    Error::Diagnostics { report, .. } => report.clone(),
                    other => other.to_string(),
                };
                for line in lines.lines() {
                    println!("cargo::error={line}");
                }
                Err(e)
            }
        }
    }

    /// Generates every model and says what it read, printing nothing: the
    /// sources read are returned even on failure, so a fix reruns the script.
    pub fn generate(&self) -> Result<Generated, (Error, Vec<PathBuf>)> {
        let out_dir = match self.out_dir.clone().or_else(|| std::env::var_os("OUT_DIR").map(PathBuf::from)) {
            Some(d) => d,
            None => return Err((Error::NoOutDir, Vec::new())),
        };
        let base =
            self.base.clone().or_else(|| std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from)).unwrap_or_default();
        let mut done = Generated::default();
        for w in &self.models {
            if let Err(e) = generate_one(w, &base, &out_dir, &mut done) {
                return Err((e, done.sources));
            }
        }
        let support = resc::backend::burn::rustfmt::format_or_keep(resc::backend::burn::support::emit());
        let support_path = out_dir.join(resc::backend::burn::support::FILE);
        if let Err(e) = write_if_changed(&support_path, &support) {
            return Err((e, done.sources));
        }
        let index_path = out_dir.join(INDEX);
        if let Err(e) = write_if_changed(&index_path, &index(&self.models)) {
            return Err((e, done.sources));
        }
        done.files.extend([support_path, index_path]);
        Ok(done)
    }
}

fn generate_one(w: &Wanted, base: &Path, out_dir: &Path, done: &mut Generated) -> Result<(), Error> {
    let prog = match &w.file {
        Some(file) => {
            let path = base.join(file);
            done.sources.push(path.clone());
            driver::load(&path).map_err(|error| Error::Read { path: path.clone(), error })?
        }
        None => match resc::stdlib::NAMES.iter().find(|m| stdlib_defines(m, &w.model)) {
            Some(module) => Program::load_text(
                &resc::stdlib::display_name(module),
                None,
                resc::stdlib::source(module).unwrap_or_default(),
            ),
            None => {
                let report = format!("no standard-library model `{}` (`resc list` names them)", w.model);
                return Err(Error::Diagnostics { model: w.model.clone(), count: 1, report });
            }
        },
    };
    for f in prog.sources.files().skip(1).filter(|f| f.dir.is_some()) {
        done.sources.push(PathBuf::from(&f.name));
    }
    let fail = |diags: Vec<resc::diag::Diag>| Error::Diagnostics {
        model: w.model.clone(),
        count: diags.len(),
        report: resc::report::human(&diags, 100, false),
    };
    let graphs = driver::compile(&prog, Select::Named(&w.model)).map_err(fail)?;
    let Some(g) = graphs.first() else {
        let report = format!("no model `{}` in the file", w.model);
        return Err(Error::Diagnostics { model: w.model.clone(), count: 1, report });
    };
    let code = resc::backend::burn::emit(g, &prog).map_err(|e| fail(vec![resc::diag::Diag::new(e)]))?;
    let code = resc::backend::burn::rustfmt::format_or_keep(code);
    let path = out_dir.join(format!("{}.rs", w.model));
    write_if_changed(&path, &code)?;
    done.files.push(path);
    Ok(())
}

/// The index a crate includes once: each model as a module, and the support
/// module beside them, where each model looks for it (`super::resc_support`).
pub const INDEX: &str = "resc_models.rs";

fn index(models: &[Wanted]) -> String {
    let mut text = String::from("// Generated by resc-build: every model, and the support module they share.\n");
    let mut modules = vec![resc::backend::burn::support::MODULE.to_string()];
    modules.extend(models.iter().map(|w| w.model.clone()));
    for m in modules {
        // Relative to this file: the index works from any output directory.
        text.push_str(&format!("pub mod {m} {{\n    include!(\"{m}.rs\");\n}}\n"));
    }
    text
}

/// Unchanged output is not rewritten, so that cargo does not rebuild the crate.
fn write_if_changed(path: &Path, code: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(code) {
        std::fs::write(path, code).map_err(|error| Error::Write { path: path.to_path_buf(), error })?;
    }
    Ok(())
}

fn stdlib_defines(module: &str, model: &str) -> bool {
    resc::stdlib::source(module).is_some_and(|text| text.contains(&format!("model {model} ")))
}

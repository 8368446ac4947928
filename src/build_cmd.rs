//! `resc build`: a model as IR text, Graphviz, burn source, or an ONNX file.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::ValueEnum;
use resc::backend::{dot, ir_text, onnx};
use resc::diag::Diag;
use resc::driver::Select;

use crate::cli::failure::{CliError, Failure, could_not_run, has_errors};
use crate::{Color, compile, only_model, report_diags};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// The .res file (omit it to name a standard-library model with --model).
    file: Option<PathBuf>,
    /// The model to emit (needed only when the file defines several).
    #[arg(long, short)]
    model: Option<String>,
    /// What to write.
    #[arg(long, value_enum)]
    emit: Emit,
    /// Output file (default: standard output).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// For --emit dot: levels of blocks to open (1: stages and blocks as single
    /// nodes with their shapes and counts; default: every level).
    #[arg(long)]
    depth: Option<usize>,
    /// For --emit onnx: the weights (safetensors or a PyTorch checkpoint, named
    /// as the reference state_dict). Without them, random weights (seed 0).
    #[arg(long, conflicts_with = "random_weights")]
    weights: Option<PathBuf>,
    /// For --emit onnx: reproducible random weights instead of a file.
    #[arg(long, value_name = "SEED")]
    random_weights: Option<u64>,
    /// For --emit onnx: fold each batch norm that follows a convolution into
    /// the convolution's weight and bias.
    #[arg(long)]
    fold_bn: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Emit {
    /// The IR as text: one line per op with all its attributes, its shape and its source.
    Ir,
    /// Graphviz: blocks and stages as clusters (or single nodes with --depth), shapes on the edges.
    Dot,
    /// Rust source of a burn 0.22 module. With -o, the support module it
    /// uses (`resc_support.rs`, shared by every generated model) is written
    /// beside it.
    Burn,
    /// Only the support module generated burn models share (`resc_support.rs`).
    BurnSupport,
    /// An ONNX model (opset 17) with its weights, batch dimension symbolic.
    Onnx,
}

/// Why an ONNX file was not written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum BuildError {
    #[error("--{flag} only applies to --emit onnx")]
    #[diagnostic(
        code(resc::build::onnx_only),
        help("the other outputs carry no weights: drop --{flag}, or give --emit onnx")
    )]
    OnnxOnly { flag: &'static str },
    #[error("ONNX is binary: not written to a terminal")]
    #[diagnostic(code(resc::build::binary_to_terminal), help("give -o FILE.onnx, or redirect standard output"))]
    BinaryToTerminal,
    #[error("the exported model breaks ONNX's rules (a bug in resc): {0}")]
    #[diagnostic(code(resc::build::invalid_onnx))]
    InvalidOnnx(String),
}

pub fn cmd_build(a: BuildArgs) -> Result<(), Failure> {
    if a.emit != Emit::Onnx {
        let flag = match (&a.weights, a.random_weights, a.fold_bn) {
            (Some(_), _, _) => Some("weights"),
            (_, Some(_), _) => Some("random-weights"),
            (_, _, true) => Some("fold-bn"),
            _ => None,
        };
        if let Some(flag) = flag {
            return Err(could_not_run(BuildError::OnnxOnly { flag }));
        }
    }
    if a.emit == Emit::Onnx && a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(could_not_run(BuildError::BinaryToTerminal));
    }
    if a.emit == Emit::BurnSupport {
        let code = resc::backend::burn::rustfmt::format_or_keep(resc::backend::burn::support::emit());
        return write_output(a.output.as_deref(), code.as_bytes());
    }
    let prog = crate::cli::model_source::load(a.file.as_deref(), a.model.as_deref())?;
    let select = a.model.as_deref().map_or(Select::Root, Select::Named);
    let g = only_model(&prog, compile(&prog, select, Color::Auto)?)?;
    let bytes = match a.emit {
        Emit::Ir => ir_text::emit(&g, &prog.sources).into_bytes(),
        Emit::Dot => dot::emit(&g, &dot::Options { depth: a.depth }).into_bytes(),
        Emit::Burn => match resc::backend::burn::emit(&g, &prog) {
            Ok(code) => resc::backend::burn::rustfmt::format_or_keep(code).into_bytes(),
            Err(e) => {
                let decl = prog.find_model(&g.name).map(|m| prog.model(m).name.span).ok();
                let mut d = Diag::new(e);
                if let Some(span) = decl {
                    d = d.at(span, "this model");
                }
                d.resolve(&prog.sources);
                return Err(report_diags(&[d], Color::Auto));
            }
        },
        Emit::BurnSupport => unreachable!("written above"),
        Emit::Onnx => {
            let weights = crate::cli::weights_source::load(a.weights.as_deref(), a.random_weights, &g, Some(0))?;
            let model = onnx::model(&g, &weights, onnx::Options { fold_bn: a.fold_bn })
                .map_err(|e| report_diags(&[Diag::new(e)], Color::Auto))?;
            let problems = onnx::check::problems(&model);
            if !problems.is_empty() {
                return Err(has_errors(BuildError::InvalidOnnx(problems.join("; "))));
            }
            prost::Message::encode_to_vec(&model)
        }
    };
    write_output(a.output.as_deref(), &bytes)?;
    if let Some(path) = &a.output {
        if a.emit == Emit::Onnx {
            println!("wrote {} ({:.1} MB, opset {})", path.display(), bytes.len() as f64 / 1e6, onnx::OPSET);
        }
        if a.emit == Emit::Burn {
            write_support_beside(path)?;
        }
    }
    Ok(())
}

/// `bytes` to the file, or to standard output.
fn write_output(path: Option<&std::path::Path>, bytes: &[u8]) -> Result<(), Failure> {
    match path {
        Some(path) => std::fs::write(path, bytes).map_err(|e| could_not_run(CliError::unwritable(path, e))),
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`resc build ... | head`) is not an error worth a panic.
            let _ = out.write_all(bytes);
            let _ = out.flush();
            Ok(())
        }
    }
}

/// The support module a generated model calls, written beside it when it is
/// missing or from another resc, and said so: the crate must declare it.
fn write_support_beside(model: &std::path::Path) -> Result<(), Failure> {
    use resc::backend::burn::support;
    let dir = model.parent().unwrap_or(std::path::Path::new(""));
    let path = dir.join(support::FILE);
    let code = resc::backend::burn::rustfmt::format_or_keep(support::emit());
    if std::fs::read_to_string(&path).is_ok_and(|old| old == code) {
        return Ok(());
    }
    std::fs::write(&path, code).map_err(|e| could_not_run(CliError::unwritable(&path, e)))?;
    let module = model.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    eprintln!(
        "wrote {}: the support module generated models share; declare `mod {};` beside `mod {module};`",
        path.display(),
        support::MODULE
    );
    Ok(())
}

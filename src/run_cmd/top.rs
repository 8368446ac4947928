//! `resc run --top K`: the K most likely classes of each sample, with softmax
//! probabilities and class names (ImageNet's, shipped in `resc::labels`, for
//! 1000 classes; a `--labels` file for others).

use std::path::PathBuf;

use resc::diag::Diag;
use resc::ir::Graph;

use crate::cli::failure::{CliError, Failure, could_not_run};

#[derive(clap::Args)]
pub struct TopArgs {
    /// Print the K most likely classes of each sample, with softmax probabilities (a model
    /// ending in a sigmoid or softmax gives its own) and class names (ImageNet's for a
    /// 1000-class output).
    #[arg(long, value_name = "K", value_parser = at_least_one)]
    top: Option<u64>,
    /// Class names for --top (which it needs), one per line, class 0 first; as many as the
    /// model has classes.
    #[arg(long, value_name = "FILE", requires = "top")]
    labels: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TopError {
    #[error("--top ranks classes of an output of [N, classes]; `{model}` outputs {shape}")]
    #[diagnostic(code(resc::run::top), help("leave out --top for this model, and read its output with -o"))]
    Output { model: String, shape: String },
    #[error("{path} names {names} classes, and `{model}` outputs {classes}")]
    #[diagnostic(code(resc::run::labels), help("a label file has one name per line, class 0 first"))]
    Labels { path: String, names: usize, model: String, classes: u64 },
}

/// What `--top` prints, checked against the model before it runs.
pub struct Top {
    k: usize,
    names: Option<Vec<String>>,
    /// Where the names come from, for the header.
    source: String,
}

/// `None` without `--top`; an error when the model's output cannot be
/// ranked or the label file does not fit it.
pub fn prepare(a: &TopArgs, g: &Graph) -> Result<Option<Top>, Failure> {
    let Some(k) = a.top else { return Ok(None) };
    let out = g.node(g.output);
    let classes = match out.shape.concrete(1).as_slice() {
        [_, c] if *c > 0 => *c,
        _ => {
            let e = TopError::Output { model: g.name.clone(), shape: format!("{}", out.shape) };
            return Err(could_not_run(e));
        }
    };
    let (names, source) = match &a.labels {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| could_not_run(CliError::unreadable(path, e)))?;
            let names = resc::labels::names(&text);
            if names.len() as u64 != classes {
                let e = TopError::Labels {
                    path: path.display().to_string(),
                    names: names.len(),
                    model: g.name.clone(),
                    classes,
                };
                return Err(super::diagnostics(&[Diag::new(e)]));
            }
            (Some(names), format!("names from {}", path.display()))
        }
        None if classes == 1000 => (Some(resc::labels::imagenet()), "ImageNet's class names".to_string()),
        None => (None, "class numbers (--labels FILE names them)".to_string()),
    };
    Ok(Some(Top { k: k.min(classes) as usize, names, source }))
}

impl Top {
    /// Per sample: its name, then `  1. 0.8123  tabby (281)` lines, best first.
    pub fn render(&self, g: &Graph, shape: &[usize], data: &[f32], samples: &[String]) -> String {
        let [n, classes] = shape else { return String::new() };
        let last = g.node(g.output);
        let probabilities = super::outputs_probabilities(g);
        let mut out = format!(
            "  output: {} (`{}`, {}), {classes} per sample; top {} by {}, with {}\n",
            if probabilities { "probabilities" } else { "logits" },
            last.name,
            last.op.describe(),
            self.k,
            if probabilities { "the model's own probability" } else { "softmax probability" },
            self.source
        );
        for (s, row) in data.chunks(*classes).take(*n).enumerate() {
            let p = if probabilities { row.to_vec() } else { resc::labels::softmax(row) };
            out += &samples.get(s).cloned().unwrap_or_else(|| format!("sample {s}"));
            out += "\n";
            for (rank, (class, prob)) in resc::labels::top_k(&p, self.k).into_iter().enumerate() {
                let name = match &self.names {
                    Some(names) => format!("{} ({class})", names.get(class).map_or("?", String::as_str)),
                    None => format!("class {class}"),
                };
                out += &format!("  {:>w$}. {prob:.4}  {name}\n", rank + 1, w = self.k.to_string().len());
            }
        }
        out
    }
}

fn at_least_one(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("K must be at least 1".into()),
        Ok(k) => Ok(k),
        Err(_) => Err(format!("`{s}` is not a number of classes")),
    }
}

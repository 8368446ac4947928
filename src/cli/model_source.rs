//! Where a command's program comes from: a file, a standard-library path such
//! as `stdlib/resnet.res` from any directory, or no file at all when the model
//! is a standard-library one (`resc summary --model resnet50`).

use std::path::Path;

use resc::driver;
use resc::sema::Program;
use resc::stdlib;

use super::failure::{CliError, Failure, could_not_run, has_errors};

/// The program for `file`, or for `model` alone the standard-library module
/// that defines it.
pub fn load(file: Option<&Path>, model: Option<&str>) -> Result<Program, Failure> {
    match (file, model) {
        (Some(path), _) => load_path(path),
        (None, Some(name)) => stdlib_program_with(name),
        (None, None) => Err(could_not_run(CliError::NoInput)),
    }
}

/// A file on disk; `stdlib/NAME.res` that is not on disk is the built-in module,
/// which is what `resc list` prints.
pub fn load_path(path: &Path) -> Result<Program, Failure> {
    if !path.exists()
        && let Some(module) = builtin_module(path)
    {
        let text = stdlib::source(module).expect("a listed module");
        return Ok(Program::load_text(&stdlib::display_name(module), None, text));
    }
    driver::load(path).map_err(|e| could_not_run(CliError::unreadable(path, e)))
}

/// `stdlib/resnet.res` (or `./stdlib/resnet.res`) names the module `resnet`.
fn builtin_module(path: &Path) -> Option<&'static str> {
    let parent = path.parent()?;
    if parent.file_name()? != "stdlib" || parent.parent().is_some_and(|p| !matches!(p.to_str(), Some("" | "."))) {
        return None;
    }
    let stem = path.file_name()?.to_str()?.strip_suffix(".res")?;
    stdlib::NAMES.iter().copied().find(|n| *n == stem)
}

/// The standard-library modules with the models each defines, in `NAMES` order.
pub fn stdlib_programs() -> Vec<(&'static str, Program)> {
    stdlib::NAMES
        .iter()
        .map(|&m| (m, Program::load_text(&stdlib::display_name(m), None, stdlib::source(m).expect("listed"))))
        .collect()
}

fn model_names(prog: &Program) -> Vec<String> {
    prog.root_models().into_iter().map(|m| prog.model(m).name.name.clone()).collect()
}

fn stdlib_program_with(name: &str) -> Result<Program, Failure> {
    let mut all = Vec::new();
    for (_, prog) in stdlib_programs() {
        let names = model_names(&prog);
        if names.iter().any(|n| n == name) {
            return Ok(prog);
        }
        all.extend(names);
    }
    let closest = all
        .iter()
        .map(|n| (strsim::damerau_levenshtein(name, n), n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min_by_key(|(d, _)| *d);
    let help = match closest {
        Some((_, n)) => {
            format!("did you mean `{n}`? (`resc list` names every model; a model of your own needs its file)")
        }
        None => "`resc list` names every model; a model of your own needs its file: resc FILE.res --model NAME".into(),
    };
    Err(has_errors(CliError::UnknownStdlibModel { name: name.into(), help }))
}

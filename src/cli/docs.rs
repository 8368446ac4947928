//! Shell completions and the man page, generated from the same definition as
//! `--help` by clap's own crates.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::failure::{CliError, Failure, could_not_run};

pub fn completions(shell: Shell) -> Result<(), Failure> {
    let mut cmd = crate::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "resc", &mut out);
    crate::write_stdout(&String::from_utf8_lossy(&out))
}

/// `resc.1` to standard output, or with `dir` one page per command there
/// (`resc.1`, `resc-run.1`, ...).
pub fn man(dir: Option<&Path>) -> Result<(), Failure> {
    let cmd = crate::Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| could_not_run(CliError::unwritable(dir, e)))?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| could_not_run(CliError::unwritable(dir, e)))
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| could_not_run(CliError::Usage(format!("cannot render the man page: {e}"))))?;
            crate::write_stdout(&String::from_utf8_lossy(&out))
        }
    }
}

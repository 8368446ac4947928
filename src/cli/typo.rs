//! `resc sumary file.res`: a first word that is neither a command nor a file
//! but close to a command's name is a typo, not a file to read.

use std::ffi::OsString;
use std::path::Path;

use super::failure::CliError;

/// The command the user probably meant, when `args[1]` looks like a typo.
pub fn mistyped_command(args: &[OsString], commands: &[String]) -> Option<CliError> {
    let first = args.get(1)?.to_str()?;
    if first.starts_with('-') || first.contains(['.', '/', '\\']) || Path::new(first).exists() {
        return None;
    }
    if commands.iter().any(|c| c == first) {
        return None;
    }
    let best = commands
        .iter()
        .map(|c| (strsim::damerau_levenshtein(first, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)?;
    Some(CliError::UnknownCommand { name: first.to_string(), suggestion: best.1.clone() })
}

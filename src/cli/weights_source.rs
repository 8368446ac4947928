//! Where a command's weights come from: a file (safetensors or a PyTorch
//! checkpoint), or reproducible random values.

use std::collections::HashMap;
use std::path::Path;

use resc::diag::Diag;
use resc::ir::Graph;
use resc::weights::WeightsError;

use super::failure::{Failure, could_not_run};
use crate::{Color, report_diags};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("no weights")]
#[diagnostic(
    code(resc::run::no_weights),
    help("give --weights FILE.safetensors (or a .pth checkpoint) or --random-weights SEED")
)]
pub struct NoWeights;

/// The weights from `path`, else random ones from `seed`, else from
/// `default_seed` with a note saying so (or an error without one).
pub fn load(
    path: Option<&Path>,
    seed: Option<u64>,
    g: &Graph,
    default_seed: Option<u64>,
) -> Result<HashMap<String, Vec<f32>>, Failure> {
    match (path, seed.or(default_seed)) {
        // An unreadable or malformed file is exit 2; weights that do not fit the model, 1.
        (Some(path), _) => {
            let (weights, notes) = resc::weights::load(path, g).map_err(|e| match e {
                WeightsError::Unreadable(_) | WeightsError::Invalid(_) => could_not_run(e),
                e => report_diags(&[Diag::new(e)], Color::Auto),
            })?;
            for n in notes {
                eprintln!("note: {}: {n}", path.display());
            }
            Ok(weights)
        }
        (None, Some(s)) => {
            if seed.is_none() {
                eprintln!("note: no --weights: random weights (seed {s}); give --weights FILE for trained ones");
            }
            Ok(resc::weights::random(g, s))
        }
        (None, None) => Err(could_not_run(NoWeights)),
    }
}

//! What the trial-loop experiments (context.rs, savings.rs, sequence.rs)
//! share: one seed's network from a description, and the errors of a loop
//! that drives an engine from the host.

use crate::build::{Network, build};
use crate::description::{Override, load_with};
use crate::engine::EngineError;
use crate::simulation::RunError;
use std::path::{Path, PathBuf};

/// The network of `path` with `overrides` and `network.seed = seed`, built.
/// The error names the file.
pub fn build_seeded(path: &Path, overrides: &[Override], seed: u64) -> Result<Network, String> {
    let mut all = overrides.to_vec();
    all.push(format!("network.seed={seed}").parse::<Override>()?);
    let desc = load_with(path, &all).map_err(|e| e.to_string())?;
    build(&desc).map_err(|e| format!("{}: {e}", path.display()))
}

/// What can go wrong in a trial loop (context memory, savings).
#[derive(Debug, thiserror::Error)]
pub enum TrialLoopError {
    /// The description does not load.
    #[error("{0}")]
    Description(String),
    /// The circuit lacks something the trial loop needs.
    #[error("{file}: {what}")]
    Circuit {
        /// The description.
        file: String,
        /// What is missing.
        what: String,
    },
    /// The protocol is impossible.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The engine failed.
    #[error("seed {seed}: {source}")]
    Engine {
        /// Seed.
        seed: u64,
        /// The cause.
        source: EngineError,
    },
    /// The engine could not be made.
    #[error("seed {seed}: {source}")]
    Run {
        /// Seed.
        seed: u64,
        /// The cause.
        source: Box<RunError>,
    },
    /// An output could not be written.
    #[error("cannot write {path}: {message}")]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Runs `run` for every seed, `parallel` at once, printing `line` of each
/// result (or its error) as it finishes when `progress` is set; returns
/// the results in seed order, or the first error in seed order.
pub fn run_seeds<R: Send, E: std::fmt::Display + Send>(
    seeds: &[u64],
    parallel: usize,
    progress: bool,
    run: impl Fn(u64) -> Result<R, E> + Sync,
    line: impl Fn(&R) -> String + Sync,
) -> Result<Vec<R>, E> {
    let order: Vec<usize> = (0..seeds.len()).collect();
    crate::simulation::run_in_parallel(seeds, &order, parallel, |&seed| {
        let r = run(seed);
        if progress {
            match &r {
                Ok(x) => eprintln!("seed {seed}: {}", line(x)),
                Err(e) => eprintln!("seed {seed}: {e}"),
            }
        }
        r
    })
    .into_iter()
    .collect()
}

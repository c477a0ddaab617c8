//! Motor sequences in clustered ensembles (../shared/EXPERIMENTS.md §4;
//! docs/sequences.md, src/sequence.rs): on the circuit of
//! examples/sequences.toml, one network per seed learns sequence A with
//! reward, then C, is tested (completion, chance, co-activation with and
//! without inhibition), learns B (A reversed), sleeps, and relearns A
//! after a gap; a twin network is taught A without reward. Prints the
//! table and the pass criteria; writes `OUT/summary.json`,
//! `OUT/table.txt`, `OUT/figure.png` and `OUT/tests_seedN.csv`.
//!
//! ```text
//! cargo run --release --example sequences -- [--seeds 1,2,3,4,5]
//!     [--set KEY=VALUE ...] [--max-trials 300] [--tests 20]
//!     [--sleep-ms 60000] [--backend cpu|gpu] [--parallel N] [--out DIR]
//! ```
//!
//! The exit status is 0 when every criterion holds for every seed, 1 when
//! one fails, 2 on an error.

use clap::Parser;
use renshaw::description::Override;
use renshaw::sequence::{ExperimentOptions, Protocol, run_experiment};
use renshaw::simulation::Backend;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    about = "Motor sequences: learning with reward, competition, interference, sleep, relearning"
)]
struct Args {
    /// The circuit.
    #[arg(long, default_value = "examples/sequences.toml")]
    description: PathBuf,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    seeds: Vec<u64>,
    /// Override a parameter or key path, as `renshaw run --set`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<Override>,
    /// Most trials of a learning phase.
    #[arg(long, default_value_t = Protocol::default().max_trials)]
    max_trials: usize,
    /// Cue tests per measurement.
    #[arg(long, default_value_t = Protocol::default().tests)]
    tests: usize,
    /// Sleep, ms.
    #[arg(long, default_value_t = Protocol::default().sleep_ms)]
    sleep_ms: f64,
    /// Tonic dopamine during sleep, Hz per DA neuron.
    #[arg(long, default_value_t = Protocol::default().sleep_da_rate)]
    sleep_da_rate: f64,
    /// The gap before relearning: fraction of the learned weight change lost.
    #[arg(long, default_value_t = Protocol::default().gap.weight_decay)]
    gap_decay: f64,
    /// Tests of the critic's running completion (0: no critic, full
    /// dopamine after every teaching trial).
    #[arg(long, default_value_t = Protocol::default().critic_trials)]
    critic_trials: f64,
    /// Engine.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Seeds at once (default: the number of cores; 1 for a GPU).
    #[arg(long)]
    parallel: Option<usize>,
    /// Output directory.
    #[arg(long, default_value = "runs/sequences")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let parallel = args.parallel.unwrap_or(args.backend.default_parallel());
    let defaults = Protocol::default();
    let opts = ExperimentOptions {
        description: args.description,
        seeds: args.seeds,
        overrides: args.overrides,
        backend: args.backend,
        parallel,
        protocol: Protocol {
            max_trials: args.max_trials,
            tests: args.tests,
            sleep_ms: args.sleep_ms,
            sleep_da_rate: args.sleep_da_rate,
            critic_trials: args.critic_trials,
            gap: renshaw::description::GapSpec {
                weight_decay: args.gap_decay,
                ..defaults.gap
            },
            ..defaults
        },
        out_dir: Some(args.out.clone()),
        progress: true,
    };
    eprintln!(
        "sequences: {} seed(s), {} at once, on {:?}",
        opts.seeds.len(),
        parallel.min(opts.seeds.len()),
        opts.backend
    );
    match run_experiment(&opts) {
        Ok(result) => {
            print!("{}", result.table());
            println!(
                "wall time {:.1} s; outputs in {}",
                result.wall_s,
                args.out.display()
            );
            if result.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

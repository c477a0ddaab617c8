//! Context-specific motor memories (Kim, Daie & Li, Nature 2025; see
//! ../shared/EXPERIMENTS.md §3, docs/context.md and src/context.rs): blocks
//! of trials in context 1, 2, 1', 2' on the circuit of
//! examples/context_memory.toml, one run per seed, in parallel. Prints the
//! table and the pass criteria; writes `OUT/summary.json`, `OUT/table.txt`,
//! `OUT/figure.png` (learning curves, coding-direction cosines), and per
//! seed `trials_seedN.csv`, `preparatory_seedN.npy` (trials x delay_e spike
//! counts) and `coding_directions_seedN.npy` (blocks x delay_e).
//!
//! ```text
//! cargo run --release --example context_memory -- [--seeds 1,2,3,4,5]
//!     [--set KEY=VALUE ...] [--max-trials 600] [--backend cpu|gpu]
//!     [--parallel N] [--out DIR]
//! ```
//!
//! The exit status is 0 when every criterion holds for every seed, 1 when
//! one fails, 2 on an error.

use clap::Parser;
use renshaw::context::{ExperimentOptions, Protocol, run_experiment};
use renshaw::description::Override;
use renshaw::simulation::Backend;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Context-specific motor memories: contexts 1, 2, 1', 2', several seeds")]
struct Args {
    /// The circuit.
    #[arg(long, default_value = "examples/context_memory.toml")]
    description: PathBuf,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    seeds: Vec<u64>,
    /// Override a parameter or key path, as `renshaw run --set`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<Override>,
    /// Most trials of a block.
    #[arg(long, default_value_t = Protocol::default().max_trials)]
    max_trials: usize,
    /// Trials of the switch rule's window.
    #[arg(long, default_value_t = Protocol::default().window)]
    window: usize,
    /// Pause of the tonic dopamine after an error of -1, ms.
    #[arg(long, default_value_t = Protocol::default().dip_ms)]
    dip_ms: f64,
    /// The critic: `per_state` (context x cue) or `global`.
    #[arg(long, default_value = "per_state")]
    critic: renshaw::context::Critic,
    /// Trials of the critic's reward average.
    #[arg(long, default_value_t = Protocol::default().critic_trials)]
    critic_trials: f64,
    /// Spikes of a pool that make the choice (0: more spikes over the epoch).
    #[arg(long, default_value_t = Protocol::default().decision_spikes)]
    decision_spikes: u64,
    /// Overnight gap between blocks: fraction of the learned weight change lost.
    #[arg(long, default_value_t = Protocol::default().gap.weight_decay)]
    gap_decay: f64,
    /// Overnight gap: weight noise, SD as a fraction of Wmax.
    #[arg(long, default_value_t = Protocol::default().gap.weight_noise)]
    gap_noise: f64,
    /// Contexts of the blocks, in order (comma-separated 1s and 2s).
    #[arg(long, value_delimiter = ',', default_value = "1,2,1,2")]
    blocks: Vec<u8>,
    /// Engine.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Runs at once (default: the number of cores; 1 for a GPU).
    #[arg(long)]
    parallel: Option<usize>,
    /// Output directory.
    #[arg(long, default_value = "runs/context_memory")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let parallel = args.parallel.unwrap_or(args.backend.default_parallel());
    let opts = ExperimentOptions {
        description: args.description,
        seeds: args.seeds,
        overrides: args.overrides,
        backend: args.backend,
        parallel,
        protocol: Protocol {
            max_trials: args.max_trials,
            window: args.window,
            blocks: args.blocks,
            dip_ms: args.dip_ms,
            gap: renshaw::description::GapSpec {
                weight_decay: args.gap_decay,
                weight_noise: args.gap_noise,
            },
            decision_spikes: args.decision_spikes,
            critic_trials: args.critic_trials,
            critic: args.critic,
            ..Protocol::default()
        },
        out_dir: Some(args.out.clone()),
        progress: true,
    };
    eprintln!(
        "context memory: {} seed(s), {} at once, on {:?}",
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

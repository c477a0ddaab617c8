//! Savings: faster relearning of a force field (Shahbazi et al., eLife
//! 2026; see ../shared/EXPERIMENTS.md §2, docs/savings.md and
//! src/savings.rs): baseline, curl field, washout, field again, on the
//! circuit of examples/savings.toml, one run per seed, in parallel. Prints
//! the table and the pass criteria; writes `OUT/summary.json`,
//! `OUT/table.txt`, `OUT/figure.png` and per seed `trials_seedN.csv`.
//!
//! ```text
//! cargo run --release --example savings -- [--seeds 1,2,3,4,5]
//!     [--set KEY=VALUE ...] [--backend cpu|gpu] [--parallel N] [--out DIR]
//! cargo run --release --example savings -- --sizes 250,500,1000,2000   # savings vs size
//! ```
//!
//! The exit status is 0 when every criterion holds for every seed, 1 when
//! one fails, 2 on an error.

use clap::Parser;
use renshaw::description::Override;
use renshaw::savings::{ExperimentOptions, Protocol, run_experiment, run_size_sweep};
use renshaw::simulation::Backend;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Savings: baseline, curl field, washout, field again, several seeds")]
struct Args {
    /// The circuit.
    #[arg(long, default_value = "examples/savings.toml")]
    description: PathBuf,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    seeds: Vec<u64>,
    /// Override a parameter or key path, as `renshaw run --set`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<Override>,
    /// Cycles of 8 reaches without field at the start.
    #[arg(long, default_value_t = Protocol::default().baseline_cycles)]
    baseline_cycles: usize,
    /// Cycles of each exposure to the field.
    #[arg(long, default_value_t = Protocol::default().field_cycles)]
    field_cycles: usize,
    /// Cycles of washout.
    #[arg(long, default_value_t = Protocol::default().washout_cycles)]
    washout_cycles: usize,
    /// Curl field gain, N s/m.
    #[arg(long, default_value_t = Protocol::default().curl)]
    curl: f64,
    /// Fraction of the fast pathway's change kept from trial to trial.
    #[arg(long, default_value_t = Protocol::default().retention_fast)]
    retention_fast: f64,
    /// Bias along the shift axis, mV per stride at one RMS of the axis.
    #[arg(long, default_value_t = Protocol::default().bias_mv)]
    bias_mv: f64,
    /// Lateral error that gives a full error signal, m.
    #[arg(long, default_value_t = Protocol::default().error_full_m)]
    error_full_m: f64,
    /// Washout ends once the error is back within this multiple of the baseline error.
    #[arg(long, default_value_t = Protocol::default().washout_tolerance)]
    washout_tolerance: f64,
    /// The savings-vs-size sweep: the whole experiment at each network size
    /// N (0.8 N E, 0.2 N I), comma-separated, e.g. 250,500,1000,2000.
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Leave out the second exposures with the bias along and against the shift.
    #[arg(long)]
    no_bias: bool,
    /// Engine.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Runs at once (default: the number of cores; 1 for a GPU).
    #[arg(long)]
    parallel: Option<usize>,
    /// Output directory.
    #[arg(long, default_value = "runs/savings")]
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
            baseline_cycles: args.baseline_cycles,
            field_cycles: args.field_cycles,
            washout_cycles: args.washout_cycles,
            curl: args.curl,
            retention_fast: args.retention_fast,
            bias_mv: args.bias_mv,
            error_full_m: args.error_full_m,
            washout_tolerance: args.washout_tolerance,
            bias_runs: !args.no_bias,
            ..Protocol::default()
        },
        out_dir: Some(args.out.clone()),
        progress: true,
    };
    eprintln!(
        "savings: {} seed(s), {} at once, on {:?}",
        opts.seeds.len(),
        parallel.min(opts.seeds.len()),
        opts.backend
    );
    if !args.sizes.is_empty() {
        return match run_size_sweep(&opts, &args.sizes) {
            Ok((sizes, criterion)) => {
                println!(
                    "{:>6} {:>5} {:>5}  savings per seed (1 - trials2/trials1)  mean",
                    "N", "E", "I"
                );
                for s in &sizes {
                    let per: Vec<String> = s
                        .savings
                        .iter()
                        .map(|(seed, v)| format!("{seed}:{v:.2}"))
                        .collect();
                    println!(
                        "{:>6} {:>5} {:>5}  {}  {:.2}",
                        s.neurons,
                        s.n_e,
                        s.n_i,
                        per.join(" "),
                        s.mean_savings
                    );
                }
                for s in &sizes {
                    println!("N = {}:", s.neurons);
                    for c in &s.result.criteria {
                        println!("{}", c.line());
                    }
                }
                println!("{}", criterion.line());
                println!(
                    "outputs in {} (N<size>/ per size, sizes.csv)",
                    args.out.display()
                );
                let all = criterion.holds() && sizes.iter().all(|s| s.result.passed());
                if all {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
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

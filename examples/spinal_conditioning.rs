//! The spinal conditioning experiment (Lavaud et al., Science 2024; see
//! ../shared/EXPERIMENTS.md §1 and docs/spinal.md): every condition
//! (control with day-2 role swap, dorsal inhibitory, dorsal excitatory and
//! Renshaw lesions, recall after a night with and without Renshaw cells)
//! on the circuit of examples/spinal_conditioning.toml, for several seeds,
//! in parallel on the CPU engine. Prints the table, checks every pass
//! criterion, writes `OUT/table.txt`, `OUT/results.json`, `OUT/figure.png`
//! (master vs yoked foot height with the cue raster) and one run directory
//! per condition and seed.
//!
//! ```text
//! cargo run --release --example spinal_conditioning -- [--seeds 1,2,3,4,5]
//!     [--set KEY=VALUE ...] [--only control,lesion_DI] [--backend cpu|gpu]
//!     [--parallel N] [--out DIR]
//! ```
//!
//! `--set session=120000` shortens every session to 2 simulated minutes.
//! The exit status is 0 when every criterion holds for every seed, 1 when
//! one fails, 2 on an error.

use clap::Parser;
use renshaw::description::Override;
use renshaw::simulation::Backend;
use renshaw::spinal::{ExperimentOptions, run_experiment};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Spinal conditioning: every condition, several seeds, the paper's table")]
struct Args {
    /// The description (circuit, instances, default protocol).
    #[arg(long, default_value = "examples/spinal_conditioning.toml")]
    description: PathBuf,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    seeds: Vec<u64>,
    /// Override a parameter or key path, as `renshaw run --set`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<Override>,
    /// Only these conditions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Engine.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Runs at once (default: the number of cores; 1 for a GPU).
    #[arg(long)]
    parallel: Option<usize>,
    /// Runs stepped together as one network (default: 1 on the CPU, where
    /// runs in parallel are faster; every run of the experiment on a GPU,
    /// where one step then serves all of them). Same results either way.
    #[arg(long)]
    batch: Option<usize>,
    /// Output directory.
    #[arg(long, default_value = "runs/spinal_conditioning")]
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
        out_dir: Some(args.out.clone()),
        parallel,
        only: args.only,
        batch: args.batch.unwrap_or(match args.backend {
            Backend::Gpu => usize::MAX,
            _ => 1,
        }),
    };
    let how = if opts.batch > 1 {
        "runs stepped together in batches".to_string()
    } else {
        format!("{parallel} runs at once")
    };
    eprintln!(
        "spinal conditioning: {} seeds, {how}, output in {}",
        opts.seeds.len(),
        args.out.display()
    );
    let result = match run_experiment(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let table = result.table();
    print!("{table}");
    let write = |name: &str, text: String| {
        let path = args.out.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            false
        } else {
            true
        }
    };
    let mut ok = write("table.txt", table);
    ok &= write(
        "results.json",
        serde_json::to_string_pretty(&result).expect("results serialize") + "\n",
    );
    if result.runs.iter().any(|r| r.condition == "control") {
        match result.figure(&args.out.join("figure.png")) {
            Ok(()) => eprintln!("figure: {}", args.out.join("figure.png").display()),
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
            }
        }
    }
    if !ok {
        return ExitCode::from(2);
    }
    if result.criteria.iter().all(|c| c.holds()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

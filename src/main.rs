//! The `renshaw` command line: a thin layer over the library.

use clap::{Parser, Subcommand};
use renshaw::bench::{self, BenchBackend, BenchOptions};
use renshaw::description;
use renshaw::description::Override;
use renshaw::models::ModelKind;
use renshaw::simulation::{Backend, RunError, RunOptions, run_file_with};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "renshaw",
    version = bench::LONG_VERSION,
    about = "Spiking neural network simulator with NEST's LIF models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate, build and simulate a description; write .npy recordings and summary.json.
    Run {
        /// Description file (.toml or .json).
        file: PathBuf,
        /// Output directory (default: runs/<file stem>).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Engine to run on.
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// CPU threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Do not print progress.
        #[arg(short, long)]
        quiet: bool,
        /// Override a parameter (`scale=0.1`) or any key path
        /// (`run.duration=500`, `projections[0].synapse.weight=0.2`); repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Override>,
    },
    /// Time standard networks (or any description) from file to finished
    /// simulation; append JSON lines to --out and print a table.
    ///
    /// Each suite and backend gets --warmup unmeasured runs, then --repeats
    /// measured ones with the same seed. Nothing is written but the JSON
    /// lines (recorded spikes are dropped after each chunk).
    Bench {
        /// Suites (`renshaw bench --list`) or description files, each
        /// optionally NAME@SCALE to set the `scale` parameter (pd14@0.1).
        /// Default: brunel.
        #[arg(value_name = "SUITE")]
        suites: Vec<String>,
        /// List the suites and exit.
        #[arg(long)]
        list: bool,
        /// Backends, comma-separated (default: cpu, and gpu when a hardware
        /// GPU is found; a software adapter only when asked for).
        #[arg(long, value_enum, value_delimiter = ',')]
        backend: Option<Vec<BenchBackend>>,
        /// Measured runs per suite and backend.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Unmeasured runs before them.
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        /// Override a parameter or key path in every suite; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Override>,
        /// Simulated time per run, ms (replaces run.duration).
        #[arg(long, value_name = "MS")]
        duration: Option<f64>,
        /// JSON-lines file to append to.
        #[arg(long, default_value = "runs/bench/bench.jsonl")]
        out: PathBuf,
        /// Threads of the build and the CPU engine (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Remove the descriptions' [[record]]s (the engines record nothing).
        #[arg(long)]
        no_record: bool,
        /// No progress on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a description over a grid of parameters and seeds (a sweep file,
    /// see docs/sweep.md); one row per instance in results.csv/.json.
    ///
    /// Finished instances are saved as they finish: running the same sweep
    /// again after an interruption runs only what is missing.
    Sweep {
        /// Sweep file (.toml).
        file: PathBuf,
        /// Output directory (default: runs/sweeps/<file stem>).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Engine to run on (a GPU runs one instance at a time).
        #[arg(long, value_enum, default_value_t = Backend::Cpu)]
        backend: Backend,
        /// Instances at once (default: all cores on the CPU, 1 on a GPU).
        #[arg(long)]
        parallel: Option<usize>,
        /// Also keep every instance's run directory (runs/NNNNN/).
        #[arg(long)]
        keep_runs: bool,
        /// Step this many instances together as one network: one pass of
        /// the GPU for all of them (the default there: 1024, halved until
        /// a batch fits the adapter), one multithreaded engine on the CPU
        /// (default there: 1, instances in parallel instead).
        #[arg(long)]
        batch: Option<usize>,
        /// Override a parameter or key path in every instance; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Override>,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Compare the statistics of two runs: means side by side and a
    /// Kolmogorov-Smirnov test of each per-neuron distribution.
    Compare {
        /// First run's output directory.
        run_a: PathBuf,
        /// Second run's output directory.
        run_b: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Draw a run's spike raster (raster.png) and rate histograms (rates.png).
    Plot {
        /// The run's output directory.
        run: PathBuf,
        /// Where to write the pictures (default: the run directory).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Check descriptions and print every problem found.
    Validate {
        /// Description files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Override a parameter or key path before checking; repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<Override>,
    },
    /// List the GPU adapters wgpu finds, with the limits that matter.
    Info {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the neuron models with their parameters, defaults and state variables.
    Models {
        /// Only this model.
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            file,
            out,
            backend,
            threads,
            quiet,
            set,
        } => {
            if threads == Some(0) {
                eprintln!("error: --threads must be at least 1");
                return ExitCode::from(2);
            }
            let out_dir = out.unwrap_or_else(|| {
                PathBuf::from("runs").join(
                    file.file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "run".into()),
                )
            });
            let opts = RunOptions {
                backend,
                threads,
                out_dir: Some(out_dir.clone()),
                keep_in_memory: false,
                progress: !quiet,
                ..Default::default()
            };
            match run_file_with(&file, &set, &opts) {
                Ok(output) => {
                    let s = &output.summary;
                    println!(
                        "{}: {} neurons, {} synapses, {} ms on {}",
                        s.description, s.neurons, s.synapses, s.duration_ms, s.backend
                    );
                    println!(
                        "build {:.3} s, simulate {:.3} s (real-time factor {:.3})",
                        s.timings.build_s, s.timings.simulate_s, s.timings.real_time_factor
                    );
                    if s.warmup_ms > 0.0 {
                        println!(
                            "statistics over ({}, {}] ms (after the warmup)",
                            s.warmup_ms, s.duration_ms
                        );
                    }
                    println!(
                        "{:<16} {:>14} {:>10} {:>12} {:>8} {:>8}",
                        "population", "model", "size", "rate (Hz)", "CV ISI", "corr"
                    );
                    let or_dash = |v: Option<f64>| v.map_or("-".to_string(), |c| format!("{c:.3}"));
                    for (name, p) in &s.populations {
                        println!(
                            "{:<16} {:>14} {:>10} {:>12.3} {:>8} {:>8}",
                            name,
                            p.model,
                            p.size,
                            p.rate_hz,
                            or_dash(p.cv_isi),
                            or_dash(p.correlation)
                        );
                    }
                    if !s.parameters.is_empty() {
                        let list: Vec<String> = s
                            .parameters
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect();
                        println!("parameters: {}", list.join(" "));
                    }
                    println!("output in {}", out_dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => report(e),
            }
        }
        Command::Sweep {
            file,
            out,
            backend,
            parallel,
            keep_runs,
            batch,
            set,
            quiet,
        } => {
            let sweep = match renshaw::sweep::Sweep::load(&file, &set) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let out = out.unwrap_or_else(|| {
                PathBuf::from("runs/sweeps").join(file.file_stem().unwrap_or_default())
            });
            let parallel = parallel.unwrap_or(backend.default_parallel());
            let opts = renshaw::sweep::SweepOptions {
                out_dir: out.clone(),
                backend,
                parallel,
                progress: !quiet,
                keep_runs,
                batch: batch.unwrap_or(match backend {
                    Backend::Cpu => 1,
                    _ => 1024,
                }),
            };
            if !quiet {
                let how = if opts.batch > 1 {
                    format!("in batches of up to {}", opts.batch)
                } else {
                    format!("{parallel} at once")
                };
                eprintln!(
                    "{}: {} instances of {} on {:?}, {how}, output in {}",
                    file.display(),
                    sweep.instances.len(),
                    sweep.base.display(),
                    backend,
                    out.display()
                );
            }
            match renshaw::sweep::run_sweep(&sweep, &opts) {
                Ok(outcome) => {
                    let ran = outcome.results.len() - outcome.reused;
                    println!(
                        "{} instances ({ran} run now, {} from an earlier run) in {:.1} s",
                        outcome.results.len(),
                        outcome.reused,
                        outcome.wall_s
                    );
                    if ran > 0 {
                        let simulated: f64 = outcome
                            .results
                            .iter()
                            .filter(|r| r.ran_now)
                            .filter_map(|r| r.measures.get("duration_s"))
                            .sum();
                        println!(
                            "throughput: {simulated:.1} instance-seconds simulated in {:.1} s of wall time = {:.2} instance-s per wall-s",
                            outcome.wall_s,
                            simulated / outcome.wall_s
                        );
                    }
                    for f in &outcome.files {
                        println!("wrote {}", f.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bench {
            suites,
            list,
            backend,
            repeats,
            warmup,
            set,
            duration,
            out,
            threads,
            no_record,
            quiet,
        } => {
            if list {
                print!("{}", bench::list_suites(None));
                return ExitCode::SUCCESS;
            }
            let opts = BenchOptions {
                targets: suites,
                backends: backend,
                repeats,
                warmup,
                overrides: set,
                duration_ms: duration,
                threads,
                out: Some(out.clone()),
                record: !no_record,
                progress: !quiet,
                ..Default::default()
            };
            match bench::run_bench(&opts) {
                Ok(report) => {
                    for n in &report.notes {
                        eprintln!("note: {n}");
                    }
                    print!("{}", bench::table(&report));
                    if let Some(s) = report.summaries.first() {
                        println!(
                            "means of {} measured run{} after {} warm-up, {} threads, commit {}{}; JSON lines (min/max too) appended to {}",
                            s.repeats,
                            if s.repeats == 1 { "" } else { "s" },
                            s.warmup,
                            s.threads,
                            s.git_commit,
                            if s.git_dirty == Some(true) {
                                " (modified)"
                            } else {
                                ""
                            },
                            out.display()
                        );
                    }
                    if report.failures == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(bench::BenchError::Description(e)) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Compare { run_a, run_b, json } => {
            let text = match renshaw::output::compare::compare_runs(&run_a, &run_b) {
                Ok(c) if json => serde_json::to_string_pretty(&c).expect("serializes") + "\n",
                Ok(c) => renshaw::output::compare::render(&c),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            ExitCode::SUCCESS
        }
        Command::Plot { run, out } => {
            let out = out.unwrap_or_else(|| run.clone());
            match renshaw::output::plot::plot_run(&run, &out) {
                Ok(files) => {
                    println!("{}", files.raster.display());
                    println!("{}", files.rates.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Validate { files, set } => {
            let mut failed = false;
            for f in files {
                match description::load_with(&f, &set) {
                    Ok(d) => {
                        let n: usize = d.populations.iter().map(|p| p.size).sum();
                        println!(
                            "{}: ok ({} populations, {n} neurons, {} projections, {} stimuli)",
                            f.display(),
                            d.populations.len(),
                            d.projections.len(),
                            d.stimuli.len()
                        );
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Info { json } => {
            let adapters = renshaw::engine::gpu::list_adapters();
            if json {
                let text = serde_json::to_string_pretty(&adapters).expect("serializes") + "\n";
                // A closed pipe (`| head`) is not an error worth a panic.
                let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
                return ExitCode::SUCCESS;
            }
            println!(
                "renshaw {}; CPU engine: {} threads",
                env!("CARGO_PKG_VERSION"),
                rayon::current_num_threads()
            );
            if adapters.is_empty() {
                println!(
                    "no GPU adapter found (--backend gpu will fail; auto uses the CPU engine)"
                );
            }
            for (i, a) in adapters.iter().enumerate() {
                println!(
                    "adapter {i}: {} [{} {}]{}",
                    a.name,
                    a.backend,
                    a.device_type,
                    if a.usable {
                        ""
                    } else {
                        " (not usable by renshaw)"
                    }
                );
                println!("  driver:                       {}", a.driver);
                println!(
                    "  max buffer size:              {} MiB",
                    a.max_buffer_size >> 20
                );
                println!(
                    "  max storage binding size:     {} MiB",
                    a.max_storage_buffer_binding_size >> 20
                );
                println!(
                    "  storage buffers per kernel:   {}",
                    a.max_storage_buffers_per_shader_stage
                );
                println!(
                    "  invocations per workgroup:    {}",
                    a.max_compute_invocations_per_workgroup
                );
                println!(
                    "  workgroups per dimension:     {}",
                    a.max_compute_workgroups_per_dimension
                );
            }
            ExitCode::SUCCESS
        }
        Command::Models { name } => {
            let models: Vec<ModelKind> = match name {
                None => ModelKind::ALL.to_vec(),
                Some(n) => match ModelKind::from_name(&n) {
                    Some(m) => vec![m],
                    None => {
                        let all: Vec<&str> = ModelKind::ALL.iter().map(|m| m.name()).collect();
                        eprintln!("error: unknown model `{n}`; models: {}", all.join(", "));
                        return ExitCode::from(2);
                    }
                },
            };
            for m in models {
                println!("{} (synaptic weights in {})", m.name(), m.weight_unit());
                println!("  parameters:");
                for p in m.params() {
                    println!(
                        "    {:<18} {:>10} {:<5} {}",
                        p.name, p.default, p.unit, p.doc
                    );
                }
                println!("  state variables:");
                for s in m.state() {
                    println!("    {:<18} {:<5} {}", s.name, s.unit, s.doc);
                }
            }
            ExitCode::SUCCESS
        }
    }
}

fn report(e: RunError) -> ExitCode {
    match &e {
        RunError::Description(_) => eprintln!("{e}"),
        _ => eprintln!("error: {e}"),
    }
    ExitCode::FAILURE
}

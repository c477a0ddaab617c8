//! `renshaw bench`: timed runs of standard networks, for figures that can
//! stand next to NEST's and GeNN's.
//!
//! A benchmark target is a named suite (a description shipped in
//! `examples/`, [`SUITES`]) or any description file, optionally with a scale
//! (`pd14@0.1` is `pd14` with `--set scale=0.1`). For every target and
//! backend, [`run_bench`] does `warmup` unmeasured runs and then `repeats`
//! measured ones, each from the description file to the finished simulation:
//! read and validate, build the network, create the engine (upload it), and
//! simulate. Every run uses the same seed (the description's, or `--set
//! network.seed=...`), so the runs do the same work and differ only in
//! timing. Nothing is written to disk but the JSON lines: recorded spikes and
//! samples are handed back by the engine as in a real run and then dropped,
//! weight recordings are not taken.
//!
//! Each measured run gives a [`RunRecord`] and each (target, backend) a
//! [`SummaryRecord`]; both go to a JSON-lines file, one object per line,
//! told apart by their `record` field.

use crate::build::{Network, Stimulus, build};
use crate::description::{self, DescriptionErrors, Override};
use crate::engine::cpu::CpuEngine;
use crate::engine::{Chunk, Engine};
use crate::simulation::{RunError, gpu_engine};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// renshaw's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from (`git rev-parse --short HEAD`),
/// or "unknown" when it was not built from a git checkout.
pub const GIT_COMMIT: &str = env!("RENSHAW_GIT_COMMIT");
/// Whether tracked files differed from [`GIT_COMMIT`] at build time: "true",
/// "false" or "unknown".
pub const GIT_DIRTY: &str = env!("RENSHAW_GIT_DIRTY");
/// Version, commit and dirty flag in one line (`renshaw --version`).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RENSHAW_GIT_COMMIT"),
    ", modified: ",
    env!("RENSHAW_GIT_DIRTY"),
    ")"
);

/// A named benchmark: a description shipped in `examples/`.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// The name given on the command line.
    pub name: &'static str,
    /// The description file, relative to `examples/`.
    pub file: &'static str,
    /// What it is.
    pub about: &'static str,
}

/// The named suites.
pub const SUITES: &[Suite] = &[
    Suite {
        name: "brunel",
        file: "brunel.toml",
        about: "Brunel (2000) model A: 12,500 iaf_psc_delta, 15.6 M static synapses, Poisson drive",
    },
    Suite {
        name: "brunel_stdp",
        file: "brunel_stdp.toml",
        about: "brunel with stdp_synapse on its 10 M E -> E synapses (the plastic network)",
    },
    Suite {
        name: "cuba",
        file: "cuba.toml",
        about: "Vogels & Abbott (2005) CUBA: 4,000 iaf_psc_exp, p = 0.02, no external drive",
    },
    Suite {
        name: "pd14",
        file: "pd14.toml",
        about: "Potjans & Diesmann (2014) microcircuit; pd14@SCALE sets `scale` (1: 77,169 neurons, ~3e8 synapses)",
    },
];

/// A backend to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchBackend {
    /// The multithreaded CPU engine.
    Cpu,
    /// The wgpu engine on the best adapter (software ones included).
    Gpu,
}

impl BenchBackend {
    /// "cpu" or "gpu".
    pub fn name(self) -> &'static str {
        match self {
            BenchBackend::Cpu => "cpu",
            BenchBackend::Gpu => "gpu",
        }
    }
}

/// What to benchmark and how.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Suite names or description files, each optionally `@SCALE`; empty: `brunel`.
    pub targets: Vec<String>,
    /// Backends; `None`: the CPU, and the GPU when a hardware adapter exists.
    pub backends: Option<Vec<BenchBackend>>,
    /// Measured runs per target and backend (at least 1).
    pub repeats: usize,
    /// Unmeasured runs before them.
    pub warmup: usize,
    /// `--set` overrides, applied to every target.
    pub overrides: Vec<Override>,
    /// Simulated time (ms), replacing the descriptions' `run.duration`.
    pub duration_ms: Option<f64>,
    /// Threads of the CPU engine and of the build (`None`: all cores).
    pub threads: Option<usize>,
    /// JSON-lines file to append to (`None`: none).
    pub out: Option<PathBuf>,
    /// Keep the descriptions' `[[record]]`s (their output is dropped after
    /// each chunk); `false` removes them, so the engines record nothing.
    pub record: bool,
    /// Steps per engine call.
    pub chunk_steps: u64,
    /// Progress bars and a line per run on stderr.
    pub progress: bool,
    /// Where suites' files are looked up; `None`: `./examples`, then the
    /// source tree's `examples/`.
    pub examples_dir: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            backends: None,
            repeats: 3,
            warmup: 1,
            overrides: Vec::new(),
            duration_ms: None,
            threads: None,
            out: None,
            record: true,
            chunk_steps: 1000,
            progress: false,
            examples_dir: None,
        }
    }
}

/// Why a benchmark could not start.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A name that is neither a suite nor a file.
    #[error(
        "unknown suite `{name}`; suites: {}; or give a description file (path/to/file.toml)",
        list_names()
    )]
    UnknownSuite {
        /// The name given.
        name: String,
    },
    /// A suite whose description file is not there.
    #[error("suite `{suite}`: its description file {file} does not exist (looked in {})", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    MissingFile {
        /// The suite.
        suite: String,
        /// Its file, as `examples/NAME.toml`.
        file: String,
        /// The directories looked in.
        looked: Vec<PathBuf>,
    },
    /// A description file given by path that does not exist.
    #[error("{0}: no such description file")]
    NoFile(PathBuf),
    /// A description did not validate.
    #[error("{0}")]
    Description(#[from] DescriptionErrors),
    /// `--backend gpu` without a usable adapter.
    #[error("--backend gpu: {0}")]
    NoGpu(String),
    /// Options that make no sense.
    #[error("{0}")]
    Options(String),
    /// The JSON-lines file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn list_names() -> String {
    SUITES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

/// A resolved benchmark target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The label in the output: the suite name or the path as given, with `@SCALE`.
    pub label: String,
    /// The suite, when it is one.
    pub suite: Option<&'static str>,
    /// The description file.
    pub path: PathBuf,
    /// The `scale` parameter set by `@SCALE`.
    pub scale: Option<f64>,
}

fn examples_dirs(opts_dir: Option<&Path>) -> Vec<PathBuf> {
    match opts_dir {
        Some(d) => vec![d.to_path_buf()],
        None => {
            let mut dirs = vec![PathBuf::from("examples")];
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
            let same = match (dirs[0].canonicalize(), source.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if !same {
                dirs.push(source);
            }
            dirs
        }
    }
}

/// Where a suite's file would be: the first of the directories that has it.
pub fn suite_path(suite: &Suite, examples_dir: Option<&Path>) -> Result<PathBuf, BenchError> {
    let dirs = examples_dirs(examples_dir);
    dirs.iter()
        .map(|d| d.join(suite.file))
        .find(|p| p.is_file())
        .ok_or_else(|| BenchError::MissingFile {
            suite: suite.name.to_string(),
            file: format!("examples/{}", suite.file),
            looked: dirs,
        })
}

/// Resolves `NAME[@SCALE]` or `FILE[@SCALE]`.
pub fn resolve(arg: &str, examples_dir: Option<&Path>) -> Result<Target, BenchError> {
    let (base, scale) = match arg.rsplit_once('@') {
        Some((b, s)) => match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => (b, Some(v)),
            _ => {
                return Err(BenchError::Options(format!(
                    "`{arg}`: the scale after `@` must be a positive number, e.g. pd14@0.1"
                )));
            }
        },
        None => (arg, None),
    };
    if let Some(suite) = SUITES.iter().find(|s| s.name == base) {
        return Ok(Target {
            label: arg.to_string(),
            suite: Some(suite.name),
            path: suite_path(suite, examples_dir)?,
            scale,
        });
    }
    let path = PathBuf::from(base);
    let looks_like_file = base.contains('/')
        || base.contains(std::path::MAIN_SEPARATOR)
        || base.ends_with(".toml")
        || base.ends_with(".json");
    if path.is_file() {
        Ok(Target {
            label: arg.to_string(),
            suite: None,
            path,
            scale,
        })
    } else if looks_like_file {
        Err(BenchError::NoFile(path))
    } else {
        Err(BenchError::UnknownSuite {
            name: base.to_string(),
        })
    }
}

/// The suites, one a line, with their files and whether they are present.
pub fn list_suites(examples_dir: Option<&Path>) -> String {
    let mut out = String::new();
    for s in SUITES {
        let file = format!("examples/{}", s.file);
        let missing = if suite_path(s, examples_dir).is_ok() {
            ""
        } else {
            " (file missing)"
        };
        out.push_str(&format!(
            "{:<12} {:<26} {}{missing}\n",
            s.name, file, s.about
        ));
    }
    out
}

/// The GPU adapter a run used.
#[derive(Debug, Clone, Serialize)]
pub struct AdapterRecord {
    /// Adapter name.
    pub name: String,
    /// wgpu backend (Vulkan, Metal, Dx12).
    pub backend: String,
    /// Discrete, integrated, virtual or CPU (software).
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
}

impl From<&wgpu::AdapterInfo> for AdapterRecord {
    fn from(i: &wgpu::AdapterInfo) -> Self {
        Self {
            name: i.name.clone(),
            backend: format!("{:?}", i.backend),
            device_type: format!("{:?}", i.device_type),
            driver: format!("{} {}", i.driver, i.driver_info).trim().to_string(),
        }
    }
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct MachineRecord {
    /// Host name, where readable.
    pub hostname: Option<String>,
    /// Operating system.
    pub os: &'static str,
    /// CPU architecture.
    pub arch: &'static str,
    /// CPUs this process may use (as `nproc`).
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo, where available.
    pub cpu_model: Option<String>,
    /// Physical memory, bytes (MemTotal), where available.
    pub memory_bytes: Option<u64>,
    /// 1-minute load average when the record was made: other work on the machine.
    pub load_average: Option<f64>,
}

impl MachineRecord {
    /// This machine.
    pub fn current() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| {
                let key = l.split(':').next().unwrap_or("").trim();
                key == "model name" || key == "Model" || key == "Hardware" || key == "cpu model"
            })
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| status_kib(&m, "MemTotal:"))
            .map(|k| k * 1024);
        Self {
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty()),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_bytes,
            load_average: load_average(),
        }
    }
}

fn status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident memory of this process, bytes (VmHWM; Linux only).
pub fn peak_host_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kib(&status, "VmHWM:").map(|k| k * 1024)
}

/// CPU time (user + system, all threads) this process has used, s, from
/// /proc/self/stat (Linux only; its clock ticks are USER_HZ = 100).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses: state is
    // field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The 1-minute load average (Linux only).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resets the peak resident memory to the current one (Linux >= 4.0), so
/// that the next [`peak_host_memory`] is the peak of what follows; `false`
/// where that is not possible (then the peak is the process's so far).
pub fn reset_peak_host_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Recurrent synaptic events: every spike of a neuron times its number of
/// outgoing synapses (its CSR row's length).
pub fn synaptic_events(net: &Network, spike_counts: &[u64]) -> u64 {
    let rows = &net.synapses.row_start;
    spike_counts
        .iter()
        .enumerate()
        .map(|(i, &c)| c * (rows[i + 1] - rows[i]))
        .sum()
}

/// Expected number of stimulus spike arrivals in the simulated time: the
/// mean count of every Poisson train (rate × dt × steps it emits in, per
/// target) plus the spike-time deliveries read within the run. The engines
/// draw Poisson counts without counting them, so this is an expectation.
pub fn stimulus_events_expected(net: &Network) -> f64 {
    net.stimuli
        .iter()
        .map(|s| match s {
            Stimulus::Poisson {
                targets,
                lambda,
                first_stamp,
                last_stamp,
                ..
            } => {
                let first = (*first_stamp).max(1);
                let last = (*last_stamp).min(net.steps);
                let stamps = if last >= first { last - first + 1 } else { 0 };
                lambda * stamps as f64 * targets.len() as f64
            }
            Stimulus::Deliveries(d) => d.iter().filter(|d| d.step < net.steps).count() as f64,
        })
        .sum()
}

/// One measured run: a JSON line with `"record": "run"`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// "run".
    pub record: &'static str,
    /// The target as given (`brunel`, `pd14@0.1`, `path/to/file.toml`).
    pub suite: String,
    /// The description file.
    pub description: String,
    /// The scale set by `@SCALE`.
    pub scale: Option<f64>,
    /// Every override applied, as `key=value`.
    pub overrides: Vec<String>,
    /// `[parameters]` as used.
    pub parameters: BTreeMap<String, f64>,
    /// "cpu" or "gpu".
    pub backend: &'static str,
    /// The engine's own description (threads, adapter).
    pub engine: String,
    /// The GPU adapter, for the GPU backend.
    pub adapter: Option<AdapterRecord>,
    /// This run's number among the measured ones, from 1.
    pub repeat: usize,
    /// Measured runs of this target and backend.
    pub repeats: usize,
    /// Unmeasured runs before them.
    pub warmup: usize,
    /// Seed (the same in every run).
    pub seed: u64,
    /// Step, ms.
    pub dt_ms: f64,
    /// Simulated time, ms.
    pub duration_ms: f64,
    /// Steps simulated.
    pub steps: u64,
    /// Neurons.
    pub neurons: usize,
    /// Recurrent synapses.
    pub synapses: usize,
    /// Whether any projection is plastic.
    pub plastic: bool,
    /// Whether the description's recorders were kept.
    pub recorded: bool,
    /// Threads of the build and of the CPU engine.
    pub threads: usize,
    /// Reading, `--set` and validating the description, s.
    pub parse_s: f64,
    /// From the description file to the network ready (`parse_s` included), s.
    pub build_s: f64,
    /// Creating the engine: state, and for the GPU the device, kernels and upload, s.
    pub engine_s: f64,
    /// Simulating `duration_ms`, s.
    pub simulate_s: f64,
    /// CPU time (all threads, user + system) the process used while
    /// simulating, s (Linux only). Well below `simulate_s × threads` on the
    /// CPU backend means the machine was busy with other work.
    pub simulate_cpu_s: Option<f64>,
    /// `build_s + engine_s + simulate_s`.
    pub total_s: f64,
    /// `simulate_s` per simulated second.
    pub real_time_factor: f64,
    /// Spikes of all neurons.
    pub spikes: u64,
    /// Mean rate over all neurons, Hz.
    pub rate_hz: f64,
    /// Recurrent synaptic events: Σ over neurons of spikes × outgoing synapses.
    pub synaptic_events: u64,
    /// `synaptic_events / simulate_s`.
    pub synaptic_events_per_s: f64,
    /// Expected stimulus spike arrivals (Poisson mean), not in `synaptic_events`.
    pub stimulus_events_expected: f64,
    /// Peak resident host memory, bytes (VmHWM; `None` off Linux).
    pub peak_host_memory_bytes: Option<u64>,
    /// "run" when the peak was reset before the run, "process" when it is the
    /// process's peak so far.
    pub peak_host_memory_scope: Option<&'static str>,
    /// Device memory the engine allocated, bytes (GPU only).
    pub device_memory_bytes: Option<u64>,
    /// renshaw's version.
    pub renshaw_version: &'static str,
    /// Git commit of the build, or "unknown".
    pub git_commit: &'static str,
    /// Whether the build had uncommitted changes (`None`: unknown).
    pub git_dirty: Option<bool>,
    /// The machine.
    pub machine: MachineRecord,
    /// Start of the run, UTC.
    pub date: String,
}

/// Mean, minimum and maximum of a quantity over the measured runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

impl Stat {
    fn of(values: impl Iterator<Item = f64> + Clone) -> Self {
        let n = values.clone().count().max(1) as f64;
        Self {
            mean: values.clone().sum::<f64>() / n,
            min: values.clone().fold(f64::INFINITY, f64::min),
            max: values.fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// One (target, backend): a JSON line with `"record": "summary"`.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRecord {
    /// "summary".
    pub record: &'static str,
    /// The target as given.
    pub suite: String,
    /// The description file.
    pub description: String,
    /// The scale set by `@SCALE`.
    pub scale: Option<f64>,
    /// Every override applied.
    pub overrides: Vec<String>,
    /// "cpu" or "gpu".
    pub backend: &'static str,
    /// The engine's own description.
    pub engine: String,
    /// The GPU adapter.
    pub adapter: Option<AdapterRecord>,
    /// Measured runs.
    pub repeats: usize,
    /// Unmeasured runs before them.
    pub warmup: usize,
    /// Seed.
    pub seed: u64,
    /// Simulated time per run, ms.
    pub duration_ms: f64,
    /// Neurons.
    pub neurons: usize,
    /// Recurrent synapses.
    pub synapses: usize,
    /// Threads.
    pub threads: usize,
    /// Spikes of the first measured run.
    pub spikes: u64,
    /// Whether every measured run had the same spike count (it should: same seed).
    pub spikes_identical: bool,
    /// Recurrent synaptic events of the first measured run.
    pub synaptic_events: u64,
    /// Description to network ready, s.
    pub build_s: Stat,
    /// Engine creation, s.
    pub engine_s: Stat,
    /// Simulation, s.
    pub simulate_s: Stat,
    /// Real-time factor.
    pub real_time_factor: Stat,
    /// Synaptic events per second of simulation.
    pub synaptic_events_per_s: Stat,
    /// CPU time used while simulating per wall second and thread, over the
    /// runs (Linux only): near 1 for the CPU engine on an idle machine.
    pub simulate_cpu_share: Option<f64>,
    /// Largest peak host memory of the runs, bytes.
    pub peak_host_memory_bytes: Option<u64>,
    /// Device memory, bytes.
    pub device_memory_bytes: Option<u64>,
    /// renshaw's version.
    pub renshaw_version: &'static str,
    /// Git commit of the build.
    pub git_commit: &'static str,
    /// Uncommitted changes in the build.
    pub git_dirty: Option<bool>,
    /// The machine.
    pub machine: MachineRecord,
    /// End of the last run, UTC.
    pub date: String,
}

/// A (target, backend) that could not run: a JSON line with `"record": "skipped"`.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedRecord {
    /// "skipped".
    pub record: &'static str,
    /// The target.
    pub suite: String,
    /// The backend.
    pub backend: &'static str,
    /// Why.
    pub reason: String,
    /// Git commit of the build.
    pub git_commit: &'static str,
    /// When, UTC.
    pub date: String,
}

/// What [`run_bench`] measured.
#[derive(Debug, Clone, Default)]
pub struct BenchReport {
    /// Every measured run.
    pub runs: Vec<RunRecord>,
    /// One per (target, backend) that ran.
    pub summaries: Vec<SummaryRecord>,
    /// Those that could not run, with the reason.
    pub skipped: Vec<SkippedRecord>,
    /// Remarks for the user (e.g. why the GPU was left out).
    pub notes: Vec<String>,
    /// (target, backend) pairs that failed while running (a subset of
    /// `skipped`; the others in it had no adapter).
    pub failures: usize,
}

fn git_dirty() -> Option<bool> {
    match GIT_DIRTY {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Overrides in the order they apply: `--set`s, then `@SCALE`, then
/// `--duration`; of several for one key the last counts.
fn overrides_for(target: &Target, opts: &BenchOptions) -> Vec<Override> {
    let mut all = opts.overrides.clone();
    if let Some(s) = target.scale {
        all.push(Override {
            key: "scale".into(),
            value: format!("{s}"),
        });
    }
    if let Some(d) = opts.duration_ms {
        all.push(Override {
            key: "run.duration".into(),
            value: format!("{d:?}"),
        });
    }
    let mut kept: Vec<Override> = Vec::new();
    for o in all.into_iter().rev() {
        if !kept.iter().any(|k| k.key == o.key) {
            kept.push(o);
        }
    }
    kept.reverse();
    kept
}

/// The measurements of one run before they become a record.
struct Measured {
    net: Arc<Network>,
    parameters: BTreeMap<String, f64>,
    engine: String,
    adapter: Option<AdapterRecord>,
    threads: usize,
    parse_s: f64,
    build_s: f64,
    engine_s: f64,
    simulate_s: f64,
    simulate_cpu_s: Option<f64>,
    spikes: u64,
    synaptic_events: u64,
    peak: Option<u64>,
    peak_scope: Option<&'static str>,
    device_memory: Option<u64>,
}

fn measure_once(
    target: &Target,
    overrides: &[Override],
    backend: BenchBackend,
    opts: &BenchOptions,
    bar: &ProgressBar,
) -> Result<Measured, RunError> {
    let reset = reset_peak_host_memory();
    bar.set_message("reading");
    let t0 = Instant::now();
    let mut desc = description::load_with(&target.path, overrides)?;
    if !opts.record {
        desc.records.clear();
    }
    // Weight recordings are output only: not taken.
    desc.weight_records.clear();
    let parse_s = t0.elapsed().as_secs_f64();
    bar.set_message("building");
    let net = Arc::new(build(&desc)?);
    let build_s = t0.elapsed().as_secs_f64();
    bar.set_message("engine");
    let t1 = Instant::now();
    let (mut engine, adapter): (Box<dyn Engine>, _) = match backend {
        BenchBackend::Cpu => (Box::new(CpuEngine::new(Arc::clone(&net), None)?), None),
        BenchBackend::Gpu => {
            let g = gpu_engine(Arc::clone(&net))?;
            let adapter = Some(AdapterRecord::from(g.adapter_info()));
            (Box::new(g), adapter)
        }
    };
    let engine_s = t1.elapsed().as_secs_f64();
    bar.set_length(net.steps);
    bar.set_position(0);
    bar.set_message("simulating");
    let cpu0 = process_cpu_seconds();
    let t2 = Instant::now();
    let mut done = 0;
    while done < net.steps {
        let n = opts.chunk_steps.max(1).min(net.steps - done);
        // Recorded output is handed back as in a real run, then dropped.
        let mut chunk = Chunk::default();
        engine.advance(n, &mut chunk)?;
        done += n;
        bar.set_position(done);
    }
    let simulate_s = t2.elapsed().as_secs_f64();
    let simulate_cpu_s = cpu0.and_then(|c0| Some(process_cpu_seconds()? - c0));
    let counts = engine.spike_counts();
    let device_memory = engine.device_memory_bytes();
    let describe = engine.describe();
    drop(engine);
    let peak = peak_host_memory();
    Ok(Measured {
        parameters: desc.parameters.iter().cloned().collect(),
        engine: describe,
        adapter,
        threads: rayon::current_num_threads(),
        parse_s,
        build_s,
        engine_s,
        simulate_s,
        simulate_cpu_s,
        spikes: counts.iter().sum(),
        synaptic_events: synaptic_events(&net, &counts),
        peak,
        peak_scope: peak.map(|_| if reset { "run" } else { "process" }),
        device_memory,
        net,
    })
}

fn append_line(
    file: &mut Option<(PathBuf, std::fs::File)>,
    value: &impl Serialize,
) -> Result<(), BenchError> {
    if let Some((path, f)) = file {
        let line = serde_json::to_string(value).expect("records serialize");
        writeln!(f, "{line}")
            .and_then(|_| f.flush())
            .map_err(|source| BenchError::Io {
                path: path.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Runs the benchmark: every target on every backend, `warmup` unmeasured
/// and `repeats` measured runs each, appending a JSON line per measured run
/// and per (target, backend) to `opts.out` as they finish.
///
/// Fails before running anything when a target is unknown, a file is
/// missing, a description is invalid, or `--backend gpu` alone finds no
/// adapter. A (target, backend) that fails while running (e.g. a network
/// the GPU cannot hold) is reported in [`BenchReport::skipped`] and the
/// others go on.
pub fn run_bench(opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    if opts.repeats == 0 {
        return Err(BenchError::Options("--repeats must be at least 1".into()));
    }
    if opts.threads == Some(0) {
        return Err(BenchError::Options("--threads must be at least 1".into()));
    }
    if let Some(d) = opts.duration_ms
        && !(d.is_finite() && d > 0.0)
    {
        return Err(BenchError::Options(
            "--duration must be a positive number of ms".into(),
        ));
    }
    let names = if opts.targets.is_empty() {
        vec!["brunel".to_string()]
    } else {
        opts.targets.clone()
    };
    let targets = names
        .iter()
        .map(|n| resolve(n, opts.examples_dir.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    // Every description must validate before the first run starts.
    let mut all_errors = Vec::new();
    for t in &targets {
        if let Err(e) = description::load_with(&t.path, &overrides_for(t, opts)) {
            all_errors.extend(e.0);
        }
    }
    if !all_errors.is_empty() {
        return Err(DescriptionErrors(all_errors).into());
    }

    let mut report = BenchReport::default();
    let backends = choose_backends(opts, &mut report)?;
    let mut file = match &opts.out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| BenchError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| BenchError::Io {
                    path: path.clone(),
                    source,
                })?;
            Some((path.clone(), f))
        }
        None => None,
    };
    let mut body = |report: &mut BenchReport| -> Result<(), BenchError> {
        for (b, reason) in &backends.skipped {
            for t in &targets {
                let s = SkippedRecord {
                    record: "skipped",
                    suite: t.label.clone(),
                    backend: b.name(),
                    reason: reason.clone(),
                    git_commit: GIT_COMMIT,
                    date: utc_now(),
                };
                append_line(&mut file, &s)?;
                report.skipped.push(s);
            }
        }
        let total = targets.len() * backends.run.len() * (opts.warmup + opts.repeats);
        let mut k = 0;
        for t in &targets {
            for &b in &backends.run {
                let overrides = overrides_for(t, opts);
                let mut runs: Vec<RunRecord> = Vec::new();
                let mut failure = None;
                for i in 0..opts.warmup + opts.repeats {
                    k += 1;
                    let warm = i < opts.warmup;
                    let what = if warm {
                        format!("warm-up {}/{}", i + 1, opts.warmup)
                    } else {
                        format!("run {}/{}", i + 1 - opts.warmup, opts.repeats)
                    };
                    let bar = progress_bar(
                        opts.progress,
                        &format!("[{k}/{total}] {} {} {what}", t.label, b.name()),
                    );
                    let date = utc_now();
                    let m = match measure_once(t, &overrides, b, opts, &bar) {
                        Ok(m) => m,
                        Err(e) => {
                            bar.finish_and_clear();
                            failure = Some(e.to_string());
                            break;
                        }
                    };
                    bar.finish_and_clear();
                    let duration_ms = m.net.steps as f64 * m.net.dt;
                    let rtf = m.simulate_s / (duration_ms * 1e-3);
                    if opts.progress {
                        eprintln!(
                            "{} {} {what}: build {:.3} s, engine {:.3} s, simulate {:.3} s (RTF {:.3}), {} spikes",
                            t.label,
                            b.name(),
                            m.build_s,
                            m.engine_s,
                            m.simulate_s,
                            rtf,
                            m.spikes
                        );
                    }
                    if warm {
                        continue;
                    }
                    let r = RunRecord {
                        record: "run",
                        suite: t.label.clone(),
                        description: t.path.display().to_string(),
                        scale: t.scale,
                        overrides: overrides
                            .iter()
                            .map(|o| format!("{}={}", o.key, o.value))
                            .collect(),
                        parameters: m.parameters,
                        backend: b.name(),
                        engine: m.engine,
                        adapter: m.adapter,
                        repeat: runs.len() + 1,
                        repeats: opts.repeats,
                        warmup: opts.warmup,
                        seed: m.net.seed,
                        dt_ms: m.net.dt,
                        duration_ms,
                        steps: m.net.steps,
                        neurons: m.net.n_neurons,
                        synapses: m.net.synapses.len(),
                        plastic: m.net.is_plastic(),
                        recorded: !m.net.recorders.is_empty(),
                        threads: m.threads,
                        parse_s: m.parse_s,
                        build_s: m.build_s,
                        engine_s: m.engine_s,
                        simulate_s: m.simulate_s,
                        simulate_cpu_s: m.simulate_cpu_s,
                        total_s: m.build_s + m.engine_s + m.simulate_s,
                        real_time_factor: rtf,
                        spikes: m.spikes,
                        rate_hz: m.spikes as f64 / m.net.n_neurons as f64 / (duration_ms * 1e-3),
                        synaptic_events: m.synaptic_events,
                        synaptic_events_per_s: m.synaptic_events as f64 / m.simulate_s,
                        stimulus_events_expected: stimulus_events_expected(&m.net),
                        peak_host_memory_bytes: m.peak,
                        peak_host_memory_scope: m.peak_scope,
                        device_memory_bytes: m.device_memory,
                        renshaw_version: VERSION,
                        git_commit: GIT_COMMIT,
                        git_dirty: git_dirty(),
                        machine: MachineRecord::current(),
                        date,
                    };
                    append_line(&mut file, &r)?;
                    runs.push(r);
                }
                if let Some(reason) = failure {
                    if opts.progress {
                        eprintln!("{} {}: skipped: {reason}", t.label, b.name());
                    }
                    let s = SkippedRecord {
                        record: "skipped",
                        suite: t.label.clone(),
                        backend: b.name(),
                        reason,
                        git_commit: GIT_COMMIT,
                        date: utc_now(),
                    };
                    append_line(&mut file, &s)?;
                    report.skipped.push(s);
                    report.failures += 1;
                    // Runs measured before the failure stay in the file, not in a summary.
                    continue;
                }
                let s = summarize(&runs);
                if let Some(share) = s.simulate_cpu_share
                    && b == BenchBackend::Cpu
                    && share < 0.75
                    && s.simulate_s.mean > 0.5
                {
                    report.notes.push(format!(
                        "{} cpu: the engine got {:.0}% of its {} threads' time while simulating (load average {}): other work on this machine slowed it down",
                        s.suite,
                        100.0 * share,
                        s.threads,
                        s.machine
                            .load_average
                            .map_or("unknown".to_string(), |l| format!("{l:.1}"))
                    ));
                }
                append_line(&mut file, &s)?;
                report.summaries.push(s);
                report.runs.extend(runs);
            }
        }
        Ok(())
    };
    match opts.threads {
        Some(t) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map_err(|e| BenchError::Options(format!("cannot start {t} threads: {e}")))?;
            pool.install(|| body(&mut report))?;
        }
        None => body(&mut report)?,
    }
    Ok(report)
}

struct Backends {
    run: Vec<BenchBackend>,
    skipped: Vec<(BenchBackend, String)>,
}

fn choose_backends(opts: &BenchOptions, report: &mut BenchReport) -> Result<Backends, BenchError> {
    let mut out = Backends {
        run: Vec::new(),
        skipped: Vec::new(),
    };
    match &opts.backends {
        None => {
            out.run.push(BenchBackend::Cpu);
            match crate::engine::gpu::best_adapter() {
                Ok(a) if a.get_info().device_type != wgpu::DeviceType::Cpu => {
                    out.run.push(BenchBackend::Gpu);
                }
                Ok(a) => report.notes.push(format!(
                    "GPU not benchmarked by default: the only adapter, `{}`, is a software one (ask for it with --backend cpu,gpu)",
                    a.get_info().name
                )),
                Err(e) => report.notes.push(format!("GPU not benchmarked: {e}")),
            }
        }
        Some(list) => {
            let mut list = list.clone();
            list.sort();
            list.dedup();
            if list.is_empty() {
                return Err(BenchError::Options(
                    "--backend: name cpu, gpu or both".into(),
                ));
            }
            let single = list.len() == 1;
            for b in list {
                if b == BenchBackend::Gpu
                    && let Err(e) = crate::engine::gpu::best_adapter()
                {
                    if single {
                        return Err(BenchError::NoGpu(e.to_string()));
                    }
                    report.notes.push(format!("GPU skipped: {e}"));
                    out.skipped.push((b, e.to_string()));
                    continue;
                }
                out.run.push(b);
            }
        }
    }
    Ok(out)
}

fn progress_bar(show: bool, prefix: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{prefix} {msg:10} [{bar:30}] {pos}/{len} steps, {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

fn summarize(runs: &[RunRecord]) -> SummaryRecord {
    let first = &runs[0];
    let stat = |f: fn(&RunRecord) -> f64| Stat::of(runs.iter().map(f));
    SummaryRecord {
        record: "summary",
        suite: first.suite.clone(),
        description: first.description.clone(),
        scale: first.scale,
        overrides: first.overrides.clone(),
        backend: first.backend,
        engine: first.engine.clone(),
        adapter: first.adapter.clone(),
        repeats: runs.len(),
        warmup: first.warmup,
        seed: first.seed,
        duration_ms: first.duration_ms,
        neurons: first.neurons,
        synapses: first.synapses,
        threads: first.threads,
        spikes: first.spikes,
        spikes_identical: runs.iter().all(|r| r.spikes == first.spikes),
        synaptic_events: first.synaptic_events,
        build_s: stat(|r| r.build_s),
        engine_s: stat(|r| r.engine_s),
        simulate_s: stat(|r| r.simulate_s),
        real_time_factor: stat(|r| r.real_time_factor),
        synaptic_events_per_s: stat(|r| r.synaptic_events_per_s),
        simulate_cpu_share: runs
            .iter()
            .map(|r| r.simulate_cpu_s)
            .sum::<Option<f64>>()
            .map(|cpu| {
                cpu / (runs.iter().map(|r| r.simulate_s).sum::<f64>() * first.threads as f64)
            }),
        peak_host_memory_bytes: runs.iter().filter_map(|r| r.peak_host_memory_bytes).max(),
        device_memory_bytes: runs.iter().filter_map(|r| r.device_memory_bytes).max(),
        renshaw_version: VERSION,
        git_commit: GIT_COMMIT,
        git_dirty: git_dirty(),
        machine: first.machine.clone(),
        date: utc_now(),
    }
}

fn si(v: f64) -> String {
    let (scaled, unit) = if v >= 1e9 {
        (v / 1e9, "G")
    } else if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    format!("{scaled:.3}{unit}")
}

fn bytes(b: Option<u64>) -> String {
    match b {
        None => "-".into(),
        Some(b) if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        Some(b) => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
    }
}

/// The readable table: one row per (target, backend), means over the measured runs.
pub fn table(report: &BenchReport) -> String {
    let mut out = format!(
        "{:<16} {:<7} {:>9} {:>12} {:>9} {:>9} {:>9} {:>8} {:>10} {:>10} {:>10}\n",
        "suite",
        "backend",
        "neurons",
        "synapses",
        "build s",
        "engine s",
        "sim s",
        "RTF",
        "events/s",
        "peak mem",
        "device mem"
    );
    for s in &report.summaries {
        out.push_str(&format!(
            "{:<16} {:<7} {:>9} {:>12} {:>9.3} {:>9.3} {:>9.3} {:>8.3} {:>10} {:>10} {:>10}\n",
            s.suite,
            s.backend,
            s.neurons,
            s.synapses,
            s.build_s.mean,
            s.engine_s.mean,
            s.simulate_s.mean,
            s.real_time_factor.mean,
            si(s.synaptic_events_per_s.mean),
            bytes(s.peak_host_memory_bytes),
            bytes(s.device_memory_bytes),
        ));
    }
    for s in &report.skipped {
        out.push_str(&format!(
            "{:<16} {:<7} skipped: {}\n",
            s.suite, s.backend, s.reason
        ));
    }
    out
}

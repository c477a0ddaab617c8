//! `renshaw sweep FILE`: one description run many times, over a grid of
//! parameter values and a list of seeds, with every instance's measures in
//! one table.
//!
//! A sweep file (TOML) names a base description and what varies:
//!
//! ```toml
//! base = "../spinal_conditioning.toml"   # relative to this file
//! seeds = { from = 1, to = 100 }         # or a list: [1, 2, 3]
//! [set]                                  # the same for every instance
//! session = 60000.0
//! [grid]                                 # every combination of these
//! threshold = [3.0, 4.0, 5.0]
//! [plot]                                 # optional: a measure against a grid key or "seed"
//! x = "threshold"
//! y = "day1.master_limb.below_threshold_percent"
//! ```
//!
//! Keys in `set` and `grid` are what `--set` takes: a parameter name or a
//! key path (`run.duration`, `projections[0].synapse.weight`). Every
//! instance's description is validated before anything runs, so a bad value
//! is reported against its key before any time is spent.
//!
//! Instances are independent runs (each with its own seed, parameters,
//! state and weights). On the CPU engine they run in parallel, one engine
//! thread each; on a GPU one after another.
//!
//! Output (`OUT`, by default `runs/sweeps/<file stem>`):
//! - `instances/NNNNN.json`: one file per finished instance, written whole
//!   (to a temporary name, then renamed), so an interrupted sweep loses
//!   only the instances that were running. Running the same sweep again
//!   skips every instance whose file is there and was made from the same
//!   base description text, overrides and seed (its `key`); others run again.
//! - `results.csv` and `results.json`: one row per instance: index, seed,
//!   the grid values, wall time, and every measure of the run's
//!   `summary.json` (see [`measures`]).
//! - `plot.png`, when `[plot]` names a measure.

use crate::description::{self, DescriptionErrors, Format, Override};
use crate::output::plot_sweep::{PlotPoint, plot_measure};
use crate::simulation::{Backend, RunError, RunOptions, RunOutput, run_batch, run_description};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Most instances one sweep file may expand to.
pub const MAX_INSTANCES: usize = 1_000_000;

/// What can go wrong with a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The sweep file is not valid TOML or has keys a sweep does not take.
    #[error("{path}: {message}")]
    File {
        /// The sweep file.
        path: PathBuf,
        /// What is wrong (with line and column when TOML says them).
        message: String,
    },
    /// An instance's description is invalid.
    #[error("{path}: instance {index} ({label}) is invalid:\n{errors}")]
    Instance {
        /// The sweep file.
        path: PathBuf,
        /// Instance index.
        index: usize,
        /// Its grid values and seed.
        label: String,
        /// The description's errors.
        errors: DescriptionErrors,
    },
    /// Instances failed while running (the others finished and are saved).
    #[error(
        "{failed} of {total} instances failed; the first: instance {index} ({label}): {message}"
    )]
    Failed {
        /// How many failed.
        failed: usize,
        /// How many there are.
        total: usize,
        /// The first failed instance.
        index: usize,
        /// Its grid values and seed.
        label: String,
        /// Its error.
        message: String,
    },
    /// `[plot]` names a measure or key the results do not have.
    #[error("{path}: [plot] {key} = \"{name}\" is not {what}; available: {available}")]
    Plot {
        /// The sweep file.
        path: PathBuf,
        /// `x` or `y`.
        key: &'static str,
        /// The name given.
        name: String,
        /// What it should be.
        what: &'static str,
        /// The names that exist.
        available: String,
    },
    /// The plot cannot be drawn.
    #[error("{0}")]
    Draw(String),
}

/// The seeds of a sweep file: a list or an inclusive range.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SeedsSpec {
    List(Vec<u64>),
    Range { from: u64, to: u64 },
}

/// `[plot]` of a sweep file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// A grid key or `seed`.
    pub x: String,
    /// A measure name (a column of `results.csv`).
    pub y: String,
}

/// What each instance runs: the base description as `renshaw run` does,
/// or a trial-loop experiment on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Experiment {
    /// `renshaw run` on the description (its protocol and bodies included).
    #[default]
    Run,
    /// The savings experiment (src/savings.rs) on the description, one seed
    /// per instance; `[savings]` sets its protocol.
    Savings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    base: String,
    #[serde(default)]
    experiment: Experiment,
    savings: Option<crate::savings::Protocol>,
    seeds: Option<SeedsSpec>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    grid: toml::Table,
    plot: Option<PlotSpec>,
}

/// One instance: the base description with these overrides and this seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Position in the sweep (grid order, seeds innermost).
    pub index: usize,
    /// Grid values, in the file's key order: (key, value as written).
    pub grid: Vec<(String, String)>,
    /// Seed (`network.seed`); `None` keeps the description's.
    pub seed: Option<u64>,
}

impl Instance {
    /// `threshold=3, seed=2`.
    pub fn label(&self) -> String {
        let mut parts: Vec<String> = self.grid.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(s) = self.seed {
            parts.push(format!("seed={s}"));
        }
        if parts.is_empty() {
            "the base description".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A loaded, validated sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The sweep file.
    pub path: PathBuf,
    /// The base description file.
    pub base: PathBuf,
    base_text: String,
    /// `[set]` (plus any given on the command line), for every instance.
    pub fixed: Vec<Override>,
    /// Grid keys in file order.
    pub grid_keys: Vec<String>,
    /// The instances.
    pub instances: Vec<Instance>,
    /// `[plot]`.
    pub plot: Option<PlotSpec>,
    /// What each instance runs.
    pub experiment: Experiment,
    /// The savings protocol (for `experiment = "savings"`).
    pub savings: crate::savings::Protocol,
    /// Seeds per grid combination (the innermost loop).
    seeds_per_combination: usize,
}

/// A TOML value as `--set` takes it: numbers and booleans as written,
/// strings bare, anything else as TOML.
fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Sweep {
    /// Reads and checks a sweep file; `extra` overrides are added to `[set]`
    /// (the command line's `--set`).
    pub fn load(path: &Path, extra: &[Override]) -> Result<Self, SweepError> {
        let text = std::fs::read_to_string(path).map_err(|source| SweepError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |message: String| SweepError::File {
            path: path.to_path_buf(),
            message,
        };
        let file: SweepFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new(".")).join(&file.base);
        let base_text = std::fs::read_to_string(&base).map_err(|source| SweepError::Io {
            path: base.clone(),
            source,
        })?;
        let seeds: Vec<Option<u64>> = match file.seeds {
            None => vec![None],
            Some(SeedsSpec::List(list)) if list.is_empty() => {
                return Err(bad(
                    "seeds: the list is empty; give at least one seed".into()
                ));
            }
            Some(SeedsSpec::List(list)) => list.into_iter().map(Some).collect(),
            Some(SeedsSpec::Range { from, to }) if to < from => {
                return Err(bad(format!(
                    "seeds: from = {from} is above to = {to}; the range is inclusive and needs from <= to"
                )));
            }
            Some(SeedsSpec::Range { from, to }) => (from..=to).map(Some).collect(),
        };
        let mut fixed: Vec<Override> = file
            .set
            .iter()
            .map(|(k, v)| Override {
                key: k.clone(),
                value: value_text(v),
            })
            .collect();
        fixed.extend_from_slice(extra);
        let mut grid_keys = Vec::new();
        let mut grid_values: Vec<Vec<String>> = Vec::new();
        for (k, v) in &file.grid {
            let values = match v {
                toml::Value::Array(a) if !a.is_empty() => a.iter().map(value_text).collect(),
                toml::Value::Array(_) => {
                    return Err(bad(format!(
                        "grid.{k}: the list is empty; give at least one value"
                    )));
                }
                other => {
                    return Err(bad(format!(
                        "grid.{k}: expected a list of values, found `{other}`; write `{k} = [{other}]` for a single value"
                    )));
                }
            };
            if k == "network.seed" || k == "seed" {
                return Err(bad(format!(
                    "grid.{k}: seeds go in `seeds = [...]` or `seeds = {{ from = 1, to = 10 }}`, not in the grid"
                )));
            }
            grid_keys.push(k.clone());
            grid_values.push(values);
        }
        let count = grid_values
            .iter()
            .try_fold(seeds.len(), |n, v| n.checked_mul(v.len()))
            .filter(|&n| n <= MAX_INSTANCES)
            .ok_or_else(|| {
                bad(format!(
                    "the grid and seeds expand to more than {MAX_INSTANCES} instances; split the sweep"
                ))
            })?;
        let mut instances = Vec::with_capacity(count);
        for index in 0..count {
            // Seeds innermost, then the last grid key, ... (row-major).
            let mut rest = index / seeds.len();
            let mut grid = vec![(String::new(), String::new()); grid_keys.len()];
            for g in (0..grid_keys.len()).rev() {
                let n = grid_values[g].len();
                grid[g] = (grid_keys[g].clone(), grid_values[g][rest % n].clone());
                rest /= n;
            }
            instances.push(Instance {
                index,
                grid,
                seed: seeds[index % seeds.len()],
            });
        }
        if let Some(plot) = &file.plot
            && plot.x != "seed"
            && !grid_keys.contains(&plot.x)
        {
            let mut available = grid_keys.clone();
            available.push("seed".into());
            return Err(SweepError::Plot {
                path: path.to_path_buf(),
                key: "x",
                name: plot.x.clone(),
                what: "a grid key or `seed`",
                available: available.join(", "),
            });
        }
        if file.savings.is_some() && file.experiment != Experiment::Savings {
            return Err(bad(
                "[savings] sets the savings protocol: it needs `experiment = \"savings\"`".into(),
            ));
        }
        let savings = file.savings.unwrap_or_else(|| crate::savings::Protocol {
            bias_runs: false,
            ..crate::savings::Protocol::default()
        });
        if file.experiment == Experiment::Savings {
            if seeds.iter().any(Option::is_none) {
                return Err(bad(
                    "experiment = \"savings\" runs one seed per instance: give `seeds = [...]` or `seeds = { from = 1, to = 5 }`".into(),
                ));
            }
            savings
                .validate(None)
                .map_err(|e| bad(format!("[savings]: {e}")))?;
        }
        let sweep = Self {
            path: path.to_path_buf(),
            base,
            base_text,
            fixed,
            grid_keys,
            instances,
            plot: file.plot,
            experiment: file.experiment,
            savings,
            seeds_per_combination: seeds.len(),
        };
        sweep.validate()?;
        Ok(sweep)
    }

    /// The overrides of one instance: `[set]`, its grid values, its seed.
    pub fn overrides(&self, instance: &Instance) -> Vec<Override> {
        let mut o = self.fixed.clone();
        o.extend(instance.grid.iter().map(|(k, v)| Override {
            key: k.clone(),
            value: v.clone(),
        }));
        if let Some(seed) = instance.seed {
            o.push(Override {
                key: "network.seed".into(),
                value: seed.to_string(),
            });
        }
        o
    }

    fn description(
        &self,
        instance: &Instance,
    ) -> Result<description::Description, DescriptionErrors> {
        let format = if self.base.extension().is_some_and(|e| e == "json") {
            Format::Json
        } else {
            Format::Toml
        };
        description::parse_str_with(
            &self.base_text,
            format,
            &self.base.display().to_string(),
            &self.overrides(instance),
        )
    }

    /// Parses every distinct grid combination once (seeds change nothing a
    /// parse checks, so the first seed stands for all).
    fn validate(&self) -> Result<(), SweepError> {
        for instance in self
            .instances
            .iter()
            .step_by(self.seeds_per_combination.max(1))
        {
            self.description(instance)
                .map_err(|errors| SweepError::Instance {
                    path: self.path.clone(),
                    index: instance.index,
                    label: instance.label(),
                    errors,
                })?;
        }
        Ok(())
    }

    /// What makes an instance's saved result reusable: the base text, the
    /// overrides and the seed (as a digest, with the overrides spelled out).
    fn key(&self, instance: &Instance) -> InstanceKey {
        let mut overrides: Vec<String> = self
            .overrides(instance)
            .iter()
            .map(|o| format!("{}={}", o.key, o.value))
            .collect();
        if self.experiment == Experiment::Savings {
            // The experiment and its protocol make the result too.
            overrides.push(format!(
                "experiment=savings {}",
                serde_json::to_string(&self.savings).unwrap_or_default()
            ));
        }
        InstanceKey {
            base_digest: format!("{:016x}", fnv1a(self.base_text.as_bytes())),
            overrides,
        }
    }
}

/// 64-bit FNV-1a: a stable digest (std's hasher may change between Rust
/// releases, which would make every saved instance look stale).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What an instance's result was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceKey {
    /// FNV-1a of the base description's text.
    pub base_digest: String,
    /// Every override, `key=value`.
    pub overrides: Vec<String>,
}

/// One finished instance (`instances/NNNNN.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceResult {
    /// The instance.
    pub instance: Instance,
    /// What it was made from.
    pub key: InstanceKey,
    /// renshaw version and commit that ran it.
    pub renshaw: String,
    /// Engine it ran on.
    pub backend: String,
    /// Wall time of the run, s.
    pub wall_s: f64,
    /// Every measure (see [`measures`]).
    pub measures: BTreeMap<String, f64>,
    /// Run by this call of [`run_sweep`] (not read back from an earlier one).
    #[serde(skip)]
    pub ran_now: bool,
}

/// The numbers of a run's summary that a sweep tabulates, by name:
/// - `rate_hz.POP`, `cv_isi.POP`, `correlation.POP` per population (the
///   last two where the run recorded spikes);
/// - `PHASE.BODY.MEASURE` for every number of every body in every protocol
///   phase (`day1.master_limb.below_threshold_percent`, `cues`, ...);
/// - `neurons`, `synapses`, `duration_s` (simulated), `simulate_s`,
///   `real_time_factor`.
pub fn measures(summary: &serde_json::Value) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let num = |v: &serde_json::Value| v.as_f64();
    for key in ["neurons", "synapses"] {
        if let Some(x) = summary.get(key).and_then(num) {
            m.insert(key.to_string(), x);
        }
    }
    if let Some(ms) = summary.get("duration_ms").and_then(num) {
        m.insert("duration_s".into(), ms * 1e-3);
    }
    for key in ["simulate_s", "real_time_factor"] {
        if let Some(x) = summary.pointer(&format!("/timings/{key}")).and_then(num) {
            m.insert(key.to_string(), x);
        }
    }
    // Populations are an object by name, bodies a list of (name, object) pairs.
    let pairs = |v: Option<&serde_json::Value>| -> Vec<(String, serde_json::Value)> {
        match v {
            Some(serde_json::Value::Object(map)) => {
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|p| {
                    let name = p.get(0)?.as_str()?.to_string();
                    Some((name, p.get(1)?.clone()))
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    for (pop, s) in pairs(summary.get("populations")) {
        for key in ["rate_hz", "cv_isi", "correlation"] {
            if let Some(x) = s.get(key).and_then(num) {
                m.insert(format!("{key}.{pop}"), x);
            }
        }
    }
    if let Some(phases) = summary
        .pointer("/protocol/phases")
        .and_then(|p| p.as_array())
    {
        for phase in phases {
            let Some(name) = phase.get("name").and_then(|n| n.as_str()) else {
                continue;
            };
            for (body, values) in pairs(phase.get("bodies")) {
                if let Some(obj) = values.as_object() {
                    for (k, v) in obj {
                        if let Some(x) = num(v) {
                            m.insert(format!("{name}.{body}.{k}"), x);
                        }
                    }
                }
            }
        }
    }
    m
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Output directory.
    pub out_dir: PathBuf,
    /// Engine.
    pub backend: Backend,
    /// Instances at once (each a one-thread CPU engine, or a GPU run).
    pub parallel: usize,
    /// A progress bar on stderr.
    pub progress: bool,
    /// Also keep each instance's run directory (`runs/NNNNN/`: summary.json
    /// and the description's recordings).
    pub keep_runs: bool,
    /// Instances stepped together as one network (see
    /// [`crate::simulation::run_batch`]); 1 runs them one by one. With
    /// batches, `parallel` is ignored: the batch's engine uses every core
    /// (CPU) or the whole device (GPU).
    pub batch: usize,
}

/// What a sweep did.
#[derive(Debug)]
pub struct SweepOutcome {
    /// Every instance's result, in instance order.
    pub results: Vec<InstanceResult>,
    /// How many were already on disk.
    pub reused: usize,
    /// Files written: results.csv, results.json, and plot.png if any.
    pub files: Vec<PathBuf>,
    /// Wall time, s.
    pub wall_s: f64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` whole: to a temporary file beside it, then a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Runs every instance not already finished, then writes the tables (and the plot).
pub fn run_sweep(sweep: &Sweep, opts: &SweepOptions) -> Result<SweepOutcome, SweepError> {
    let t0 = Instant::now();
    let dir = opts.out_dir.join("instances");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let file_of = |i: &Instance| dir.join(format!("{:05}.json", i.index));
    let mut done: Vec<Option<InstanceResult>> = sweep
        .instances
        .iter()
        .map(|i| {
            let text = std::fs::read_to_string(file_of(i)).ok()?;
            let r: InstanceResult = serde_json::from_str(&text).ok()?;
            (r.key == sweep.key(i) && r.instance == *i).then_some(r)
        })
        .collect();
    let reused = done.iter().filter(|r| r.is_some()).count();
    let todo: Vec<&Instance> = sweep
        .instances
        .iter()
        .zip(&done)
        .filter(|(_, r)| r.is_none())
        .map(|(i, _)| i)
        .collect();
    let bar = if opts.progress {
        let bar = ProgressBar::new(sweep.instances.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:40}] {pos}/{len} instances, {elapsed_precise} elapsed, eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(sweep.path.display().to_string());
        bar.set_position(reused as u64);
        bar.reset_eta();
        bar
    } else {
        ProgressBar::hidden()
    };
    if reused > 0 && opts.progress {
        bar.println(format!(
            "{reused} of {} instances already done in {}: running the other {}",
            sweep.instances.len(),
            dir.display(),
            todo.len()
        ));
    }
    let next = AtomicUsize::new(0);
    let finished: Mutex<Vec<InstanceResult>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    let save = |r: &InstanceResult| -> Result<(), String> {
        let json = serde_json::to_vec_pretty(r).map_err(|e| e.to_string())?;
        write_atomic(&file_of(&r.instance), &json).map_err(|e| e.to_string())
    };
    let run_dir = |i: &Instance| {
        opts.keep_runs
            .then(|| opts.out_dir.join("runs").join(format!("{:05}", i.index)))
    };
    let result_of =
        |instance: &Instance, out: RunOutput, wall_s: f64| -> Result<InstanceResult, String> {
            let summary = serde_json::to_value(&out.summary).map_err(|e| e.to_string())?;
            Ok(InstanceResult {
                instance: instance.clone(),
                key: sweep.key(instance),
                renshaw: crate::bench::LONG_VERSION.to_string(),
                backend: out.summary.backend.clone(),
                wall_s,
                measures: measures(&summary),
                ran_now: true,
            })
        };
    let record = |instance: &Instance, outcome: Result<InstanceResult, String>| {
        match outcome.and_then(|r| save(&r).map(|()| r)) {
            Ok(r) => finished
                .lock()
                .expect("no worker panics holding it")
                .push(r),
            Err(message) => {
                bar.println(format!(
                    "instance {} ({}): {message}",
                    instance.index,
                    instance.label()
                ));
                failures
                    .lock()
                    .expect("no worker panics holding it")
                    .push((instance.index, message));
            }
        }
        bar.inc(1);
    };
    let run_one = |instance: &Instance| -> Result<InstanceResult, String> {
        if sweep.experiment == Experiment::Savings {
            let t = Instant::now();
            let seed = instance
                .seed
                .expect("Sweep::load requires seeds for savings");
            let r = crate::savings::run_seed(
                &sweep.base,
                &sweep.overrides(instance),
                seed,
                opts.backend,
                &sweep.savings,
            )
            .map_err(|e| e.to_string())?;
            return Ok(InstanceResult {
                instance: instance.clone(),
                key: sweep.key(instance),
                renshaw: crate::bench::LONG_VERSION.to_string(),
                backend: format!("{:?}", opts.backend).to_lowercase(),
                wall_s: t.elapsed().as_secs_f64(),
                measures: r.measures(),
                ran_now: true,
            });
        }
        let desc = sweep.description(instance).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let run_opts = RunOptions::one_of_many(opts.backend, run_dir(instance));
        let out = run_description(&desc, &run_opts, 0.0).map_err(|e: RunError| e.to_string())?;
        result_of(instance, out, t.elapsed().as_secs_f64())
    };
    if opts.batch > 1 && sweep.experiment == Experiment::Run {
        for group in todo.chunks(opts.batch) {
            let t = Instant::now();
            let mut descs = Vec::new();
            let mut members = Vec::new();
            for &instance in group {
                match sweep.description(instance) {
                    Ok(d) => {
                        descs.push(d);
                        members.push(instance);
                    }
                    Err(e) => record(instance, Err(e.to_string())),
                }
            }
            let dirs: Vec<Option<PathBuf>> = members.iter().map(|i| run_dir(i)).collect();
            // One engine thread: a batch on the CPU is a small network
            // stepped once per exchange, where waking a pool costs more than
            // it shares (instances in parallel use the cores better).
            let run_opts = RunOptions {
                progress: opts.progress,
                ..RunOptions::one_of_many(opts.backend, None)
            };
            let outputs = run_batch(&descs, &dirs, &run_opts, opts.batch);
            // The instances of a batch share its wall time.
            let wall_s = t.elapsed().as_secs_f64() / members.len().max(1) as f64;
            for (instance, out) in members.into_iter().zip(outputs) {
                let outcome = out
                    .map_err(|e| e.to_string())
                    .and_then(|out| result_of(instance, out, wall_s));
                record(instance, outcome);
            }
        }
    } else {
        let workers = opts.parallel.clamp(1, todo.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&instance) = todo.get(k) else { break };
                        record(instance, run_one(instance));
                    }
                });
            }
        });
    }
    bar.finish_and_clear();
    for r in finished.into_inner().expect("no worker panicked") {
        let i = r.instance.index;
        done[i] = Some(r);
    }
    let mut failures = failures.into_inner().expect("no worker panicked");
    let results: Vec<InstanceResult> = done.into_iter().flatten().collect();
    let mut files = write_tables(sweep, &results, &opts.out_dir)?;
    if !failures.is_empty() {
        failures.sort();
        let (index, message) = failures[0].clone();
        return Err(SweepError::Failed {
            failed: failures.len(),
            total: sweep.instances.len(),
            index,
            label: sweep.instances[index].label(),
            message,
        });
    }
    if let Some(plot) = &sweep.plot {
        files.push(write_plot(sweep, plot, &results, &opts.out_dir)?);
    }
    Ok(SweepOutcome {
        results,
        reused,
        files,
        wall_s: t0.elapsed().as_secs_f64(),
    })
}

/// Every measure name any result has, sorted.
fn measure_names(results: &[InstanceResult]) -> Vec<String> {
    let mut names: Vec<String> = results
        .iter()
        .flat_map(|r| r.measures.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_tables(
    sweep: &Sweep,
    results: &[InstanceResult],
    out: &Path,
) -> Result<Vec<PathBuf>, SweepError> {
    let names = measure_names(results);
    let mut csv = String::new();
    let mut header = vec!["index".to_string(), "seed".to_string()];
    header.extend(sweep.grid_keys.iter().cloned());
    header.push("wall_s".into());
    header.extend(names.iter().cloned());
    csv.push_str(
        &header
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    csv.push('\n');
    let mut rows = Vec::new();
    for r in results {
        let mut fields = vec![
            r.instance.index.to_string(),
            r.instance.seed.map(|s| s.to_string()).unwrap_or_default(),
        ];
        fields.extend(r.instance.grid.iter().map(|(_, v)| csv_field(v)));
        fields.push(format!("{}", r.wall_s));
        fields.extend(names.iter().map(|n| {
            r.measures
                .get(n)
                .map(|x| format!("{x}"))
                .unwrap_or_default()
        }));
        csv.push_str(&fields.join(","));
        csv.push('\n');
        let mut row = serde_json::Map::new();
        row.insert("index".into(), r.instance.index.into());
        row.insert("seed".into(), r.instance.seed.into());
        for (k, v) in &r.instance.grid {
            let value = v
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(v.clone()));
            row.insert(k.clone(), value);
        }
        row.insert("wall_s".into(), r.wall_s.into());
        row.insert("backend".into(), r.backend.clone().into());
        row.insert(
            "measures".into(),
            serde_json::to_value(&r.measures).expect("numbers serialize"),
        );
        rows.push(serde_json::Value::Object(row));
    }
    let csv_path = out.join("results.csv");
    std::fs::write(&csv_path, csv).map_err(io(&csv_path))?;
    let json_path = out.join("results.json");
    let json = serde_json::to_vec_pretty(&rows).expect("rows serialize");
    std::fs::write(&json_path, json).map_err(io(&json_path))?;
    Ok(vec![csv_path, json_path])
}

fn write_plot(
    sweep: &Sweep,
    plot: &PlotSpec,
    results: &[InstanceResult],
    out: &Path,
) -> Result<PathBuf, SweepError> {
    let names = measure_names(results);
    if !names.contains(&plot.y) {
        let close: Vec<&String> = names
            .iter()
            .filter(|n| strsim::jaro_winkler(n, &plot.y) > 0.8)
            .take(8)
            .collect();
        let available = if close.is_empty() {
            format!(
                "{} measures, listed in the header of results.csv",
                names.len()
            )
        } else {
            close
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(SweepError::Plot {
            path: sweep.path.clone(),
            key: "y",
            name: plot.y.clone(),
            what: "a measure of these runs",
            available,
        });
    }
    let mut points = Vec::new();
    for r in results {
        let x_text = if plot.x == "seed" {
            r.instance.seed.map(|s| s.to_string())
        } else {
            r.instance
                .grid
                .iter()
                .find(|(k, _)| *k == plot.x)
                .map(|(_, v)| v.clone())
        };
        let (Some(x_text), Some(&y)) = (x_text, r.measures.get(&plot.y)) else {
            continue;
        };
        let x = x_text.parse::<f64>().map_err(|_| SweepError::Plot {
            path: sweep.path.clone(),
            key: "x",
            name: plot.x.clone(),
            what: "a key with numeric values",
            available: format!("value `{x_text}`"),
        })?;
        points.push(PlotPoint { x, y });
    }
    let path = out.join("plot.png");
    let title = format!(
        "{}: {} against {} ({} instances)",
        sweep
            .path
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default(),
        plot.y,
        plot.x,
        points.len()
    );
    // Seeds are labels, not a quantity: their mean is taken over all of them.
    plot_measure(&path, &title, &plot.x, &plot.y, &points, plot.x == "seed")
        .map_err(|e| SweepError::Draw(e.to_string()))?;
    Ok(path)
}

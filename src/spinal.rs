//! The spinal conditioning experiment (Lavaud et al., Science 2024): every
//! condition of ../shared/EXPERIMENTS.md §1 on one circuit description,
//! over several seeds, with the pass criteria checked and a table in the
//! shape of the paper's.
//!
//! The description (`examples/spinal_conditioning.toml`) holds the circuit
//! template, a master and a yoked instance, and a default protocol after the
//! line [`PROTOCOL_MARKER`]. Each condition replaces that protocol by its own
//! phases (lesions, gap, role swap), so every condition runs exactly the
//! circuit the file describes. Runs are independent and go in parallel, one
//! engine per thread.

use crate::closed_loop::{BodyPhaseMeasures, ProtocolSummary};
use crate::description::{self, Format, Override};
use crate::output::npy::read_f64;
use crate::output::plot_body::{BodyTrace, plot_body_traces};
use crate::simulation::{Backend, RunError, RunOptions, run_batch, run_description};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The line of the description after which each condition writes its phases.
pub const PROTOCOL_MARKER: &str = "# --- protocol ---";

/// One condition: a name and its phases (TOML, `${...}` parameters allowed).
#[derive(Debug, Clone, Copy)]
pub struct Condition {
    /// Short name (used in directory names).
    pub name: &'static str,
    /// What it tests.
    pub label: &'static str,
    /// Its `[[phases]]`.
    pub phases: &'static str,
}

/// The conditions, in table order.
pub const CONDITIONS: &[Condition] = &[
    Condition {
        name: "control",
        label: "control; day 2 roles swapped",
        phases: r#"
[[phases]]
name = "day1"
duration = "${session}"
cues = { master_limb = "contingent", yoked_limb = "master_limb" }

[[phases]]
name = "overnight"
duration = 0.0
reset_bodies = true
gap = { weight_decay = "${overnight_decay}", weight_noise = "${overnight_noise}" }

[[phases]]
name = "day2"
duration = "${session}"
cues = { yoked_limb = "contingent", master_limb = "yoked_limb" }
"#,
    },
    Condition {
        name: "lesion_DI",
        label: "dorsal inhibitory (Ptf1a) lesion",
        phases: r#"
[[phases]]
name = "day1"
duration = "${session}"
cues = { master_limb = "contingent", yoked_limb = "master_limb" }
silence = ["master_DI", "yoked_DI"]
"#,
    },
    Condition {
        name: "lesion_DE",
        label: "dorsal excitatory (Tlx3) lesion",
        phases: r#"
[[phases]]
name = "day1"
duration = "${session}"
cues = { master_limb = "contingent", yoked_limb = "master_limb" }
silence = ["master_DE", "yoked_DE"]
"#,
    },
    Condition {
        name: "lesion_RC",
        label: "Renshaw (En1) lesion during acquisition",
        phases: r#"
[[phases]]
name = "day1"
duration = "${session}"
cues = { master_limb = "contingent", yoked_limb = "master_limb" }
silence = ["master_RC", "yoked_RC"]
"#,
    },
    Condition {
        name: "recall",
        label: "two masters trained, re-tested after a night; the second without Renshaw cells",
        phases: r#"
[[phases]]
name = "day1"
duration = "${session}"
cues = { master_limb = "contingent", yoked_limb = "contingent" }

[[phases]]
name = "overnight"
duration = 0.0
reset_bodies = true
gap = { weight_decay = "${overnight_decay}", weight_noise = "${overnight_noise}" }

[[phases]]
name = "day2"
duration = "${session}"
cues = { master_limb = "contingent", yoked_limb = "contingent" }
silence = ["yoked_RC"]
"#,
    },
];

/// How to run the experiment.
#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    /// The description (circuit, instances, default protocol).
    pub description: PathBuf,
    /// Seeds: one run of every condition each.
    pub seeds: Vec<u64>,
    /// `--set` overrides for every run (e.g. `session=120000`).
    pub overrides: Vec<Override>,
    /// Engine.
    pub backend: Backend,
    /// Where each run's directory goes; `None` keeps nothing on disk.
    pub out_dir: Option<PathBuf>,
    /// Runs at once (each on one thread).
    pub parallel: usize,
    /// Only these conditions (by name); empty for all.
    pub only: Vec<String>,
    /// Runs stepped together as one network (see
    /// [`crate::simulation::run_batch`]); 1 runs them one by one
    /// (`parallel` at once). On a GPU, batching every run of the experiment
    /// makes each step serve all of them.
    pub batch: usize,
}

/// One run's measures.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Condition name.
    pub condition: String,
    /// Seed.
    pub seed: u64,
    /// The closed loop's measures.
    pub protocol: ProtocolSummary,
    /// Wall time of the run, s.
    pub wall_s: f64,
    /// Its run directory, if written.
    pub dir: Option<PathBuf>,
}

impl RunResult {
    /// Measures of `body` in phase `phase`.
    pub fn measures(&self, phase: &str, body: &str) -> Option<&BodyPhaseMeasures> {
        self.protocol
            .phases
            .iter()
            .find(|p| p.name == phase)?
            .bodies
            .iter()
            .find(|(n, _)| n == body)
            .map(|(_, m)| m)
    }
}

/// A pass criterion and how each seed fared.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionResult {
    /// What it demands.
    pub criterion: String,
    /// Per seed: the measured value and whether it passed.
    pub per_seed: Vec<(u64, f64, bool)>,
}

impl CriterionResult {
    /// Whether it held for every seed.
    pub fn holds(&self) -> bool {
        !self.per_seed.is_empty() && self.per_seed.iter().all(|s| s.2)
    }

    /// Its line in an experiment's table: PASS or FAIL, what it demands,
    /// and each seed's value (a failing one marked).
    pub fn line(&self) -> String {
        let values: Vec<String> = self
            .per_seed
            .iter()
            .map(|(seed, v, ok)| format!("{seed}:{v:.2}{}", if *ok { "" } else { "✗" }))
            .collect();
        format!(
            "  {} {}  [{}]",
            if self.holds() { "PASS" } else { "FAIL" },
            self.criterion,
            values.join(" ")
        )
    }
}

/// Everything the experiment measured.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResult {
    /// Every run.
    pub runs: Vec<RunResult>,
    /// The criteria of EXPERIMENTS.md §1.
    pub criteria: Vec<CriterionResult>,
    /// Wall time of the whole experiment, s.
    pub wall_s: f64,
}

/// Why the experiment could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The description cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The description has no protocol marker.
    #[error(
        "{0}: no line starting with `{PROTOCOL_MARKER}`: the experiment replaces the phases after it"
    )]
    NoMarker(PathBuf),
    /// An unknown condition was asked for.
    #[error("unknown condition `{0}`; the conditions are: {1}")]
    UnknownCondition(String, String),
    /// A run failed.
    #[error("condition {condition}, seed {seed}: {source}")]
    Run {
        /// Condition.
        condition: String,
        /// Seed.
        seed: u64,
        /// The cause.
        source: Box<RunError>,
    },
    /// A run's traces cannot be read back for the figure.
    #[error("figure: {0}")]
    Figure(String),
}

/// The description text of one condition.
pub fn condition_text(base: &str, path: &Path, c: &Condition) -> Result<String, ExperimentError> {
    let cut = base
        .lines()
        .scan(0usize, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| line.starts_with(PROTOCOL_MARKER))
        .map(|(at, _)| at)
        .ok_or_else(|| ExperimentError::NoMarker(path.to_path_buf()))?;
    Ok(format!("{}{}\n{}", &base[..cut], PROTOCOL_MARKER, c.phases))
}

/// Runs every condition for every seed.
pub fn run_experiment(opts: &ExperimentOptions) -> Result<ExperimentResult, ExperimentError> {
    let t0 = Instant::now();
    let base =
        std::fs::read_to_string(&opts.description).map_err(|source| ExperimentError::Read {
            path: opts.description.clone(),
            source,
        })?;
    let names: Vec<&str> = CONDITIONS.iter().map(|c| c.name).collect();
    for o in &opts.only {
        if !names.contains(&o.as_str()) {
            return Err(ExperimentError::UnknownCondition(
                o.clone(),
                names.join(", "),
            ));
        }
    }
    let conditions: Vec<&Condition> = CONDITIONS
        .iter()
        .filter(|c| opts.only.is_empty() || opts.only.iter().any(|o| o == c.name))
        .collect();
    let mut jobs = Vec::new();
    for c in &conditions {
        for &seed in &opts.seeds {
            jobs.push((*c, seed));
        }
    }
    // Longest runs first (two-session conditions before one-session ones),
    // each worker taking the next job when it is done: the workers finish
    // together instead of one running a two-session job alone at the end.
    let order = {
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by_key(|&j| std::cmp::Reverse(jobs[j].0.phases.matches("${session}").count()));
        order
    };
    if opts.batch > 1 {
        let runs = run_batched(opts, &base, &jobs)?;
        let criteria = evaluate(&runs, &opts.seeds);
        return Ok(ExperimentResult {
            runs,
            criteria,
            wall_s: t0.elapsed().as_secs_f64(),
        });
    }
    let results = crate::simulation::run_in_parallel(&jobs, &order, opts.parallel, |&(c, seed)| {
        run_one(opts, &base, c, seed)
    });
    let runs = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let criteria = evaluate(&runs, &opts.seeds);
    Ok(ExperimentResult {
        runs,
        criteria,
        wall_s: t0.elapsed().as_secs_f64(),
    })
}

/// Every job in batches of `opts.batch` (same results as one by one).
fn run_batched(
    opts: &ExperimentOptions,
    base: &str,
    jobs: &[(&Condition, u64)],
) -> Result<Vec<RunResult>, ExperimentError> {
    let t0 = Instant::now();
    let mut descs = Vec::new();
    let mut dirs = Vec::new();
    for &(c, seed) in jobs {
        descs.push(job_description(opts, base, c, seed)?);
        dirs.push(
            opts.out_dir
                .as_ref()
                .map(|d| d.join(format!("{}_seed{seed}", c.name))),
        );
    }
    let run_opts = RunOptions::one_of_many(opts.backend, None);
    let outputs = run_batch(&descs, &dirs, &run_opts, opts.batch);
    // The runs of a batch share its wall time.
    let wall_s = t0.elapsed().as_secs_f64() / jobs.len().max(1) as f64;
    jobs.iter()
        .zip(outputs)
        .zip(dirs)
        .map(|((&(c, seed), out), dir)| {
            let out = out.map_err(|source| ExperimentError::Run {
                condition: c.name.into(),
                seed,
                source: Box::new(source),
            })?;
            Ok(RunResult {
                condition: c.name.into(),
                seed,
                protocol: out
                    .summary
                    .protocol
                    .expect("the spinal description has bodies"),
                wall_s,
                dir,
            })
        })
        .collect()
}

/// The description of one (condition, seed) run.
fn job_description(
    opts: &ExperimentOptions,
    base: &str,
    c: &Condition,
    seed: u64,
) -> Result<description::Description, ExperimentError> {
    let text = condition_text(base, &opts.description, c)?;
    let mut overrides = opts.overrides.clone();
    overrides.push(
        format!("network.seed={seed}")
            .parse()
            .expect("a valid override"),
    );
    let name = format!("{} (condition {})", opts.description.display(), c.name);
    description::parse_str_with(&text, Format::Toml, &name, &overrides).map_err(|e| {
        ExperimentError::Run {
            condition: c.name.into(),
            seed,
            source: Box::new(RunError::Description(e)),
        }
    })
}

fn run_one(
    opts: &ExperimentOptions,
    base: &str,
    c: &Condition,
    seed: u64,
) -> Result<RunResult, ExperimentError> {
    let t0 = Instant::now();
    let err = |source: RunError| ExperimentError::Run {
        condition: c.name.into(),
        seed,
        source: Box::new(source),
    };
    let desc = job_description(opts, base, c, seed)?;
    let dir = opts
        .out_dir
        .as_ref()
        .map(|d| d.join(format!("{}_seed{seed}", c.name)));
    let run_opts = RunOptions::one_of_many(opts.backend, dir.clone());
    let out = run_description(&desc, &run_opts, 0.0).map_err(err)?;
    let protocol = out
        .summary
        .protocol
        .expect("the spinal description has bodies");
    Ok(RunResult {
        condition: c.name.into(),
        seed,
        protocol,
        wall_s: t0.elapsed().as_secs_f64(),
        dir,
    })
}

fn find<'r>(runs: &'r [RunResult], condition: &str, seed: u64) -> Option<&'r RunResult> {
    runs.iter()
        .find(|r| r.condition == condition && r.seed == seed)
}

/// Cues to criterion, or all the session's cues when it was not reached (a
/// lower bound, so a missed criterion never looks like a saving).
fn cues_to_criterion(m: &BodyPhaseMeasures) -> f64 {
    m.cues_to_criterion.unwrap_or(m.cues) as f64
}

/// Checks the criteria of EXPERIMENTS.md §1 on the runs there are.
pub fn evaluate(runs: &[RunResult], seeds: &[u64]) -> Vec<CriterionResult> {
    let last2 = |r: &RunResult, phase: &str, body: &str| {
        r.measures(phase, body)
            .map(|m| m.below_threshold_percent_last_2_min)
    };
    let ratio = |condition: &str, seed: u64| -> Option<f64> {
        let r = find(runs, condition, seed)?;
        let m = last2(r, "day1", "master_limb")?;
        let y = last2(r, "day1", "yoked_limb")?;
        Some(if y > 0.0 { m / y } else { f64::INFINITY })
    };
    let mut out = Vec::new();
    let mut ratio_criterion = |text: &str, condition: &str, pass: &dyn Fn(f64) -> bool| {
        let per_seed: Vec<(u64, f64, bool)> = seeds
            .iter()
            .filter_map(|&s| ratio(condition, s).map(|v| (s, v, pass(v))))
            .collect();
        if !per_seed.is_empty() {
            out.push(CriterionResult {
                criterion: text.into(),
                per_seed,
            });
        }
    };
    ratio_criterion(
        "acquisition: master/yoked time below threshold, last 2 min, <= 0.3",
        "control",
        &|v| v <= 0.3,
    );
    ratio_criterion(
        "dorsal inhibitory lesion: master/yoked >= 0.8 (no learning)",
        "lesion_DI",
        &|v| v >= 0.8,
    );
    ratio_criterion(
        "dorsal excitatory lesion: master/yoked >= 0.8 (no learning)",
        "lesion_DE",
        &|v| v >= 0.8,
    );
    ratio_criterion(
        "Renshaw lesion during acquisition: master/yoked <= 0.4 (learning intact)",
        "lesion_RC",
        &|v| v <= 0.4,
    );
    // Recall: day-2 cues to criterion against day 1 of the same network.
    let recall: Vec<(u64, f64, f64, f64, f64)> = seeds
        .iter()
        .filter_map(|&s| {
            let r = find(runs, "recall", s)?;
            let naive_a = cues_to_criterion(r.measures("day1", "master_limb")?);
            let naive_b = cues_to_criterion(r.measures("day1", "yoked_limb")?);
            let trained = cues_to_criterion(r.measures("day2", "master_limb")?);
            let trained_rc = cues_to_criterion(r.measures("day2", "yoked_limb")?);
            Some((s, naive_a, trained, naive_b, trained_rc))
        })
        .collect();
    if !recall.is_empty() {
        out.push(CriterionResult {
            criterion: "recall: trained cues to criterion / naive <= 0.5".into(),
            per_seed: recall
                .iter()
                .map(|&(s, naive, trained, _, _)| {
                    let v = trained / naive.max(1.0);
                    (s, v, v <= 0.5)
                })
                .collect(),
        });
        out.push(CriterionResult {
            criterion: "recall: Renshaw cells silenced at re-test keep < 1/2 of the saving".into(),
            per_seed: recall
                .iter()
                .map(|&(s, naive_a, trained, naive_b, trained_rc)| {
                    let saving = naive_a - trained;
                    let saving_rc = naive_b - trained_rc;
                    let kept = if saving > 0.0 {
                        saving_rc / saving
                    } else {
                        f64::INFINITY
                    };
                    (s, kept, kept < 0.5)
                })
                .collect(),
        });
    }
    let swap: Vec<(u64, f64, bool)> = seeds
        .iter()
        .filter_map(|&s| {
            let m = find(runs, "control", s)?.measures("day2", "master_limb")?;
            Some((
                s,
                m.below_threshold_percent,
                m.below_threshold_percent < 40.0,
            ))
        })
        .collect();
    if !swap.is_empty() {
        out.push(CriterionResult {
            criterion: "role swap: former master on yoked cues, % time below < 40".into(),
            per_seed: swap,
        });
    }
    out
}

fn mean_sd(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return format!("{m:.1}");
    }
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    format!("{m:.1} ± {sd:.1}")
}

impl ExperimentResult {
    /// The table in the shape of the paper's (mean ± SD over seeds of the %
    /// of session time with the foot below threshold), then each criterion.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let seeds: Vec<u64> = {
            let mut v: Vec<u64> = self.runs.iter().map(|r| r.seed).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let _ = writeln!(
            s,
            "% of session time with the foot below threshold (mean ± SD over {} seeds; last 2 min in brackets)",
            seeds.len()
        );
        let _ = writeln!(
            s,
            "{:<44} {:>22} {:>22} {:>16}",
            "condition", "master", "yoked", "master cues"
        );
        let rows: &[(&str, &str, &str, &str, &str)] = &[
            (
                "control",
                "day1",
                "master_limb",
                "yoked_limb",
                "day 1, control",
            ),
            (
                "control",
                "day2",
                "yoked_limb",
                "master_limb",
                "day 2, roles swapped",
            ),
            (
                "lesion_DI",
                "day1",
                "master_limb",
                "yoked_limb",
                "day 1, dorsal inhibitory lesion",
            ),
            (
                "lesion_DE",
                "day1",
                "master_limb",
                "yoked_limb",
                "day 1, dorsal excitatory lesion",
            ),
            (
                "lesion_RC",
                "day1",
                "master_limb",
                "yoked_limb",
                "day 1, Renshaw lesion",
            ),
        ];
        for &(condition, phase, master, yoked, label) in rows {
            let pick = |body: &str, f: &dyn Fn(&BodyPhaseMeasures) -> f64| -> Vec<f64> {
                self.runs
                    .iter()
                    .filter(|r| r.condition == condition)
                    .filter_map(|r| r.measures(phase, body).map(f))
                    .collect()
            };
            let whole = |b: &str| pick(b, &|m| m.below_threshold_percent);
            let last = |b: &str| pick(b, &|m| m.below_threshold_percent_last_2_min);
            let cues = pick(master, &|m| m.cues as f64);
            if cues.is_empty() {
                continue;
            }
            let cell = |b: &str| format!("{} [{}]", mean_sd(&whole(b)), mean_sd(&last(b)));
            let _ = writeln!(
                s,
                "{:<44} {:>22} {:>22} {:>16}",
                label,
                cell(master),
                cell(yoked),
                mean_sd(&cues)
            );
        }
        let recall: Vec<&RunResult> = self
            .runs
            .iter()
            .filter(|r| r.condition == "recall")
            .collect();
        if !recall.is_empty() {
            let get = |phase: &str, body: &str| -> Vec<f64> {
                recall
                    .iter()
                    .filter_map(|r| r.measures(phase, body).map(cues_to_criterion))
                    .collect()
            };
            let _ = writeln!(
                s,
                "\ncues to the learning criterion (smoothed interval between cues > 1 s; not reached = all the session's cues)"
            );
            let _ = writeln!(
                s,
                "  naive (day 1): {}   trained (day 2): {}   naive B: {}   trained B, Renshaw silenced on day 2: {}",
                mean_sd(&get("day1", "master_limb")),
                mean_sd(&get("day2", "master_limb")),
                mean_sd(&get("day1", "yoked_limb")),
                mean_sd(&get("day2", "yoked_limb")),
            );
        }
        let _ = writeln!(s, "\npass criteria (EXPERIMENTS.md §1), value per seed:");
        for c in &self.criteria {
            let _ = writeln!(s, "{}", c.line());
        }
        let _ = writeln!(s, "\nwall time {:.1} s", self.wall_s);
        s
    }

    /// Draws the control runs' day-1 foot heights (master over yoked) with
    /// their cues, for the first seed, to `path`.
    pub fn figure(&self, path: &Path) -> Result<(), ExperimentError> {
        let run = self
            .runs
            .iter()
            .filter(|r| r.condition == "control")
            .min_by_key(|r| r.seed)
            .ok_or_else(|| ExperimentError::Figure("no control run".into()))?;
        let dir = run
            .dir
            .as_ref()
            .ok_or_else(|| ExperimentError::Figure("the runs were not written to disk".into()))?;
        let day1 = run
            .protocol
            .phases
            .iter()
            .find(|p| p.name == "day1")
            .ok_or_else(|| ExperimentError::Figure("no day1 phase".into()))?;
        let mut traces = Vec::new();
        for (body, role) in [("master_limb", "master"), ("yoked_limb", "yoked")] {
            let info = run
                .protocol
                .bodies
                .iter()
                .find(|b| b.name == body)
                .ok_or_else(|| ExperimentError::Figure(format!("no body {body}")))?;
            let read = |file: String| {
                read_f64(&dir.join(&file)).map(|(_, v)| v).map_err(|e| {
                    ExperimentError::Figure(format!("{}: {e}", dir.join(file).display()))
                })
            };
            let heights = read(format!("bodies/{body}_height.npy"))?;
            let cues = read(format!("bodies/{body}_cue_times.npy"))?;
            let n = (day1.duration_ms / info.interval_ms).round() as usize;
            traces.push(BodyTrace {
                label: format!("{role} (control, seed {}, day 1)", run.seed),
                interval_ms: info.interval_ms,
                heights: heights[..n.min(heights.len())].to_vec(),
                threshold: info.threshold_mm.unwrap_or(0.0),
                cue_times_ms: cues
                    .into_iter()
                    .filter(|&t| t <= day1.duration_ms)
                    .collect(),
            });
        }
        plot_body_traces(
            path,
            "spinal conditioning: master vs yoked foot height, with cues",
            &traces,
        )
        .map_err(|e| ExperimentError::Figure(e.to_string()))
    }
}

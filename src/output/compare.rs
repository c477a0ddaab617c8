//! `renshaw compare`: the statistics of two run directories side by side,
//! with two-sample Kolmogorov–Smirnov tests of every per-neuron distribution
//! in `statistics/` (the comparison of van Albada et al. 2018).

use super::analysis::{DISTRIBUTION_FILES, distribution_file};
use super::run_dir::{RunDirError, read_summary, read_values};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What can go wrong comparing two runs.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A run directory or one of its files cannot be read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// A population's distribution file is missing.
    #[error(
        "{path}: missing, but summary.json lists spike-recorded neurons of `{population}`; was the run interrupted?"
    )]
    MissingDistribution {
        /// The file.
        path: PathBuf,
        /// Its population.
        population: String,
    },
    /// The two runs share no population.
    #[error("the runs have no population in common: {a} has {in_a}; {b} has {in_b}")]
    NothingInCommon {
        /// First run directory.
        a: PathBuf,
        /// Its populations.
        in_a: String,
        /// Second run directory.
        b: PathBuf,
        /// Its populations.
        in_b: String,
    },
}

/// The part of `summary.json` that comparisons read. Keys that older runs
/// lack default to "not computed".
#[derive(Debug, Clone, Deserialize)]
struct SummaryFile {
    description: String,
    backend: String,
    dt: f64,
    seed: u64,
    duration_ms: f64,
    #[serde(default)]
    warmup_ms: f64,
    populations: BTreeMap<String, PopulationFile>,
}

#[derive(Debug, Clone, Deserialize)]
struct PopulationFile {
    size: u64,
    rate_hz: f64,
    #[serde(default)]
    spike_recorded_neurons: usize,
    #[serde(default)]
    cv_isi: Option<f64>,
    #[serde(default)]
    correlation: Option<f64>,
}

/// One run as read from its directory.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// The directory.
    pub dir: PathBuf,
    /// Its description file.
    pub description: String,
    /// Backend it ran on.
    pub backend: String,
    /// Step, ms.
    pub dt: f64,
    /// Seed.
    pub seed: u64,
    /// Simulated time, ms.
    pub duration_ms: f64,
    /// Start of the analysis window, ms.
    pub warmup_ms: f64,
}

/// A population's means in one run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Means {
    /// Neurons.
    pub size: u64,
    /// Mean rate in the analysis window over all neurons, Hz.
    pub rate_hz: f64,
    /// Mean CV of ISI.
    pub cv_isi: Option<f64>,
    /// Mean pairwise spike-count correlation.
    pub correlation: Option<f64>,
}

/// A two-sample Kolmogorov–Smirnov test.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct KsTest {
    /// Largest distance between the two empirical distribution functions.
    pub d: f64,
    /// Asymptotic p-value of D under the hypothesis that both samples come
    /// from one continuous distribution (Smirnov's limit; approximate for
    /// small samples).
    pub p_value: f64,
    /// Size of the first sample.
    pub n_a: usize,
    /// Size of the second sample.
    pub n_b: usize,
}

/// One population in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct PopulationComparison {
    /// Its name.
    pub name: String,
    /// Means in the first run.
    pub a: Means,
    /// Means in the second run.
    pub b: Means,
    /// KS test of each distribution (`rates`, `cv_isi`, `correlations`),
    /// `None` where either run has no values.
    pub ks: BTreeMap<String, Option<KsTest>>,
}

/// The whole comparison (what `--json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The first run.
    pub run_a: RunInfo,
    /// The second run.
    pub run_b: RunInfo,
    /// Populations in both runs, by name.
    pub populations: Vec<PopulationComparison>,
    /// Populations only the first run has.
    pub only_in_a: Vec<String>,
    /// Populations only the second run has.
    pub only_in_b: Vec<String>,
    /// Differences between the runs that make the numbers less comparable.
    pub notes: Vec<String>,
}

/// A run directory's summary and distributions.
struct Run {
    info: RunInfo,
    populations: BTreeMap<String, PopulationFile>,
    /// Per population, per distribution suffix, the values; absent where
    /// the population has no spike-recorded neuron.
    distributions: BTreeMap<String, BTreeMap<&'static str, Vec<f64>>>,
}

fn read_run(dir: &Path) -> Result<Run, CompareError> {
    let summary: SummaryFile = read_summary(dir)?;
    let mut distributions = BTreeMap::new();
    for (name, p) in &summary.populations {
        if p.spike_recorded_neurons == 0 {
            continue;
        }
        let mut per = BTreeMap::new();
        for (suffix, _) in DISTRIBUTION_FILES {
            let file = dir.join(distribution_file(name, suffix));
            if !file.is_file() {
                return Err(CompareError::MissingDistribution {
                    path: file,
                    population: name.clone(),
                });
            }
            per.insert(suffix, read_values(&file)?);
        }
        distributions.insert(name.clone(), per);
    }
    Ok(Run {
        info: RunInfo {
            dir: dir.to_path_buf(),
            description: summary.description,
            backend: summary.backend,
            dt: summary.dt,
            seed: summary.seed,
            duration_ms: summary.duration_ms,
            warmup_ms: summary.warmup_ms,
        },
        populations: summary.populations,
        distributions,
    })
}

/// Reads two run directories and compares every population they share.
pub fn compare_runs(dir_a: &Path, dir_b: &Path) -> Result<Comparison, CompareError> {
    let a = read_run(dir_a)?;
    let b = read_run(dir_b)?;
    let only = |x: &Run, y: &Run| -> Vec<String> {
        x.populations
            .keys()
            .filter(|n| !y.populations.contains_key(*n))
            .cloned()
            .collect()
    };
    let (only_in_a, only_in_b) = (only(&a, &b), only(&b, &a));
    let shared: Vec<&String> = a
        .populations
        .keys()
        .filter(|n| b.populations.contains_key(*n))
        .collect();
    if shared.is_empty() {
        let names = |r: &Run| r.populations.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(CompareError::NothingInCommon {
            a: dir_a.to_path_buf(),
            in_a: names(&a),
            b: dir_b.to_path_buf(),
            in_b: names(&b),
        });
    }
    let mut notes = Vec::new();
    let (ia, ib) = (&a.info, &b.info);
    if ia.dt != ib.dt {
        notes.push(format!("dt differs: {} ms vs {} ms", ia.dt, ib.dt));
    }
    if (ia.warmup_ms, ia.duration_ms) != (ib.warmup_ms, ib.duration_ms) {
        notes.push(format!(
            "analysis windows differ: ({}, {}] ms vs ({}, {}] ms; rates are per second, but CVs and correlations depend on the window's length",
            ia.warmup_ms, ia.duration_ms, ib.warmup_ms, ib.duration_ms
        ));
    }
    let populations = shared
        .into_iter()
        .map(|name| {
            let (pa, pb) = (&a.populations[name], &b.populations[name]);
            if pa.size != pb.size {
                notes.push(format!(
                    "population {name} has {} neurons in A and {} in B",
                    pa.size, pb.size
                ));
            }
            let means = |p: &PopulationFile| Means {
                size: p.size,
                rate_hz: p.rate_hz,
                cv_isi: p.cv_isi,
                correlation: p.correlation,
            };
            let ks = DISTRIBUTION_FILES
                .iter()
                .map(|(suffix, _)| {
                    let (in_a, in_b) = (
                        a.distributions.get(name).map(|d| &d[suffix]),
                        b.distributions.get(name).map(|d| &d[suffix]),
                    );
                    let test = match (in_a, in_b) {
                        (Some(x), Some(y)) => ks_two_sample(x, y),
                        _ => None,
                    };
                    (suffix.to_string(), test)
                })
                .collect();
            PopulationComparison {
                name: name.clone(),
                a: means(pa),
                b: means(pb),
                ks,
            }
        })
        .collect();
    Ok(Comparison {
        run_a: a.info,
        run_b: b.info,
        populations,
        only_in_a,
        only_in_b,
        notes,
    })
}

/// The two-sample Kolmogorov–Smirnov test: D, the largest distance between
/// the empirical distribution functions, and its asymptotic p-value.
/// `None` when either sample is empty. NaNs are left out.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Option<KsTest> {
    let sorted = |v: &[f64]| {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
        s.sort_unstable_by(f64::total_cmp);
        s
    };
    let (a, b) = (sorted(a), sorted(b));
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n, m) = (a.len(), b.len());
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < n && j < m {
        // Step past every copy of the smallest value left in either sample,
        // so that ties move both functions before they are compared.
        let x = a[i].min(b[j]);
        while i < n && a[i] == x {
            i += 1;
        }
        while j < m && b[j] == x {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
    }
    let effective = (n * m) as f64 / (n + m) as f64;
    Some(KsTest {
        d,
        p_value: kolmogorov_survival(effective.sqrt() * d),
        n_a: n,
        n_b: m,
    })
}

/// P(K > λ) for the Kolmogorov distribution:
/// 2 Σ_{k>=1} (−1)^(k−1) exp(−2 k² λ²).
pub fn kolmogorov_survival(lambda: f64) -> f64 {
    // Below 0.2 the sum converges slowly, and P(K <= λ) < 1e-11 there.
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let term = (-2.0 * (k * k) as f64 * lambda * lambda).exp();
        sum += if k % 2 == 1 { term } else { -term };
        if term < 1e-17 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Human-readable table of a comparison.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    for (label, r) in [("A", &c.run_a), ("B", &c.run_b)] {
        let _ = writeln!(
            out,
            "{label}: {} ({}, seed {}, {}, window ({}, {}] ms)",
            r.dir.display(),
            r.description,
            r.seed,
            r.backend,
            r.warmup_ms,
            r.duration_ms
        );
    }
    for note in &c.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    for p in &c.populations {
        let _ = writeln!(
            out,
            "\npopulation {} ({} / {} neurons)",
            p.name, p.a.size, p.b.size
        );
        let _ = writeln!(
            out,
            "  {:<13} {:>10} {:>10} {:>8} {:>9}  neurons (pairs) A / B",
            "", "A", "B", "KS D", "p-value"
        );
        let rows = [
            ("rate (Hz)", Some(p.a.rate_hz), Some(p.b.rate_hz), "rates"),
            ("CV ISI", p.a.cv_isi, p.b.cv_isi, "cv_isi"),
            (
                "correlation",
                p.a.correlation,
                p.b.correlation,
                "correlations",
            ),
        ];
        for (label, va, vb, key) in rows {
            let (d, pv, n) = match p.ks.get(key).copied().flatten() {
                Some(t) => (
                    format!("{:.4}", t.d),
                    format!("{:.3}", t.p_value),
                    format!("{} / {}", t.n_a, t.n_b),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "  {label:<13} {:>10} {:>10} {d:>8} {pv:>9}  {n}",
                fmt(va),
                fmt(vb)
            );
        }
    }
    for (label, names) in [("A", &c.only_in_a), ("B", &c.only_in_b)] {
        if !names.is_empty() {
            let _ = writeln!(out, "\nonly in {label}: {}", names.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ks_distance_by_hand_with_ties() {
        // F_a after 1, 2, 3, 4: 1/4, 2/4, 3/4, 1; F_b after 3, 4, ..., 8:
        // 1/6, 2/6, ...; the largest gap is after 4: 1 − 2/6 = 2/3. Stepping
        // through the tie at 3 one sample at a time would find 3/4.
        let t = ks_two_sample(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]).unwrap();
        assert!((t.d - 2.0 / 3.0).abs() < 1e-12, "{t:?}");
        assert_eq!((t.n_a, t.n_b), (4, 6));
        // Symmetric, and order of the input does not matter.
        let u = ks_two_sample(&[8.0, 3.0, 7.0, 4.0, 6.0, 5.0], &[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(t.d, u.d);
    }

    #[test]
    fn ks_of_identical_and_disjoint_samples() {
        let x = [0.3, 0.1, 0.2, 0.2, 0.9];
        let t = ks_two_sample(&x, &x).unwrap();
        assert_eq!((t.d, t.p_value), (0.0, 1.0));
        let t = ks_two_sample(&[1.0, 2.0], &[3.0, 4.0, 5.0]).unwrap();
        assert_eq!(t.d, 1.0);
        assert_eq!(ks_two_sample(&[], &[1.0]), None);
        assert_eq!(ks_two_sample(&[1.0], &[f64::NAN]), None);
    }

    #[test]
    fn kolmogorov_distribution_known_values() {
        // Tabulated values of the Kolmogorov distribution: P(K > 1) =
        // 0.27000, and 1.3581 is its 5 % critical value, 1.6276 its 1 %.
        assert!((kolmogorov_survival(1.0) - 0.26999967).abs() < 1e-7);
        assert!((kolmogorov_survival(1.3581) - 0.05).abs() < 1e-4);
        assert!((kolmogorov_survival(1.6276) - 0.01).abs() < 1e-4);
        assert_eq!(kolmogorov_survival(0.0), 1.0);
        assert!(kolmogorov_survival(10.0) < 1e-80);
        // D = 0.5 between samples of 50 and 50: λ = sqrt(25) · 0.5 = 2.5.
        let a: Vec<f64> = (0..50).map(f64::from).collect();
        let b: Vec<f64> = (25..75).map(f64::from).collect();
        let t = ks_two_sample(&a, &b).unwrap();
        assert!((t.d - 0.5).abs() < 1e-12);
        assert!((t.p_value - kolmogorov_survival(2.5)).abs() < 1e-15);
        assert!(t.p_value < 1e-4);
    }
}

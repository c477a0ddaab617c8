//! The CPU engine against NEST 3.10 statistics (tests/reference/stats/).
//!
//! * `fi_*` cases: f-I curves (dc stimuli or `I_e`, 1000 ms). Deterministic:
//!   every neuron's spike count, and every spike stamp, must equal NEST's.
//! * `poisson_*` cases: 500 neurons driven by Poisson stimuli for 2000 ms.
//!   NEST's and renshaw's random streams differ, so only statistics are
//!   compared with NEST's values over 5 seeds (`make_nest_stats.py`):
//!   - mean rate within max(3 x NEST's seed-to-seed std, 2 % of the rate)
//!     of NEST's mean over seeds,
//!   - mean CV of ISI within 0.03,
//!   - across-neuron std of the rates within max(4 x NEST's seed-to-seed
//!     std, 10 %) (a loose check of the rate distribution's width).

use renshaw::description;
use renshaw::output::stats::mean_cv_isi;
use renshaw::simulation::{Backend, RunOptions, RunOutput, run_description};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/stats")
}

fn run_case(name: &str) -> (RunOutput, Value) {
    let root = root();
    let desc = description::load(&root.join(format!("cases/{name}.toml")))
        .unwrap_or_else(|e| panic!("{e}"));
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(format!("data/{name}.json"))).unwrap(),
    )
    .unwrap();
    let opts = RunOptions {
        backend: Backend::Cpu,
        threads: None,
        ..Default::default()
    };
    let out = run_description(&desc, &opts, 0.0).unwrap();
    assert_eq!(
        out.network.steps as f64 * out.network.dt,
        reference["duration"].as_f64().unwrap()
    );
    (out, reference)
}

/// Spike stamps of every neuron of a population (local index), sorted.
fn trains(out: &RunOutput, pop_name: &str) -> Vec<Vec<u64>> {
    let pop = out
        .network
        .populations
        .iter()
        .find(|p| p.name == pop_name)
        .unwrap_or_else(|| panic!("no population {pop_name}"));
    let mut t = vec![Vec::new(); pop.size as usize];
    for s in &out.spikes {
        if s.neuron >= pop.offset && s.neuron < pop.offset + pop.size {
            t[(s.neuron - pop.offset) as usize].push(s.stamp);
        }
    }
    for x in &mut t {
        x.sort_unstable();
    }
    t
}

fn check_fi(name: &str) {
    let (out, reference) = run_case(name);
    let dt = out.network.dt;
    assert!(
        reference["robust_vth_shift_mV"].is_number(),
        "{name}: the NEST data have borderline threshold crossings"
    );
    let mut total = 0;
    for (pop_name, data) in reference["populations"].as_object().unwrap() {
        let ours = trains(&out, pop_name);
        let neurons = data["neurons"].as_array().unwrap();
        let counts = data["counts"].as_array().unwrap();
        let times = data["times"].as_array().unwrap();
        let mut ours_counts = Vec::new();
        let mut nest_counts = Vec::new();
        for ((i, c), ts) in neurons.iter().zip(counts).zip(times) {
            let i = i.as_u64().unwrap() as usize;
            let c = c.as_u64().unwrap() as usize;
            ours_counts.push(ours[i].len());
            nest_counts.push(c);
            let expected: Vec<u64> = ts
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t.as_f64().unwrap() / dt).round() as u64)
                .collect();
            assert_eq!(
                ours[i].len(),
                c,
                "{name}: spike count of {pop_name}[{i}]: renshaw {}, NEST {c}",
                ours[i].len()
            );
            assert_eq!(
                ours[i], expected,
                "{name}: spike stamps of {pop_name}[{i}] differ from NEST"
            );
            total += c;
        }
        eprintln!("{name}: {pop_name}: counts renshaw {ours_counts:?} NEST {nest_counts:?}");
    }
    assert!(total > 0, "{name}: no spikes in the reference");
}

fn check_poisson(name: &str) {
    let (out, reference) = run_case(name);
    let dt = out.network.dt;
    let seconds = reference["duration"].as_f64().unwrap() * 1e-3;
    for (pop_name, nest) in reference["populations"].as_object().unwrap() {
        let stamps = trains(&out, pop_name);
        let n = stamps.len() as f64;
        let rates: Vec<f64> = stamps.iter().map(|t| t.len() as f64 / seconds).collect();
        let mean = rates.iter().sum::<f64>() / n;
        let std = (rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        let times: Vec<Vec<f64>> = stamps
            .iter()
            .map(|t| t.iter().map(|&s| s as f64 * dt).collect())
            .collect();
        let cv = mean_cv_isi(&times).expect("neurons with >= 3 spikes");
        // The recorded spikes are all the spikes (the whole population is recorded).
        let summary = &out.summary.populations[pop_name];
        assert!((summary.rate_hz - mean).abs() < 1e-9);

        let f = |k: &str| nest[k].as_f64().unwrap();
        let (n_rate, n_rate_sd) = (f("mean_rate"), f("mean_rate_seed_std"));
        let (n_std, n_std_sd) = (f("std_rate"), f("std_rate_seed_std"));
        let (n_cv, n_cv_sd) = (f("mean_cv_isi"), f("mean_cv_isi_seed_std"));
        let rate_tol = (3.0 * n_rate_sd).max(0.02 * n_rate);
        let std_tol = (4.0 * n_std_sd).max(0.10 * n_std);
        let cv_tol = 0.03;
        eprintln!(
            "{name}: {pop_name}: rate renshaw {mean:.3} Hz, NEST {n_rate:.3} +- {n_rate_sd:.3} \
             (diff {:+.3}, tol {rate_tol:.3}); std over neurons renshaw {std:.3}, NEST {n_std:.3} \
             +- {n_std_sd:.3} (tol {std_tol:.3}); CV ISI renshaw {cv:.4}, NEST {n_cv:.4} \
             +- {n_cv_sd:.4} (diff {:+.4}, tol {cv_tol})",
            mean - n_rate,
            cv - n_cv
        );
        assert!(
            (mean - n_rate).abs() <= rate_tol,
            "{name}: {pop_name}: mean rate renshaw {mean:.3} Hz, NEST {n_rate:.3} +- {n_rate_sd:.3} Hz (tolerance {rate_tol:.3})"
        );
        assert!(
            (cv - n_cv).abs() <= cv_tol,
            "{name}: {pop_name}: mean CV ISI renshaw {cv:.4}, NEST {n_cv:.4} (tolerance {cv_tol})"
        );
        assert!(
            (std - n_std).abs() <= std_tol,
            "{name}: {pop_name}: std of rates over neurons renshaw {std:.3} Hz, NEST {n_std:.3} +- {n_std_sd:.3} Hz (tolerance {std_tol:.3})"
        );
    }
}

macro_rules! cases {
    (fi: $($fi:ident),* ; poisson: $($po:ident),* $(,)?) => {
        $(
            #[test]
            fn $fi() {
                check_fi(stringify!($fi));
            }
        )*
        $(
            #[test]
            fn $po() {
                check_poisson(stringify!($po));
            }
        )*
        #[test]
        fn every_case_file_has_a_test_and_data() {
            let mut files: Vec<String> = std::fs::read_dir(root().join("cases"))
                .unwrap()
                .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let mut listed = vec![$(stringify!($fi).to_string(),)* $(stringify!($po).to_string(),)*];
            listed.sort();
            assert_eq!(files, listed);
            for f in &files {
                assert!(root().join(format!("data/{f}.json")).exists(), "no data for {f}");
            }
        }
    };
}

cases!(
    fi: fi_cond_custom, fi_cond_default, fi_delta_brunel, fi_delta_default, fi_exp_custom, fi_exp_default;
    poisson: poisson_cond, poisson_cond_ei, poisson_delta, poisson_delta_ei, poisson_exp,
);

/// Not run by default (about a minute): renshaw's mean rate and CV over 10
/// seeds against NEST's over 5, to look for a systematic bias smaller than
/// the per-run tolerances above. Prints a z-score per case; fails at |z| > 4.
/// `cargo test --release --test nest_statistics -- --ignored --nocapture`
#[test]
#[ignore]
fn poisson_many_seeds() {
    let names = [
        "poisson_cond",
        "poisson_cond_ei",
        "poisson_delta",
        "poisson_delta_ei",
        "poisson_exp",
    ];
    let stats = |xs: &[f64]| {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        (m, v.sqrt())
    };
    let mut worst = 0.0f64;
    for name in names {
        let root = root();
        let mut desc = description::load(&root.join(format!("cases/{name}.toml"))).unwrap();
        let reference: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(format!("data/{name}.json"))).unwrap(),
        )
        .unwrap();
        let base = desc.network.seed;
        let (mut rates, mut cvs) = (Vec::new(), Vec::new());
        for k in 0..10 {
            desc.network.seed = base + 1000 + k;
            let opts = RunOptions {
                backend: Backend::Cpu,
                ..Default::default()
            };
            let out = run_description(&desc, &opts, 0.0).unwrap();
            let p = &out.summary.populations["N"];
            rates.push(p.rate_hz);
            cvs.push(p.cv_isi.unwrap());
        }
        let nest = &reference["populations"]["N"];
        let f = |k: &str| nest[k].as_f64().unwrap();
        let n_seeds = reference["seeds"].as_array().unwrap().len() as f64;
        let (r, r_sd) = stats(&rates);
        let (c, c_sd) = stats(&cvs);
        let z_rate = (r - f("mean_rate"))
            / (r_sd.powi(2) / 10.0 + f("mean_rate_seed_std").powi(2) / n_seeds).sqrt();
        let z_cv = (c - f("mean_cv_isi"))
            / (c_sd.powi(2) / 10.0 + f("mean_cv_isi_seed_std").powi(2) / n_seeds).sqrt();
        eprintln!(
            "{name}: rate renshaw {r:.3} +- {r_sd:.3} (10 seeds), NEST {:.3} +- {:.3} (5 seeds), z {z_rate:+.2}; \
             CV renshaw {c:.4} +- {c_sd:.4}, NEST {:.4} +- {:.4}, z {z_cv:+.2}",
            f("mean_rate"),
            f("mean_rate_seed_std"),
            f("mean_cv_isi"),
            f("mean_cv_isi_seed_std")
        );
        worst = worst.max(z_rate.abs()).max(z_cv.abs());
    }
    assert!(worst <= 4.0, "a |z| above 4: see above");
}

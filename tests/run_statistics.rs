//! The statistics a run writes (summary.json and statistics/*.npy), checked
//! against the spike recordings of the same run and against a run that
//! records every neuron.

use renshaw::description::{Description, Format, parse_str};
use renshaw::output::npy::read_f64;
use renshaw::simulation::{Backend, RunOptions, run_description};
use serde_json::Value;
use std::path::Path;

/// A small E/I network driven by Poisson input; `record` is the `[[record]]`
/// part, `warmup` the analysis window's start.
fn network(record: &str, warmup: f64) -> Description {
    let text = format!(
        r#"
[network]
dt = 0.1
seed = 11

[populations.E]
model = "iaf_psc_delta"
size = 240
params = {{ tau_m = 20.0, t_ref = 2.0, E_L = 0.0, V_reset = 10.0, V_th = 20.0 }}
init = {{ V_m = {{ uniform = [0.0, 20.0] }} }}

[populations.I]
like = "E"
size = 60

[[stimuli]]
kind = "poisson"
rate = 18000.0
targets = ["E", "I"]
synapse = {{ weight = 0.1, delay = 1.5 }}

[[projections]]
from = "E"
to = ["E", "I"]
connect = {{ rule = "fixed_indegree", indegree = 40 }}
synapse = {{ weight = 0.1, delay = 1.5 }}

[[projections]]
from = "I"
to = ["E", "I"]
connect = {{ rule = "fixed_indegree", indegree = 10 }}
synapse = {{ weight = -0.5, delay = 1.5 }}

{record}

[run]
duration = 600.0
warmup = {warmup}
"#
    );
    parse_str(&text, Format::Toml, "stats.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn run(desc: &Description, dir: &Path) -> Value {
    let opts = RunOptions {
        backend: Backend::Cpu,
        out_dir: Some(dir.to_path_buf()),
        keep_in_memory: false,
        ..Default::default()
    };
    run_description(desc, &opts, 0.0).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn load(dir: &Path, file: &str) -> Vec<f64> {
    read_f64(&dir.join(file))
        .unwrap_or_else(|e| panic!("{e}"))
        .1
}

/// Spike times (ms) per neuron from a recorder's files, in (from, to].
fn trains(dir: &Path, stem: &str, size: usize, from: f64, to: f64) -> Vec<Vec<f64>> {
    let times = load(dir, &format!("{stem}_spike_times.npy"));
    let senders = load(dir, &format!("{stem}_spike_senders.npy"));
    let mut per = vec![Vec::new(); size];
    for (t, s) in times.iter().zip(&senders) {
        // Times are multiples of dt computed as stamp * dt: compare with a
        // tolerance far below dt.
        if *t > from + 1e-6 && *t <= to + 1e-6 {
            per[*s as usize].push(*t);
        }
    }
    per
}

#[test]
fn statistics_match_the_recorded_spikes_in_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let record = "[[record]]\npopulation = \"E\"\n\n[[record]]\npopulation = \"I\"\n";
    let summary = run(&network(record, 100.0), dir);
    assert_eq!(summary["warmup_ms"], 100.0);
    assert_eq!(summary["correlation_bin_ms"], 2.0);
    for (pop, size) in [("E", 240), ("I", 60)] {
        let p = &summary["populations"][pop];
        let per = trains(dir, pop, size, 100.0, 600.0);
        let all = trains(dir, pop, size, 0.0, 600.0);

        // Rates: per neuron from the recording, and their mean in the summary.
        let rates = load(dir, &format!("statistics/{pop}_rates.npy"));
        assert_eq!(rates.len(), size);
        for (r, t) in rates.iter().zip(&per) {
            assert!(
                (r - t.len() as f64 / 0.5).abs() < 1e-9,
                "{pop}: {r} vs {}",
                t.len()
            );
        }
        let mean_rate = rates.iter().sum::<f64>() / size as f64;
        let rate = p["rate_hz"].as_f64().unwrap();
        assert!(
            (rate - mean_rate).abs() < 1e-9,
            "{pop}: {rate} vs {mean_rate}"
        );
        assert!(rate > 1.0, "{pop} must fire for the test to mean something");
        // The warmup's spikes are in the recording but not in the rate.
        let total: usize = all.iter().map(Vec::len).sum();
        let in_window: usize = per.iter().map(Vec::len).sum();
        assert!(total > in_window);
        assert_eq!(p["spikes"].as_u64().unwrap(), total as u64);

        // CV of ISI of neurons with >= 3 spikes in the window.
        let cvs = load(dir, &format!("statistics/{pop}_cv_isi.npy"));
        let expected: Vec<f64> = per
            .iter()
            .filter(|t| t.len() >= 3)
            .map(|t| {
                let isi: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
                let m = isi.iter().sum::<f64>() / isi.len() as f64;
                let v = isi.iter().map(|x| (x - m).powi(2)).sum::<f64>() / isi.len() as f64;
                v.sqrt() / m
            })
            .collect();
        assert_eq!(cvs.len(), expected.len());
        for (a, b) in cvs.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        assert_eq!(p["cv_isi_neurons"].as_u64().unwrap(), cvs.len() as u64);

        // Correlations: at most 200 neurons, every pair of those that fired.
        let corr = load(dir, &format!("statistics/{pop}_correlations.npy"));
        let n = p["correlation_neurons"].as_u64().unwrap() as usize;
        assert!(n <= 200 && n <= size);
        assert_eq!(corr.len(), n * (n - 1) / 2);
        assert_eq!(p["correlation_pairs"].as_u64().unwrap(), corr.len() as u64);
        assert!(corr.iter().all(|r| (-1.0..=1.0).contains(r)));
        let mean = corr.iter().sum::<f64>() / corr.len() as f64;
        assert!((p["correlation"].as_f64().unwrap() - mean).abs() < 1e-12);
    }
    // I has 60 neurons: all of them enter the correlations; the first pair is
    // neurons 0 and 1, binned here independently of the library.
    let per = trains(dir, "I", 60, 100.0, 600.0);
    assert!(
        per[0].len() >= 3 && per[1].len() >= 3,
        "neurons 0 and 1 must fire"
    );
    let counts = |t: &[f64]| {
        let mut c = vec![0.0; 250];
        for x in t {
            // Bin k holds (100 + 2k, 100 + 2k + 2].
            let k = ((x - 100.0 - 1e-6) / 2.0).floor() as usize;
            c[k] += 1.0;
        }
        c
    };
    let (x, y) = (counts(&per[0]), counts(&per[1]));
    let mx = x.iter().sum::<f64>() / 250.0;
    let my = y.iter().sum::<f64>() / 250.0;
    let cov: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    let r = cov / (vx * vy).sqrt();
    let corr = load(dir, "statistics/I_correlations.npy");
    assert!((corr[0] - r).abs() < 1e-9, "{} vs {r}", corr[0]);
}

#[test]
fn rate_covers_every_neuron_whatever_is_recorded() {
    // The same network, recorded in full and in part: recording does not
    // change the dynamics, so the window rate over all neurons (from the
    // engine's counters at the warmup and the end) must agree, and equal
    // the rate of the full recording in the window.
    let tmp = tempfile::tempdir().unwrap();
    let (full_dir, part_dir) = (tmp.path().join("full"), tmp.path().join("part"));
    let full = run(
        &network("[[record]]\npopulation = \"E\"\n", 150.0),
        &full_dir,
    );
    let part = run(
        &network(
            "[[record]]\npopulation = \"E\"\nneurons = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
            150.0,
        ),
        &part_dir,
    );
    let from_recording: usize = trains(&full_dir, "E", 240, 150.0, 600.0)
        .iter()
        .map(Vec::len)
        .sum();
    let expected = from_recording as f64 / 240.0 / 0.45;
    for s in [&full, &part] {
        let rate = s["populations"]["E"]["rate_hz"].as_f64().unwrap();
        assert!((rate - expected).abs() < 1e-9, "{rate} vs {expected}");
    }
    let e = &part["populations"]["E"];
    assert_eq!(e["rate_neurons"], 240);
    assert_eq!(e["spike_recorded_neurons"], 10);
    assert_eq!(load(&part_dir, "statistics/E_rates.npy").len(), 10);
    // I is not recorded: a rate from the counters, no distributions.
    let i = &part["populations"]["I"];
    assert!(i["rate_hz"].as_f64().unwrap() > 0.0);
    assert_eq!(i["spike_recorded_neurons"], 0);
    assert!(i["cv_isi"].is_null() && i["correlation"].is_null());
    assert!(!part_dir.join("statistics/I_rates.npy").exists());
    let files: Vec<&str> = part["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&"statistics/E_correlations.npy"));
    assert!(!files.iter().any(|f| f.starts_with("statistics/I_")));
}

#[test]
fn warmup_at_zero_keeps_the_whole_run() {
    let tmp = tempfile::tempdir().unwrap();
    let s = run(
        &network("[[record]]\npopulation = \"I\"\n", 0.0),
        tmp.path(),
    );
    let i = &s["populations"]["I"];
    let spikes = i["spikes"].as_f64().unwrap();
    let rate = i["rate_hz"].as_f64().unwrap();
    assert!((rate - spikes / 60.0 / 0.6).abs() < 1e-9);
}

#[test]
fn warmup_not_shorter_than_the_run_is_an_error_not_a_panic() {
    // The validator rejects this; a program that edits a description after
    // validation gets an error from the run.
    let mut desc = network("", 100.0);
    desc.run.duration = 100.0;
    let err = run_description(&desc, &RunOptions::default(), 0.0).unwrap_err();
    assert!(err.to_string().contains("run.warmup"), "{err}");
    // Off the grid: 100.04 ms is 1000 steps, as is the warmup.
    desc.run.duration = 100.04;
    let err = run_description(&desc, &RunOptions::default(), 0.0).unwrap_err();
    assert!(err.to_string().contains("run.warmup"), "{err}");
}

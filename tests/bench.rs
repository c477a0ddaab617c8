//! `renshaw bench` through the library: the JSON lines of a tiny benchmark
//! agree with an independent run of the same description, errors name what
//! is wrong, and `--set` and `@SCALE` reach the description.

use renshaw::bench::{BenchBackend, BenchError, BenchOptions, SUITES, run_bench};
use renshaw::description::Override;
use renshaw::simulation::{Backend, RunOptions, run_file_with};
use serde_json::Value;
use std::path::Path;

fn set(s: &str) -> Override {
    s.parse().unwrap()
}

/// brunel.toml shrunk to 100 neurons with in-degrees 8 and 2 (same weights,
/// Poisson drive and recorders); every spike is recorded.
fn tiny_brunel() -> Vec<Override> {
    vec![
        set("populations.E.size=80"),
        set("populations.I.size=20"),
        set("projections[0].connect.indegree=8"),
        set("projections[1].connect.indegree=2"),
    ]
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn json_lines_of_a_tiny_cpu_benchmark_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub/bench.jsonl");
    let opts = BenchOptions {
        targets: vec!["brunel".into()],
        backends: Some(vec![BenchBackend::Cpu]),
        repeats: 2,
        warmup: 1,
        overrides: tiny_brunel(),
        duration_ms: Some(20.0),
        threads: Some(2),
        out: Some(out.clone()),
        ..Default::default()
    };
    let report = run_bench(&opts).unwrap();
    assert_eq!(report.runs.len(), 2);
    assert_eq!(report.summaries.len(), 1);
    assert!(report.skipped.is_empty());

    let all = lines(&out);
    let runs: Vec<&Value> = all.iter().filter(|v| v["record"] == "run").collect();
    let summaries: Vec<&Value> = all.iter().filter(|v| v["record"] == "summary").collect();
    assert_eq!(all.len(), 3, "two runs and a summary: {all:?}");
    assert_eq!(runs.len(), 2);
    assert_eq!(summaries.len(), 1);

    // The same description and seed run on its own, every spike kept.
    let mut overrides = tiny_brunel();
    overrides.push(set("run.duration=20.0"));
    let reference = run_file_with(
        Path::new("examples/brunel.toml"),
        &overrides,
        &RunOptions {
            backend: Backend::Cpu,
            threads: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let net = &reference.network;
    let out_degree = |n: u32| {
        let r = &net.synapses.row_start;
        r[n as usize + 1] - r[n as usize]
    };
    let events: u64 = reference.spikes.iter().map(|s| out_degree(s.neuron)).sum();
    let spikes = reference.spikes.len() as u64;
    assert!(spikes > 0 && events > 0, "the tiny network must fire");

    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r["suite"], "brunel");
        assert_eq!(r["backend"], "cpu");
        assert_eq!(r["repeat"], i as u64 + 1);
        assert_eq!(r["repeats"], 2);
        assert_eq!(r["warmup"], 1);
        assert_eq!(r["threads"], 2);
        assert_eq!(r["neurons"], 100);
        assert_eq!(r["synapses"], net.synapses.len() as u64);
        assert_eq!(r["seed"], 2000);
        assert_eq!(r["duration_ms"], 20.0);
        assert_eq!(r["steps"], 200);
        assert_eq!(r["spikes"], spikes);
        assert_eq!(r["synaptic_events"], events);
        let sim = r["simulate_s"].as_f64().unwrap();
        assert!(sim > 0.0);
        assert!(close(r["real_time_factor"].as_f64().unwrap(), sim / 0.020));
        assert!(close(
            r["synaptic_events_per_s"].as_f64().unwrap(),
            events as f64 / sim
        ));
        let (build, engine) = (
            r["build_s"].as_f64().unwrap(),
            r["engine_s"].as_f64().unwrap(),
        );
        assert!(r["parse_s"].as_f64().unwrap() <= build);
        assert!(close(r["total_s"].as_f64().unwrap(), build + engine + sim));
        // 100 neurons, Poisson 20 kHz each, 200 steps: 2e6 spikes × 0.1 ms.
        assert!(close(
            r["stimulus_events_expected"].as_f64().unwrap(),
            100.0 * 20_000.0 * 0.020
        ));
        let commit = r["git_commit"].as_str().unwrap();
        assert!(!commit.is_empty());
        assert_eq!(r["renshaw_version"], env!("CARGO_PKG_VERSION"));
        assert!(r["machine"]["nproc"].as_u64().unwrap() >= 1);
        assert!(r["date"].as_str().unwrap().ends_with('Z'));
        assert!(r["device_memory_bytes"].is_null());
        assert!(r["adapter"].is_null());
        if cfg!(target_os = "linux") {
            assert!(r["peak_host_memory_bytes"].as_u64().unwrap() > 0);
            assert!(r["simulate_cpu_s"].as_f64().unwrap() >= 0.0);
        }
    }

    let s = summaries[0];
    assert_eq!(s["repeats"], 2);
    assert_eq!(s["spikes"], spikes);
    assert_eq!(s["spikes_identical"], true);
    assert_eq!(s["synaptic_events"], events);
    let sims: Vec<f64> = runs
        .iter()
        .map(|r| r["simulate_s"].as_f64().unwrap())
        .collect();
    let stat = &s["simulate_s"];
    assert!(close(
        stat["mean"].as_f64().unwrap(),
        (sims[0] + sims[1]) / 2.0
    ));
    assert!(close(stat["min"].as_f64().unwrap(), sims[0].min(sims[1])));
    assert!(close(stat["max"].as_f64().unwrap(), sims[0].max(sims[1])));
    let rtf = &s["real_time_factor"];
    assert!(close(
        rtf["mean"].as_f64().unwrap(),
        stat["mean"].as_f64().unwrap() / 0.020
    ));
    assert_eq!(s["git_commit"], runs[0]["git_commit"]);

    // A second benchmark appends.
    run_bench(&BenchOptions {
        repeats: 1,
        warmup: 0,
        ..opts
    })
    .unwrap();
    assert_eq!(lines(&out).len(), 5);
}

#[test]
fn an_unknown_suite_is_an_error_listing_the_suites() {
    let err = run_bench(&BenchOptions {
        targets: vec!["brunel".into(), "brunell".into()],
        backends: Some(vec![BenchBackend::Cpu]),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, BenchError::UnknownSuite { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("`brunell`"), "{msg}");
    for s in SUITES {
        assert!(msg.contains(s.name), "{msg}");
    }
}

#[test]
fn a_suite_whose_file_is_missing_names_the_file() {
    let empty = tempfile::tempdir().unwrap();
    let err = run_bench(&BenchOptions {
        targets: vec!["pd14@0.1".into()],
        examples_dir: Some(empty.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BenchError::MissingFile { .. }), "{msg}");
    assert!(msg.contains("examples/pd14.toml"), "{msg}");
}

#[test]
fn set_and_scale_reach_the_description() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scaled.toml");
    std::fs::write(
        &file,
        r#"
[parameters]
scale = 1.0
n = "${round(200 * scale)}"
rate = 10000.0

[network]
seed = 3

[populations.A]
model = "iaf_psc_delta"
size = "${n}"
params = { E_L = 0.0, V_reset = 10.0, V_th = 20.0 }

[[stimuli]]
kind = "poisson"
rate = "${rate}"
targets = "A"
synapse = { weight = 0.2, delay = 1.0 }

[[projections]]
from = "A"
to = "A"
connect = { rule = "fixed_indegree", indegree = 5 }
synapse = { weight = 0.1, delay = 1.0 }

[run]
duration = 1000.0
"#,
    )
    .unwrap();
    let out = dir.path().join("b.jsonl");
    let target = format!("{}@0.25", file.display());
    let report = run_bench(&BenchOptions {
        targets: vec![target.clone()],
        backends: Some(vec![BenchBackend::Cpu]),
        repeats: 1,
        warmup: 0,
        overrides: vec![set("scale=0.5"), set("rate=5000"), set("network.seed=11")],
        duration_ms: Some(5.0),
        threads: Some(1),
        out: Some(out.clone()),
        record: false,
        ..Default::default()
    })
    .unwrap();
    let r = &lines(&out)[0];
    assert_eq!(r["suite"], target.as_str());
    assert_eq!(r["scale"], 0.25);
    assert_eq!(r["neurons"], 50);
    assert_eq!(r["synapses"], 250);
    assert_eq!(r["seed"], 11);
    assert_eq!(r["duration_ms"], 5.0);
    assert_eq!(r["recorded"], false);
    assert_eq!(r["parameters"]["scale"], 0.25);
    assert_eq!(r["parameters"]["n"], 50.0);
    assert_eq!(r["parameters"]["rate"], 5000.0);
    assert!(close(
        r["stimulus_events_expected"].as_f64().unwrap(),
        50.0 * 5000.0 * 0.005
    ));
    let overrides: Vec<&str> = r["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        overrides,
        [
            "rate=5000",
            "network.seed=11",
            "scale=0.25",
            "run.duration=5.0"
        ]
    );
    // `@SCALE` won over `--set scale=0.5`.
    assert_eq!(report.summaries[0].neurons, 50);

    // An invalid `--set` is a description error, before anything runs.
    let err = run_bench(&BenchOptions {
        targets: vec![file.display().to_string()],
        overrides: vec![set("nope=1")],
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, BenchError::Description(_)), "{err}");
    assert!(
        err.to_string().contains("unknown parameter `nope`"),
        "{err}"
    );
}

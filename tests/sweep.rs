//! `renshaw sweep`: instances equal lone runs, resume after an interruption,
//! the tables and the plot, and errors that name the file and key.

use renshaw::description::{Override, load_with};
use renshaw::simulation::{Backend, RunOptions, run_description};
use renshaw::sweep::{Sweep, SweepError, SweepOptions, measures, run_sweep};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A small E/I network driven by Poisson input whose rate is a parameter.
const BASE: &str = r#"
[parameters]
drive = 8000.0

[network]
dt = 0.1
seed = 5

[populations.E]
model = "iaf_psc_delta"
size = 80
params = { C_m = 1.0, tau_m = 20.0, t_ref = 2.0, E_L = 0.0, V_reset = 10.0, V_th = 20.0 }
init = { V_m = { uniform = [10.0, 20.0] } }

[populations.I]
like = "E"
size = 20

[[stimuli]]
kind = "poisson"
rate = "${drive}"
targets = ["E", "I"]
synapse = { weight = 0.1, delay = 1.5 }

[[projections]]
from = "E"
to = ["E", "I"]
connect = { rule = "fixed_indegree", indegree = 8 }
synapse = { weight = 0.1, delay = 1.5 }

[[projections]]
from = "I"
to = ["E", "I"]
connect = { rule = "fixed_indegree", indegree = 2 }
synapse = { weight = -0.5, delay = 1.5 }

[[record]]
population = "E"
spikes = true

[run]
duration = 300.0
"#;

fn setup(sweep_text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("net.toml"), BASE).unwrap();
    let path = dir.path().join("sweep.toml");
    std::fs::write(&path, sweep_text).unwrap();
    (dir, path)
}

const GRID: &str = r#"
base = "net.toml"
seeds = [1, 2]

[set]
"run.duration" = 200.0

[grid]
drive = [12000.0, 20000.0, 30000.0]

[plot]
x = "drive"
y = "rate_hz.E"
"#;

fn opts(out: &Path, parallel: usize) -> SweepOptions {
    SweepOptions {
        out_dir: out.to_path_buf(),
        backend: Backend::Cpu,
        parallel,
        progress: false,
        keep_runs: false,
        batch: 1,
    }
}

#[test]
fn every_instance_equals_its_lone_run_and_the_tables_hold_them() {
    let (dir, path) = setup(GRID);
    let sweep = Sweep::load(&path, &[]).unwrap();
    assert_eq!(sweep.instances.len(), 6);
    let out = dir.path().join("out");
    let outcome = run_sweep(&sweep, &opts(&out, 2)).unwrap();
    assert_eq!(outcome.results.len(), 6);
    assert_eq!(outcome.reused, 0);

    // Seeds innermost: (12000, 1), (12000, 2), (20000, 1), ...
    for (r, (drive, seed)) in outcome.results.iter().zip([
        ("12000", 1),
        ("12000", 2),
        ("20000", 1),
        ("20000", 2),
        ("30000", 1),
        ("30000", 2),
    ]) {
        assert_eq!(r.instance.seed, Some(seed));
        assert_eq!(
            r.instance.grid[0].1.parse::<f64>().unwrap(),
            drive.parse::<f64>().unwrap()
        );
        // The same run alone, through the library.
        let set: Vec<Override> = [
            "run.duration=200".to_string(),
            format!("drive={drive}"),
            format!("network.seed={seed}"),
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let desc = load_with(&dir.path().join("net.toml"), &set).unwrap();
        let alone = run_description(
            &desc,
            &RunOptions {
                backend: Backend::Cpu,
                threads: Some(1),
                ..Default::default()
            },
            0.0,
        )
        .unwrap();
        let m = measures(&serde_json::to_value(&alone.summary).unwrap());
        for key in ["rate_hz.E", "rate_hz.I", "cv_isi.E", "neurons", "synapses"] {
            assert_eq!(
                r.measures.get(key),
                m.get(key),
                "{key} of instance {}",
                r.instance.index
            );
        }
    }
    // Two seeds differ; a stronger drive fires E faster.
    let rate = |i: usize| outcome.results[i].measures["rate_hz.E"];
    assert_ne!(rate(0), rate(1));
    assert!(
        rate(0) < rate(2) && rate(2) < rate(4),
        "{} {} {}",
        rate(0),
        rate(2),
        rate(4)
    );

    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7);
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&header[..4], &["index", "seed", "drive", "wall_s"]);
    let col = header.iter().position(|h| *h == "rate_hz.E").unwrap();
    let row3: Vec<&str> = lines[4].split(',').collect();
    assert_eq!(row3[0], "3");
    assert_eq!(row3[col].parse::<f64>().unwrap(), rate(3));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 6);
    assert_eq!(json[5]["drive"], 30000.0);
    assert_eq!(json[5]["measures"]["rate_hz.E"], rate(5));
    let png = std::fs::read(out.join("plot.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn a_second_run_reuses_finished_instances_and_reruns_stale_ones() {
    let (dir, path) = setup(GRID);
    let sweep = Sweep::load(&path, &[]).unwrap();
    let out = dir.path().join("out");
    let first = run_sweep(&sweep, &opts(&out, 2)).unwrap();

    // One instance lost (as if it was running when the sweep was stopped).
    std::fs::remove_file(out.join("instances/00003.json")).unwrap();
    let second = run_sweep(&sweep, &opts(&out, 1)).unwrap();
    assert_eq!(second.reused, 5);
    let without_timings = |r: &renshaw::sweep::InstanceResult| {
        let mut m = r.measures.clone();
        m.retain(|k, _| k != "simulate_s" && k != "real_time_factor");
        m
    };
    for (a, b) in first.results.iter().zip(&second.results) {
        assert_eq!(without_timings(a), without_timings(b));
    }
    // The four that were not rerun are the saved files, timings and all.
    assert_eq!(first.results[0].measures, second.results[0].measures);

    // A changed base description makes every saved result stale.
    std::fs::write(
        dir.path().join("net.toml"),
        BASE.replace("size = 20", "size = 25"),
    )
    .unwrap();
    let sweep = Sweep::load(&path, &[]).unwrap();
    let third = run_sweep(&sweep, &opts(&out, 2)).unwrap();
    assert_eq!(third.reused, 0);
    assert_eq!(third.results[0].measures["neurons"], 105.0);
    // So does a different --set.
    let set: Override = "run.duration=150".parse().unwrap();
    let sweep = Sweep::load(&path, &[set]).unwrap();
    assert_eq!(run_sweep(&sweep, &opts(&out, 2)).unwrap().reused, 0);
}

#[test]
fn an_interrupted_sweep_resumes_where_it_stopped() {
    // Instances long enough (about 0.3 s each on one core) to stop the
    // command between two of them.
    let (dir, path) = setup(
        r#"
base = "net.toml"
seeds = { from = 1, to = 12 }
[set]
"run.duration" = 10000.0
"#,
    );
    let out = dir.path().join("out");
    let bin = env!("CARGO_BIN_EXE_renshaw");
    let mut child = Command::new(bin)
        .args([
            "sweep",
            path.to_str().unwrap(),
            "--parallel",
            "1",
            "-q",
            "-o",
        ])
        .arg(&out)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let first_done = out.join("instances/00000.json");
    while !first_done.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no instance finished"
        );
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let saved = std::fs::read_dir(out.join("instances"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert!((1..12).contains(&saved), "{saved} instances saved");

    let again = Command::new(bin)
        .args(["sweep", path.to_str().unwrap(), "-q", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "{} run now, {saved} from an earlier run",
            12 - saved
        )),
        "{stdout}"
    );

    // The resumed results equal an uninterrupted sweep's.
    let fresh = dir.path().join("fresh");
    let sweep = Sweep::load(&path, &[]).unwrap();
    let whole = run_sweep(&sweep, &opts(&fresh, 2)).unwrap();
    let resumed = run_sweep(&sweep, &opts(&out, 2)).unwrap();
    assert_eq!(resumed.reused, 12);
    for (a, b) in whole.results.iter().zip(&resumed.results) {
        assert_eq!(a.instance, b.instance);
        assert_eq!(a.measures["rate_hz.E"], b.measures["rate_hz.E"]);
    }
}

fn load_err(sweep_text: &str) -> String {
    let (_dir, path) = setup(sweep_text);
    match Sweep::load(&path, &[]) {
        Ok(_) => panic!("accepted:\n{sweep_text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_sweep_files_are_reported_with_file_key_and_what_is_allowed() {
    let e = load_err("base = \"net.toml\"\nseed = [1, 2]\n");
    assert!(
        e.contains("sweep.toml") && e.contains("line 2") && e.contains("unknown field `seed`"),
        "{e}"
    );
    let e = load_err("base = \"missing.toml\"\n");
    assert!(
        e.contains("missing.toml") && e.contains("No such file"),
        "{e}"
    );
    let e = load_err("base = \"net.toml\"\n[grid]\ndrive = []\n");
    assert!(e.contains("grid.drive") && e.contains("empty"), "{e}");
    let e = load_err("base = \"net.toml\"\n[grid]\ndrive = 3.0\n");
    assert!(
        e.contains("grid.drive") && e.contains("drive = [3.0]"),
        "{e}"
    );
    let e = load_err("base = \"net.toml\"\nseeds = { from = 5, to = 2 }\n");
    assert!(e.contains("seeds") && e.contains("from <= to"), "{e}");
    let e = load_err("base = \"net.toml\"\n[grid]\n\"network.seed\" = [1, 2]\n");
    assert!(e.contains("seeds = "), "{e}");
    // A parameter the base description does not have: the description's
    // own message, naming the instance.
    let e = load_err("base = \"net.toml\"\n[grid]\ndrvie = [1.0, 2.0]\n");
    assert!(
        e.contains("instance 0 (drvie=1.0)") && e.contains("drvie") && e.contains("drive"),
        "{e}"
    );
    // An impossible value, caught before anything runs.
    let e = load_err("base = \"net.toml\"\n[grid]\n\"run.duration\" = [100.0, -5.0]\n");
    assert!(
        e.contains("instance 1") && e.contains("run.duration"),
        "{e}"
    );
    let e = load_err(
        "base = \"net.toml\"\n[grid]\ndrive = [1.0]\n[plot]\nx = \"rate\"\ny = \"rate_hz.E\"\n",
    );
    assert!(
        e.contains("[plot] x = \"rate\"") && e.contains("drive, seed"),
        "{e}"
    );
}

#[test]
fn an_unknown_plot_measure_is_an_error_after_the_tables_are_written() {
    let (dir, path) = setup(
        "base = \"net.toml\"\nseeds = [1]\n[set]\n\"run.duration\" = 50.0\n[grid]\ndrive = [9000.0]\n[plot]\nx = \"drive\"\ny = \"rate_hz.e\"\n",
    );
    let sweep = Sweep::load(&path, &[]).unwrap();
    let out = dir.path().join("out");
    let e = run_sweep(&sweep, &opts(&out, 1)).unwrap_err();
    assert!(matches!(e, SweepError::Plot { key: "y", .. }), "{e}");
    assert!(e.to_string().contains("rate_hz.E"), "{e}");
    assert!(out.join("results.csv").exists());
}

#[test]
fn a_batched_sweep_gives_the_same_table() {
    let (dir, path) = setup(GRID);
    let sweep = Sweep::load(&path, &[]).unwrap();
    let one_by_one = run_sweep(&sweep, &opts(&dir.path().join("a"), 2)).unwrap();
    let batched = run_sweep(
        &sweep,
        &SweepOptions {
            batch: 4,
            ..opts(&dir.path().join("b"), 2)
        },
    )
    .unwrap();
    assert_eq!(batched.results.len(), 6);
    for (a, b) in one_by_one.results.iter().zip(&batched.results) {
        assert_eq!(a.instance, b.instance);
        for key in ["rate_hz.E", "rate_hz.I", "cv_isi.E", "correlation.E"] {
            assert_eq!(
                a.measures[key], b.measures[key],
                "{key} of instance {}",
                a.instance.index
            );
        }
        assert!(
            b.backend.contains("batch of 4") || b.backend.contains("batch of 2"),
            "{}",
            b.backend
        );
    }
}

#[test]
fn a_savings_sweep_runs_the_experiment_per_instance_and_matches_a_lone_seed() {
    // The shipped savings circuit at two tiny sizes, short phases.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sizes.toml");
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/savings.toml");
    std::fs::write(
        &path,
        format!(
            r#"
base = "{}"
experiment = "savings"
seeds = [3]

[savings]
baseline_cycles = 3
field_cycles = 2
washout_cycles = 1
state_cycles = 1
bias_runs = false

[grid]
n_e = [40, 80]

[plot]
x = "n_e"
y = "reference_error_m"
"#,
            base.display()
        ),
    )
    .unwrap();
    let sweep = Sweep::load(&path, &[]).unwrap();
    let out = dir.path().join("out");
    let outcome = run_sweep(&sweep, &opts(&out, 2)).unwrap();
    assert_eq!(outcome.results.len(), 2);
    for r in &outcome.results {
        for m in [
            "reference_error_m",
            "baseline_error_m",
            "early_error.field2",
            "washout_cycles",
        ] {
            assert!(r.measures.contains_key(m), "{m} missing: {:?}", r.measures);
        }
    }
    // Instance 1 (n_e = 80, seed 3) is the experiment run alone.
    let p = renshaw::savings::Protocol {
        baseline_cycles: 3,
        field_cycles: 2,
        washout_cycles: 1,
        state_cycles: 1,
        bias_runs: false,
        ..Default::default()
    };
    let alone =
        renshaw::savings::run_seed(&base, &["n_e=80".parse().unwrap()], 3, Backend::Cpu, &p)
            .unwrap();
    let one = outcome
        .results
        .iter()
        .find(|r| r.instance.index == 1)
        .unwrap();
    assert_eq!(one.measures, alone.measures());
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert!(csv.contains("reference_error_m"), "{csv}");
    // Run again: both are reused, nothing reruns.
    let again = run_sweep(&sweep, &opts(&out, 2)).unwrap();
    assert_eq!(again.reused, 2);
    // A protocol table without the experiment, or without seeds, is refused.
    std::fs::write(
        &path,
        format!(
            "base = \"{}\"\n[savings]\nfield_cycles = 4\n",
            base.display()
        ),
    )
    .unwrap();
    let e = Sweep::load(&path, &[]).unwrap_err().to_string();
    assert!(e.contains("experiment = \"savings\""), "{e}");
    std::fs::write(
        &path,
        format!("base = \"{}\"\nexperiment = \"savings\"\n", base.display()),
    )
    .unwrap();
    let e = Sweep::load(&path, &[]).unwrap_err().to_string();
    assert!(e.contains("seeds"), "{e}");
}

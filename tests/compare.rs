//! `renshaw compare`: runs of one description compared with themselves and
//! across seeds through the library, hand-made run directories with a
//! textbook KS distance, the errors, and the command line.

use renshaw::description::{Description, Format, parse_str};
use renshaw::output::compare::{CompareError, compare_runs, render};
use renshaw::output::npy::write_array;
use renshaw::output::run_dir::RunDirError;
use renshaw::simulation::{Backend, RunOptions, run_description};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small Poisson-driven E/I network; `extra` is appended before `[run]`.
fn network(seed: u64, extra: &str) -> Description {
    let text = format!(
        r#"
[network]
dt = 0.1
seed = {seed}

[populations.E]
model = "iaf_psc_delta"
size = 160
params = {{ tau_m = 20.0, t_ref = 2.0, E_L = 0.0, V_reset = 10.0, V_th = 20.0 }}
init = {{ V_m = {{ uniform = [0.0, 20.0] }} }}

[populations.I]
like = "E"
size = 40

[[stimuli]]
kind = "poisson"
rate = 18000.0
targets = ["E", "I"]
synapse = {{ weight = 0.1, delay = 1.5 }}

[[projections]]
from = "E"
to = ["E", "I"]
connect = {{ rule = "fixed_indegree", indegree = 30 }}
synapse = {{ weight = 0.1, delay = 1.5 }}

[[projections]]
from = "I"
to = ["E", "I"]
connect = {{ rule = "fixed_indegree", indegree = 8 }}
synapse = {{ weight = -0.5, delay = 1.5 }}

[[record]]
population = "E"

[[record]]
population = "I"

{extra}

[run]
duration = 500.0
warmup = 100.0
"#
    );
    parse_str(&text, Format::Toml, "compare.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn run(desc: &Description, dir: &Path) {
    let opts = RunOptions {
        backend: Backend::Cpu,
        out_dir: Some(dir.to_path_buf()),
        keep_in_memory: false,
        ..Default::default()
    };
    run_description(desc, &opts, 0.0).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn identical_runs_have_zero_distance() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&network(5, ""), &a);
    run(&network(5, ""), &b);
    let c = compare_runs(&a, &b).unwrap();
    assert!(c.notes.is_empty() && c.only_in_a.is_empty() && c.only_in_b.is_empty());
    let names: Vec<&str> = c.populations.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["E", "I"]);
    for p in &c.populations {
        assert_eq!(p.a, p.b);
        assert_eq!(p.ks.len(), 3);
        for (what, test) in &p.ks {
            let t = test.unwrap_or_else(|| panic!("{}: no KS test of {what}", p.name));
            assert_eq!((t.d, t.p_value), (0.0, 1.0), "{} {what}", p.name);
            assert!(t.n_a > 0 && t.n_a == t.n_b);
        }
    }
}

#[test]
fn different_seeds_differ_but_not_in_distribution() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&network(5, ""), &a);
    run(&network(6, ""), &b);
    let c = compare_runs(&a, &b).unwrap();
    let e = c.populations.iter().find(|p| p.name == "E").unwrap();
    assert_ne!(e.a.rate_hz, e.b.rate_hz);
    assert!((e.a.rate_hz / e.b.rate_hz - 1.0).abs() < 0.05);
    let rates = e.ks["rates"].unwrap();
    assert!(rates.d > 0.0, "other spikes, other rates");
    // The same network with another seed: the rate distributions agree
    // (160 neurons each; the test would reject at p < 1e-3).
    assert!(rates.p_value > 1e-3, "{rates:?}");
    let text = render(&c);
    assert!(text.contains("population E (160 / 160 neurons)"), "{text}");
    assert!(text.contains("seed 6"), "{text}");
}

#[test]
fn populations_of_one_run_only_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&network(5, ""), &a);
    let extra = "[populations.Extra]\nlike = \"E\"\nsize = 5\n";
    run(&network(5, extra), &b);
    let c = compare_runs(&a, &b).unwrap();
    assert_eq!(c.only_in_b, ["Extra"]);
    assert!(c.only_in_a.is_empty());
    assert_eq!(c.populations.len(), 2);
    assert!(render(&c).contains("only in B: Extra"));
}

/// A run directory made by hand: one population `name` whose distributions
/// are all `values`.
fn hand_made(dir: &Path, name: &str, values: &[f64]) {
    std::fs::create_dir_all(dir.join("statistics")).unwrap();
    let summary = serde_json::json!({
        "description": "hand.toml",
        "backend": "none",
        "dt": 0.1,
        "seed": 0,
        "duration_ms": 1000.0,
        "warmup_ms": 0.0,
        "populations": {
            name: {
                "size": values.len(),
                "rate_hz": 1.0,
                "spike_recorded_neurons": values.len(),
                "cv_isi": 0.5,
                "correlation": 0.0
            }
        }
    });
    std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    for suffix in ["rates", "cv_isi", "correlations"] {
        write_array(&dir.join(format!("statistics/{name}_{suffix}.npy")), values).unwrap();
    }
}

#[test]
fn hand_made_samples_give_the_textbook_distance() {
    // Empirical distribution functions of {1, 2, 3, 4} and {3, ..., 8} are
    // furthest apart after 4: 1 − 2/6 = 2/3.
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    hand_made(&a, "P", &[4.0, 2.0, 3.0, 1.0]);
    hand_made(&b, "P", &[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let c = compare_runs(&a, &b).unwrap();
    for test in c.populations[0].ks.values() {
        let t = test.unwrap();
        assert!((t.d - 2.0 / 3.0).abs() < 1e-12, "{t:?}");
        assert_eq!((t.n_a, t.n_b), (4, 6));
    }
}

#[test]
fn errors_name_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    hand_made(&a, "P", &[1.0, 2.0]);

    let nowhere = tmp.path().join("nowhere");
    let e = compare_runs(&a, &nowhere).unwrap_err();
    assert!(
        matches!(e, CompareError::RunDir(RunDirError::NoDirectory(ref p)) if *p == nowhere),
        "{e}"
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = compare_runs(&empty, &a).unwrap_err();
    assert!(e.to_string().contains("summary.json: not found"), "{e}");

    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("summary.json"), "{\"populations\": 3}").unwrap();
    let e = compare_runs(&a, &broken).unwrap_err();
    assert!(
        matches!(e, CompareError::RunDir(RunDirError::BadSummary { .. })),
        "{e}"
    );

    let partial = tmp.path().join("partial");
    hand_made(&partial, "P", &[1.0, 2.0]);
    std::fs::remove_file(partial.join("statistics/P_cv_isi.npy")).unwrap();
    let e = compare_runs(&a, &partial).unwrap_err();
    assert!(e.to_string().contains("P_cv_isi.npy: missing"), "{e}");

    let other = tmp.path().join("other");
    hand_made(&other, "Q", &[1.0, 2.0]);
    let e = compare_runs(&a, &other).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("no population in common")
            && text.contains("has P")
            && text.contains("has Q"),
        "{text}"
    );
}

fn renshaw(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_renshaw"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b): (PathBuf, PathBuf) = (tmp.path().join("a"), tmp.path().join("b"));
    hand_made(&a, "P", &[1.0, 2.0, 3.0, 4.0]);
    hand_made(&b, "P", &[3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let (code, out, _) = renshaw(&["compare".as_ref(), a.as_os_str(), b.as_os_str()]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("population P") && out.contains("0.6667"),
        "{out}"
    );

    let (code, out, _) = renshaw(&[
        "compare".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = json["populations"][0]["ks"]["rates"]["d"].as_f64().unwrap();
    assert!((d - 2.0 / 3.0).abs() < 1e-12);

    let missing = tmp.path().join("missing");
    let (code, out, err) = renshaw(&["compare".as_ref(), a.as_os_str(), missing.as_os_str()]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(err.contains("missing: no such directory"), "{err}");
}

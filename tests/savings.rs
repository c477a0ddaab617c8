//! Savings (EXPERIMENTS.md §2), at reduced size: a quarter-size network
//! (200 E / 50 I) and short phases. The full experiment (800 E / 200 I,
//! 5 seeds, 20-cycle exposures) is `cargo run --release --example savings`
//! (docs/savings.md).

use renshaw::description::Override;
use renshaw::savings::{Phase, Protocol, SavingsError, SeedResult, run_seed};
use renshaw::simulation::Backend;
use std::path::PathBuf;

mod common;

fn description() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/savings.toml")
}

fn small() -> Vec<Override> {
    ["n_e=200", "n_i=50"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

fn errors(r: &SeedResult, phase: Phase) -> Vec<f64> {
    r.trials
        .iter()
        .filter(|t| t.phase == phase)
        .map(|t| t.lateral_error_m)
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

#[test]
fn the_field_pushes_the_hand_learning_reduces_the_error_and_washout_shows_the_after_effect() {
    let p = Protocol {
        baseline_cycles: 3,
        field_cycles: 8,
        washout_cycles: 6,
        state_cycles: 1,
        ..Protocol::default()
    };
    let r =
        run_seed(&description(), &small(), 1, Backend::Cpu, &p).unwrap_or_else(|e| panic!("{e}"));
    let (base, f1, wash) = (
        errors(&r, Phase::Baseline),
        errors(&r, Phase::Field1),
        errors(&r, Phase::Washout),
    );
    eprintln!(
        "cycle errors (mm): {:?}; retained {:.2}, ratio {:?}",
        r.cycle_error_m
            .iter()
            .map(|(q, e)| (
                q.name(),
                e.iter()
                    .map(|x| (x * 1e4).round() / 10.0)
                    .collect::<Vec<_>>()
            ))
            .collect::<Vec<_>>(),
        r.retained_shift,
        r.savings_ratio
    );
    // Without a field the reaches are nearly straight and unbiased.
    let abs = |v: &[f64]| mean(&v.iter().map(|x| x.abs()).collect::<Vec<_>>());
    assert!(abs(&base) < 0.01, "baseline error {:.4} m", abs(&base));
    // The clockwise curl field pushes every reach to its right
    // (negative lateral error) and far more than baseline scatter.
    let first = &f1[..8];
    assert!(
        first.iter().all(|&e| e < 0.0),
        "first field cycle {first:?}"
    );
    assert!(
        abs(first) > 2.5 * abs(&base),
        "{} vs {}",
        abs(first),
        abs(&base)
    );
    // Learning: the last two cycles of the field err less than the first.
    let late = &f1[f1.len() - 16..];
    assert!(
        abs(late) < 0.75 * abs(first),
        "late {} vs first {}",
        abs(late),
        abs(first)
    );
    // The after-effect: the first washout reaches go the other way (the
    // network pushes against a field that is gone).
    let after = &wash[..8];
    assert!(
        mean(after) > 0.0 && mean(after) > 0.5 * abs(late),
        "after-effect {after:?}"
    );
    // The bias along the learned shift helps, against it hurts.
    assert!(
        r.early_error(Phase::Field2Along) < r.early_error(Phase::Field2Against),
        "along {:.2}, against {:.2}",
        r.early_error(Phase::Field2Along),
        r.early_error(Phase::Field2Against)
    );
}

#[test]
fn a_seed_gives_the_same_reaches_every_time() {
    let p = Protocol {
        baseline_cycles: 3,
        field_cycles: 2,
        washout_cycles: 1,
        state_cycles: 1,
        ..Protocol::default()
    };
    let a = run_seed(&description(), &small(), 4, Backend::Cpu, &p).unwrap();
    let b = run_seed(&description(), &small(), 4, Backend::Cpu, &p).unwrap();
    let key = |r: &SeedResult| {
        r.trials
            .iter()
            .map(|t| (t.target, t.lateral_error_m.to_bits(), t.path.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(a.retained_shift.to_bits(), b.retained_shift.to_bits());
}

#[test]
fn the_reaching_loop_runs_on_the_gpu_as_on_the_cpu() {
    if !common::gpu_available("the_reaching_loop_runs_on_the_gpu_as_on_the_cpu") {
        return;
    }
    // One short pass through the phases: targets, go and hold switched,
    // bursts injected, tonic dopamine paused, fast weights read and
    // written (the bias is `inject_input`, which the other GPU tests cover). The GPU integrates in f32, so spikes part
    // ways after a while: the comparison is of what the reaches show.
    // Shorter trials and 10-ms strides: every stride is a read-back, and
    // lavapipe's are slow.
    let p = Protocol {
        baseline_cycles: 3,
        field_cycles: 2,
        washout_cycles: 1,
        state_cycles: 1,
        prep_ms: 200.0,
        move_ms: 300.0,
        stride_ms: 10.0,
        bias_runs: false,
        ..Protocol::default()
    };
    let cpu = run_seed(&description(), &small(), 3, Backend::Cpu, &p).unwrap();
    let gpu = run_seed(&description(), &small(), 3, Backend::Gpu, &p).unwrap();
    for (name, r) in [("cpu", &cpu), ("gpu", &gpu)] {
        let base = errors(r, Phase::Baseline);
        let f1 = errors(r, Phase::Field1);
        let abs = |v: &[f64]| mean(&v.iter().map(|x| x.abs()).collect::<Vec<_>>());
        eprintln!(
            "{name}: baseline {:.4} m, field {:.4} m",
            abs(&base),
            abs(&f1)
        );
        assert!(f1[..8].iter().all(|&e| e < 0.0), "{name}: {f1:?}");
        assert!(abs(&f1) > 2.0 * abs(&base), "{name}");
    }
    // The first reach, before any learning: the same pool rates within the
    // f32 tolerance (Hz per neuron over 400 ms).
    let (c, g) = (&cpu.trials[0], &gpu.trials[0]);
    assert_eq!(c.target, g.target);
    for m in 0..4 {
        assert!(
            (c.pool_hz[m] - g.pool_hz[m]).abs() <= 0.1 * c.pool_hz[m].max(g.pool_hz[m]) + 1.0,
            "pool {m}: cpu {:?}, gpu {:?}",
            c.pool_hz,
            g.pool_hz
        );
    }
}

#[test]
fn a_circuit_without_the_arm_populations_is_refused_by_name() {
    let ctx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/context_memory.toml");
    let e = run_seed(&ctx, &[], 1, Backend::Cpu, &Protocol::default()).unwrap_err();
    assert!(matches!(e, SavingsError::Circuit { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("context_memory.toml") && text.contains("t0_in"),
        "{text}"
    );
    // A protocol longer than run.duration is refused before anything runs.
    let short: Vec<Override> = ["run.duration=1000"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let e = run_seed(
        &description(),
        &short,
        1,
        Backend::Cpu,
        &Protocol::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("run.duration"), "{e}");
}

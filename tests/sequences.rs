//! Motor sequences (EXPERIMENTS.md §4), at reduced size: one seed of the
//! circuit of examples/sequences.toml with fewer cue tests and a short
//! sleep. The full experiment (5 seeds, 20 tests per measure, a minute of
//! sleep) is `cargo run --release --example sequences` (docs/sequences.md).

use renshaw::description::Override;
use renshaw::sequence::{Protocol, SequenceError, run_seed};
use renshaw::simulation::Backend;
use std::path::PathBuf;

mod common;

fn description() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sequences.toml")
}

fn short() -> Protocol {
    Protocol {
        tests: 10,
        sleep_ms: 2000.0,
        max_trials: 150,
        ..Protocol::default()
    }
}

#[test]
fn reward_teaches_a_sequence_inhibition_keeps_competitors_apart_and_the_reverse_interferes() {
    let r =
        run_seed(&description(), &[], 2, Backend::Cpu, &short()).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "A in {:?} trials (fwd/bwd {:?}), completion {:.2}; no reward {:.2}, chance {:.2}; C {:.2}; co-activation {:.3} / without I {:.3}; A after B {:.2}, B {:.2}; A after the gap {:.2}, relearned in {:?}",
        r.learn_a.trials_to_criterion,
        r.learn_a.forward_backward,
        r.completion_a,
        r.completion_no_reward,
        r.completion_control,
        r.completion_c,
        r.coactivation,
        r.coactivation_no_inhibition,
        r.completion_a_after_b,
        r.completion_b,
        r.completion_a_after_gap,
        r.relearn_a.trials_to_criterion
    );
    // Reward turns sequential activity into forward links: A is completed
    // from its cue; nothing is learned without dopamine.
    assert!(
        r.learn_a.trials_to_criterion.is_some(),
        "A never reached the criterion"
    );
    assert!(
        r.completion_a >= 0.8,
        "A completed in {:.2} of tests",
        r.completion_a
    );
    let (fwd, bwd) = r.learn_a.forward_backward;
    assert!(fwd > 1.0 && bwd < 0.2, "forward {fwd}, backward {bwd} mV");
    // Dopamine came after failed attempts only (the critic is the attempt).
    for (&done, &da) in r.learn_a.completed.iter().zip(&r.learn_a.dopamine) {
        assert_eq!(da, if done { 0 } else { 20 });
    }
    assert_eq!(
        r.no_reward.weights_mean_max.1, 0.2,
        "weights moved without dopamine"
    );
    assert!(r.completion_no_reward <= r.completion_control + 0.1);
    // Before learning nothing follows the cue.
    assert!(!r.learn_a.completed[0]);
    // Global inhibition: silencing it lets everything fire together.
    assert!(
        r.coactivation_no_inhibition >= 2.0 * r.coactivation,
        "co-activation {:.3} with inhibition, {:.3} without",
        r.coactivation,
        r.coactivation_no_inhibition
    );
    // Teaching the reverse undoes A's forward links.
    assert!(r.completion_a_after_b <= 0.7 * r.completion_a);
    // After the gap A is below criterion and comes back faster than it
    // was first learned.
    let (first, again) = (
        r.learn_a.trials_to_criterion.unwrap(),
        r.relearn_a.trials_to_criterion.expect("A never relearned"),
    );
    assert!(r.completion_a_after_gap < 0.8);
    assert!(
        again < first,
        "relearning took {again} trials, learning {first}"
    );
}

#[test]
fn a_seed_gives_the_same_result_every_time() {
    let p = Protocol {
        tests: 2,
        sleep_ms: 200.0,
        max_trials: 12,
        window: 10,
        ..Protocol::default()
    };
    let a = run_seed(&description(), &[], 4, Backend::Cpu, &p).unwrap();
    let b = run_seed(&description(), &[], 4, Backend::Cpu, &p).unwrap();
    let key = |r: &renshaw::sequence::SeedResult| {
        (
            r.learn_a.completed.clone(),
            r.learn_a.weights_mean_max,
            r.learn_b.weights_mean_max,
            r.relearn_a.weights_mean_max,
            r.rasters.clone(),
        )
    };
    assert_eq!(key(&a), key(&b));
}

#[test]
fn the_sequence_loop_runs_on_the_gpu_as_on_the_cpu() {
    if !common::gpu_available("the_sequence_loop_runs_on_the_gpu_as_on_the_cpu") {
        return;
    }
    // 6 trials of each learning phase, one test per measure, 10-ms bins
    // (each bin is a read-back): every run-time input the loop uses
    // (drives switched on and off, reward injection, plasticity switched,
    // the inhibitory population silenced, weights read and written, sleep
    // noise and tonic dopamine). The GPU integrates in f32: the comparison
    // is of weights and spike counts within tolerances, and of most
    // attempts' outcomes.
    let p = Protocol {
        tests: 1,
        sleep_ms: 200.0,
        max_trials: 6,
        window: 5,
        test_ms: 100.0,
        bin_ms: 10.0,
        ..Protocol::default()
    };
    let cpu = run_seed(&description(), &[], 3, Backend::Cpu, &p).unwrap();
    let gpu = run_seed(&description(), &[], 3, Backend::Gpu, &p).unwrap();
    for (name, c, g) in [
        ("A", &cpu.learn_a, &gpu.learn_a),
        ("C", &cpu.learn_c, &gpu.learn_c),
        ("B", &cpu.learn_b, &gpu.learn_b),
    ] {
        eprintln!(
            "{name}: cpu {:?} {:?}, gpu {:?} {:?}",
            c.weights_mean_max, c.forward_backward, g.weights_mean_max, g.forward_backward
        );
        let (cf, gf) = (c.forward_backward.0, g.forward_backward.0);
        if name != "B" {
            assert!(
                cf > 0.25,
                "{name}: forward links did not grow from 0.2 mV on the CPU ({cf})"
            );
        }
        assert!(
            (cf - gf).abs() <= 0.1 * cf,
            "{name}: forward links cpu {cf}, gpu {gf}"
        );
        let same = c
            .completed
            .iter()
            .zip(&g.completed)
            .filter(|(a, b)| a == b)
            .count();
        assert!(
            same * 10 >= c.completed.len() * 8,
            "{name}: {same} of {} tests agree",
            c.completed.len()
        );
    }
    // Showing B took A's forward links (B's backward ones) down on both.
    for r in [&cpu, &gpu] {
        assert!(r.learn_b.forward_backward.1 < 0.5 * r.learn_a.forward_backward.0);
    }
    let spikes = |r: &renshaw::sequence::SeedResult| {
        r.rasters.iter().map(|(_, s)| s.len() as f64).sum::<f64>()
    };
    let (cs, gs) = (spikes(&cpu), spikes(&gpu));
    assert!(
        (cs - gs).abs() <= 0.1 * cs,
        "raster spikes cpu {cs}, gpu {gs}"
    );
}

fn expect_error(text: &str, overrides: &[Override], needle: &str) {
    let dir = std::env::temp_dir().join(format!("renshaw_sequences_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.toml", needle.len()));
    std::fs::write(&path, text).unwrap();
    let p = Protocol {
        max_trials: 10,
        ..Protocol::default()
    };
    match run_seed(&path, overrides, 1, Backend::Cpu, &p) {
        Err(e @ SequenceError::Circuit { .. }) => {
            let m = e.to_string();
            assert!(m.contains(&path.display().to_string()), "{m}");
            assert!(m.contains(needle), "{m}");
        }
        other => panic!("expected a circuit error naming {needle}, got {other:?}"),
    }
}

#[test]
fn a_circuit_without_what_the_loop_drives_is_an_error_naming_it() {
    let text = std::fs::read_to_string(description()).unwrap();
    expect_error(
        &text
            .replace("\"DA\"", "\"DB\"")
            .replace("populations.DA]", "populations.DB]"),
        &[],
        "no population `DA`",
    );
    expect_error(
        &text.replace("targets = \"DA\"", "targets = \"I\""),
        &[],
        "`DA` (tonic dopamine)",
    );
    let no_sleep = text.replacen(
        "targets = [\"c0_E\", \"c1_E\", \"c2_E\", \"c3_E\", \"c4_E\", \"c5_E\", \"c6_E\", \"c7_E\"]\nsynapse",
        "targets = [\"c0_E\", \"c1_E\"]\nsynapse",
        1,
    );
    expect_error(&no_sleep, &[], "every cluster (the sleep noise)");
    let static_links = text.replace("rule = \"stdp_dopamine\", dopamine = \"DA\", ", "");
    let static_links = static_links.replace(
        ", A_plus = \"${a_plus}\", A_minus = \"${a_minus}\", tau_plus = 20.0, tau_c = \"${tau_c}\", tau_n = \"${tau_n}\", b = 0.0, Wmin = 0.0, Wmax = \"${wmax}\", deliver_interval = 10",
        "",
    );
    expect_error(&static_links, &[], "no stdp_dopamine projection");
    let slow: Vec<Override> = vec!["projections[1].synapse.deliver_interval=7".parse().unwrap()];
    expect_error(&text, &slow, "deliver_interval 7");
    let short: Vec<Override> = vec!["run.duration=1000".parse().unwrap()];
    expect_error(&text, &short, "run.duration");
}

//! Context-specific motor memories (EXPERIMENTS.md §3), at reduced size:
//! the circuit of examples/context_memory.toml with a 40-trial switch
//! window and two blocks. The full experiment (100-trial window, blocks
//! 1, 2, 1', 2', 5 seeds) is `cargo run --release --example context_memory`
//! (docs/context.md has its figures).

use renshaw::context::{ContextError, Protocol, Side, run_seed};
use renshaw::description::Override;
use renshaw::simulation::Backend;
use std::path::{Path, PathBuf};

mod common;

fn description() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/context_memory.toml")
}

fn short(blocks: Vec<u8>, window: usize, max_trials: usize) -> Protocol {
    Protocol {
        window,
        max_trials,
        blocks,
        ..Protocol::default()
    }
}

fn accuracy(trials: &[renshaw::context::Trial]) -> f64 {
    trials.iter().filter(|t| t.correct).count() as f64 / trials.len() as f64
}

#[test]
fn the_network_learns_a_context_the_reversed_one_and_the_first_again_with_its_own_coding_direction()
{
    let protocol = short(vec![1, 2, 1], 30, 250);
    let r =
        run_seed(&description(), &[], 3, Backend::Cpu, &protocol).unwrap_or_else(|e| panic!("{e}"));
    for b in &r.blocks {
        eprintln!(
            "context {}: {} trials, criterion at {:?}, first window {:.2}, last {:.2}, delay rate {:.1} Hz",
            b.context,
            b.trials,
            b.trials_to_criterion,
            b.first_window_correct,
            b.last_window_correct,
            b.delay_rate_hz
        );
    }
    eprintln!(
        "cos(1, 2) = {:.2}, cos(1, 1') = {:.2}; block 1's CD decodes 1' at {:.2}, 2 at {:.2}",
        r.cos_between_contexts, r.cos_within_context1, r.decode_context1_again, r.decode_context2
    );
    // Every block reaches 75 % over 30 trials (chance is 50 %): learning,
    // relearning of the reversed mapping, and of the first again.
    for b in &r.blocks {
        assert!(
            b.trials_to_criterion.is_some(),
            "context {} never reached the criterion",
            b.context
        );
        assert!(b.last_window_correct >= 0.75);
    }
    // The reversal is a real change of behaviour: context 2 starts below
    // where it ends.
    assert!(r.blocks[1].first_window_correct < r.blocks[1].last_window_correct);
    // EXPERIMENTS.md §3 at reduced size: the contexts' coding directions
    // have a cosine below 0.3, context 1's is stable across the days
    // (above 0.7), and it decodes context 1' better than context 2.
    assert!(
        r.cos_between_contexts < 0.3,
        "cos(1, 2) = {}",
        r.cos_between_contexts
    );
    assert!(
        r.cos_within_context1 > 0.7,
        "cos(1, 1') = {}",
        r.cos_within_context1
    );
    assert!(
        r.decode_context1_again > r.decode_context2,
        "decoding 1' {} vs 2 {}",
        r.decode_context1_again,
        r.decode_context2
    );
    assert_eq!(
        r.trials.len(),
        r.blocks.iter().map(|b| b.trials).sum::<usize>()
    );
    assert_eq!(r.preparatory.len(), r.trials.len());
}

#[test]
fn a_seed_gives_the_same_trials_every_time() {
    let protocol = short(vec![1], 5, 12);
    let a = run_seed(&description(), &[], 7, Backend::Cpu, &protocol).unwrap();
    let b = run_seed(&description(), &[], 7, Backend::Cpu, &protocol).unwrap();
    let key = |r: &renshaw::context::SeedResult| {
        r.trials
            .iter()
            .map(|t| (t.cue_b, t.choice, t.counts))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&a), key(&b));
    assert_eq!(a.preparatory, b.preparatory);
    let c = run_seed(&description(), &[], 8, Backend::Cpu, &protocol).unwrap();
    assert_ne!(
        a.preparatory, c.preparatory,
        "another seed, another network"
    );
}

#[test]
fn the_trial_loop_runs_on_the_gpu_as_on_the_cpu() {
    if !common::gpu_available("the_trial_loop_runs_on_the_gpu_as_on_the_cpu") {
        return;
    }
    // The GPU engine integrates in f32, the CPU engine in f64: single spikes
    // could drift apart, so the comparison is of the trial loop's
    // statistics and most choices (on lavapipe they are all the same). 16
    // short trials exercise every run-time input the loop uses (rate changes, the
    // race's readbacks, reward injection, the dopamine pause) and the
    // plastic weights read back at the block's end.
    let protocol = Protocol {
        prep_ms: 300.0,
        cd_ms: 100.0,
        iti_ms: 300.0,
        dip_ms: 300.0,
        ..short(vec![1], 16, 16)
    };
    let cpu = run_seed(&description(), &[], 5, Backend::Cpu, &protocol).unwrap();
    let gpu = run_seed(&description(), &[], 5, Backend::Gpu, &protocol).unwrap();
    let (c, g) = (&cpu.blocks[0], &gpu.blocks[0]);
    eprintln!(
        "cpu: delay {:.2} Hz, winner {:.1} spikes, weights {:?}, correct {:.2}",
        c.delay_rate_hz,
        c.winner_spikes,
        c.plastic_weight_mean_max,
        accuracy(&cpu.trials)
    );
    eprintln!(
        "gpu: delay {:.2} Hz, winner {:.1} spikes, weights {:?}, correct {:.2}",
        g.delay_rate_hz,
        g.winner_spikes,
        g.plastic_weight_mean_max,
        accuracy(&gpu.trials)
    );
    // The cues are the seed's draws, the same on both.
    let cues =
        |r: &renshaw::context::SeedResult| r.trials.iter().map(|t| t.cue_b).collect::<Vec<_>>();
    assert_eq!(cues(&cpu), cues(&gpu));
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * a.abs().max(b.abs());
    assert!(
        close(c.delay_rate_hz, g.delay_rate_hz, 0.1),
        "delay rates differ"
    );
    assert!(
        close(c.winner_spikes, g.winner_spikes, 0.15),
        "winner spikes differ"
    );
    let same = cpu
        .trials
        .iter()
        .zip(&gpu.trials)
        .filter(|(c, g)| c.choice == g.choice)
        .count();
    assert!(
        same * 10 >= cpu.trials.len() * 9,
        "only {same} of {} choices agree",
        cpu.trials.len()
    );
    // The readout moved from its initial mean (0.75 mV) on both, the same way.
    let (cw, gw) = (c.plastic_weight_mean_max.0, g.plastic_weight_mean_max.0);
    assert!(
        (cw - 0.75).abs() > 0.01 && (gw - 0.75).abs() > 0.01,
        "weights did not move: {cw} {gw}"
    );
    assert!(
        close(cw - 0.75, gw - 0.75, 0.5),
        "weight change differs: cpu {cw}, gpu {gw}"
    );
    // Choices follow the spikes on both: each choice is the pool that fired more.
    for r in [&cpu, &gpu] {
        for t in &r.trials {
            match t.choice {
                Some(Side::Left) => assert!(t.counts.0 > t.counts.1),
                Some(Side::Right) => assert!(t.counts.1 > t.counts.0),
                None => assert_eq!(t.counts.0, t.counts.1),
            }
        }
    }
}

fn expect_circuit_error(text: &str, needle: &str) {
    let dir = std::env::temp_dir().join(format!("renshaw_context_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.toml", needle.len()));
    std::fs::write(&path, text).unwrap();
    match run_seed(&path, &[], 1, Backend::Cpu, &short(vec![1], 5, 5)) {
        Err(e @ ContextError::Circuit { .. }) => {
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
    // No ctx2 population.
    expect_circuit_error(&text.replace("ctx2", "ctx3"), "no population `ctx2`");
    // The DA population without its tonic stimulus.
    let no_tonic = text.replace("targets = \"DA\"", "targets = \"cue_a\"");
    expect_circuit_error(&no_tonic, "`DA` (tonic dopamine)");
    // No plastic readout.
    let static_readout = text.replace("rule = \"stdp_dopamine\", dopamine = \"DA\",", "");
    let static_readout = static_readout.replace(
        ", A_plus = \"${a_plus}\", A_minus = \"${a_minus}\", tau_plus = 20.0, tau_c = 300.0, tau_n = 100.0, b = \"${da_rate * 20 / 1000}\", Wmin = 0.0, Wmax = \"${wmax}\", deliver_interval = 100",
        "",
    );
    expect_circuit_error(&static_readout, "no stdp_dopamine projection");
    // Trials that end between two updates of the readout's weights.
    let overrides: Vec<Override> = vec![
        "projections[8].synapse.deliver_interval=300"
            .parse()
            .unwrap(),
    ];
    match run_seed(
        &description(),
        &overrides,
        1,
        Backend::Cpu,
        &short(vec![1], 5, 5),
    ) {
        Err(e) => assert!(e.to_string().contains("deliver_interval 300"), "{e}"),
        Ok(_) => panic!("1300-ms trials with a 300-ms update interval were accepted"),
    }
    // A run too short for the protocol.
    let overrides: Vec<Override> = vec!["run.duration=1000".parse().unwrap()];
    match run_seed(
        &description(),
        &overrides,
        1,
        Backend::Cpu,
        &short(vec![1], 5, 5),
    ) {
        Err(e) => assert!(e.to_string().contains("run.duration"), "{e}"),
        Ok(_) => panic!("a 1 s run cannot hold 5 trials"),
    }
}

#[test]
fn impossible_protocols_are_errors_naming_the_setting() {
    let check = |p: Protocol, needle: &str| match p.validate(Some(1.0)) {
        Err(e) => assert!(e.to_string().contains(needle), "{e}"),
        Ok(()) => panic!("{needle}: accepted"),
    };
    let base = Protocol::default;
    check(
        Protocol {
            cd_ms: 500.0,
            ..base()
        },
        "cd_ms",
    );
    check(
        Protocol {
            window: 700,
            ..base()
        },
        "window",
    );
    check(
        Protocol {
            blocks: vec![1, 3],
            ..base()
        },
        "blocks",
    );
    check(
        Protocol {
            blocks: vec![],
            ..base()
        },
        "blocks",
    );
    check(
        Protocol {
            criterion: 1.5,
            ..base()
        },
        "criterion",
    );
    check(
        Protocol {
            response_ms: 0.5,
            ..base()
        },
        "response_ms",
    );
    check(
        Protocol {
            dip_ms: 5000.0,
            ..base()
        },
        "dip_ms",
    );
    check(
        Protocol {
            critic_trials: 0.0,
            ..base()
        },
        "critic_trials",
    );
    let mut gap = base();
    gap.gap.weight_decay = 2.0;
    check(gap, "gap.weight_decay");
    assert!(base().validate(Some(1.0)).is_ok());
    assert!(Path::new(&description()).exists());
}

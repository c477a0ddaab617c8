//! Run-time control of an engine, as closed loops and protocols use it:
//! changing a Poisson stimulus' rate and silencing (lesioning) a population.
//! Every test runs on the CPU engine and on the GPU (lavapipe in CI, where
//! a missing adapter fails; elsewhere the GPU part says that it skipped).

use renshaw::build::build;
use renshaw::description::{Format, parse_str};
use renshaw::engine::cpu::CpuEngine;
use renshaw::engine::gpu::GpuEngine;
use renshaw::engine::{Chunk, Engine};
use std::sync::{Arc, Mutex};

/// lavapipe runs one device at a time well; tests take turns.
static GPU: Mutex<()> = Mutex::new(());

const TWO_POPULATIONS: &str = r#"
[network]
seed = 5

[populations.A]
model = "iaf_psc_delta"
size = 50
params = { E_L = 0.0, V_reset = 10.0, V_th = 20.0, tau_m = 20.0, C_m = 1.0 }

[populations.B]
like = "A"
size = 50

[populations.C]
like = "A"
size = 20

[[stimuli]]
kind = "poisson"
rate = 12000.0
targets = ["A", "B"]
synapse = { weight = 0.1, delay = 1.0 }

[[stimuli]]
kind = "dc"
amplitude = 0.0
targets = ["C"]

[[projections]]
from = "A"
to = "C"
connect = { rule = "all_to_all" }
synapse = { weight = 0.5, delay = 1.0 }

[[record]]
population = "A"
spikes = true

[[record]]
population = "B"
spikes = true

[[record]]
population = "C"
spikes = true

[run]
duration = 300.0
"#;

mod common;

/// The backends to test: the CPU engine, and the GPU when there is one.
fn backends(test: &str) -> Vec<&'static str> {
    if common::gpu_available(&format!("{test} (GPU part)")) {
        vec!["cpu", "gpu"]
    } else {
        vec!["cpu"]
    }
}

fn engine(backend: &str) -> Box<dyn Engine> {
    let desc = parse_str(TWO_POPULATIONS, Format::Toml, "loop.toml").unwrap();
    let net = Arc::new(build(&desc).unwrap());
    match backend {
        "cpu" => Box::new(CpuEngine::new(net, Some(2)).unwrap()),
        _ => Box::new(GpuEngine::new(net).unwrap()),
    }
}

/// Spikes of neurons `range` (global ids), as (stamp, neuron).
fn of(chunk: &Chunk, range: std::ops::Range<u32>) -> Vec<(u64, u32)> {
    chunk
        .spikes
        .iter()
        .filter(|s| range.contains(&s.neuron))
        .map(|s| (s.stamp, s.neuron))
        .collect()
}

const A: std::ops::Range<u32> = 0..50;
const B: std::ops::Range<u32> = 50..100;
const C: std::ops::Range<u32> = 100..120;

#[test]
fn a_silenced_population_is_quiet_and_its_targets_lose_its_input() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    for backend in backends("a_silenced_population_is_quiet") {
        silenced_population(backend);
    }
}

fn silenced_population(backend: &str) {
    let mut reference = engine(backend);
    let mut whole = Chunk::default();
    reference.advance(3000, &mut whole).unwrap();

    let mut lesioned = engine(backend);
    let mut before = Chunk::default();
    let mut during = Chunk::default();
    let mut after = Chunk::default();
    lesioned.advance(1000, &mut before).unwrap();
    lesioned.set_silenced(0, true).unwrap();
    lesioned.advance(1000, &mut during).unwrap();
    lesioned.set_silenced(0, false).unwrap();
    lesioned.advance(1000, &mut after).unwrap();

    // Before the lesion, the same run.
    let early: Vec<_> = of(&whole, 0..120)
        .into_iter()
        .filter(|s| s.0 <= 1000)
        .collect();
    assert_eq!(of(&before, 0..120), early);
    // During it, A is silent, and so is C, which only A drives.
    assert!(of(&whole, A).iter().any(|s| s.0 > 1000 && s.0 <= 2000));
    assert!(of(&whole, C).iter().any(|s| s.0 > 1000 && s.0 <= 2000));
    assert!(of(&during, A).is_empty());
    assert!(
        of(&during, C).iter().all(|s| s.0 <= 1000 + 10),
        "C fired on after A's silence"
    );
    // B does not depend on A: its spikes are the reference's throughout.
    let mut b_lesioned = of(&before, B);
    b_lesioned.extend(of(&during, B));
    b_lesioned.extend(of(&after, B));
    assert_eq!(b_lesioned, of(&whole, B));
    // Restored, A fires again.
    assert!(!of(&after, A).is_empty(), "{backend}");
}

#[test]
fn changing_a_poisson_rate_takes_effect_at_the_next_step() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    for backend in backends("changing_a_poisson_rate") {
        rate_change(backend);
    }
}

fn rate_change(backend: &str) {
    let mut e = engine(backend);
    let mut first = Chunk::default();
    e.advance(1000, &mut first).unwrap();
    assert!(!of(&first, A).is_empty());
    e.set_stimulus_rate(0, 0.0).unwrap();
    let mut off = Chunk::default();
    e.advance(1000, &mut off).unwrap();
    // Input already in flight (delay 1 ms) may still make a spike or two.
    assert!(
        of(&off, 0..100).iter().all(|s| s.0 <= 1000 + 10),
        "spikes without drive: {:?}",
        of(&off, 0..100)
    );
    // Back on at the description's rate: the same draws as a run that never
    // stopped (draws are a function of seed, stimulus, target and step), so
    // firing resumes.
    e.set_stimulus_rate(0, 12000.0).unwrap();
    let mut on = Chunk::default();
    e.advance(1000, &mut on).unwrap();
    assert!(of(&on, A).len() > of(&first, A).len() / 2);
    // A higher rate gives more spikes.
    e.set_stimulus_rate(0, 24000.0).unwrap();
    let mut high = Chunk::default();
    e.advance(1000, &mut high).unwrap();
    assert!(of(&high, A).len() > of(&on, A).len() * 3 / 2);
}

#[test]
fn bad_run_time_changes_are_errors() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    for backend in backends("bad_run_time_changes") {
        bad_changes(backend);
    }
}

fn bad_changes(backend: &str) {
    let mut e = engine(backend);
    let msg = |r: Result<(), renshaw::engine::EngineError>| r.unwrap_err().to_string();
    assert!(msg(e.set_stimulus_rate(1, 5.0)).contains("not a Poisson stimulus"));
    assert!(msg(e.set_stimulus_rate(7, 5.0)).contains("not a Poisson stimulus"));
    assert!(msg(e.set_stimulus_rate(0, -1.0)).contains(">= 0"));
    assert!(msg(e.set_stimulus_rate(0, f64::NAN)).contains(">= 0"));
    assert!(msg(e.set_silenced(3, true)).contains("no population 3"));
}

const ONE_NEURON: &str = r#"
[populations.N]
model = "iaf_psc_delta"
size = 2
params = { E_L = 0.0, V_reset = 0.0, V_th = 20.0, tau_m = 20.0, C_m = 1.0, t_ref = 2.0 }

[[record]]
population = "N"
spikes = true
state = ["V_m"]
interval = 0.1

[run]
duration = 10.0
"#;

#[test]
fn injected_input_is_read_in_the_next_step_on_both_backends() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let mut traces = Vec::new();
    for backend in backends("injected_input_is_read_in_the_next_step") {
        let desc = parse_str(ONE_NEURON, Format::Toml, "inject.toml").unwrap();
        let net = Arc::new(build(&desc).unwrap());
        let mut e: Box<dyn Engine> = match backend {
            "cpu" => Box::new(CpuEngine::new(net, Some(1)).unwrap()),
            _ => Box::new(GpuEngine::new(net).unwrap()),
        };
        let mut out = Chunk::default();
        e.advance(10, &mut out).unwrap();
        // 5 mV into neuron 0, then 25 mV (above threshold) into neuron 1.
        e.inject_input(0, 5.0).unwrap();
        e.advance(20, &mut out).unwrap();
        e.inject_input(1, 25.0).unwrap();
        e.advance(20, &mut out).unwrap();
        let v0: Vec<f64> = out.samples.iter().map(|s| s.values[0]).collect();
        // Sample k holds the state after step k (stamp k + 1): the jump
        // arrives in step 10, the eleventh.
        assert_eq!(v0[9], 0.0, "{backend}");
        assert!((v0[10] - 5.0).abs() < 1e-5, "{backend}: {}", v0[10]);
        assert!(
            (v0[11] - 5.0 * (-0.1f64 / 20.0).exp()).abs() < 1e-5,
            "{backend}"
        );
        let spikes: Vec<(u64, u32)> = out.spikes.iter().map(|s| (s.stamp, s.neuron)).collect();
        assert_eq!(spikes, vec![(31, 1)], "{backend}");
        traces.push(v0);
        assert!(
            e.inject_input(2, 1.0)
                .unwrap_err()
                .to_string()
                .contains("no neuron 2")
        );
        assert!(e.inject_input(0, f64::INFINITY).is_err());
    }
    if traces.len() == 2 {
        for (a, b) in traces[0].iter().zip(&traces[1]) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}

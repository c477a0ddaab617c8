//! Batched runs: every instance of a batch gives exactly the spikes,
//! weights and closed-loop measures it gives when run alone, on both
//! backends (the GPU half on lavapipe in CI).

mod common;

use renshaw::build::{BatchError, batch, build};
use renshaw::description::{Description, Override, load_with};
use renshaw::simulation::{Backend, RunOptions, RunOutput, run_batch, run_description};
use std::path::Path;

/// E/I network with pair STDP on E -> E, Poisson drive, spikes and V_m recorded.
const PLASTIC: &str = r#"
[parameters]
drive = 9000.0

[network]
dt = 0.1
seed = 5

[populations.E]
model = "iaf_psc_exp"
size = 60
params = { C_m = 250.0, tau_m = 10.0, t_ref = 2.0, E_L = -65.0, V_th = -50.0, V_reset = -65.0, tau_syn_ex = 0.5, tau_syn_in = 0.5 }
init = { V_m = { uniform = [-65.0, -50.0] } }

[populations.I]
like = "E"
size = 15

[[stimuli]]
kind = "poisson"
rate = "${drive}"
targets = ["E", "I"]
synapse = { weight = 90.0, delay = 1.0 }

[[projections]]
from = "E"
to = "E"
connect = { rule = "fixed_indegree", indegree = 10 }
synapse = { rule = "stdp", weight = 40.0, delay = 1.5, tau_plus = 20.0, lambda = 0.05, alpha = 1.05, mu_plus = 0.0, mu_minus = 0.0, Wmax = 100.0 }

[[projections]]
from = "E"
to = "I"
connect = { rule = "fixed_indegree", indegree = 10 }
synapse = { weight = 40.0, delay = 1.5 }

[[projections]]
from = "I"
to = ["E", "I"]
connect = { rule = "fixed_indegree", indegree = 5 }
synapse = { weight = -160.0, delay = 1.5 }

[[record]]
population = "E"
spikes = true
state = ["V_m"]
interval = 1.0
neurons = [0, 7, 59]

[[record]]
population = "I"
spikes = true

[[record_weights]]
projection = 0
interval = 100.0

[run]
duration = 400.0
"#;

fn plastic(seed: u64, drive: f64) -> Description {
    let set: Vec<Override> = [format!("network.seed={seed}"), format!("drive={drive}")]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    renshaw::description::parse_str_with(
        PLASTIC,
        renshaw::description::Format::Toml,
        "plastic.toml",
        &set,
    )
    .unwrap()
}

fn spinal(seed: u64, threshold: f64, silence: bool) -> Description {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut set: Vec<Override> = [
        "session=1500".to_string(),
        format!("network.seed={seed}"),
        format!("threshold={threshold}"),
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    if silence {
        set.push(r#"phases[0].silence=["master_RC"]"#.parse().unwrap());
    }
    load_with(&root.join("examples/spinal_conditioning.toml"), &set).unwrap()
}

fn opts(backend: Backend) -> RunOptions {
    RunOptions {
        backend,
        threads: Some(1),
        ..Default::default()
    }
}

fn assert_same(alone: &RunOutput, batched: &RunOutput, what: &str) {
    assert_eq!(alone.spikes, batched.spikes, "{what}: recorded spikes");
    assert_eq!(alone.samples, batched.samples, "{what}: samples");
    for (name, a) in &alone.summary.populations {
        let b = &batched.summary.populations[name];
        assert_eq!(a.spikes, b.spikes, "{what}: spike count of {name}");
    }
    assert_eq!(alone.weights.len(), batched.weights.len());
    for (a, b) in alone.weights.iter().zip(&batched.weights) {
        assert_eq!(a.values, b.values, "{what}: weight snapshots");
        assert_eq!(a.final_weights, b.final_weights, "{what}: final weights");
    }
    let (pa, pb) = (&alone.summary.protocol, &batched.summary.protocol);
    assert_eq!(
        serde_json::to_value(pa).unwrap(),
        serde_json::to_value(pb).unwrap(),
        "{what}: closed-loop measures"
    );
}

fn check(backend: Backend, descs: &[Description], batch_size: usize) {
    let dirs = vec![None; descs.len()];
    let batched = run_batch(descs, &dirs, &opts(backend), batch_size);
    for (i, (d, b)) in descs.iter().zip(batched).enumerate() {
        let b = b.unwrap_or_else(|e| panic!("instance {i}: {e}"));
        let alone = run_description(d, &opts(backend), 0.0).unwrap();
        assert!(
            !alone.spikes.is_empty() || alone.summary.protocol.is_some(),
            "instance {i} records something"
        );
        assert_same(&alone, &b, &format!("{backend:?} instance {i}"));
        assert!(
            b.summary.backend.contains("batch of"),
            "{}",
            b.summary.backend
        );
    }
}

#[test]
fn plastic_instances_batched_on_the_cpu_equal_their_lone_runs() {
    let descs = vec![plastic(1, 9000.0), plastic(2, 9000.0), plastic(3, 12000.0)];
    check(Backend::Cpu, &descs, 8);
}

#[test]
fn closed_loop_instances_batched_on_the_cpu_equal_their_lone_runs() {
    // Different seeds, thresholds and a lesion: different cue times, so the
    // instances' exchanges with their bodies differ from the first step on.
    let descs = vec![
        spinal(1, 4.0, false),
        spinal(2, 6.0, true),
        spinal(3, 4.0, false),
    ];
    check(Backend::Cpu, &descs, 2);
}

#[test]
fn plastic_and_closed_loop_instances_batched_on_the_gpu_equal_their_lone_runs() {
    if !common::gpu_available("batch gpu") {
        return;
    }
    check(Backend::Gpu, &[plastic(1, 9000.0), plastic(4, 12000.0)], 8);
    check(
        Backend::Gpu,
        &[spinal(1, 4.0, false), spinal(2, 6.0, true)],
        8,
    );
}

#[test]
fn instances_of_different_lengths_run_in_separate_batches() {
    let mut short = plastic(1, 9000.0);
    short.run.duration = 200.0;
    let a = build(&plastic(1, 9000.0)).unwrap();
    let b = build(&short).unwrap();
    match batch(&[&a, &b]) {
        Err(BatchError::Mismatch {
            index: 1,
            what: "steps",
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // run_batch groups them itself.
    let descs = vec![plastic(1, 9000.0), short.clone(), plastic(2, 9000.0)];
    let out = run_batch(&descs, &[None, None, None], &opts(Backend::Cpu), 8);
    let alone = run_description(&short, &opts(Backend::Cpu), 0.0).unwrap();
    assert_eq!(out[1].as_ref().unwrap().spikes, alone.spikes);
    assert_eq!(out[1].as_ref().unwrap().summary.duration_ms, 200.0);
}

#[test]
fn a_bad_instance_fails_alone() {
    let mut bad = plastic(1, 9000.0);
    bad.run.warmup = bad.run.duration;
    let descs = vec![plastic(1, 9000.0), bad];
    let out = run_batch(&descs, &[None, None], &opts(Backend::Cpu), 8);
    assert!(out[0].is_ok());
    let e = out[1].as_ref().err().unwrap().to_string();
    assert!(e.contains("warmup"), "{e}");
}

/// A current stimulus before a Poisson stimulus: the Poisson stimulus is
/// still named by its index in the description, alone and inside a batch.
#[test]
fn stimuli_keep_their_description_index_after_current_stimuli() {
    use renshaw::engine::Engine;
    use renshaw::engine::cpu::CpuEngine;
    use std::sync::Arc;
    let text = r#"
[network]
dt = 0.1
seed = 3

[populations.A]
model = "iaf_psc_delta"
size = 20
params = { C_m = 1.0, tau_m = 20.0, t_ref = 2.0, E_L = 0.0, V_reset = 10.0, V_th = 20.0 }

[populations.B]
like = "A"
size = 5

[[stimuli]]
kind = "dc"
amplitude = 0.5
targets = ["B"]

[[stimuli]]
kind = "poisson"
rate = 30000.0
targets = ["A"]
synapse = { weight = 0.2, delay = 1.0 }

[run]
duration = 300.0
"#;
    let desc = renshaw::description::parse_str(text, renshaw::description::Format::Toml, "t.toml")
        .unwrap();
    let net = build(&desc).unwrap();
    assert_eq!(net.stimuli.len(), 2, "one entry per description stimulus");
    let a_spikes = |counts: &[u64], offset: usize| counts[offset..offset + 20].iter().sum::<u64>();

    let mut alone = CpuEngine::new(Arc::new(net.clone()), Some(1)).unwrap();
    assert!(
        alone.set_stimulus_rate(0, 10.0).is_err(),
        "stimulus 0 is a current"
    );
    let mut out = renshaw::engine::Chunk::default();
    alone.advance(1000, &mut out).unwrap();
    let before = a_spikes(&alone.spike_counts(), 0);
    assert!(before > 0);
    alone.set_stimulus_rate(1, 0.0).unwrap();
    alone.advance(2000, &mut out).unwrap();
    // Input already on its way (1 ms) and membranes above rest allow a few more.
    let after = a_spikes(&alone.spike_counts(), 0);
    assert!(
        after - before <= 20,
        "{before} -> {after}: the rate change did not reach stimulus 1"
    );

    // In a batch, instance 1's stimulus 1 is switched off; instance 0's is not.
    let (union, spans) = batch(&[&net, &net]).unwrap();
    let mut engine = CpuEngine::new(Arc::new(union), Some(1)).unwrap();
    engine.advance(1000, &mut out).unwrap();
    engine
        .set_stimulus_rate(spans[1].stimuli.start + 1, 0.0)
        .unwrap();
    let counts = engine.spike_counts();
    let (b0, b1) = (
        a_spikes(&counts, spans[0].neurons.start as usize),
        a_spikes(&counts, spans[1].neurons.start as usize),
    );
    engine.advance(2000, &mut out).unwrap();
    let counts = engine.spike_counts();
    let a0 = a_spikes(&counts, spans[0].neurons.start as usize);
    let a1 = a_spikes(&counts, spans[1].neurons.start as usize);
    assert!(a0 - b0 > 100, "instance 0 keeps firing: {b0} -> {a0}");
    assert!(a1 - b1 <= 20, "instance 1 stopped: {b1} -> {a1}");
}

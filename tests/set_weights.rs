//! `Engine::set_projection_weights`: overwriting a projection's weights at
//! run time (protocol phases such as an "overnight gap" between sessions),
//! for static, `stdp` and `stdp_dopamine` projections, on the CPU engine, the
//! GPU (lavapipe in CI, where a missing adapter fails; elsewhere the GPU
//! parts say that they skipped) and the GPU's CPU twin.

use renshaw::build::{Network, build};
use renshaw::description::{Format, parse_str};
use renshaw::engine::cpu::CpuEngine;
use renshaw::engine::gpu::GpuEngine;
use renshaw::engine::twin::TwinEngine;
use renshaw::engine::{Chunk, Engine, projection_synapses};
use std::sync::{Arc, Mutex};

mod common;

/// lavapipe runs one device at a time well; tests take turns.
static GPU: Mutex<()> = Mutex::new(());

/// Projection 0: stdp_dopamine, 1: stdp, 2: static excitatory, 3: static
/// inhibitory (the plastic parts as tests/gpu.rs's dopamine network, where
/// the GPU's spikes equal the CPU engine's).
const NET: &str = r#"
[network]
dt = 0.1
seed = 21

[populations.In]
model = "iaf_psc_exp"
size = 40
init = { V_m = { uniform = [-70.0, -56.0] } }

[populations.Out]
model = "iaf_psc_delta"
size = 20
params = { tau_minus = 25.0, t_ref = 1.0 }

[populations.DA]
model = "iaf_psc_delta"
size = 6
params = { t_ref = 1.0 }

[[stimuli]]
kind = "poisson"
rate = 6000.0
targets = "In"
synapse = { weight = { uniform = [20.0, 40.0] }, delay = { uniform = [0.5, 2.0] } }

[[stimuli]]
kind = "poisson"
rate = 4000.0
targets = ["Out", "DA"]
synapse = { weight = 0.6, delay = 1.0 }

[[projections]]
from = "In"
to = "Out"
connect = { rule = "fixed_indegree", indegree = 12 }
synapse = { rule = "stdp_dopamine", dopamine = "DA", weight = { uniform = [0.5, 2.5] }, delay = { uniform = [0.5, 3.0] }, Wmin = 0.2, Wmax = 3.0, A_plus = 0.1, A_minus = 0.12, tau_c = 200.0, tau_n = 50.0, b = 0.02, dopamine_delay = 1.3 }

[[projections]]
from = "In"
to = "Out"
connect = { rule = "fixed_indegree", indegree = 4 }
synapse = { rule = "stdp", weight = 1.0, Wmax = 2.0, lambda = 0.02, delay = 1.0 }

[[projections]]
from = "In"
to = "Out"
connect = { rule = "fixed_indegree", indegree = 3 }
synapse = { weight = 0.3, delay = 1.2 }

[[projections]]
from = "Out"
to = "Out"
connect = { rule = "fixed_indegree", indegree = 3 }
synapse = { weight = -0.5, delay = 0.8 }

[[record]]
population = "In"

[[record]]
population = "Out"

[[record]]
population = "DA"

[run]
duration = 100.0
"#;

/// The GPU's weights may differ from the CPU engine's by this much relative
/// to max(|w|, |Wmax| / 10) (tests/gpu.rs's STDP and dopamine tolerance).
const TOLERANCE: f64 = 1e-4;

fn network() -> Network {
    build(&parse_str(NET, Format::Toml, "set_weights.toml").unwrap()).unwrap()
}

/// New weights for projection `p`: spread over its allowed range,
/// deterministic, different from the description's.
fn new_weights(net: &Network, p: usize) -> Vec<f64> {
    let ks = projection_synapses(net, p);
    let proj = &net.projections[p];
    let (lo, hi) = match (proj.dopamine, proj.plasticity) {
        (Some(d), _) => (d.wmin, d.wmax),
        (None, Some(s)) => (0.0, s.wmax),
        (None, None) if net.synapses.weight[ks[0]] >= 0.0 => (0.0, 0.6),
        (None, None) => (-1.0, 0.0),
    };
    let n = ks.len();
    (0..n)
        .map(|i| lo + (hi - lo) * ((i as f64 * 0.618_034 + 0.1) % 1.0))
        .collect()
}

/// The network with projection `p`'s weights replaced for every `p`.
fn built_with(net: &Network, weights: &[Vec<f64>]) -> Network {
    let mut net = net.clone();
    for (p, w) in weights.iter().enumerate() {
        for (&k, &w) in projection_synapses(&net, p).iter().zip(w) {
            net.synapses.weight[k] = w;
        }
    }
    net
}

fn advance(e: &mut dyn Engine, steps: u64) -> Chunk {
    let mut out = Chunk::default();
    e.advance(steps, &mut out).unwrap();
    out
}

/// |a - b| relative to max(|b|, |scale| / 10).
fn difference(a: f64, b: f64, scale: f64) -> f64 {
    (a - b).abs() / b.abs().max(0.1 * scale.abs())
}

/// Weights set before the first step equal a network built with them, on
/// the CPU engine exactly: read back as set, then the same spikes and the
/// same weights (all projections, plastic ones learning) as that network.
/// Set again mid-run, with STDP changes on their way, they read back as set.
#[test]
fn cpu_weights_set_at_the_start_equal_a_network_built_with_them() {
    let net = Arc::new(network());
    let weights: Vec<Vec<f64>> = (0..4).map(|p| new_weights(&net, p)).collect();
    let reference = Arc::new(built_with(&net, &weights));
    let mut set = CpuEngine::new(Arc::clone(&net), Some(2)).unwrap();
    let mut built = CpuEngine::new(reference, Some(2)).unwrap();
    let mut original = CpuEngine::new(Arc::clone(&net), Some(2)).unwrap();
    for (p, w) in weights.iter().enumerate() {
        set.set_projection_weights(p, w).unwrap();
        assert_eq!(&set.projection_weights(p).unwrap(), w, "projection {p}");
    }
    assert_eq!(
        set.synapse_weights().unwrap(),
        built.synapse_weights().unwrap()
    );
    let (a, b, c) = (
        advance(&mut set, net.steps),
        advance(&mut built, net.steps),
        advance(&mut original, net.steps),
    );
    assert!(a.spikes.len() > 200, "only {} spikes", a.spikes.len());
    assert_eq!(a.spikes, b.spikes);
    assert_ne!(a.spikes, c.spikes, "the new weights change nothing");
    let (wa, wb) = (
        set.synapse_weights().unwrap(),
        built.synapse_weights().unwrap(),
    );
    assert_eq!(wa, wb);
    for p in [0, 1] {
        let moved = projection_synapses(&net, p)
            .iter()
            .filter(|&&k| wa[k] != net.synapses.weight[k])
            .count();
        assert!(moved > 0, "projection {p} did not learn");
    }

    // Mid-run, after spikes whose changes have not arrived yet.
    let again: Vec<Vec<f64>> = weights
        .iter()
        .map(|w| w.iter().rev().copied().collect())
        .collect();
    for (p, w) in again.iter().enumerate() {
        set.set_projection_weights(p, w).unwrap();
    }
    for (p, w) in again.iter().enumerate() {
        assert_eq!(&set.projection_weights(p).unwrap(), w, "projection {p}");
    }
    advance(&mut set, 50);
    for p in [2, 3] {
        assert_eq!(set.projection_weights(p).unwrap(), again[p], "static {p}");
    }
}

/// The same on a static network (weights kept apart from the description's).
#[test]
fn cpu_static_network_weights_can_be_set() {
    let text = NET
        .split("[[projections]]")
        .enumerate()
        .filter(|(i, _)| *i == 0 || *i > 2)
        .map(|(i, s)| {
            if i == 0 {
                s.to_string()
            } else {
                format!("[[projections]]{s}")
            }
        })
        .collect::<String>();
    let net = Arc::new(build(&parse_str(&text, Format::Toml, "static.toml").unwrap()).unwrap());
    assert!(!net.is_plastic());
    let weights: Vec<Vec<f64>> = (0..2).map(|p| new_weights(&net, p)).collect();
    let mut set = CpuEngine::new(Arc::clone(&net), Some(2)).unwrap();
    let mut built = CpuEngine::new(Arc::new(built_with(&net, &weights)), Some(2)).unwrap();
    for (p, w) in weights.iter().enumerate() {
        set.set_projection_weights(p, w).unwrap();
    }
    assert_eq!(
        set.synapse_weights().unwrap(),
        built.synapse_weights().unwrap()
    );
    let (a, b) = (advance(&mut set, net.steps), advance(&mut built, net.steps));
    assert!(a.spikes.len() > 100, "only {} spikes", a.spikes.len());
    assert_eq!(a.spikes, b.spikes);
}

/// On the GPU (synapses split over several buffers) and its twin: weights
/// set before the first step equal a network built with them exactly
/// (spikes and every weight, the device's encoding is the layout's), and
/// the spikes equal the CPU engine's.
#[test]
fn gpu_weights_set_at_the_start_equal_a_network_built_with_them() {
    if !common::gpu_available("gpu_weights_set_at_the_start_equal_a_network_built_with_them") {
        return;
    }
    let _g = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let net = Arc::new(network());
    let weights: Vec<Vec<f64>> = (0..4).map(|p| new_weights(&net, p)).collect();
    let reference = Arc::new(built_with(&net, &weights));
    let mut set = GpuEngine::with_options(Arc::clone(&net), Some(97)).unwrap();
    assert!(
        set.synapse_buffers() > 3,
        "the cap should split the synapses"
    );
    let mut built = GpuEngine::with_options(Arc::clone(&reference), Some(97)).unwrap();
    let mut twin = TwinEngine::new(Arc::clone(&net), 97).unwrap();
    let mut cpu = CpuEngine::new(reference, Some(2)).unwrap();
    for (p, w) in weights.iter().enumerate() {
        set.set_projection_weights(p, w).unwrap();
        twin.set_projection_weights(p, w).unwrap();
        let got = set.projection_weights(p).unwrap();
        // Static weights exactly (kept on the host); plastic ones as the
        // device's f32.
        let expected: Vec<f64> = if p >= 2 {
            w.clone()
        } else {
            w.iter().map(|&x| x as f32 as f64).collect()
        };
        assert_eq!(got, expected, "projection {p}");
    }
    assert_eq!(
        set.synapse_weights().unwrap(),
        built.synapse_weights().unwrap()
    );
    assert_eq!(
        set.synapse_weights().unwrap(),
        twin.synapse_weights().unwrap()
    );
    let steps = net.steps / 2;
    for half in 0..2 {
        let outs = [
            advance(&mut set, steps),
            advance(&mut built, steps),
            advance(&mut twin, steps),
            advance(&mut cpu, steps),
        ];
        assert!(
            outs[0].spikes.len() > 100,
            "only {} spikes",
            outs[0].spikes.len()
        );
        assert_eq!(outs[0].spikes, outs[1].spikes, "half {half}: set vs built");
        assert_eq!(outs[0].spikes, outs[2].spikes, "half {half}: GPU vs twin");
        assert_eq!(outs[0].spikes, outs[3].spikes, "half {half}: GPU vs CPU");
        assert_eq!(
            set.synapse_weights().unwrap(),
            built.synapse_weights().unwrap(),
            "half {half}"
        );
    }
}

/// Set mid-run (plastic changes on their way), the weights of the stdp and
/// stdp_dopamine projections go on learning from the set values: the GPU's
/// and its twin's follow the CPU engine's within the STDP tolerance, with
/// the same spikes; right after the set, every engine shows the set weights.
#[test]
fn plastic_weights_set_mid_run_keep_learning_as_on_the_cpu() {
    if !common::gpu_available("plastic_weights_set_mid_run_keep_learning_as_on_the_cpu") {
        return;
    }
    let _g = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let net = Arc::new(network());
    let mut engines: Vec<Box<dyn Engine>> = vec![
        Box::new(CpuEngine::new(Arc::clone(&net), Some(2)).unwrap()),
        Box::new(GpuEngine::with_options(Arc::clone(&net), Some(97)).unwrap()),
        Box::new(TwinEngine::new(Arc::clone(&net), 97).unwrap()),
    ];
    let scale: Vec<f64> = net
        .synapses
        .projection
        .iter()
        .map(|&p| match p {
            0 => 3.0,
            1 => 2.0,
            _ => 1.0,
        })
        .collect();
    let step = |engines: &mut Vec<Box<dyn Engine>>, steps: u64| -> Vec<Vec<f64>> {
        let outs: Vec<Chunk> = engines
            .iter_mut()
            .map(|e| advance(&mut **e, steps))
            .collect();
        assert_eq!(outs[1].spikes, outs[0].spikes, "GPU vs CPU spikes");
        assert_eq!(outs[2].spikes, outs[0].spikes, "twin vs CPU spikes");
        let w: Vec<Vec<f64>> = engines
            .iter()
            .map(|e| e.synapse_weights().unwrap())
            .collect();
        for k in 0..w[0].len() {
            for (name, e) in [("GPU", &w[1]), ("twin", &w[2])] {
                let d = difference(e[k], w[0][k], scale[k]);
                assert!(
                    d <= TOLERANCE,
                    "synapse {k}: {name} {} CPU {} ({d:.2e})",
                    e[k],
                    w[0][k]
                );
            }
        }
        w
    };
    // Stop inside a slice of the dopamine projection's updates.
    step(&mut engines, 437);
    let weights: Vec<Vec<f64>> = (0..4).map(|p| new_weights(&net, p)).collect();
    for e in engines.iter_mut() {
        for (p, w) in weights.iter().enumerate() {
            e.set_projection_weights(p, w).unwrap();
        }
    }
    for e in &engines {
        for (p, w) in weights.iter().enumerate() {
            for (a, b) in e.projection_weights(p).unwrap().iter().zip(w) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs(),
                    "{}: projection {p}",
                    e.describe()
                );
            }
        }
    }
    let set = step(&mut engines, 10);
    let end = step(&mut engines, net.steps - 447);
    for p in [0, 1] {
        let ks = projection_synapses(&net, p);
        let moved = ks.iter().filter(|&&k| end[0][k] != set[0][k]).count();
        assert!(
            moved > ks.len() / 4,
            "projection {p}: only {moved} weights moved after the set"
        );
    }
}

/// Wrong lengths, unknown projections, non-finite weights and weights
/// outside a projection's range are errors naming the projection and the
/// range, on every engine, and change nothing.
#[test]
fn bad_weights_are_errors() {
    let _g = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let net = Arc::new(network());
    let mut engines: Vec<Box<dyn Engine>> = vec![
        Box::new(CpuEngine::new(Arc::clone(&net), Some(1)).unwrap()),
        Box::new(TwinEngine::new(Arc::clone(&net), u64::MAX).unwrap()),
    ];
    if common::gpu_available("bad_weights_are_errors (GPU part)") {
        engines.push(Box::new(GpuEngine::new(Arc::clone(&net)).unwrap()));
    }
    let n: Vec<usize> = (0..4).map(|p| projection_synapses(&net, p).len()).collect();
    for e in engines.iter_mut() {
        let before = e.synapse_weights().unwrap();
        let mut msg =
            |p: usize, w: Vec<f64>| e.set_projection_weights(p, &w).unwrap_err().to_string();
        let m = msg(1, vec![1.0; n[1] + 1]);
        assert!(
            m.contains(&format!(
                "projection 1 has {} synapses, got {} weights",
                n[1],
                n[1] + 1
            )),
            "{m}"
        );
        assert!(msg(4, vec![]).contains("no projection 4: the network has 4"));
        let with = |p: usize, w: f64| {
            let mut v = vec![if p == 3 { -0.5 } else { 0.5 }; n[p]];
            v[3] = w;
            v
        };
        let m = msg(1, with(1, 2.5));
        assert!(
            m.contains("projection 1: weight 3 is 2.5") && m.contains("[0, 2] (stdp: [0, Wmax])"),
            "{m}"
        );
        assert!(msg(1, with(1, -0.1)).contains("[0, 2]"));
        let m = msg(0, with(0, 0.1));
        assert!(
            m.contains("projection 0: weight 3 is 0.1")
                && m.contains("[0.2, 3] (stdp_dopamine: [Wmin, Wmax])"),
            "{m}"
        );
        let m = msg(2, with(2, -0.1));
        assert!(
            m.contains("projection 2: weight 3 is -0.1") && m.contains("[0, inf)"),
            "{m}"
        );
        let m = msg(3, with(3, 0.1));
        assert!(
            m.contains("projection 3: weight 3 is 0.1") && m.contains("(-inf, 0]"),
            "{m}"
        );
        let m = msg(2, with(2, f64::NAN));
        assert!(
            m.contains("projection 2: weight 3 is NaN") && m.contains("finite"),
            "{m}"
        );
        assert!(msg(1, with(1, f64::INFINITY)).contains("finite"));
        assert_eq!(e.synapse_weights().unwrap(), before, "{}", e.describe());
        assert!(
            e.projection_weights(4)
                .unwrap_err()
                .to_string()
                .contains("no projection 4")
        );
        // Zero is allowed for both static signs.
        e.set_projection_weights(3, &vec![0.0; n[3]]).unwrap();
    }
}

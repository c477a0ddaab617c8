//! Plasticity end to end: Song, Miller & Abbott (2000), shortened, and the
//! plasticity switch of the engine API.

use renshaw::build::build;
use renshaw::description::{Format, load, parse_str};
use renshaw::engine::cpu::CpuEngine;
use renshaw::engine::{Chunk, Engine};
use renshaw::simulation::{Backend, RunOptions, run_description};
use std::path::Path;
use std::sync::Arc;

/// 40 s of the 100 s example: the weights start uniform on [0, Wmax] (5 % in
/// each edge bin, 40 % between 0.3 and 0.7 Wmax) and must already be moving
/// to both bounds. The full run (examples/song_2000.rs) reaches 14.6 % below
/// 0.05 Wmax and 10.3 % above 0.95 Wmax (Brian2's reference: 15 % and 12 %).
#[test]
fn song_miller_abbott_weights_split_to_both_bounds() {
    let mut desc =
        load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/song_2000.toml")).unwrap();
    desc.run.duration = 40_000.0;
    let out = run_description(
        &desc,
        &RunOptions {
            backend: Backend::Cpu,
            ..Default::default()
        },
        0.0,
    )
    .unwrap();
    let w = &out.weights[0].final_weights;
    let frac =
        |f: &dyn Fn(f64) -> bool| w.iter().filter(|&&x| f(x / 0.1)).count() as f64 / w.len() as f64;
    let low = frac(&|x| x < 0.05);
    let high = frac(&|x| x > 0.95);
    let middle = frac(&|x| (0.3..0.7).contains(&x));
    eprintln!(
        "after 40 s: {:.1} % below 0.05 Wmax, {:.1} % above 0.95 Wmax, {:.1} % in [0.3, 0.7)",
        100.0 * low,
        100.0 * high,
        100.0 * middle
    );
    assert!(
        w.iter().all(|&x| (0.0..=0.1).contains(&x)),
        "weights left [0, Wmax]"
    );
    assert!(low > 0.09, "low edge {low}");
    assert!(high > 0.065, "high edge {high}");
    assert!(middle < 0.36, "middle {middle}");
    let rate = out.summary.populations["Neuron"].rate_hz;
    assert!(rate > 5.0 && rate < 60.0, "output rate {rate}");
}

/// Switching plasticity off freezes the weights; on again, they move.
#[test]
fn plasticity_switch_freezes_and_releases_weights() {
    let text = r#"
[network]
dt = 0.1
seed = 5
[populations.Pre]
model = "iaf_psc_delta"
size = 20
params = { I_e = 500.0 }
init = { V_m = { uniform = [-70.0, -56.0] } }
[populations.Post]
model = "iaf_psc_delta"
size = 5
params = { I_e = 420.0 }
[[projections]]
from = "Pre"
to = "Post"
connect = { rule = "all_to_all" }
synapse = { rule = "stdp", weight = 1.0, delay = 1.0, Wmax = 5.0, lambda = 0.05 }
[run]
duration = 300.0
"#;
    let net = Arc::new(build(&parse_str(text, Format::Toml, "switch").unwrap()).unwrap());
    let mut e = CpuEngine::new(Arc::clone(&net), Some(1)).unwrap();
    let mut out = Chunk::default();
    e.advance(1000, &mut out).unwrap();
    let w0 = e.synapse_weights().unwrap();
    assert!(
        w0.iter().any(|&w| (w - 1.0).abs() > 1e-6),
        "no learning at all"
    );
    e.set_plasticity(0, false).unwrap();
    e.advance(1000, &mut out).unwrap();
    let w1 = e.synapse_weights().unwrap();
    // Spikes whose changes were computed before the switch may still land
    // within one delay; compare after that.
    e.advance(1000, &mut out).unwrap();
    let w2 = e.synapse_weights().unwrap();
    assert_eq!(w1, w2, "weights changed while plasticity was off");
    e.set_plasticity(0, true).unwrap();
    e.advance(1000, &mut out).unwrap();
    let w3 = e.synapse_weights().unwrap();
    assert_ne!(w2, w3, "weights did not change after switching back on");
    let err = e.set_plasticity(7, true).unwrap_err().to_string();
    assert!(err.contains("no projection 7"), "{err}");
}

mod common;

/// Song, Miller & Abbott on the GPU: 2 simulated seconds (lavapipe is slow)
/// give the CPU engine's spikes and, within f32 accumulation, its weights.
#[test]
fn song_miller_abbott_on_the_gpu_matches_the_cpu_engine() {
    if !common::gpu_available("song_miller_abbott_on_the_gpu_matches_the_cpu_engine") {
        return;
    }
    let mut desc =
        load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/song_2000.toml")).unwrap();
    desc.run.duration = 2_000.0;
    let run = |backend| {
        run_description(
            &desc,
            &RunOptions {
                backend,
                ..Default::default()
            },
            0.0,
        )
        .unwrap()
    };
    let (cpu, gpu) = (run(Backend::Cpu), run(Backend::Gpu));
    let key = |s: &renshaw::engine::Spike| (s.stamp, s.neuron);
    let post = |o: &renshaw::simulation::RunOutput| {
        o.spikes
            .iter()
            .filter(|s| s.neuron == 1000)
            .map(key)
            .collect::<Vec<_>>()
    };
    assert!(
        post(&cpu).len() > 5,
        "the neuron should fire: {}",
        post(&cpu).len()
    );
    assert_eq!(post(&cpu), post(&gpu), "output spikes differ");
    let (wc, wg) = (&cpu.weights[0].final_weights, &gpu.weights[0].final_weights);
    let worst = wc
        .iter()
        .zip(wg)
        .map(|(a, b)| (a - b).abs() / 0.1)
        .fold(0.0, f64::max);
    let moved = wc
        .iter()
        .zip(&desc_initial(&cpu))
        .filter(|(a, b)| a != b)
        .count();
    eprintln!("Song 2 s: max |w_gpu - w_cpu| / Wmax = {worst:.2e}; {moved} of 1000 weights moved");
    assert!(moved > 500, "STDP should have moved the weights");
    assert!(
        worst < 1e-4,
        "GPU weights differ from the CPU engine's by {worst} Wmax"
    );
}

/// The weights the network was built with, in the recorder's order.
fn desc_initial(out: &renshaw::simulation::RunOutput) -> Vec<f64> {
    out.weights[0]
        .synapses
        .iter()
        .map(|&k| out.network.synapses.weight[k])
        .collect()
}

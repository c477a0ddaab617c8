//! The distal-reward example (Izhikevich 2007, Fig. 1; examples/distal_reward.rs)
//! shortened to its first 3 simulated minutes (about 20 s): the rewarded
//! synapse, starting at 0, grows while the mean of the other 79,999 plastic
//! synapses (starting at 1 mV) falls. Seeded (the example's seed, 2007) and
//! deterministic. The run gives: 4 pairings and 4 rewards, the rewarded
//! synapse at 0.679 mV, a gain that only 1.66% of the others match, and the
//! others' mean at 0.906 mV; the bounds below (gain >= 0.4 mV, < 5% of the
//! others matching it, the mean falling) leave room for rounding
//! differences between platforms without admitting a run where the reward
//! does nothing (the synapse stays below 0.01 mV until the first reward).

mod common;

#[allow(dead_code)]
#[path = "../examples/distal_reward.rs"]
mod distal_reward;

use renshaw::description::{Override, load_with};
use std::path::Path;

#[test]
fn rewarded_synapse_grows_and_the_others_do_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let set: Override = "run.duration=180000".parse().unwrap();
    let desc = load_with(&root.join("examples/distal_reward.toml"), &[set]).unwrap();
    let out = distal_reward::run(&desc, distal_reward::Loop::default(), None, false);
    let first = &out.rows[0];
    let last = out.last();
    eprintln!(
        "after {} s: rewarded synapse {:.3} mV ({} pairings, {} rewards), others' mean {:.3} -> {:.3}, p99 {:.3}; rates E {:.2} Hz, I {:.2} Hz",
        last.t_s,
        last.w,
        last.pairings,
        last.rewards,
        first.mean,
        last.mean,
        last.p99,
        out.rate_e,
        out.rate_i
    );
    // How many of the others grew at least as much (they all started at 1 mV).
    let gain = last.w - first.w;
    let w0 = first.mean;
    let others: Vec<f64> = out
        .final_weights
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != out.rewarded_index)
        .map(|(_, &w)| w - w0)
        .collect();
    let beaten = others.iter().filter(|&&d| d >= gain).count() as f64 / others.len() as f64;
    eprintln!(
        "rewarded synapse +{gain:.3} mV; {:.2}% of the others grew as much",
        100.0 * beaten
    );
    assert_eq!(first.w, 0.0);
    assert!(gain >= 0.4, "rewarded synapse grew by {gain} mV");
    assert!(beaten < 0.05, "{beaten} of the others grew as much");
    assert!(
        last.mean < first.mean,
        "others' mean {} -> {}",
        first.mean,
        last.mean
    );
}

/// The same 3 simulated minutes on the GPU: the same pairings and rewards,
/// and the same learned weights within the GPU's f32 accumulation. About 40
/// minutes on lavapipe (2 cores), seconds on a real GPU:
/// `cargo test --release --test distal_reward -- --ignored`.
/// Measured on lavapipe (2026-11-23): rewarded synapse 0.6793147 mV on the
/// GPU against 0.6793146 mV on the CPU (2.7e-8 Wmax apart), 4 pairings and
/// 4 rewards on both; 74 of 80,000 weights more than 1e-4 Wmax apart, the
/// largest 0.0063 Wmax.
#[test]
#[ignore = "40 minutes on a software GPU; run with --ignored on a real one"]
fn the_gpu_learns_the_rewarded_synapse_as_the_cpu_does() {
    if !common::gpu_available("distal reward on the GPU") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let set: Override = "run.duration=180000".parse().unwrap();
    let desc = load_with(&root.join("examples/distal_reward.toml"), &[set]).unwrap();
    let cpu = distal_reward::run(&desc, distal_reward::Loop::default(), None, false);
    let gpu_loop = distal_reward::Loop {
        backend: renshaw::simulation::Backend::Gpu,
        ..Default::default()
    };
    let gpu = distal_reward::run(&desc, gpu_loop, None, false);
    let (c, g) = (cpu.last(), gpu.last());
    assert_eq!((c.pairings, c.rewards), (g.pairings, g.rewards));
    assert!(g.rewards >= 3, "{} rewards", g.rewards);
    let wmax = 4.0;
    assert!(
        (c.w - g.w).abs() < 1e-4 * wmax,
        "rewarded synapse: CPU {} GPU {}",
        c.w,
        g.w
    );
    assert!(
        (c.mean - g.mean).abs() < 1e-4 * wmax,
        "others' mean: CPU {} GPU {}",
        c.mean,
        g.mean
    );
    let apart = cpu
        .final_weights
        .iter()
        .zip(&gpu.final_weights)
        .filter(|(a, b)| (*a - *b).abs() > 1e-4 * wmax)
        .count();
    assert!(
        apart * 200 < cpu.final_weights.len(),
        "{apart} of {} weights more than 1e-4 Wmax apart",
        cpu.final_weights.len()
    );
}

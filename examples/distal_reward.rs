//! Izhikevich (2007), "Solving the distal reward problem through linkage of
//! STDP and dopamine signaling", with LIF neurons: runs
//! examples/distal_reward.toml on the CPU engine in a closed loop.
//!
//! One E -> E synapse (a -> b) is picked at random (seeded). Whenever b fires
//! within 10 ms after a, a reward is scheduled 1-3 s later (uniform, seeded);
//! a reward is a burst of 100 DA spikes, made by injecting 1000 mV into the DA
//! parrot neuron in consecutive steps. The weight of a -> b is printed every
//! 30 simulated seconds next to the mean and 99th percentile of all other
//! plastic weights, and a PASS/FAIL line closes the run.
//!
//! `cargo run --release --example distal_reward [-- DURATION_MS]`

use renshaw::build::{Network, Recorder, build};
use renshaw::description::{Description, load};
use renshaw::engine::cpu::CpuEngine;
use renshaw::engine::{Chunk, Engine};
use renshaw::rng::Stream;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Settings of the closed loop (the network is the description's).
#[derive(Debug, Clone, Copy)]
pub struct Loop {
    /// DA spikes per reward (one per step).
    pub burst: u32,
    /// Largest post-after-pre interval that counts as a pairing, ms.
    pub window_ms: f64,
    /// Reward delay range, ms.
    pub delay_ms: (f64, f64),
    /// Steps per engine call outside bursts.
    pub chunk_steps: u64,
    /// Report interval, ms.
    pub report_ms: f64,
    /// Pairings are not rewarded for this long at the start, ms (0 by
    /// default). Without dopamine the weights do not move (b = 0), so with
    /// the tonic dopamine stimulus given the same `start` this makes a
    /// warm-up without plasticity.
    pub warmup_ms: f64,
}

impl Default for Loop {
    fn default() -> Self {
        Self {
            burst: 100,
            window_ms: 10.0,
            delay_ms: (1000.0, 3000.0),
            chunk_steps: 10,
            report_ms: std::env::var("REPORT_MS").map_or(30_000.0, |s| s.parse().unwrap()),
            warmup_ms: 0.0,
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Simulated time, s.
    pub t_s: f64,
    /// Weight of the rewarded synapse.
    pub w: f64,
    /// Mean of the other plastic weights.
    pub mean: f64,
    /// 99th percentile of the other plastic weights.
    pub p99: f64,
    /// Largest of the others.
    pub max: f64,
    /// Pairings so far.
    pub pairings: u64,
    /// Rewards delivered so far.
    pub rewards: u64,
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    /// Source and target (global ids) of the rewarded synapse.
    pub a: u32,
    /// Target.
    pub b: u32,
    /// Initial weight of the rewarded synapse.
    pub w0: f64,
    /// Wmax of the plastic projection.
    pub wmax: f64,
    /// Report rows.
    pub rows: Vec<Row>,
    /// Mean rate of E, Hz.
    pub rate_e: f64,
    /// Mean rate of I, Hz.
    pub rate_i: f64,
    /// Spikes of DA.
    pub da_spikes: u64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Runs the closed loop on a description.
pub fn run(desc: &Description, cfg: Loop, verbose: bool) -> Outcome {
    let mut net: Network = build(desc).unwrap_or_else(|e| panic!("{e}"));
    let pop = |name: &str| {
        net.populations
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no population {name}"))
    };
    let (e, i, da) = (pop("E"), pop("I"), pop("DA"));
    let e_range = net.populations[e].offset..net.populations[e].offset + net.populations[e].size;
    let da_neuron = net.populations[da].offset;
    let plastic = net
        .projections
        .iter()
        .position(|p| p.dopamine.is_some())
        .expect("a stdp_dopamine projection");
    let wmax = net.projections[plastic].dopamine.unwrap().wmax;
    let syn = &net.synapses;
    // Synapses of the plastic projection, and among them the E -> E ones.
    let plastic_ids: Vec<usize> = (0..syn.len())
        .filter(|&k| syn.projection[k] as usize == plastic)
        .collect();
    let source_of = |k: usize| (syn.row_start.partition_point(|&s| s <= k as u64) - 1) as u32;
    let ee: Vec<usize> = plastic_ids
        .iter()
        .copied()
        .filter(|&k| e_range.contains(&syn.target[k]) && e_range.contains(&source_of(k)))
        .collect();
    // Seeded choices: a stream of its own (purpose byte 0xD7, unused by renshaw).
    let mut rng = Stream::new(net.seed, 0xD700_0000, 0);
    let chosen = ee[rng.below(ee.len() as u64) as usize];
    let (a, b) = (source_of(chosen), syn.target[chosen]);
    let w0 = syn.weight[chosen];
    // Record the spikes of a and b only.
    net.recorders.push(Recorder {
        population: e,
        neurons: vec![a, b],
        spikes: true,
        state: vec![],
        interval_steps: 1,
    });
    let dt = net.dt;
    let steps = net.steps;
    let net = Arc::new(net);
    let mut engine = CpuEngine::new(Arc::clone(&net), None).unwrap_or_else(|e| panic!("{e}"));
    if verbose {
        println!(
            "rewarded synapse: E{a} -> E{b} (synapse {chosen} of {} plastic), w0 = {w0} mV, Wmax = {wmax} mV",
            plastic_ids.len()
        );
        println!(
            "{:>6} {:>9} {:>10} {:>10} {:>10} {:>9} {:>8}",
            "t (s)", "w(a->b)", "mean rest", "p99 rest", "max rest", "pairings", "rewards"
        );
    }
    let window = (cfg.window_ms / dt).round() as u64;
    let report_every = (cfg.report_ms / dt).round() as u64;
    let mut last_a: Option<u64> = None;
    let mut pending: Vec<u64> = Vec::new(); // due steps
    let mut burst_left = 0u32;
    let (mut pairings, mut rewards) = (0u64, 0u64);
    let mut rows = Vec::new();
    let report = |engine: &CpuEngine, pairings: u64, rewards: u64, rows: &mut Vec<Row>| {
        let w = engine.synapse_weights().unwrap();
        let mut rest: Vec<f64> = plastic_ids
            .iter()
            .filter(|&&k| k != chosen)
            .map(|&k| w[k])
            .collect();
        rest.sort_by(f64::total_cmp);
        let row = Row {
            t_s: engine.current_step() as f64 * dt / 1000.0,
            w: w[chosen],
            mean: rest.iter().sum::<f64>() / rest.len() as f64,
            p99: percentile(&rest, 0.99),
            max: *rest.last().unwrap(),
            pairings,
            rewards,
        };
        if verbose {
            println!(
                "{:6.0} {:9.3} {:10.3} {:10.3} {:10.3} {:9} {:8}",
                row.t_s, row.w, row.mean, row.p99, row.max, row.pairings, row.rewards
            );
        }
        rows.push(row);
    };
    report(&engine, 0, 0, &mut rows);
    let warmup = (cfg.warmup_ms / dt).round() as u64;
    let mut chunk = Chunk::default();
    while engine.current_step() < steps {
        let now = engine.current_step();
        // Rewards that are due start a burst.
        pending.retain(|&due| {
            if due <= now {
                burst_left += cfg.burst;
                rewards += 1;
                false
            } else {
                true
            }
        });
        let n = if burst_left > 0 {
            engine.inject_input(da_neuron, 1000.0).unwrap();
            burst_left -= 1;
            1
        } else {
            // Stop at the next report and the next due reward.
            let next_report = (now / report_every + 1) * report_every;
            let next_due = pending.iter().copied().min().unwrap_or(u64::MAX);
            cfg.chunk_steps
                .min(steps - now)
                .min(next_report - now)
                .min(next_due.saturating_sub(now).max(1))
        };
        chunk.spikes.clear();
        engine.advance(n, &mut chunk).unwrap();
        for s in &chunk.spikes {
            if s.neuron == a {
                last_a = Some(s.stamp);
            }
            // Post after pre (strictly later, within the window); each
            // presynaptic spike is paired at most once.
            if s.neuron == b
                && s.stamp > warmup
                && let Some(ta) = last_a
                && s.stamp > ta
                && s.stamp - ta <= window
            {
                pairings += 1;
                last_a = None;
                let delay = cfg.delay_ms.0 + (cfg.delay_ms.1 - cfg.delay_ms.0) * rng.uniform();
                pending.push(s.stamp + (delay / dt).round() as u64);
            }
        }
        if engine.current_step().is_multiple_of(report_every) {
            report(&engine, pairings, rewards, &mut rows);
        }
    }
    if !engine.current_step().is_multiple_of(report_every) {
        report(&engine, pairings, rewards, &mut rows);
    }
    let counts = engine.spike_counts();
    let secs = steps as f64 * dt / 1000.0;
    let rate = |p: usize| {
        let l = &net.populations[p];
        counts[l.offset as usize..(l.offset + l.size) as usize]
            .iter()
            .sum::<u64>() as f64
            / l.size as f64
            / secs
    };
    Outcome {
        a,
        b,
        w0,
        wmax,
        rows,
        rate_e: rate(e),
        rate_i: rate(i),
        da_spikes: counts[da_neuron as usize],
    }
}

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/distal_reward.toml");
    let mut desc = load(&path).unwrap_or_else(|e| panic!("{e}"));
    if let Some(ms) = std::env::args().nth(1) {
        desc.run.duration = ms.parse().expect("duration in ms");
    }
    let t0 = Instant::now();
    let out = run(&desc, Loop::default(), true);
    let wall = t0.elapsed().as_secs_f64();
    let last = out.rows.last().unwrap();
    println!(
        "rates: E {:.2} Hz, I {:.2} Hz; DA spikes {} ({} rewards); wall time {:.1} s",
        out.rate_e, out.rate_i, out.da_spikes, last.rewards, wall
    );
    let pass = last.w >= 0.9 * out.wmax && last.mean < 0.3 * out.wmax && last.p99 < 0.6 * out.wmax;
    println!(
        "{}: rewarded synapse {:.3} mV (>= 0.9 Wmax = {:.2}), others mean {:.3} (< 0.3 Wmax = {:.2}), 99th percentile {:.3} (< 0.6 Wmax = {:.2})",
        if pass { "PASS" } else { "FAIL" },
        last.w,
        0.9 * out.wmax,
        last.mean,
        0.3 * out.wmax,
        last.p99,
        0.6 * out.wmax
    );
}

//! Izhikevich (2007), "Solving the distal reward problem through linkage of
//! STDP and dopamine signaling", Fig. 1, with LIF neurons: runs
//! examples/distal_reward.toml on the CPU engine in a closed loop.
//!
//! One excitatory synapse a -> b between two different excitatory neurons
//! (the only synapse from a to b) is picked at random (seeded) and set to 0.
//! Whenever b fires less than 20 ms after a's last spike (strictly after it),
//! a reward is scheduled 1-3 s later (uniform, seeded); a reward makes every
//! neuron of the DA population fire once, in the same step.
//!
//! Every simulated second the weight of a -> b and statistics of all other
//! plastic weights go to `OUT/weights.csv`; a line per simulated minute goes
//! to stdout, and a PASS/FAIL line against [`Criteria`] closes the run. The
//! final plastic weights are written to `OUT/final_weights.npy`, their
//! sources and targets (global ids) to `OUT/final_sources.npy` and
//! `OUT/final_targets.npy`, and the rewarded synapse's index among them to
//! `OUT/rewarded.txt`. The network (1,010 neurons) is small enough for the
//! engine to step it as one block: it uses one core.
//!
//! ```text
//! cargo run --release --example distal_reward -- [--set KEY=VALUE ...] [--out DIR]
//! ```
//!
//! `--set` takes the description's parameters or key paths (as `renshaw run
//! --set`), e.g. `--set run.duration=600000` for 10 simulated minutes.
//! `OUT` defaults to `target/distal_reward`.

use renshaw::build::{Network, Recorder, build};
use renshaw::description::{Description, Override, load_with};
use renshaw::engine::{Chunk, Engine};
use renshaw::rng::Stream;
use renshaw::simulation::{Backend, RunOptions, make_engine};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Settings of the closed loop (the network is the description's).
#[derive(Debug, Clone, Copy)]
pub struct Loop {
    /// A pairing: b fires less than this long after a's last spike, ms
    /// (Izhikevich: 20 ms).
    pub window_ms: f64,
    /// Reward delay range, ms: uniform in (lo, hi] (Izhikevich: 1-3 s).
    pub delay_ms: (f64, f64),
    /// Interval of the samples (CSV rows), ms; a multiple of the plastic
    /// projection's trigger interval, so that the weights read are current.
    pub sample_ms: f64,
    /// Interval of the printed lines, ms (a multiple of `sample_ms`).
    pub report_ms: f64,
    /// The engine (the loop uses only the `Engine` trait).
    pub backend: Backend,
}

impl Default for Loop {
    fn default() -> Self {
        Self {
            window_ms: 20.0,
            delay_ms: (1000.0, 3000.0),
            sample_ms: 1000.0,
            report_ms: 60_000.0,
            backend: Backend::Cpu,
        }
    }
}

/// The pass criteria (fractions of Wmax), see the description's header.
#[derive(Debug, Clone, Copy)]
pub struct Criteria {
    /// The rewarded synapse ends at or above this.
    pub rewarded_min: f64,
    /// The mean of all other plastic weights ends below this.
    pub others_mean_max: f64,
    /// Their 90th percentile ends below this.
    pub others_p90_max: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Self {
            rewarded_min: 0.9,
            others_mean_max: 0.25,
            others_p90_max: 0.75,
        }
    }
}

/// One sample.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Simulated time, s.
    pub t_s: f64,
    /// Weight of the rewarded synapse.
    pub w: f64,
    /// Mean of the other plastic weights.
    pub mean: f64,
    /// Median of the others.
    pub p50: f64,
    /// 90th percentile of the others.
    pub p90: f64,
    /// 99th percentile of the others.
    pub p99: f64,
    /// Largest of the others.
    pub max: f64,
    /// Fraction of the others at or above 0.9 Wmax.
    pub frac_high: f64,
    /// Pairings so far.
    pub pairings: u64,
    /// Rewards delivered so far.
    pub rewards: u64,
    /// Mean rates of E and I since the previous sample, Hz.
    pub rates: (f64, f64),
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    /// Source of the rewarded synapse (global id).
    pub a: u32,
    /// Its target.
    pub b: u32,
    /// Index of the rewarded synapse among the plastic ones.
    pub rewarded_index: usize,
    /// Wmax of the plastic projection.
    pub wmax: f64,
    /// Samples, the first at t = 0.
    pub rows: Vec<Row>,
    /// Final weights of all plastic synapses (`Network::synapses` order).
    pub final_weights: Vec<f64>,
    /// Their sources and targets (global ids).
    pub pairs: Vec<(u32, u32)>,
    /// Mean rate of E, Hz.
    pub rate_e: f64,
    /// Mean rate of I, Hz.
    pub rate_i: f64,
    /// Rate of a and of b, Hz.
    pub rate_ab: (f64, f64),
}

impl Outcome {
    /// The last sample.
    pub fn last(&self) -> &Row {
        self.rows.last().expect("at least the sample at t = 0")
    }

    /// Whether the last sample meets the criteria.
    pub fn passes(&self, c: &Criteria) -> bool {
        let r = self.last();
        r.w >= c.rewarded_min * self.wmax
            && r.mean < c.others_mean_max * self.wmax
            && r.p90 < c.others_p90_max * self.wmax
    }
}

/// The `q`-quantile (linear interpolation) of `v`, reordering it.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let (_, &mut x_lo, rest) = v.select_nth_unstable_by(lo, f64::total_cmp);
    if pos == lo as f64 {
        return x_lo;
    }
    let x_hi = rest.iter().copied().fold(f64::INFINITY, f64::min);
    x_lo + (x_hi - x_lo) * (pos - lo as f64)
}

/// Runs the closed loop on a description. `csv`: where the samples go, as
/// they are taken; `verbose`: print a line per `report_ms`. The weights are
/// read after the volume transmitter's updates (every `deliver_interval`
/// minimum delays), so the duration should be a multiple of that interval
/// (whole seconds here) for the final weights to be current.
pub fn run(
    desc: &Description,
    cfg: Loop,
    mut csv: Option<&mut dyn Write>,
    verbose: bool,
) -> Outcome {
    let mut net: Network = build(desc).unwrap_or_else(|e| panic!("{e}"));
    let pop = |name: &str| {
        net.populations
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no population {name}"))
    };
    let (e, i, da) = (pop("E"), pop("I"), pop("DA"));
    let e_range = net.populations[e].offset..net.populations[e].offset + net.populations[e].size;
    let da_range =
        net.populations[da].offset..net.populations[da].offset + net.populations[da].size;
    let plastic = net
        .projections
        .iter()
        .position(|p| p.dopamine.is_some())
        .expect("a stdp_dopamine projection");
    let wmax = net.projections[plastic].dopamine.unwrap().wmax;
    let syn = &net.synapses;
    let plastic_ids: Vec<usize> = (0..syn.len())
        .filter(|&k| syn.projection[k] as usize == plastic)
        .collect();
    let source_of = |k: usize| (syn.row_start.partition_point(|&s| s <= k as u64) - 1) as u32;
    // Candidates: E -> E, no autapse, and the only synapse from a to b (a
    // second one would share its eligibility).
    let candidates: Vec<usize> = plastic_ids
        .iter()
        .copied()
        .filter(|&k| {
            let (a, b) = (source_of(k), syn.target[k]);
            let row = syn.row_start[a as usize] as usize..syn.row_start[a as usize + 1] as usize;
            e_range.contains(&a)
                && e_range.contains(&b)
                && a != b
                && syn.target[row].iter().filter(|&&t| t == b).count() == 1
        })
        .collect();
    // Seeded choices: a stream of its own (purpose 0xD7, unused by renshaw).
    let mut rng = Stream::new(net.seed, 0xD700_0000, 0);
    let chosen = candidates[rng.below(candidates.len() as u64) as usize];
    let (a, b) = (source_of(chosen), syn.target[chosen]);
    let rewarded_index = plastic_ids.binary_search(&chosen).unwrap();
    let pairs: Vec<(u32, u32)> = plastic_ids
        .iter()
        .map(|&k| (source_of(k), syn.target[k]))
        .collect();
    // Izhikevich starts the rewarded synapse at 0.
    net.synapses.weight[chosen] = 0.0;
    net.recorders.push(Recorder {
        population: e,
        neurons: vec![a, b],
        spikes: true,
        state: vec![],
        interval_steps: 1,
    });
    let dt = net.dt;
    let steps = net.steps;
    let trigger_steps =
        net.projections[plastic].dopamine.unwrap().deliver_interval as u64 * net.min_delay;
    let net = Arc::new(net);
    let opts = RunOptions {
        backend: cfg.backend,
        ..Default::default()
    };
    let mut engine = make_engine(Arc::clone(&net), &opts).unwrap_or_else(|e| panic!("{e}"));
    let sample_every = (cfg.sample_ms / dt).round() as u64;
    let report_every = (cfg.report_ms / dt).round() as u64;
    assert!(
        sample_every.is_multiple_of(trigger_steps) && report_every.is_multiple_of(sample_every),
        "samples every {sample_every} steps must be a multiple of the triggers ({trigger_steps}) and divide the reports ({report_every})"
    );
    if verbose {
        println!(
            "rewarded synapse: E{a} -> E{b} (plastic synapse {rewarded_index} of {}), w0 = 0, Wmax = {wmax} mV",
            plastic_ids.len()
        );
        println!(
            "{:>6} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6} {:>9} {:>8} {:>7} {:>6} {:>6}",
            "t (s)",
            "w(a->b)",
            "mean rest",
            "p50",
            "p90",
            "p99",
            "max",
            ">=.9Wmax",
            "pairings",
            "rewards",
            "E Hz",
            "I Hz"
        );
    }
    if let Some(out) = csv.as_mut() {
        writeln!(out, "t_s,w_rewarded,others_mean,others_p50,others_p90,others_p99,others_max,others_frac_ge_0.9wmax,pairings,rewards,rate_e_hz,rate_i_hz").unwrap();
    }
    let window = (cfg.window_ms / dt).round() as u64;
    let mut last_a: Option<u64> = None;
    let mut pending: Vec<u64> = Vec::new(); // steps at which a reward is given
    let (mut pairings, mut rewards) = (0u64, 0u64);
    let mut rows = Vec::new();
    let mut rest = Vec::with_capacity(plastic_ids.len());
    let pop_ranges = [e, i].map(|p| {
        let l = &net.populations[p];
        l.offset as usize..(l.offset + l.size) as usize
    });
    let mut last_counts = (0u64, 0u64, 0u64); // E spikes, I spikes, step
    let mut sample = |engine: &dyn Engine, pairings: u64, rewards: u64, rows: &mut Vec<Row>| {
        let w = engine.synapse_weights().unwrap();
        let counts = engine.spike_counts();
        let [ne, ni] = pop_ranges.clone().map(|r| counts[r].iter().sum::<u64>());
        let now = engine.current_step();
        let secs = (now - last_counts.2).max(1) as f64 * dt / 1000.0;
        let rates = (
            (ne - last_counts.0) as f64 / pop_ranges[0].len() as f64 / secs,
            (ni - last_counts.1) as f64 / pop_ranges[1].len() as f64 / secs,
        );
        last_counts = (ne, ni, now);
        rest.clear();
        rest.extend(plastic_ids.iter().filter(|&&k| k != chosen).map(|&k| w[k]));
        let n = rest.len() as f64;
        let row = Row {
            t_s: engine.current_step() as f64 * dt / 1000.0,
            w: w[chosen],
            mean: rest.iter().sum::<f64>() / n,
            frac_high: rest.iter().filter(|&&x| x >= 0.9 * wmax).count() as f64 / n,
            max: rest.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            p99: quantile(&mut rest, 0.99),
            p90: quantile(&mut rest, 0.9),
            p50: quantile(&mut rest, 0.5),
            pairings,
            rewards,
            rates,
        };
        if let Some(out) = csv.as_mut() {
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                row.t_s,
                row.w,
                row.mean,
                row.p50,
                row.p90,
                row.p99,
                row.max,
                row.frac_high,
                pairings,
                rewards,
                rates.0,
                rates.1
            )
            .unwrap();
        }
        rows.push(row);
        if verbose && engine.current_step().is_multiple_of(report_every) {
            // Rates: the mean over the report interval.
            let k = ((report_every / sample_every) as usize)
                .min(rows.len() - 1)
                .max(1);
            let recent = &rows[rows.len() - k..];
            let rate = |f: fn(&Row) -> f64| recent.iter().map(f).sum::<f64>() / k as f64;
            println!(
                "{:6.0} {:8.3} {:9.3} {:6.3} {:6.3} {:6.3} {:6.3} {:9.5} {:8} {:7} {:6.2} {:6.2}",
                row.t_s,
                row.w,
                row.mean,
                row.p50,
                row.p90,
                row.p99,
                row.max,
                row.frac_high,
                row.pairings,
                row.rewards,
                rate(|r| r.rates.0),
                rate(|r| r.rates.1)
            );
        }
    };
    sample(engine.as_ref(), 0, 0, &mut rows);
    let mut chunk = Chunk::default();
    let mut ab: Vec<(u64, bool)> = Vec::new();
    while engine.current_step() < steps {
        let now = engine.current_step();
        // A reward due now: every DA neuron fires in this step.
        let due = pending.len();
        pending.retain(|&s| s > now);
        if pending.len() < due {
            rewards += (due - pending.len()) as u64;
            for n in da_range.clone() {
                engine.inject_input(n, 1000.0).unwrap();
            }
        }
        // Rewards come >= 1 s after their pairing, so a chunk up to the next
        // sample or due reward sees every pairing in time.
        let next_sample = (now / sample_every + 1) * sample_every;
        let next_due = pending.iter().copied().min().unwrap_or(u64::MAX);
        let n = (steps.min(next_sample).min(next_due)) - now;
        chunk.spikes.clear();
        engine.advance(n, &mut chunk).unwrap();
        // Spikes of a before those of b at the same stamp: a pairing needs b
        // strictly after a.
        ab.clear();
        ab.extend(chunk.spikes.iter().map(|s| (s.stamp, s.neuron == b)));
        ab.sort_unstable();
        for &(stamp, is_b) in &ab {
            if !is_b {
                last_a = Some(stamp);
            } else if let Some(ta) = last_a
                && stamp > ta
                && stamp - ta < window
            {
                pairings += 1;
                let delay = cfg.delay_ms.1 - (cfg.delay_ms.1 - cfg.delay_ms.0) * rng.uniform();
                pending.push(stamp - 1 + ((delay / dt).round() as u64).max(1));
            }
        }
        if engine.current_step().is_multiple_of(sample_every) || engine.current_step() == steps {
            sample(engine.as_ref(), pairings, rewards, &mut rows);
        }
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
    let w = engine.synapse_weights().unwrap();
    Outcome {
        a,
        b,
        rewarded_index,
        wmax,
        rows,
        final_weights: plastic_ids.iter().map(|&k| w[k]).collect(),
        pairs,
        rate_e: rate(e),
        rate_i: rate(i),
        rate_ab: (
            counts[a as usize] as f64 / secs,
            counts[b as usize] as f64 / secs,
        ),
    }
}

fn main() {
    let mut overrides = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out_dir = root.join("target/distal_reward");
    let mut backend = Backend::Cpu;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--set" => {
                let kv = args.next().expect("--set KEY=VALUE");
                overrides.push(kv.parse::<Override>().unwrap_or_else(|e| panic!("{e}")));
            }
            "--out" => out_dir = PathBuf::from(args.next().expect("--out DIR")),
            "--gpu" => backend = Backend::Gpu,
            other => panic!("unknown argument {other}: use --set KEY=VALUE, --out DIR or --gpu"),
        }
    }
    let desc = load_with(&root.join("examples/distal_reward.toml"), &overrides)
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut csv =
        std::io::BufWriter::new(std::fs::File::create(out_dir.join("weights.csv")).unwrap());
    let t0 = Instant::now();
    let cfg = Loop {
        backend,
        ..Loop::default()
    };
    let out = run(&desc, cfg, Some(&mut csv), true);
    let wall = t0.elapsed().as_secs_f64();
    csv.flush().unwrap();
    renshaw::output::npy::write_array(&out_dir.join("final_weights.npy"), &out.final_weights)
        .unwrap();
    let (src, tgt): (Vec<u32>, Vec<u32>) = out.pairs.iter().copied().unzip();
    renshaw::output::npy::write_array(&out_dir.join("final_sources.npy"), &src).unwrap();
    renshaw::output::npy::write_array(&out_dir.join("final_targets.npy"), &tgt).unwrap();
    std::fs::write(
        out_dir.join("rewarded.txt"),
        format!("{}\n", out.rewarded_index),
    )
    .unwrap();
    let last = out.last();
    println!(
        "rates: E {:.2} Hz, I {:.2} Hz, a {:.2} Hz, b {:.2} Hz; {} pairings, {} rewards; wall time {:.0} s; samples in {}",
        out.rate_e,
        out.rate_i,
        out.rate_ab.0,
        out.rate_ab.1,
        last.pairings,
        last.rewards,
        wall,
        out_dir.join("weights.csv").display()
    );
    // The rewarded synapse fluctuates near Wmax once there (as in Izhikevich's model).
    let tail = (600.0 / (Loop::default().sample_ms / 1000.0)) as usize;
    let recent = &out.rows[out.rows.len().saturating_sub(tail)..];
    let first_high = out.rows.iter().find(|r| r.w >= 0.9 * out.wmax);
    println!(
        "rewarded synapse: first >= 0.9 Wmax at {}; mean over the last {:.0} s {:.3} mV. Others: median {:.3}, 99th percentile {:.3}, {:.2}% >= 0.9 Wmax",
        first_high.map_or("never".to_string(), |r| format!("{:.0} s", r.t_s)),
        recent.len() as f64 * Loop::default().sample_ms / 1000.0,
        recent.iter().map(|r| r.w).sum::<f64>() / recent.len() as f64,
        last.p50,
        last.p99,
        100.0 * last.frac_high
    );
    let c = Criteria::default();
    println!(
        "{}: rewarded synapse {:.3} mV (>= {} Wmax = {:.2}), others' mean {:.3} (< {} Wmax = {:.2}), 90th percentile {:.3} (< {} Wmax = {:.2})",
        if out.passes(&c) { "PASS" } else { "FAIL" },
        last.w,
        c.rewarded_min,
        c.rewarded_min * out.wmax,
        last.mean,
        c.others_mean_max,
        c.others_mean_max * out.wmax,
        last.p90,
        c.others_p90_max,
        c.others_p90_max * out.wmax
    );
}

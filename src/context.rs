//! Context-specific motor memories (Kim, Daie & Li, Nature 2025;
//! ../shared/EXPERIMENTS.md §3): the trial loop, the block schedule, the
//! measures and the pass criteria, on the circuit of
//! `examples/context_memory.toml` (see its header for the circuit).
//!
//! A trial: the block's context input and a random cue (A or B) come on
//! for `prep_ms`; the delay network's spike counts over the last `cd_ms` of
//! that period are the trial's preparatory activity. Then the go cue drives
//! the output pools for `response_ms`; the pool with more spikes is the
//! choice (a tie is no choice, an error). Context 1 maps A to left and B to
//! right, context 2 the reverse. A correct choice is rewarded at the end of
//! the response epoch: every DA neuron fires once. Then `iti_ms` with every
//! input off. A block ends when `criterion` of the last `window` trials are
//! correct, or after `max_trials`; between blocks an overnight gap changes
//! the plastic weights (`closed_loop::overnight_weights`).
//!
//! Measures, per block: trials to criterion; the coding direction (CD: mean
//! preparatory activity of correct right-target trials minus correct
//! left-target trials of the block's last `window` trials, normalised);
//! across blocks, the cosines between CDs, and how well block 1's CD,
//! thresholded half way between its two classes, decodes the target side of
//! the trials of the other blocks.
//!
//! Every input is found by name: the populations `cue_a`, `cue_b`, `ctx1`,
//! `ctx2`, `delay_e`, `left`, `right`, `DA`, the Poisson stimulus whose
//! targets are exactly each input population (and the one that targets
//! `left` and `right`: the go cue), and the one `stdp_dopamine` projection
//! into the output pools. The stimuli's rates in the description are their
//! rates when on; the loop turns them off before the first trial.

use crate::build::Network;
use crate::closed_loop::overnight_weights;
use crate::description::{GapSpec, Override};
use crate::engine::{Chunk, Engine, EngineError};
use crate::rng::{Purpose, Stream, stream_id};
use crate::simulation::{Backend, RunOptions, make_engine};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The trial structure and the block schedule.
#[derive(Debug, Clone, Serialize)]
pub struct Protocol {
    /// Context and cue before the go cue, ms.
    pub prep_ms: f64,
    /// The end of the preparatory period whose delay-network counts are a
    /// trial's preparatory activity, ms.
    pub cd_ms: f64,
    /// The go cue: the output pools compete, ms.
    pub response_ms: f64,
    /// Inputs off between trials, ms.
    pub iti_ms: f64,
    /// Trials of the sliding window of the switch rule.
    pub window: usize,
    /// Fraction correct in that window that ends a block.
    pub criterion: f64,
    /// A block ends after this many trials even if it never reaches the criterion.
    pub max_trials: usize,
    /// The contexts of the blocks, in order (1 or 2).
    pub blocks: Vec<u8>,
    /// What happens to the plastic weights between blocks (days).
    pub gap: GapSpec,
    /// Spikes of one output pool that make the choice (a race to
    /// threshold: the winner fires about the same whatever its input, so
    /// its eligibility measures its inputs' activity); 0: the pool with
    /// more spikes over the whole response epoch.
    pub decision_spikes: u64,
    /// What the critic's expectation is of.
    pub critic: Critic,
    /// Trials over which the critic averages reward (exponential, weight
    /// 1 / this): the dopamine signal is the reward prediction error.
    pub critic_trials: f64,
    /// How long the tonic dopamine pauses after an error with a prediction
    /// error of -1, ms (scaled by the error; at most `iti_ms`).
    pub dip_ms: f64,
}

impl Default for Protocol {
    fn default() -> Self {
        Self {
            prep_ms: 400.0,
            cd_ms: 200.0,
            response_ms: 200.0,
            iti_ms: 700.0,
            window: 100,
            criterion: 0.75,
            max_trials: 600,
            blocks: vec![1, 2, 1, 2],
            gap: GapSpec {
                weight_decay: 0.1,
                weight_noise: 0.02,
            },
            decision_spikes: 10,
            critic: Critic::PerState,
            critic_trials: 20.0,
            dip_ms: 700.0,
        }
    }
}

/// The critic whose expectation the dopamine signal is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Critic {
    /// One running average of reward over all trials.
    Global,
    /// One per state, context x cue (the value of the cue in its context,
    /// as dopamine neurons signal it): a context seen before starts with
    /// the expectation it had when it was left.
    PerState,
}

impl std::str::FromStr for Critic {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "global" => Ok(Self::Global),
            "per_state" | "per-state" | "state" => Ok(Self::PerState),
            _ => Err(format!("unknown critic `{s}`: global or per_state")),
        }
    }
}

/// The pass criteria of EXPERIMENTS.md §3.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Criteria {
    /// The two contexts' CDs (first blocks) have a cosine below this.
    pub orthogonal_below: f64,
    /// A context's CD and its CD a block pair later: cosine above this.
    pub stable_above: f64,
    /// Trials to criterion of 1' at most this fraction of those of 1.
    pub relearning_at_most: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Self {
            orthogonal_below: 0.3,
            stable_above: 0.7,
            relearning_at_most: 0.7,
        }
    }
}

/// What `run_experiment` runs.
#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    /// The circuit.
    pub description: PathBuf,
    /// One run per seed (`network.seed`).
    pub seeds: Vec<u64>,
    /// `--set` overrides for every run.
    pub overrides: Vec<Override>,
    /// Engine.
    pub backend: Backend,
    /// Runs at once.
    pub parallel: usize,
    /// Trials and blocks.
    pub protocol: Protocol,
    /// Where summary.json, table.txt, figure.png and the trial tables go.
    pub out_dir: Option<PathBuf>,
    /// Print a line per finished block.
    pub progress: bool,
}

/// Left or right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The `left` pool.
    Left,
    /// The `right` pool.
    Right,
}

/// The side a cue asks for in a context.
pub fn target_side(context: u8, cue_b: bool) -> Side {
    match (context, cue_b) {
        (1, false) | (2, true) => Side::Left,
        _ => Side::Right,
    }
}

/// One trial.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// Block index (0-based).
    pub block: usize,
    /// Context (1 or 2).
    pub context: u8,
    /// Cue B (else A).
    pub cue_b: bool,
    /// The rewarded side.
    pub target: Side,
    /// The pool that fired more (`None`: a tie).
    pub choice: Option<Side>,
    /// Spikes of `left` and `right` in the response epoch.
    pub counts: (u64, u64),
    /// Rewarded.
    pub correct: bool,
}

/// One block.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// Context (1 or 2).
    pub context: u8,
    /// Trials run.
    pub trials: usize,
    /// The trial (1-based) at which `criterion` of the last `window` trials
    /// were correct; `None`: not within `max_trials`.
    pub trials_to_criterion: Option<usize>,
    /// Fraction correct over the block's first `window` trials.
    pub first_window_correct: f64,
    /// Fraction correct over its last `window` trials.
    pub last_window_correct: f64,
    /// The coding direction (unit vector over `delay_e`; empty when a side
    /// has no correct trial in the last window).
    #[serde(skip)]
    pub coding_direction: Vec<f64>,
    /// Mean rate of `delay_e` in the preparatory window, Hz.
    pub delay_rate_hz: f64,
    /// Mean spikes per trial of the chosen pool in the response epoch.
    pub winner_spikes: f64,
    /// Mean and largest weight of the plastic projection at the block's end.
    pub plastic_weight_mean_max: (f64, f64),
    /// The readout at the block's end: summed weight from each `delay_e`
    /// neuron (rows) to each output neuron (columns: `left`, then `right`).
    #[serde(skip)]
    pub readout: Vec<f64>,
}

/// One seed's run.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Its blocks.
    pub blocks: Vec<Block>,
    /// Every trial.
    #[serde(skip)]
    pub trials: Vec<Trial>,
    /// The preparatory activity of every trial (`delay_e` spike counts).
    #[serde(skip)]
    pub preparatory: Vec<Vec<u32>>,
    /// cos(CD of block 0, CD of block 1): context 1 against context 2.
    pub cos_between_contexts: f64,
    /// cos(CD of block 0, CD of block 2): context 1 across days.
    pub cos_within_context1: f64,
    /// cos(CD of block 1, CD of block 3): context 2 across days.
    pub cos_within_context2: f64,
    /// Fraction of block 2's (context 1') trials whose target side block
    /// 0's CD decodes.
    pub decode_context1_again: f64,
    /// Fraction of block 1's (context 2) trials whose target side block 0's
    /// CD decodes.
    pub decode_context2: f64,
    /// Trials to criterion of 1' over those of 1 (`None` when one is missing).
    pub relearning_ratio: Option<f64>,
    /// The readout's margin for each context at the end of each block,
    /// split by neuron class (see [`ReadoutMargins`]).
    pub readout_margins: Vec<ReadoutMargins>,
    /// Wall time, s.
    pub wall_s: f64,
}

/// How much of the readout's preference for the right answer comes from
/// which delay neurons, at the end of a block. A context's margin is
/// `sum_i (r_i(left cue) - r_i(right cue)) (wL_i - wR_i)` over `delay_e`,
/// with `r` the neuron's mean preparatory rate for that context and cue
/// over the whole run (Hz) and `wL`, `wR` its summed weights onto each pool
/// (mV): positive when the readout favours the right answer. Neurons are
/// "active" in a context above 2 Hz for either cue; "shared" when active
/// in both contexts, "specific" when active in this one only.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReadoutMargins {
    /// Block index.
    pub block: usize,
    /// Context 1's margin from shared and from context-1-only neurons.
    pub context1_shared_specific: (f64, f64),
    /// Context 2's margin from shared and from context-2-only neurons.
    pub context2_shared_specific: (f64, f64),
    /// Neurons active in context 1 only, in context 2 only, in both.
    pub neurons_1_2_shared: (usize, usize, usize),
}

/// The margins of every block (see [`ReadoutMargins`]).
fn readout_margins(
    blocks: &[Block],
    trials: &[Trial],
    preparatory: &[Vec<u32>],
    cd_ms: f64,
    n_left: usize,
) -> Vec<ReadoutMargins> {
    let n = preparatory.first().map_or(0, Vec::len);
    // Mean rate per (context, cue).
    let mut sums = vec![vec![0.0; n]; 4];
    let mut counts = [0usize; 4];
    for (t, p) in trials.iter().zip(preparatory) {
        let k = 2 * usize::from(t.context - 1) + usize::from(t.cue_b);
        counts[k] += 1;
        for (s, &c) in sums[k].iter_mut().zip(p) {
            *s += c as f64;
        }
    }
    let rate = |k: usize, i: usize| sums[k][i] / counts[k].max(1) as f64 / (cd_ms * 1e-3);
    let active = |ctx: usize, i: usize| rate(2 * ctx, i) > 2.0 || rate(2 * ctx + 1, i) > 2.0;
    let class: Vec<(bool, bool)> = (0..n).map(|i| (active(0, i), active(1, i))).collect();
    let neurons = (
        class.iter().filter(|c| **c == (true, false)).count(),
        class.iter().filter(|c| **c == (false, true)).count(),
        class.iter().filter(|c| **c == (true, true)).count(),
    );
    blocks
        .iter()
        .enumerate()
        .map(|(b, block)| {
            let n_out = block.readout.len().checked_div(n).unwrap_or(0);
            let pref = |i: usize| {
                let row = &block.readout[i * n_out..(i + 1) * n_out];
                row[..n_left].iter().sum::<f64>() - row[n_left..].iter().sum::<f64>()
            };
            // Context 1: cue A (k = 0) asks for left; context 2: cue B (k = 3).
            let margin = |ctx: usize| {
                let (left_cue, right_cue) = if ctx == 0 { (0, 1) } else { (3, 2) };
                let (mut shared, mut specific) = (0.0, 0.0);
                for (i, &(in1, in2)) in class.iter().enumerate() {
                    let here = if ctx == 0 { in1 } else { in2 };
                    if !here {
                        continue;
                    }
                    let m = (rate(left_cue, i) - rate(right_cue, i)) * pref(i);
                    if in1 && in2 {
                        shared += m;
                    } else {
                        specific += m;
                    }
                }
                (shared, specific)
            };
            ReadoutMargins {
                block: b,
                context1_shared_specific: margin(0),
                context2_shared_specific: margin(1),
                neurons_1_2_shared: neurons,
            }
        })
        .collect()
}

/// One criterion over all seeds.
#[derive(Debug, Clone, Serialize)]
pub struct CriterionResult {
    /// What it asks.
    pub name: String,
    /// Seeds that meet it.
    pub seeds_passing: usize,
    /// Seeds run.
    pub seeds: usize,
    /// The values, per seed, as text.
    pub values: String,
}

impl CriterionResult {
    /// Every seed meets it.
    pub fn passed(&self) -> bool {
        self.seeds > 0 && self.seeds_passing == self.seeds
    }
}

/// The whole experiment.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResult {
    /// Trials and blocks.
    pub protocol: Protocol,
    /// The criteria's thresholds.
    pub thresholds: Criteria,
    /// Per seed.
    pub seeds: Vec<SeedResult>,
    /// The criteria.
    pub criteria: Vec<CriterionResult>,
    /// Wall time of the whole experiment, s.
    pub wall_s: f64,
}

/// What can go wrong (the errors every trial loop shares).
pub type ContextError = crate::trial_loop::TrialLoopError;

impl Protocol {
    /// Checks the protocol; with `dt`, also that its durations are on the
    /// network's step grid.
    pub fn validate(&self, dt: Option<f64>) -> Result<(), ContextError> {
        let bad = |m: String| Err(ContextError::Protocol(m));
        for (name, v) in [
            ("prep_ms", self.prep_ms),
            ("cd_ms", self.cd_ms),
            ("response_ms", self.response_ms),
            ("iti_ms", self.iti_ms),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} = {v} ms: must be a positive duration"));
            }
            let Some(dt) = dt else { continue };
            if v < dt {
                return bad(format!(
                    "{name} = {v} ms: must be at least one step ({dt} ms)"
                ));
            }
            if ((v / dt).round() * dt - v).abs() > 1e-9 * v.max(1.0) {
                return bad(format!(
                    "{name} = {v} ms: not a multiple of the step dt = {dt} ms"
                ));
            }
        }
        if self.cd_ms > self.prep_ms {
            return bad(format!(
                "cd_ms = {} ms is longer than the preparatory period prep_ms = {} ms",
                self.cd_ms, self.prep_ms
            ));
        }
        if self.window == 0 || self.max_trials < self.window {
            return bad(format!(
                "window = {} trials, max_trials = {}: need 1 <= window <= max_trials",
                self.window, self.max_trials
            ));
        }
        if !(self.critic_trials.is_finite() && self.critic_trials >= 1.0) {
            return bad(format!(
                "critic_trials = {}: must be at least 1",
                self.critic_trials
            ));
        }
        if !(self.dip_ms.is_finite() && self.dip_ms >= 0.0 && self.dip_ms <= self.iti_ms) {
            return bad(format!(
                "dip_ms = {} ms: must be in [0, iti_ms = {} ms]",
                self.dip_ms, self.iti_ms
            ));
        }
        if !(self.criterion > 0.0 && self.criterion <= 1.0) {
            return bad(format!("criterion = {}: must be in (0, 1]", self.criterion));
        }
        if self.blocks.is_empty() || self.blocks.iter().any(|&c| c != 1 && c != 2) {
            return bad(format!(
                "blocks = {:?}: a non-empty list of contexts 1 and 2",
                self.blocks
            ));
        }
        for (name, v) in [
            ("gap.weight_decay", self.gap.weight_decay),
            ("gap.weight_noise", self.gap.weight_noise),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(format!("{name} = {v}: must be in [0, 1]"));
            }
        }
        Ok(())
    }
}

/// Where the trial loop finds what it drives and reads.
struct Wiring {
    /// Stimuli of cue_a, cue_b, ctx1, ctx2, go, DA (tonic): index and rate
    /// when on (Hz).
    inputs: [(usize, f64); 6],
    delay_e: std::ops::Range<usize>,
    left: std::ops::Range<usize>,
    right: std::ops::Range<usize>,
    da: std::ops::Range<u32>,
    plastic: usize,
}

fn wiring(net: &Network, file: &str) -> Result<Wiring, ContextError> {
    let missing = |what: String| ContextError::Circuit {
        file: file.to_string(),
        what,
    };
    let range = |name: &str| {
        net.population_range(name)
            .ok_or_else(|| missing(format!("no population `{name}` (the trial loop needs cue_a, cue_b, ctx1, ctx2, delay_e, left, right, DA)")))
    };
    let stimulus_of = |ranges: &[std::ops::Range<usize>], what: &str| {
        net.poisson_stimulus_of(ranges).ok_or_else(|| {
            missing(format!(
                "no Poisson stimulus whose targets are exactly {what}"
            ))
        })
    };
    let (left, right) = (range("left")?, range("right")?);
    let inputs = [
        stimulus_of(&[range("cue_a")?], "`cue_a`")?,
        stimulus_of(&[range("cue_b")?], "`cue_b`")?,
        stimulus_of(&[range("ctx1")?], "`ctx1`")?,
        stimulus_of(&[range("ctx2")?], "`ctx2`")?,
        stimulus_of(
            &[left.clone(), right.clone()],
            "`left` and `right` (the go cue)",
        )?,
        stimulus_of(&[range("DA")?], "`DA` (tonic dopamine)")?,
    ];
    let out_pops: Vec<usize> = ["left", "right"]
        .iter()
        .filter_map(|n| net.populations.iter().position(|p| p.name == *n))
        .collect();
    let plastic = net
        .projections
        .iter()
        .position(|p| p.dopamine.is_some() && p.to.iter().any(|t| out_pops.contains(t)))
        .ok_or_else(|| missing("no stdp_dopamine projection into `left` or `right`".into()))?;
    let da = range("DA")?;
    Ok(Wiring {
        inputs,
        delay_e: range("delay_e")?,
        left,
        right,
        da: da.start as u32..da.end as u32,
        plastic,
    })
}

/// Runs one seed.
pub fn run_seed(
    path: &Path,
    overrides: &[Override],
    seed: u64,
    backend: Backend,
    protocol: &Protocol,
) -> Result<SeedResult, ContextError> {
    let started = Instant::now();
    let file = path.display().to_string();
    let net = crate::trial_loop::build_seeded(path, overrides, seed)
        .map_err(ContextError::Description)?;
    protocol.validate(Some(net.dt))?;
    let w = wiring(&net, &file)?;
    let dt = net.dt;
    // Every duration is on the step grid (Protocol::validate).
    let steps = |ms: f64| (ms / dt).round() as u64;
    let trial_steps =
        steps(protocol.prep_ms) + steps(protocol.response_ms) + steps(protocol.iti_ms);
    let most = trial_steps * (protocol.max_trials * protocol.blocks.len()) as u64;
    if net.steps < most {
        return Err(ContextError::Circuit {
            file,
            what: format!(
                "run.duration = {} ms is shorter than the longest the protocol may take ({} blocks of at most {} trials of {} ms = {} ms)",
                net.steps as f64 * dt,
                protocol.blocks.len(),
                protocol.max_trials,
                trial_steps as f64 * dt,
                most as f64 * dt
            ),
        });
    }
    // The loop reads the readout's weights between trials (the overnight
    // gap, the block's readout). stdp_dopamine weights are brought up to
    // date at its volume transmitter's triggers, so trials must end on one:
    // otherwise a gap would overwrite the changes since the last trigger.
    if let Some(d) = net.projections[w.plastic].dopamine {
        let trigger = u64::from(d.deliver_interval) * net.min_delay;
        if trigger > 0 && !trial_steps.is_multiple_of(trigger) {
            return Err(ContextError::Circuit {
                file,
                what: format!(
                    "a trial of {} ms (prep_ms + response_ms + iti_ms) is not a multiple of the readout's dopamine update interval (deliver_interval {} x the minimum delay = {} ms): the weights read between blocks would miss the changes since the last update",
                    trial_steps as f64 * dt,
                    d.deliver_interval,
                    trigger as f64 * dt
                ),
            });
        }
    }
    let net = Arc::new(net);
    let opts = RunOptions::one_of_many(backend, None);
    let mut engine = make_engine(Arc::clone(&net), &opts).map_err(|source| ContextError::Run {
        seed,
        source: Box::new(source),
    })?;
    let eng = |source: EngineError| ContextError::Engine { seed, source };
    let mut chunk = Chunk::default();
    let mut advance = |engine: &mut Box<dyn Engine + Send>, ms: f64| {
        if steps(ms) == 0 {
            return Ok(());
        }
        chunk.spikes.clear();
        chunk.samples.clear();
        engine.advance(steps(ms), &mut chunk)
    };
    for &(stim, _) in &w.inputs[..5] {
        engine.set_stimulus_rate(stim, 0.0).map_err(eng)?;
    }
    let tonic = w.inputs[5];
    // The critic: the expected reward, an exponential average over trials,
    // one for all trials or one per state (context x cue).
    let mut expected = [[0.5; 2]; 3];
    let all_weights0 = engine.synapse_weights().map_err(eng)?;
    let synapse_ids = crate::engine::projection_synapses(&net, w.plastic);
    let mut draws = Stream::new(seed, stream_id(Purpose::Trial, 0), 0);
    let mut trials = Vec::new();
    let mut preparatory = Vec::new();
    let mut blocks = Vec::new();
    for (b, &context) in protocol.blocks.iter().enumerate() {
        if b > 0 {
            let now = engine.synapse_weights().map_err(eng)?;
            if let Some(ws) = overnight_weights(
                &net,
                seed,
                b as u64 - 1,
                w.plastic,
                &all_weights0,
                &now,
                protocol.gap,
            ) {
                engine.set_projection_weights(w.plastic, &ws).map_err(eng)?;
            }
        }
        let first = trials.len();
        let mut reached = None;
        let mut correct_run = std::collections::VecDeque::new();
        let mut correct_in_window = 0usize;
        let (mut delay_spikes, mut winner_spikes) = (0u64, 0u64);
        for t in 0..protocol.max_trials {
            let cue_b = draws.below(2) == 1;
            let (cue, ctx, go) = (
                w.inputs[usize::from(cue_b)],
                w.inputs[2 + usize::from(context - 1)],
                w.inputs[4],
            );
            engine.set_stimulus_rate(cue.0, cue.1).map_err(eng)?;
            engine.set_stimulus_rate(ctx.0, ctx.1).map_err(eng)?;
            advance(&mut engine, protocol.prep_ms - protocol.cd_ms).map_err(eng)?;
            let before = engine.spike_counts();
            advance(&mut engine, protocol.cd_ms).map_err(eng)?;
            let after = engine.spike_counts();
            let prep: Vec<u32> = w
                .delay_e
                .clone()
                .map(|i| (after[i] - before[i]) as u32)
                .collect();
            delay_spikes += prep.iter().map(|&c| c as u64).sum::<u64>();
            engine.set_stimulus_rate(go.0, go.1).map_err(eng)?;
            // A race: the first pool to reach `decision_spikes` is the
            // choice and ends the response epoch; with none by its end
            // (or decision_spikes = 0), the pool with more spikes.
            let response_steps = steps(protocol.response_ms);
            let (mut l, mut r) = (0, 0);
            let mut elapsed = 0;
            while elapsed < response_steps {
                let stride = if protocol.decision_spikes == 0 {
                    response_steps
                } else {
                    1
                };
                advance(&mut engine, stride as f64 * dt).map_err(eng)?;
                elapsed += stride;
                let now = engine.spike_counts();
                let count =
                    |r: &std::ops::Range<usize>| r.clone().map(|i| now[i] - after[i]).sum::<u64>();
                (l, r) = (count(&w.left), count(&w.right));
                if protocol.decision_spikes > 0 && l.max(r) >= protocol.decision_spikes {
                    break;
                }
            }
            let rest_of_response = (response_steps - elapsed) as f64 * dt;
            let choice = match l.cmp(&r) {
                std::cmp::Ordering::Greater => Some(Side::Left),
                std::cmp::Ordering::Less => Some(Side::Right),
                std::cmp::Ordering::Equal => None,
            };
            winner_spikes += l.max(r);
            let target = target_side(context, cue_b);
            let correct = choice == Some(target);
            for stim in [cue, ctx, go] {
                engine.set_stimulus_rate(stim.0, 0.0).map_err(eng)?;
            }
            // Dopamine carries the reward prediction error: a burst of
            // round(error x DA neurons) spikes, or a pause of the tonic
            // firing (error x dip_ms) after a worse than expected trial.
            let value = match protocol.critic {
                Critic::Global => &mut expected[0][0],
                Critic::PerState => &mut expected[usize::from(context)][usize::from(cue_b)],
            };
            let error = f64::from(u8::from(correct)) - *value;
            *value += error / protocol.critic_trials;
            let mut dip = 0.0;
            if error > 0.0 {
                let k = (error * w.da.len() as f64).round() as u32;
                for n in w.da.start..w.da.start + k {
                    engine.inject_input(n, 1000.0).map_err(eng)?;
                }
            } else if error < 0.0 {
                dip = (-error * protocol.dip_ms / dt).round() * dt;
            }
            if dip > 0.0 {
                engine.set_stimulus_rate(tonic.0, 0.0).map_err(eng)?;
                advance(&mut engine, dip).map_err(eng)?;
                engine.set_stimulus_rate(tonic.0, tonic.1).map_err(eng)?;
            }
            if protocol.iti_ms + rest_of_response - dip > 0.0 {
                advance(&mut engine, protocol.iti_ms + rest_of_response - dip).map_err(eng)?;
            }
            trials.push(Trial {
                block: b,
                context,
                cue_b,
                target,
                choice,
                counts: (l, r),
                correct,
            });
            preparatory.push(prep);
            correct_run.push_back(correct);
            correct_in_window += usize::from(correct);
            if correct_run.len() > protocol.window {
                correct_in_window -= usize::from(correct_run.pop_front().unwrap());
            }
            if correct_run.len() == protocol.window
                && correct_in_window as f64 >= protocol.criterion * protocol.window as f64
            {
                reached = Some(t + 1);
                break;
            }
        }
        let ws = engine.projection_weights(w.plastic).map_err(eng)?;
        let mut readout = vec![0.0; w.delay_e.len() * (w.left.len() + w.right.len())];
        let n_out = w.left.len() + w.right.len();
        for (&k, &wk) in synapse_ids.iter().zip(&ws) {
            let src = source_of(&net, k);
            let tgt = net.synapses.target[k] as usize;
            // Columns: the left pool, then the right pool.
            let column = if w.left.contains(&tgt) {
                tgt - w.left.start
            } else if w.right.contains(&tgt) {
                w.left.len() + tgt - w.right.start
            } else {
                continue;
            };
            if w.delay_e.contains(&src) {
                readout[(src - w.delay_e.start) * n_out + column] += wk;
            }
        }
        let plastic_weight_mean_max = (
            ws.iter().sum::<f64>() / ws.len().max(1) as f64,
            ws.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        let block_trials = &trials[first..];
        let n = block_trials.len();
        let frac =
            |ts: &[Trial]| ts.iter().filter(|t| t.correct).count() as f64 / ts.len().max(1) as f64;
        let last = n.saturating_sub(protocol.window);
        let cd = coding_direction(&block_trials[last..], &preparatory[first + last..]);
        blocks.push(Block {
            context,
            trials: n,
            trials_to_criterion: reached,
            first_window_correct: frac(&block_trials[..n.min(protocol.window)]),
            last_window_correct: frac(&block_trials[last..]),
            coding_direction: cd,
            delay_rate_hz: delay_spikes as f64
                / (n * w.delay_e.len()) as f64
                / (protocol.cd_ms * 1e-3),
            winner_spikes: winner_spikes as f64 / n as f64,
            plastic_weight_mean_max,
            readout,
        });
    }
    let cd = |b: usize| blocks.get(b).map(|x: &Block| x.coding_direction.as_slice());
    let cos = |a: usize, b: usize| match (cd(a), cd(b)) {
        (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() => cosine(x, y),
        _ => f64::NAN,
    };
    let decode = |block: usize| {
        let (Some(b0), Some(_)) = (blocks.first(), blocks.get(block)) else {
            return f64::NAN;
        };
        let n0 = b0.trials;
        let train = n0.saturating_sub(protocol.window)..n0;
        let Some(dec) = Decoder::fit(
            &b0.coding_direction,
            &trials[train.clone()],
            &preparatory[train],
        ) else {
            return f64::NAN;
        };
        let idx: Vec<usize> = (0..trials.len())
            .filter(|&i| trials[i].block == block)
            .collect();
        idx.iter()
            .filter(|&&i| dec.side(&preparatory[i]) == trials[i].target)
            .count() as f64
            / idx.len().max(1) as f64
    };
    let ttc = |b: usize| blocks.get(b).and_then(|x| x.trials_to_criterion);
    let relearning_ratio = match (ttc(0), ttc(2)) {
        (Some(a), Some(c)) => Some(c as f64 / a as f64),
        _ => None,
    };
    let readout_margins =
        readout_margins(&blocks, &trials, &preparatory, protocol.cd_ms, w.left.len());
    Ok(SeedResult {
        seed,
        readout_margins,
        cos_between_contexts: cos(0, 1),
        cos_within_context1: cos(0, 2),
        cos_within_context2: cos(1, 3),
        decode_context1_again: decode(2),
        decode_context2: decode(1),
        relearning_ratio,
        blocks,
        trials,
        preparatory,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// The source neuron of synapse `k`.
pub(crate) fn source_of(net: &Network, k: usize) -> usize {
    net.synapses.row_start.partition_point(|&s| s <= k as u64) - 1
}

/// Mean preparatory activity of correct right-target trials minus that of
/// correct left-target trials, normalised; empty when a side has none or
/// the difference is zero.
pub fn coding_direction(trials: &[Trial], preparatory: &[Vec<u32>]) -> Vec<f64> {
    let Some(n) = preparatory.first().map(Vec::len) else {
        return Vec::new();
    };
    let mut sums = [vec![0.0; n], vec![0.0; n]];
    let mut counts = [0usize; 2];
    for (t, p) in trials.iter().zip(preparatory) {
        if !t.correct {
            continue;
        }
        let k = usize::from(t.target == Side::Right);
        counts[k] += 1;
        for (s, &c) in sums[k].iter_mut().zip(p) {
            *s += c as f64;
        }
    }
    if counts.contains(&0) {
        return Vec::new();
    }
    let d: Vec<f64> = (0..n)
        .map(|i| sums[1][i] / counts[1] as f64 - sums[0][i] / counts[0] as f64)
        .collect();
    let norm = d.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Vec::new();
    }
    d.into_iter().map(|x| x / norm).collect()
}

/// Cosine of two vectors (NaN when one is zero).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// A coding direction with a threshold: right when the projection is above it.
pub struct Decoder {
    direction: Vec<f64>,
    threshold: f64,
}

impl Decoder {
    /// The threshold half way between the mean projections of the correct
    /// right- and left-target trials; `None` when a side has none.
    pub fn fit(direction: &[f64], trials: &[Trial], preparatory: &[Vec<u32>]) -> Option<Self> {
        if direction.is_empty() {
            return None;
        }
        let mut sums = [0.0; 2];
        let mut counts = [0usize; 2];
        for (t, p) in trials.iter().zip(preparatory) {
            if t.correct {
                let k = usize::from(t.target == Side::Right);
                sums[k] += project(direction, p);
                counts[k] += 1;
            }
        }
        if counts.contains(&0) {
            return None;
        }
        Some(Self {
            direction: direction.to_vec(),
            threshold: 0.5 * (sums[0] / counts[0] as f64 + sums[1] / counts[1] as f64),
        })
    }

    /// The side a trial's preparatory activity decodes to.
    pub fn side(&self, preparatory: &[u32]) -> Side {
        if project(&self.direction, preparatory) > self.threshold {
            Side::Right
        } else {
            Side::Left
        }
    }
}

fn project(direction: &[f64], counts: &[u32]) -> f64 {
    direction
        .iter()
        .zip(counts)
        .map(|(d, &c)| d * c as f64)
        .sum()
}

/// The criteria of EXPERIMENTS.md §3 over the seeds.
pub fn evaluate(seeds: &[SeedResult], c: &Criteria) -> Vec<CriterionResult> {
    let crit = |name: String,
                pass: &dyn Fn(&SeedResult) -> bool,
                value: &dyn Fn(&SeedResult) -> String| {
        CriterionResult {
            name,
            seeds_passing: seeds.iter().filter(|s| pass(s)).count(),
            seeds: seeds.len(),
            values: seeds.iter().map(value).collect::<Vec<_>>().join(" "),
        }
    };
    let f2 = |x: f64| format!("{x:.2}");
    vec![
        crit(
            "every block reaches the switch rule".into(),
            &|s| s.blocks.iter().all(|b| b.trials_to_criterion.is_some()),
            &|s| {
                s.blocks
                    .iter()
                    .map(|b| b.trials_to_criterion.map_or("-".into(), |t| t.to_string()))
                    .collect::<Vec<_>>()
                    .join("/")
            },
        ),
        crit(
            format!(
                "contexts' CDs nearly orthogonal: cos(1, 2) < {}",
                c.orthogonal_below
            ),
            &|s| s.cos_between_contexts < c.orthogonal_below,
            &|s| f2(s.cos_between_contexts),
        ),
        crit(
            format!(
                "CD stable within a context across days: cos(1, 1') and cos(2, 2') > {}",
                c.stable_above
            ),
            &|s| s.cos_within_context1 > c.stable_above && s.cos_within_context2 > c.stable_above,
            &|s| {
                format!(
                    "{}/{}",
                    f2(s.cos_within_context1),
                    f2(s.cos_within_context2)
                )
            },
        ),
        crit(
            format!(
                "relearning: trials to criterion of 1' <= {} x those of 1",
                c.relearning_at_most
            ),
            &|s| {
                s.relearning_ratio
                    .is_some_and(|r| r <= c.relearning_at_most)
            },
            &|s| s.relearning_ratio.map_or("-".into(), f2),
        ),
        crit(
            "CD of 1 decodes 1' better than 2".into(),
            &|s| s.decode_context1_again > s.decode_context2,
            &|s| format!("{}>{}", f2(s.decode_context1_again), f2(s.decode_context2)),
        ),
    ]
}

/// Runs every seed (in parallel) and evaluates the criteria; writes the
/// outputs when `out_dir` is set.
pub fn run_experiment(opts: &ExperimentOptions) -> Result<ExperimentResult, ContextError> {
    let started = Instant::now();
    opts.protocol.validate(None)?;
    let seeds = crate::trial_loop::run_seeds(
        &opts.seeds,
        opts.parallel,
        opts.progress,
        |seed| {
            run_seed(
                &opts.description,
                &opts.overrides,
                seed,
                opts.backend,
                &opts.protocol,
            )
        },
        |s: &SeedResult| {
            format!(
                "trials to criterion {} ({:.0} s)",
                s.blocks
                    .iter()
                    .map(|b| b.trials_to_criterion.map_or("-".into(), |t| t.to_string()))
                    .collect::<Vec<_>>()
                    .join(" / "),
                s.wall_s
            )
        },
    )?;
    let thresholds = Criteria::default();
    let result = ExperimentResult {
        protocol: opts.protocol.clone(),
        thresholds,
        criteria: evaluate(&seeds, &thresholds),
        seeds,
        wall_s: started.elapsed().as_secs_f64(),
    };
    if let Some(dir) = &opts.out_dir {
        write_outputs(dir, &result)?;
    }
    Ok(result)
}

impl ExperimentResult {
    /// Every criterion holds for every seed.
    pub fn passed(&self) -> bool {
        self.criteria.iter().all(CriterionResult::passed)
    }

    /// The table: a row per seed, then the criteria.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let ctx: Vec<String> = self
            .protocol
            .blocks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let again = self.protocol.blocks[..i].contains(c);
                format!("ctx{c}{}", if again { "'" } else { "" })
            })
            .collect();
        let _ = write!(s, "{:>5}", "seed");
        for c in &ctx {
            let _ = write!(s, " {c:>6}");
        }
        let _ = writeln!(
            s,
            " {:>7} {:>8} {:>8} {:>8} {:>7} {:>7}",
            "1'/1", "cos(1,2)", "cos(1,1')", "cos(2,2')", "dec 1'", "dec 2"
        );
        let f = |x: f64| {
            if x.is_nan() {
                "-".to_string()
            } else {
                format!("{x:.2}")
            }
        };
        for r in &self.seeds {
            let _ = write!(s, "{:>5}", r.seed);
            for b in &r.blocks {
                let t = b
                    .trials_to_criterion
                    .map_or(format!(">{}", b.trials), |t| t.to_string());
                let _ = write!(s, " {t:>6}");
            }
            let _ = writeln!(
                s,
                " {:>7} {:>8} {:>8} {:>8} {:>7} {:>7}",
                r.relearning_ratio.map_or("-".into(), f),
                f(r.cos_between_contexts),
                f(r.cos_within_context1),
                f(r.cos_within_context2),
                f(r.decode_context1_again),
                f(r.decode_context2)
            );
        }
        let _ = writeln!(
            s,
            "(trials to {:.0} % correct over {} trials, per block)",
            self.protocol.criterion * 100.0,
            self.protocol.window
        );
        let _ = writeln!(s);
        for c in &self.criteria {
            let _ = writeln!(
                s,
                "{} {} ({}/{} seeds: {})",
                if c.passed() { "PASS" } else { "FAIL" },
                c.name,
                c.seeds_passing,
                c.seeds,
                c.values
            );
        }
        s
    }
}

fn write_outputs(dir: &Path, result: &ExperimentResult) -> Result<(), ContextError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| ContextError::Output {
            path,
            message: e.to_string(),
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let summary = dir.join("summary.json");
    let text = serde_json::to_string_pretty(result).map_err(|e| ContextError::Output {
        path: summary.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&summary, text).map_err(io(&summary))?;
    let table = dir.join("table.txt");
    std::fs::write(&table, result.table()).map_err(io(&table))?;
    for r in &result.seeds {
        let csv = dir.join(format!("trials_seed{}.csv", r.seed));
        let mut text = String::from(
            "trial,block,context,cue,target,choice,left_spikes,right_spikes,correct\n",
        );
        for (i, t) in r.trials.iter().enumerate() {
            let side = |s: Option<Side>| match s {
                Some(Side::Left) => "left",
                Some(Side::Right) => "right",
                None => "none",
            };
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                i + 1,
                t.block,
                t.context,
                if t.cue_b { "B" } else { "A" },
                side(Some(t.target)),
                side(t.choice),
                t.counts.0,
                t.counts.1,
                u8::from(t.correct)
            ));
        }
        std::fs::write(&csv, text).map_err(io(&csv))?;
        let npy = dir.join(format!("preparatory_seed{}.npy", r.seed));
        let n = r.preparatory.first().map_or(0, Vec::len);
        let mut w = crate::output::npy::NpyWriter::<u32>::create(&npy, &[n]).map_err(io(&npy))?;
        for p in &r.preparatory {
            w.append(p).map_err(io(&npy))?;
        }
        w.flush().map_err(io(&npy))?;
        let cds = dir.join(format!("coding_directions_seed{}.npy", r.seed));
        let mut w = crate::output::npy::NpyWriter::<f64>::create(&cds, &[n]).map_err(io(&cds))?;
        for b in &r.blocks {
            if b.coding_direction.len() == n {
                w.append(&b.coding_direction).map_err(io(&cds))?;
            } else {
                w.append(&vec![f64::NAN; n]).map_err(io(&cds))?;
            }
        }
        w.flush().map_err(io(&cds))?;
        let readout = dir.join(format!("readout_seed{}.npy", r.seed));
        let m = r.blocks.first().map_or(0, |b| b.readout.len());
        let mut w =
            crate::output::npy::NpyWriter::<f64>::create(&readout, &[m]).map_err(io(&readout))?;
        for b in &r.blocks {
            w.append(&b.readout).map_err(io(&readout))?;
        }
        w.flush().map_err(io(&readout))?;
    }
    let figure = dir.join("figure.png");
    crate::output::plot_context::plot_context(&figure, result).map_err(|message| {
        ContextError::Output {
            path: figure.clone(),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(target: Side, correct: bool) -> Trial {
        Trial {
            block: 0,
            context: 1,
            cue_b: target == Side::Right,
            target,
            choice: Some(if correct {
                target
            } else if target == Side::Left {
                Side::Right
            } else {
                Side::Left
            }),
            counts: (0, 0),
            correct,
        }
    }

    #[test]
    fn the_coding_direction_is_the_normalised_right_minus_left_mean_of_correct_trials() {
        let trials = [
            trial(Side::Right, true),
            trial(Side::Right, true),
            trial(Side::Left, true),
            trial(Side::Left, false), // an error: left out
        ];
        let prep = vec![
            vec![4, 0, 1],
            vec![2, 0, 1],
            vec![0, 3, 1],
            vec![100, 100, 100],
        ];
        let cd = coding_direction(&trials, &prep);
        // right mean (3, 0, 1) - left mean (0, 3, 1) = (3, -3, 0) / sqrt(18)
        let s = 1.0 / 2f64.sqrt();
        for (x, want) in cd.iter().zip([s, -s, 0.0]) {
            assert!((x - want).abs() < 1e-12, "{cd:?}");
        }
        assert!(
            coding_direction(&trials[..2], &prep[..2]).is_empty(),
            "no left trial"
        );
        let dec = Decoder::fit(&cd, &trials, &prep).unwrap();
        assert_eq!(dec.side(&[5, 0, 0]), Side::Right);
        assert_eq!(dec.side(&[0, 5, 0]), Side::Left);
        assert!(Decoder::fit(&[], &trials, &prep).is_none());
    }

    #[test]
    fn cosines_and_the_mapping() {
        assert!((cosine(&[1.0, 0.0], &[0.0, 2.0])).abs() < 1e-12);
        assert!((cosine(&[1.0, 1.0], &[-2.0, -2.0]) + 1.0).abs() < 1e-12);
        assert!(cosine(&[0.0, 0.0], &[1.0, 0.0]).is_nan());
        assert_eq!(target_side(1, false), Side::Left);
        assert_eq!(target_side(1, true), Side::Right);
        assert_eq!(target_side(2, false), Side::Right);
        assert_eq!(target_side(2, true), Side::Left);
        assert_eq!("global".parse::<Critic>(), Ok(Critic::Global));
        assert_eq!("per_state".parse::<Critic>(), Ok(Critic::PerState));
        assert!(
            "td".parse::<Critic>()
                .unwrap_err()
                .contains("global or per_state")
        );
    }

    #[test]
    fn criteria_need_every_seed() {
        let seed = |ratio: Option<f64>, cos12: f64| SeedResult {
            seed: 1,
            blocks: vec![],
            trials: vec![],
            preparatory: vec![],
            cos_between_contexts: cos12,
            cos_within_context1: 0.9,
            cos_within_context2: 0.9,
            decode_context1_again: 0.9,
            decode_context2: 0.1,
            relearning_ratio: ratio,
            readout_margins: vec![],
            wall_s: 0.0,
        };
        let c = Criteria::default();
        let all = evaluate(&[seed(Some(0.5), 0.1), seed(Some(0.8), 0.1)], &c);
        let by = |name: &str| all.iter().find(|x| x.name.starts_with(name)).unwrap();
        assert!(!by("relearning").passed());
        assert_eq!(by("relearning").seeds_passing, 1);
        assert!(by("contexts' CDs").passed());
        assert!(by("CD stable").passed());
        let none = evaluate(&[seed(None, f64::NAN)], &c);
        assert!(
            !none
                .iter()
                .find(|x| x.name.starts_with("contexts'"))
                .unwrap()
                .passed(),
            "NaN cosine passes nothing"
        );
    }
}

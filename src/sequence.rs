//! Motor sequences in clustered ensembles (../shared/EXPERIMENTS.md §4):
//! the trial loop, the phases, the measures and the pass criteria, on the
//! circuit of `examples/sequences.toml` (its header describes the circuit).
//!
//! A sequence is an order of clusters. A *trial* is first the network's
//! own attempt, a *cue test* with plasticity off: only the first element
//! is driven (`drive_ms`), and the clusters' spikes are counted in
//! `bin_ms` bins for `test_ms`. A cluster is *active* in a bin when at
//! least `active_fraction` of its neurons fire in it; its onset is its
//! first active bin. The test *completes* the sequence when every later
//! element has an onset and the onsets follow the sequence's order
//! strictly. After `iti_ms` the sequence is *shown*: its clusters are
//! driven one after the other (`step_ms` apart, `drive_ms` each), which
//! leaves eligibility on the plastic E -> E synapses (positive forward,
//! negative backward). With reward on, `reward_delay_ms` after the last
//! element's onset the DA neurons fire: the reward (1) minus the critic's
//! prediction, the running completion rate of the sequence's attempts
//! (`critic_trials`; by default the prediction is this trial's attempt, so
//! dopamine comes only when the network failed to produce the sequence
//! itself). Then `settle_ms` for the eligibility to decay.
//!
//! The phases of one seed (one network, in order):
//! 1. learn A (c0 c1 c2 c3) to criterion (`criterion` of the last `window`
//!    tests complete), counting trials; the weights are kept aside;
//! 2. learn C (c4 c5 c6 c7, disjoint from A) the same way;
//! 3. `tests` cue tests of A, of C and of a control order never taught
//!    (chance); then both A and C cued together, with the inhibitory
//!    population intact and silenced: co-activation is the fraction of
//!    bins in which a later element of each is active at once;
//! 4. learn B (A reversed) for as many trials as A took; test A again
//!    (interference);
//! 5. sleep: `sleep_ms` with extra noise on every cluster, tonic dopamine
//!    and plasticity on; test A and B;
//! 6. relearning: back to the weights after phase 1, an overnight gap
//!    (weights decay towards their initial values), learn A again to
//!    criterion, counting trials.
//!
//! And, on a second network with the same seed, teaching A for as many
//! trials as phase 1 took with reward off: its completion is the
//! no-reward control.

use crate::build::Network;
use crate::closed_loop::overnight_weights;
use crate::context::source_of;
use crate::description::{GapSpec, Override};
use crate::engine::{Chunk, Engine, EngineError};
use crate::simulation::{Backend, RunError, RunOptions, make_engine};
use serde::Serialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The trial structure and the phases.
#[derive(Debug, Clone, Serialize)]
pub struct Protocol {
    /// Clusters (population names), in the order sequences index them.
    pub clusters: Vec<String>,
    /// Sequence A (cluster indices); B is A reversed.
    pub sequence_a: Vec<usize>,
    /// Sequence C, disjoint from A (the competitor of the co-activation test).
    pub sequence_c: Vec<usize>,
    /// An order of A's clusters that is never taught: chance completion.
    pub control: Vec<usize>,
    /// Onset of one element to the next while teaching, ms.
    pub step_ms: f64,
    /// How long an element is driven (teaching and cue), ms.
    pub drive_ms: f64,
    /// From the last element's onset to the reward, ms.
    pub reward_delay_ms: f64,
    /// From the reward to the cue test (eligibility decays), ms.
    pub settle_ms: f64,
    /// The cue test's observation window, from cue onset, ms.
    pub test_ms: f64,
    /// After the test, ms.
    pub iti_ms: f64,
    /// Bin of the cue test, ms.
    pub bin_ms: f64,
    /// Fraction of a cluster's neurons firing in a bin that makes it active.
    pub active_fraction: f64,
    /// Tests of the sliding window of the learning criterion.
    pub window: usize,
    /// Fraction of those tests completed that ends learning.
    pub criterion: f64,
    /// Learning stops after this many trials even without the criterion.
    pub max_trials: usize,
    /// Cue tests per measurement.
    pub tests: usize,
    /// Sleep, ms.
    pub sleep_ms: f64,
    /// Tonic dopamine during sleep, Hz per DA neuron.
    pub sleep_da_rate: f64,
    /// The gap before relearning.
    pub gap: GapSpec,
    /// Tests over which the critic averages a sequence's completion (its
    /// prediction of the reward; weight 1 / this), this trial's attempt
    /// included; dopamine after a teaching trial is the reward (1) minus
    /// that prediction. 1: the prediction is this trial's own attempt
    /// (no dopamine after a completed attempt, a full burst after a failed
    /// one); 0: no critic, a full burst after every teaching trial.
    pub critic_trials: f64,
}

impl Default for Protocol {
    fn default() -> Self {
        Self {
            clusters: (0..8).map(|k| format!("c{k}_E")).collect(),
            sequence_a: vec![0, 1, 2, 3],
            sequence_c: vec![4, 5, 6, 7],
            control: vec![0, 2, 1, 3],
            step_ms: 20.0,
            drive_ms: 10.0,
            reward_delay_ms: 50.0,
            settle_ms: 600.0,
            test_ms: 200.0,
            iti_ms: 200.0,
            bin_ms: 5.0,
            active_fraction: 0.25,
            window: 10,
            criterion: 0.8,
            max_trials: 300,
            tests: 20,
            sleep_ms: 60_000.0,
            sleep_da_rate: 2.0,
            // Half of what was learned is lost, as in the spinal
            // experiment's night (examples/spinal_conditioning.toml).
            gap: GapSpec {
                weight_decay: 0.5,
                weight_noise: 0.0,
            },
            critic_trials: 1.0,
        }
    }
}

/// The pass criteria of EXPERIMENTS.md §4 (the distal-reward one is
/// `examples/distal_reward`'s).
#[derive(Debug, Clone, Serialize)]
pub struct Criteria {
    /// Completion of A from its cue after learning with reward, at least.
    pub completion: f64,
    /// The no-reward control's completion exceeds chance by at most this.
    pub chance_margin: f64,
    /// Co-activation without inhibition / with it, at least.
    pub coactivation_ratio: f64,
    /// A's completion after learning B / before, at most.
    pub interference: f64,
    /// A's completion after sleep / before B, at least.
    pub sleep_restores: f64,
    /// B's completion after sleep / before sleep, at least.
    pub sleep_keeps_b: f64,
    /// Trials to relearn A after the gap / to learn it first, at most.
    pub relearning: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Self {
            completion: 0.8,
            chance_margin: 0.1,
            coactivation_ratio: 2.0,
            interference: 0.7,
            sleep_restores: 0.8,
            sleep_keeps_b: 0.8,
            relearning: 0.5,
        }
    }
}

/// One learning phase.
#[derive(Debug, Clone, Serialize)]
pub struct Learning {
    /// What was taught.
    pub sequence: Vec<usize>,
    /// Whether dopamine followed each trial.
    pub rewarded: bool,
    /// Each trial's cue test: completed or not.
    pub completed: Vec<bool>,
    /// Each trial's dopamine: DA neurons that fired (none without reward).
    pub dopamine: Vec<u32>,
    /// Trials to criterion (None: not reached).
    pub trials_to_criterion: Option<usize>,
    /// Mean and largest plastic weight at the end, mV.
    pub weights_mean_max: (f64, f64),
    /// Mean plastic weight along the sequence's forward links and along its
    /// backward links (cluster to next / to previous), mV.
    pub forward_backward: (f64, f64),
}

/// Everything measured on one seed.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Phase 1: A.
    pub learn_a: Learning,
    /// Phase 2: C.
    pub learn_c: Learning,
    /// Completion of A, C and the control order after phases 1-2.
    pub completion_a: f64,
    /// C's.
    pub completion_c: f64,
    /// The never-taught order's (chance).
    pub completion_control: f64,
    /// Co-activation of A and C cued together, inhibition intact.
    pub coactivation: f64,
    /// The same with the inhibitory population silenced.
    pub coactivation_no_inhibition: f64,
    /// Phase 4: B.
    pub learn_b: Learning,
    /// A's completion after B.
    pub completion_a_after_b: f64,
    /// B's completion before sleep.
    pub completion_b: f64,
    /// A's completion after sleep.
    pub completion_a_after_sleep: f64,
    /// B's completion after sleep.
    pub completion_b_after_sleep: f64,
    /// A's completion after the gap, before relearning.
    pub completion_a_after_gap: f64,
    /// Phase 6: relearning A.
    pub relearn_a: Learning,
    /// The no-reward control: teaching A without dopamine.
    pub no_reward: Learning,
    /// A's completion on the no-reward network.
    pub completion_no_reward: f64,
    /// Spike rasters of example cue tests: (label, [(ms from the cue,
    /// row)]); a row is the cluster's index plus the neuron's place in it
    /// (from -0.45 to 0.45).
    pub rasters: Vec<(String, Vec<(f64, f64)>)>,
    /// Wall time, s.
    pub wall_s: f64,
}

/// One criterion over seeds: the spinal experiment's type.
pub use crate::spinal::CriterionResult;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// The description could not be loaded or built.
    #[error("{0}")]
    Description(String),
    /// The description lacks what the loop needs.
    #[error("{file}: {what}")]
    Circuit {
        /// The description.
        file: String,
        /// What is missing or wrong.
        what: String,
    },
    /// An impossible protocol.
    #[error("sequence protocol: `{key}` {problem}")]
    Protocol {
        /// The field.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The engine could not be made.
    #[error("seed {seed}: {source}")]
    Run {
        /// Seed.
        seed: u64,
        /// Cause.
        source: Box<RunError>,
    },
    /// The engine failed.
    #[error("seed {seed}: {source}")]
    Engine {
        /// Seed.
        seed: u64,
        /// Cause.
        source: EngineError,
    },
    /// Outputs could not be written.
    #[error("{path}: {source}")]
    Output {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl Protocol {
    /// Checks the protocol (and, given the network's step, that every
    /// duration is on its grid).
    pub fn validate(&self, dt: Option<f64>) -> Result<(), SequenceError> {
        let bad = |key, problem: String| Err(SequenceError::Protocol { key, problem });
        let n = self.clusters.len();
        for (key, seq) in [
            ("sequence_a", &self.sequence_a),
            ("sequence_c", &self.sequence_c),
            ("control", &self.control),
        ] {
            if seq.len() < 2 {
                return bad(
                    key,
                    format!("has {} elements; a sequence needs at least 2", seq.len()),
                );
            }
            if let Some(&k) = seq.iter().find(|&&k| k >= n) {
                return bad(
                    key,
                    format!("names cluster {k}, but there are {n} clusters (0..{n})"),
                );
            }
            let mut seen = seq.clone();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() != seq.len() {
                return bad(key, "repeats a cluster".into());
            }
        }
        if self.sequence_a.iter().any(|k| self.sequence_c.contains(k)) {
            return bad(
                "sequence_c",
                "shares clusters with sequence_a; it must be disjoint".into(),
            );
        }
        if self.control == self.sequence_a || self.control[0] != self.sequence_a[0] {
            return bad(
                "control",
                "must start with A's first cluster and differ from A (an order never taught)"
                    .into(),
            );
        }
        for (key, v) in [
            ("step_ms", self.step_ms),
            ("drive_ms", self.drive_ms),
            ("reward_delay_ms", self.reward_delay_ms),
            ("test_ms", self.test_ms),
            ("bin_ms", self.bin_ms),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(key, format!("= {v}; must be > 0"));
            }
        }
        for (key, v) in [
            ("settle_ms", self.settle_ms),
            ("iti_ms", self.iti_ms),
            ("sleep_ms", self.sleep_ms),
            ("sleep_da_rate", self.sleep_da_rate),
            ("critic_trials", self.critic_trials),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, format!("= {v}; must be >= 0"));
            }
        }
        if self.drive_ms > self.reward_delay_ms {
            return bad(
                "reward_delay_ms",
                format!(
                    "= {} is shorter than drive_ms = {}: the reward would come while the last element is driven",
                    self.reward_delay_ms, self.drive_ms
                ),
            );
        }
        if self.drive_ms > self.step_ms {
            return bad(
                "drive_ms",
                format!(
                    "= {} exceeds step_ms = {}: elements would overlap",
                    self.drive_ms, self.step_ms
                ),
            );
        }
        if !(self.active_fraction > 0.0 && self.active_fraction <= 1.0) {
            return bad(
                "active_fraction",
                format!("= {}; must be in (0, 1]", self.active_fraction),
            );
        }
        if !(self.criterion > 0.0 && self.criterion <= 1.0) {
            return bad(
                "criterion",
                format!("= {}; must be in (0, 1]", self.criterion),
            );
        }
        if self.window == 0 || self.tests == 0 || self.max_trials < self.window {
            return bad(
                "window",
                format!(
                    "window = {}, tests = {}, max_trials = {}: window and tests must be >= 1 and max_trials >= window",
                    self.window, self.tests, self.max_trials
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.gap.weight_decay) || self.gap.weight_noise < 0.0 {
            return bad(
                "gap",
                "weight_decay must be in [0, 1] and weight_noise >= 0".into(),
            );
        }
        if let Some(dt) = dt {
            for (key, v) in [
                ("step_ms", self.step_ms),
                ("drive_ms", self.drive_ms),
                ("reward_delay_ms", self.reward_delay_ms),
                ("settle_ms", self.settle_ms),
                ("test_ms", self.test_ms),
                ("iti_ms", self.iti_ms),
                ("bin_ms", self.bin_ms),
                ("sleep_ms", self.sleep_ms),
            ] {
                if ((v / dt).round() * dt - v).abs() > 1e-9 * v.max(1.0) {
                    return bad(
                        key,
                        format!("= {v} ms is not a multiple of the network's dt = {dt} ms"),
                    );
                }
            }
            if ((self.test_ms / self.bin_ms).round() * self.bin_ms - self.test_ms).abs() > 1e-9 {
                return bad(
                    "test_ms",
                    format!(
                        "= {} is not a multiple of bin_ms = {}",
                        self.test_ms, self.bin_ms
                    ),
                );
            }
        }
        Ok(())
    }

    /// The longest one network may run, ms: three learning phases at
    /// `max_trials` (A, C, relearning A) and B, every test, the rasters and
    /// sleep.
    pub fn most_ms(&self) -> f64 {
        let len = self.sequence_a.len().max(self.sequence_c.len());
        let test = self.test_ms + self.iti_ms;
        4.0 * self.max_trials as f64 * self.trial_ms(len)
            + (9 * self.tests + 8) as f64 * test
            + self.sleep_ms
            + self.settle_ms
    }

    /// One trial's length, ms.
    fn trial_ms(&self, len: usize) -> f64 {
        self.teach_ms(len) + self.settle_ms + self.test_ms + self.iti_ms
    }

    /// Teaching: the elements and the reward delay, ms.
    fn teach_ms(&self, len: usize) -> f64 {
        (len - 1) as f64 * self.step_ms + self.reward_delay_ms
    }
}

/// Where the loop finds what it drives and reads.
struct Wiring {
    clusters: Vec<Range<usize>>,
    /// Each cluster's drive: stimulus index and its rate when on.
    drives: Vec<(usize, f64)>,
    /// The sleep noise (targets exactly all clusters) and its rate.
    sleep: (usize, f64),
    /// The tonic dopamine stimulus.
    tonic: usize,
    inhibitory: usize,
    da: Range<u32>,
    plastic: usize,
}

fn wiring(net: &Network, file: &str, protocol: &Protocol) -> Result<Wiring, SequenceError> {
    let missing = |what: String| SequenceError::Circuit {
        file: file.to_string(),
        what,
    };
    let find = |name: &str| {
        net.populations
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| {
                missing(format!(
                    "no population `{name}` (the loop needs the clusters {}, `I` and `DA`)",
                    protocol.clusters.join(", ")
                ))
            })
    };
    let range = |pop: usize| {
        let p = &net.populations[pop];
        p.offset as usize..(p.offset + p.size) as usize
    };
    let stimulus_of = |ranges: &[Range<usize>], what: &str| {
        net.poisson_stimulus_of(ranges).ok_or_else(|| {
            missing(format!(
                "no Poisson stimulus whose targets are exactly {what}"
            ))
        })
    };
    let mut clusters = Vec::new();
    let mut drives = Vec::new();
    for name in &protocol.clusters {
        let r = range(find(name)?);
        drives.push(stimulus_of(
            std::slice::from_ref(&r),
            &format!("`{name}` (its drive)"),
        )?);
        clusters.push(r);
    }
    let sleep = stimulus_of(&clusters, "every cluster (the sleep noise)")?;
    let da = range(find("DA")?);
    let tonic = stimulus_of(std::slice::from_ref(&da), "`DA` (tonic dopamine)")?.0;
    let inhibitory = find("I")?;
    let cluster_pops: Vec<usize> = protocol
        .clusters
        .iter()
        .filter_map(|n| net.populations.iter().position(|p| &p.name == n))
        .collect();
    let plastic = net
        .projections
        .iter()
        .position(|p| p.dopamine.is_some() && p.to.iter().any(|t| cluster_pops.contains(t)))
        .ok_or_else(|| missing("no stdp_dopamine projection between the clusters".into()))?;
    Ok(Wiring {
        clusters,
        drives,
        sleep,
        tonic,
        inhibitory,
        da: da.start as u32..da.end as u32,
        plastic,
    })
}

/// The onsets (bin index) of each cluster in a cue test, from per-bin
/// spike counts per cluster.
pub fn onsets(counts: &[Vec<u32>], sizes: &[usize], active_fraction: f64) -> Vec<Option<usize>> {
    (0..sizes.len())
        .map(|c| {
            counts
                .iter()
                .position(|bin| bin[c] as f64 >= active_fraction * sizes[c] as f64)
        })
        .collect()
}

/// Whether the onsets complete `sequence`: every element after the first
/// has an onset, strictly later than the one before it.
pub fn completes(onsets: &[Option<usize>], sequence: &[usize]) -> bool {
    let mut last: Option<usize> = None;
    for (i, &c) in sequence.iter().enumerate() {
        match (onsets[c], last) {
            (None, _) if i > 0 => return false,
            (Some(t), Some(l)) if t <= l => return false,
            (t, _) => last = t.or(last),
        }
    }
    true
}

/// Fraction of bins in which a later element of `a` and one of `c` are
/// active at once.
pub fn coactivation(
    counts: &[Vec<u32>],
    sizes: &[usize],
    active_fraction: f64,
    a: &[usize],
    c: &[usize],
) -> f64 {
    let active = |bin: &Vec<u32>, k: usize| bin[k] as f64 >= active_fraction * sizes[k] as f64;
    let both = counts
        .iter()
        .filter(|bin| {
            a[1..].iter().any(|&k| active(bin, k)) && c[1..].iter().any(|&k| active(bin, k))
        })
        .count();
    both as f64 / counts.len().max(1) as f64
}

/// The engine and what the loop needs around it.
struct Lab<'a> {
    engine: Box<dyn Engine + Send>,
    net: Arc<Network>,
    w: Wiring,
    p: &'a Protocol,
    seed: u64,
    chunk: Chunk,
    /// The critic's prediction of each sequence's reward: its running
    /// completion rate.
    critic: std::collections::HashMap<Vec<usize>, f64>,
}

impl Lab<'_> {
    fn eng(&self) -> impl Fn(EngineError) -> SequenceError + use<> {
        let seed = self.seed;
        move |source| SequenceError::Engine { seed, source }
    }

    fn steps(&self, ms: f64) -> u64 {
        (ms / self.net.dt).round() as u64
    }

    fn advance(&mut self, ms: f64) -> Result<(), SequenceError> {
        let steps = self.steps(ms);
        if steps == 0 {
            return Ok(());
        }
        self.chunk.spikes.clear();
        self.chunk.samples.clear();
        let e = self.eng();
        self.engine.advance(steps, &mut self.chunk).map_err(e)
    }

    fn drive(&mut self, cluster: usize, on: bool) -> Result<(), SequenceError> {
        let (stim, rate) = self.w.drives[cluster];
        let e = self.eng();
        self.engine
            .set_stimulus_rate(stim, if on { rate } else { 0.0 })
            .map_err(e)
    }

    fn plasticity(&mut self, on: bool) -> Result<(), SequenceError> {
        let e = self.eng();
        self.engine.set_plasticity(self.w.plastic, on).map_err(e)
    }

    /// Drives the clusters of `cued` (all at once) for drive_ms and counts
    /// every cluster's spikes in bins for test_ms; plasticity off.
    fn cue_test(&mut self, cued: &[usize]) -> Result<Vec<Vec<u32>>, SequenceError> {
        self.plasticity(false)?;
        let bins = self.steps(self.p.test_ms) / self.steps(self.p.bin_ms);
        let drive_bins = self
            .steps(self.p.drive_ms)
            .div_ceil(self.steps(self.p.bin_ms));
        let mut before = self.engine.spike_counts();
        let mut counts = Vec::with_capacity(bins as usize);
        for &c in cued {
            self.drive(c, true)?;
        }
        for b in 0..bins {
            if b == drive_bins {
                for &c in cued {
                    self.drive(c, false)?;
                }
            }
            self.advance(self.p.bin_ms)?;
            let now = self.engine.spike_counts();
            counts.push(
                self.w
                    .clusters
                    .iter()
                    .map(|r| r.clone().map(|i| (now[i] - before[i]) as u32).sum())
                    .collect(),
            );
            before = now;
        }
        if drive_bins >= bins {
            for &c in cued {
                self.drive(c, false)?;
            }
        }
        self.plasticity(true)?;
        Ok(counts)
    }

    fn sizes(&self) -> Vec<usize> {
        self.w.clusters.iter().map(|r| r.len()).collect()
    }

    fn completion(&mut self, sequence: &[usize], tests: usize) -> Result<f64, SequenceError> {
        let mut done = 0;
        for _ in 0..tests {
            let counts = self.cue_test(&sequence[..1])?;
            let on = onsets(&counts, &self.sizes(), self.p.active_fraction);
            done += usize::from(completes(&on, sequence));
            self.advance(self.p.iti_ms)?;
        }
        Ok(done as f64 / tests as f64)
    }

    /// Teaching trials with their cue tests until the criterion (or
    /// `max_trials`, or exactly `fixed` trials).
    fn learn(
        &mut self,
        sequence: &[usize],
        rewarded: bool,
        fixed: Option<usize>,
    ) -> Result<Learning, SequenceError> {
        let p = self.p;
        let mut completed = Vec::new();
        let mut dopamine = Vec::new();
        let mut reached = None;
        let limit = fixed.unwrap_or(p.max_trials);
        for t in 0..limit {
            // The network's own attempt first: the cue alone.
            let counts = self.cue_test(&sequence[..1])?;
            let on = onsets(&counts, &self.sizes(), p.active_fraction);
            let done = completes(&on, sequence);
            completed.push(done);
            self.advance(p.iti_ms)?;
            if p.critic_trials > 0.0 {
                let v = self.critic.entry(sequence.to_vec()).or_insert(0.0);
                *v += (f64::from(u8::from(done)) - *v) / p.critic_trials;
            }
            // Then the sequence is shown, element by element.
            for (i, &c) in sequence.iter().enumerate() {
                self.drive(c, true)?;
                self.advance(p.drive_ms)?;
                self.drive(c, false)?;
                let next = if i + 1 < sequence.len() {
                    p.step_ms
                } else {
                    p.reward_delay_ms
                };
                self.advance(next - p.drive_ms)?;
            }
            if rewarded {
                // Dopamine: the reward (1) minus the critic's prediction,
                // in DA neurons that fire once each.
                let expected = if p.critic_trials > 0.0 {
                    self.critic.get(sequence).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                let k = ((1.0 - expected).max(0.0) * self.w.da.len() as f64).round() as u32;
                dopamine.push(k);
                let e = self.eng();
                for n in self.w.da.start..self.w.da.start + k {
                    self.engine.inject_input(n, 1000.0).map_err(&e)?;
                }
            }
            // The eligibility decays before the next attempt.
            self.advance(p.settle_ms)?;
            let n = completed.len();
            if fixed.is_none()
                && n >= p.window
                && completed[n - p.window..].iter().filter(|&&c| c).count() as f64
                    >= p.criterion * p.window as f64
            {
                reached = Some(t + 1);
                break;
            }
        }
        let ws = {
            let e = self.eng();
            self.engine.projection_weights(self.w.plastic).map_err(e)?
        };
        let ids = crate::engine::projection_synapses(&self.net, self.w.plastic);
        let cluster_of = |i: usize| self.w.clusters.iter().position(|r| r.contains(&i));
        let (mut fwd, mut bwd) = ((0.0, 0usize), (0.0, 0usize));
        for (&k, &wk) in ids.iter().zip(&ws) {
            let (Some(a), Some(b)) = (
                cluster_of(source_of(&self.net, k)),
                cluster_of(self.net.synapses.target[k] as usize),
            ) else {
                continue;
            };
            let pa = sequence.iter().position(|&c| c == a);
            let pb = sequence.iter().position(|&c| c == b);
            if let (Some(x), Some(y)) = (pa, pb) {
                if y == x + 1 {
                    fwd.0 += wk;
                    fwd.1 += 1;
                } else if x == y + 1 {
                    bwd.0 += wk;
                    bwd.1 += 1;
                }
            }
        }
        Ok(Learning {
            sequence: sequence.to_vec(),
            rewarded,
            completed,
            dopamine,
            trials_to_criterion: reached,
            weights_mean_max: (
                ws.iter().sum::<f64>() / ws.len().max(1) as f64,
                ws.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
            forward_backward: (fwd.0 / fwd.1.max(1) as f64, bwd.0 / bwd.1.max(1) as f64),
        })
    }

    fn raster(&mut self, cued: &[usize]) -> Result<Vec<(f64, f64)>, SequenceError> {
        // A cue test with every spike kept, cluster by cluster.
        self.plasticity(false)?;
        let start = self.engine.current_step();
        for &c in cued {
            self.drive(c, true)?;
        }
        let mut spikes = Vec::new();
        let total = self.steps(self.p.test_ms);
        let drive = self.steps(self.p.drive_ms).min(total);
        for (len, off) in [(drive, false), (total - drive, true)] {
            if off {
                for &c in cued {
                    self.drive(c, false)?;
                }
            }
            if len == 0 {
                continue;
            }
            self.chunk.spikes.clear();
            self.chunk.samples.clear();
            let e = self.eng();
            self.engine.advance(len, &mut self.chunk).map_err(e)?;
            for s in &self.chunk.spikes {
                let i = s.neuron as usize;
                if let Some(c) = self.w.clusters.iter().position(|r| r.contains(&i)) {
                    let r = &self.w.clusters[c];
                    let row = c as f64 - 0.45 + 0.9 * (i - r.start) as f64 / r.len() as f64;
                    spikes.push(((s.stamp - start) as f64 * self.net.dt, row));
                }
            }
        }
        self.plasticity(true)?;
        self.advance(self.p.iti_ms)?;
        Ok(spikes)
    }
}

fn make_lab<'a>(
    path: &Path,
    overrides: &[Override],
    seed: u64,
    backend: Backend,
    protocol: &'a Protocol,
) -> Result<Lab<'a>, SequenceError> {
    let file = path.display().to_string();
    let net = crate::trial_loop::build_seeded(path, overrides, seed)
        .map_err(SequenceError::Description)?;
    protocol.validate(Some(net.dt))?;
    let w = wiring(&net, &file, protocol)?;
    // Learning phases read the plastic weights between trials: trials
    // must end on a volume-transmitter update (see context.rs).
    if let Some(d) = net.projections[w.plastic].dopamine {
        let trigger = u64::from(d.deliver_interval) * net.min_delay;
        for len in [protocol.sequence_a.len(), protocol.sequence_c.len()] {
            let trial = (protocol.trial_ms(len) / net.dt).round() as u64;
            if trigger > 0 && !trial.is_multiple_of(trigger) {
                return Err(SequenceError::Circuit {
                    file,
                    what: format!(
                        "a trial of {} ms is not a multiple of the plastic projection's dopamine update interval (deliver_interval {} x the minimum delay = {} ms)",
                        trial as f64 * net.dt,
                        d.deliver_interval,
                        trigger as f64 * net.dt
                    ),
                });
            }
        }
    }
    let most = protocol.most_ms();
    if (net.steps as f64) * net.dt < most {
        return Err(SequenceError::Circuit {
            file,
            what: format!(
                "run.duration = {} ms is shorter than the longest the protocol may take ({most} ms: every learning phase at max_trials = {})",
                net.steps as f64 * net.dt,
                protocol.max_trials
            ),
        });
    }
    let net = Arc::new(net);
    let opts = RunOptions::one_of_many(backend, None);
    let mut engine = make_engine(Arc::clone(&net), &opts).map_err(|source| SequenceError::Run {
        seed,
        source: Box::new(source),
    })?;
    let e = |source| SequenceError::Engine { seed, source };
    for &(stim, _) in &w.drives {
        engine.set_stimulus_rate(stim, 0.0).map_err(e)?;
    }
    engine.set_stimulus_rate(w.sleep.0, 0.0).map_err(e)?;
    engine.set_stimulus_rate(w.tonic, 0.0).map_err(e)?;
    Ok(Lab {
        engine,
        net,
        w,
        p: protocol,
        seed,
        chunk: Chunk::default(),
        critic: std::collections::HashMap::new(),
    })
}

/// Runs every phase of one seed (and the no-reward control).
pub fn run_seed(
    path: &Path,
    overrides: &[Override],
    seed: u64,
    backend: Backend,
    protocol: &Protocol,
) -> Result<SeedResult, SequenceError> {
    let started = Instant::now();
    let p = protocol;
    let mut lab = make_lab(path, overrides, seed, backend, p)?;
    let e = lab.eng();
    let w0 = lab.engine.synapse_weights().map_err(&e)?;
    let a = p.sequence_a.clone();
    let c = p.sequence_c.clone();
    let b: Vec<usize> = a.iter().rev().copied().collect();
    let mut rasters = Vec::new();
    rasters.push(("A cued, naive".to_string(), lab.raster(&a[..1])?));
    let learn_a = lab.learn(&a, true, None)?;
    let after_a = lab.engine.synapse_weights().map_err(&e)?;
    let learn_c = lab.learn(&c, true, None)?;
    rasters.push(("A cued, learned".to_string(), lab.raster(&a[..1])?));
    let completion_a = lab.completion(&a, p.tests)?;
    let completion_c = lab.completion(&c, p.tests)?;
    let completion_control = lab.completion(&p.control, p.tests)?;
    let sizes = lab.sizes();
    let coactive = |lab: &mut Lab<'_>| -> Result<f64, SequenceError> {
        let mut sum = 0.0;
        for _ in 0..p.tests {
            let counts = lab.cue_test(&[a[0], c[0]])?;
            sum += coactivation(&counts, &sizes, p.active_fraction, &a, &c);
            lab.advance(p.iti_ms)?;
        }
        Ok(sum / p.tests as f64)
    };
    let coact = coactive(&mut lab)?;
    rasters.push((
        "A and C cued together".to_string(),
        lab.raster(&[a[0], c[0]])?,
    ));
    lab.engine
        .set_silenced(lab.w.inhibitory, true)
        .map_err(&e)?;
    let coact_no_i = coactive(&mut lab)?;
    rasters.push((
        "A and C cued together, I silenced".to_string(),
        lab.raster(&[a[0], c[0]])?,
    ));
    lab.engine
        .set_silenced(lab.w.inhibitory, false)
        .map_err(&e)?;
    let a_trials = learn_a
        .trials_to_criterion
        .unwrap_or(learn_a.completed.len());
    let learn_b = lab.learn(&b, true, Some(a_trials))?;
    let completion_a_after_b = lab.completion(&a, p.tests)?;
    let completion_b = lab.completion(&b, p.tests)?;
    // Sleep: noise on every cluster, tonic dopamine, plasticity on.
    lab.engine
        .set_stimulus_rate(lab.w.sleep.0, lab.w.sleep.1)
        .map_err(&e)?;
    lab.engine
        .set_stimulus_rate(lab.w.tonic, p.sleep_da_rate)
        .map_err(&e)?;
    lab.advance(p.sleep_ms)?;
    lab.engine
        .set_stimulus_rate(lab.w.sleep.0, 0.0)
        .map_err(&e)?;
    lab.engine.set_stimulus_rate(lab.w.tonic, 0.0).map_err(&e)?;
    // Let the sleep's dopamine and eligibility fade before testing.
    lab.advance(p.settle_ms)?;
    let completion_a_after_sleep = lab.completion(&a, p.tests)?;
    let completion_b_after_sleep = lab.completion(&b, p.tests)?;
    rasters.push((
        "A cued, after B and sleep".to_string(),
        lab.raster(&a[..1])?,
    ));
    // Relearning: from the weights right after learning A, a gap.
    let plastic_ids = crate::engine::projection_synapses(&lab.net, lab.w.plastic);
    let after_a_plastic: Vec<f64> = plastic_ids.iter().map(|&k| after_a[k]).collect();
    lab.engine
        .set_projection_weights(lab.w.plastic, &after_a_plastic)
        .map_err(&e)?;
    if let Some(ws) = overnight_weights(&lab.net, seed, 0, lab.w.plastic, &w0, &after_a, p.gap) {
        lab.engine
            .set_projection_weights(lab.w.plastic, &ws)
            .map_err(&e)?;
    }
    let completion_a_after_gap = lab.completion(&a, p.tests)?;
    let relearn_a = lab.learn(&a, true, None)?;
    rasters.push((
        "A cued, relearned after the gap".to_string(),
        lab.raster(&a[..1])?,
    ));
    drop(lab);
    // The no-reward control, on a fresh network with the same seed.
    let mut control = make_lab(path, overrides, seed, backend, p)?;
    let no_reward = control.learn(&a, false, Some(a_trials))?;
    let completion_no_reward = control.completion(&a, p.tests)?;
    Ok(SeedResult {
        seed,
        learn_a,
        learn_c,
        completion_a,
        completion_c,
        completion_control,
        coactivation: coact,
        coactivation_no_inhibition: coact_no_i,
        learn_b,
        completion_a_after_b,
        completion_b,
        completion_a_after_sleep,
        completion_b_after_sleep,
        completion_a_after_gap,
        relearn_a,
        no_reward,
        completion_no_reward,
        rasters,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// Every criterion over the seeds.
pub fn evaluate(seeds: &[SeedResult], c: &Criteria) -> Vec<CriterionResult> {
    let ratio = |x: f64, y: f64| {
        if y > 0.0 {
            x / y
        } else if x > 0.0 {
            f64::INFINITY
        } else {
            f64::NAN
        }
    };
    let mut out = Vec::new();
    let mut add = |text: String, f: &dyn Fn(&SeedResult) -> (f64, bool)| {
        out.push(CriterionResult {
            criterion: text,
            per_seed: seeds
                .iter()
                .map(|s| {
                    let (v, ok) = f(s);
                    (s.seed, v, ok)
                })
                .collect(),
        });
    };
    add(
        format!(
            "completion of A from its cue after learning with reward >= {}",
            c.completion
        ),
        &|s| (s.completion_a, s.completion_a >= c.completion),
    );
    add(
        format!(
            "without reward, completion of A at chance (a never-taught order's completion + {})",
            c.chance_margin
        ),
        &|s| {
            let v = s.completion_no_reward - s.completion_control;
            (s.completion_no_reward, v <= c.chance_margin)
        },
    );
    add(
        format!(
            "co-activation of competing sequences, inhibition silenced / intact >= {}",
            c.coactivation_ratio
        ),
        &|s| {
            let r = ratio(s.coactivation_no_inhibition, s.coactivation);
            (r, r >= c.coactivation_ratio)
        },
    );
    add(
        format!(
            "learning B (A reversed): A's completion after / before <= {}",
            c.interference
        ),
        &|s| {
            let r = ratio(s.completion_a_after_b, s.completion_a);
            (r, r <= c.interference)
        },
    );
    add(
        format!(
            "sleep restores A: A after sleep / before B >= {}",
            c.sleep_restores
        ),
        &|s| {
            let r = ratio(s.completion_a_after_sleep, s.completion_a);
            (r, r >= c.sleep_restores)
        },
    );
    add(
        format!(
            "sleep keeps B: B after sleep / before >= {}",
            c.sleep_keeps_b
        ),
        &|s| {
            let r = ratio(s.completion_b_after_sleep, s.completion_b);
            (r, r >= c.sleep_keeps_b)
        },
    );
    add(
        format!(
            "relearning A after a gap: trials / first learning's <= {}",
            c.relearning
        ),
        &|s| match (
            s.relearn_a.trials_to_criterion,
            s.learn_a.trials_to_criterion,
        ) {
            (Some(x), Some(y)) => {
                let r = x as f64 / y as f64;
                (r, r <= c.relearning)
            }
            _ => (f64::NAN, false),
        },
    );
    out
}

/// What [`run_experiment`] runs.
#[derive(Debug, Clone)]
pub struct ExperimentOptions {
    /// The circuit.
    pub description: PathBuf,
    /// One network (and its no-reward twin) per seed.
    pub seeds: Vec<u64>,
    /// `--set` overrides.
    pub overrides: Vec<Override>,
    /// Engine.
    pub backend: Backend,
    /// Seeds at once.
    pub parallel: usize,
    /// The protocol.
    pub protocol: Protocol,
    /// Where to write outputs (None: nowhere).
    pub out_dir: Option<PathBuf>,
    /// Print a line per finished seed.
    pub progress: bool,
}

/// Every seed's results and the criteria.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResult {
    /// The protocol.
    pub protocol: Protocol,
    /// The thresholds.
    pub thresholds: Criteria,
    /// Each criterion, per seed.
    pub criteria: Vec<CriterionResult>,
    /// Per seed.
    pub seeds: Vec<SeedResult>,
    /// Wall time, s.
    pub wall_s: f64,
}

/// Runs every seed (in parallel), evaluates, writes the outputs.
pub fn run_experiment(opts: &ExperimentOptions) -> Result<ExperimentResult, SequenceError> {
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
                "A learned in {}, relearned in {} trials ({:.0} s)",
                s.learn_a
                    .trials_to_criterion
                    .map_or("-".into(), |t| t.to_string()),
                s.relearn_a
                    .trials_to_criterion
                    .map_or("-".into(), |t| t.to_string()),
                s.wall_s
            )
        },
    )?;
    let thresholds = Criteria::default();
    let result = ExperimentResult {
        protocol: opts.protocol.clone(),
        criteria: evaluate(&seeds, &thresholds),
        thresholds,
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
        self.criteria.iter().all(CriterionResult::holds)
    }

    /// The table: a row per seed, then the criteria.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut t = String::new();
        let trials = |l: &Learning| {
            l.trials_to_criterion
                .map_or("-".to_string(), |x| x.to_string())
        };
        let _ = writeln!(
            t,
            "{:>4} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "seed",
            "A:trls",
            "A",
            "noRew",
            "chance",
            "C",
            "coact",
            "coact-I",
            "A|B",
            "B",
            "A|slp",
            "B|slp",
            "A|gap",
            "relrn"
        );
        for s in &self.seeds {
            let _ = writeln!(
                t,
                "{:>4} {:>7} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.3} {:>9.3} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7}",
                s.seed,
                trials(&s.learn_a),
                s.completion_a,
                s.completion_no_reward,
                s.completion_control,
                s.completion_c,
                s.coactivation,
                s.coactivation_no_inhibition,
                s.completion_a_after_b,
                s.completion_b,
                s.completion_a_after_sleep,
                s.completion_b_after_sleep,
                s.completion_a_after_gap,
                trials(&s.relearn_a),
            );
        }
        let _ = writeln!(
            t,
            "(completion: fraction of cue tests in which every element follows in order; A|B: A after learning B = A reversed; |slp: after sleep; |gap: after the gap, before relearning)"
        );
        let _ = writeln!(t, "\npass criteria (EXPERIMENTS.md §4), value per seed:");
        for c in &self.criteria {
            let _ = writeln!(t, "{}", c.line());
        }
        t
    }
}

fn write_outputs(dir: &Path, result: &ExperimentResult) -> Result<(), SequenceError> {
    let io = |path: PathBuf| move |source| SequenceError::Output { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let summary = dir.join("summary.json");
    let json = serde_json::to_string_pretty(result).expect("results serialise");
    std::fs::write(&summary, json).map_err(io(summary.clone()))?;
    let table = dir.join("table.txt");
    std::fs::write(&table, result.table()).map_err(io(table.clone()))?;
    for s in &result.seeds {
        let path = dir.join(format!("tests_seed{}.csv", s.seed));
        let mut csv = String::from("phase,sequence,trial,completed\n");
        for (phase, l) in [
            ("learn_a", &s.learn_a),
            ("learn_c", &s.learn_c),
            ("learn_b", &s.learn_b),
            ("relearn_a", &s.relearn_a),
            ("no_reward", &s.no_reward),
        ] {
            let seq: Vec<String> = l.sequence.iter().map(|k| k.to_string()).collect();
            for (i, &c) in l.completed.iter().enumerate() {
                csv.push_str(&format!(
                    "{phase},{},{},{}\n",
                    seq.join(" "),
                    i + 1,
                    u8::from(c)
                ));
            }
        }
        std::fs::write(&path, csv).map_err(io(path.clone()))?;
    }
    let figure = dir.join("figure.png");
    crate::output::plot_sequence::figure(result, &figure).map_err(|e| SequenceError::Output {
        path: figure.clone(),
        source: std::io::Error::other(e),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-bin counts of 4 clusters of 10 from a list of (bin, cluster, spikes).
    fn bins(n: usize, events: &[(usize, usize, u32)]) -> Vec<Vec<u32>> {
        let mut b = vec![vec![0; 4]; n];
        for &(t, c, k) in events {
            b[t][c] += k;
        }
        b
    }

    #[test]
    fn onsets_need_the_active_fraction_in_one_bin() {
        let counts = bins(6, &[(0, 0, 5), (1, 1, 2), (2, 1, 2), (3, 1, 3), (4, 2, 9)]);
        // 25 % of 10 neurons: 2.5 spikes, so 2 in a bin is not enough.
        assert_eq!(
            onsets(&counts, &[10; 4], 0.25),
            vec![Some(0), Some(3), Some(4), None]
        );
    }

    #[test]
    fn completion_needs_every_element_strictly_in_order() {
        let on = |v: [Option<usize>; 4]| v.to_vec();
        assert!(completes(
            &on([Some(0), Some(2), Some(4), Some(6)]),
            &[0, 1, 2, 3]
        ));
        // The cue's own onset may be missing (it is driven); the rest may not.
        assert!(completes(
            &on([None, Some(2), Some(4), Some(6)]),
            &[0, 1, 2, 3]
        ));
        assert!(!completes(
            &on([Some(0), Some(2), None, Some(6)]),
            &[0, 1, 2, 3]
        ));
        // Two elements at once (everything firing together) is no sequence.
        assert!(!completes(
            &on([Some(0), Some(2), Some(2), Some(6)]),
            &[0, 1, 2, 3]
        ));
        // The reverse order completes the reverse sequence only.
        let rev = on([Some(6), Some(4), Some(2), Some(0)]);
        assert!(completes(&rev, &[3, 2, 1, 0]));
        assert!(!completes(&rev, &[0, 1, 2, 3]));
    }

    #[test]
    fn coactivation_counts_bins_with_a_later_element_of_both() {
        // a = [0, 1], c = [2, 3]: clusters 1 and 3 active together in bin 2 only.
        let counts = bins(
            4,
            &[
                (0, 0, 9),
                (0, 2, 9),
                (1, 1, 9),
                (2, 1, 9),
                (2, 3, 9),
                (3, 3, 9),
            ],
        );
        let x = coactivation(&counts, &[10; 4], 0.25, &[0, 1], &[2, 3]);
        assert!((x - 0.25).abs() < 1e-12, "{x}");
    }

    #[test]
    fn impossible_protocols_name_the_setting() {
        let check = |p: Protocol, needle: &str| match p.validate(Some(1.0)) {
            Err(e) => assert!(e.to_string().contains(needle), "{needle}: {e}"),
            Ok(()) => panic!("{needle}: accepted"),
        };
        let base = Protocol::default;
        check(
            Protocol {
                sequence_a: vec![0, 9],
                ..base()
            },
            "names cluster 9",
        );
        check(
            Protocol {
                sequence_c: vec![3, 4],
                ..base()
            },
            "shares clusters",
        );
        check(
            Protocol {
                control: vec![0, 1, 2, 3],
                ..base()
            },
            "never taught",
        );
        check(
            Protocol {
                sequence_a: vec![0, 1, 1],
                ..base()
            },
            "repeats",
        );
        check(
            Protocol {
                drive_ms: 30.0,
                ..base()
            },
            "elements would overlap",
        );
        check(
            Protocol {
                step_ms: 20.5,
                drive_ms: 10.0,
                ..base()
            },
            "multiple of the network's dt",
        );
        check(
            Protocol {
                test_ms: 202.0,
                ..base()
            },
            "multiple of bin_ms",
        );
        check(
            Protocol {
                active_fraction: 0.0,
                ..base()
            },
            "active_fraction",
        );
        check(
            Protocol {
                window: 0,
                ..base()
            },
            "window",
        );
        check(
            Protocol {
                sleep_ms: -1.0,
                ..base()
            },
            "sleep_ms",
        );
        assert!(base().validate(Some(1.0)).is_ok());
        assert!(base().validate(Some(0.1)).is_ok());
    }
}

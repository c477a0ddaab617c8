//! Savings: faster relearning of a force field (Shahbazi et al., eLife 2026;
//! ../shared/EXPERIMENTS.md §2): the reaching trials, the arm in the loop,
//! the phase schedule, the error signals, the measures and the pass
//! criteria, on the circuit of `examples/savings.toml` (see its header for
//! the circuit and why).
//!
//! A trial, for one of 8 targets 10 cm away (a random order in each cycle
//! of 8 trials):
//! 1. preparatory period (`prep_ms`): the target's input on, the motor pools
//!    held silent; the preparatory network's spike counts after its first
//!    `settle_ms` are the trial's preparatory state;
//! 2. movement (`move_ms`): hold off, go cue on; every `stride_ms` the
//!    pools' rates drive a [`PointMassArm`] (with the phase's curl field)
//!    and the hand's path is kept; the error is the path's largest lateral
//!    deviation from the straight line to the target ([`lateral_error`]);
//! 3. the error signal: for each muscle, the correction the reach needed
//!    (minus the lateral deviation) projected on the muscle's pulling
//!    direction, over `error_full_m`, clamped to [-1, 1]; a positive one is
//!    a burst of that fraction of the muscle's DA neurons, a negative one a
//!    pause of its tonic DA firing for that fraction of `dip_ms`;
//! 4. the rest of `iti_ms`; then the fast pathway's learned change decays by
//!    `1 - retention_fast`.
//!
//! Phases: baseline (no field), field, washout (no field), field again; the
//! second exposure is run three times from the same weights (those at the
//! end of washout): as it is, and with a bias current on the preparatory
//! neurons along and against the preparatory shift axis.
//!
//! The shift axis is the change of the preparatory state (mean spike count
//! of every preparatory neuron for every target, over the last
//! `state_cycles` cycles of a phase) from the end of baseline to the end of
//! the first exposure. After washout, the retained shift is the projection
//! of the state's change since baseline on that axis, over the axis' length
//! squared (1: all of it kept, 0: back to baseline).
//!
//! Every input is found by name: t0_in..t7_in and their Poisson stimuli,
//! and per muscle `m{k}_prep`, `m{k}_pool`, `m{k}_DA`, the stimulus exactly
//! on `m{k}_DA` (tonic dopamine), the go cue (the excitatory stimulus
//! exactly on the pool) and the hold (the inhibitory one), the
//! stdp_dopamine projection into the prep (slow) and into the pool (fast).

use crate::arm::{ArmParams, PointMassArm, lateral_error, savings_targets};
use crate::build::Network;
use crate::description::Override;
use crate::engine::{Chunk, Engine, EngineError};
use crate::rng::{Purpose, Stream, stream_id};
use crate::simulation::{Backend, RunOptions, make_engine};
pub use crate::spinal::CriterionResult;
use glam::DVec2;
use serde::Serialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Muscles of the arm (and shares of the preparatory network).
pub const MUSCLES: usize = 4;
/// Reaching targets.
pub const TARGETS: usize = 8;

/// The trial structure and the phase schedule.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protocol {
    /// Preparatory period, ms.
    pub prep_ms: f64,
    /// Start of the preparatory period left out of the preparatory state, ms.
    pub settle_ms: f64,
    /// Movement period, ms.
    pub move_ms: f64,
    /// Inter-trial interval (dopamine pauses included), ms.
    pub iti_ms: f64,
    /// Interval at which the arm reads the pools, ms.
    pub stride_ms: f64,
    /// Cycles of 8 trials (one per target) without field.
    pub baseline_cycles: usize,
    /// Cycles of each exposure to the field.
    pub field_cycles: usize,
    /// Most cycles of washout: it ends earlier, once the mean |error| of
    /// its last two cycles is back within `washout_tolerance` times the
    /// baseline's (as in the source, practice continues until performance
    /// is back at baseline), but never before `state_cycles` cycles.
    pub washout_cycles: usize,
    /// See `washout_cycles`.
    pub washout_tolerance: f64,
    /// Curl field gain of the exposures, N·s/m.
    pub curl: f64,
    /// Lateral error that gives a full error signal, m.
    pub error_full_m: f64,
    /// Pause of the tonic dopamine for an error signal of -1, ms.
    pub dip_ms: f64,
    /// Fraction of the fast pathway's learned change kept from one trial to
    /// the next.
    pub retention_fast: f64,
    /// Bias along the shift axis: mV injected into each preparatory neuron
    /// every `stride_ms`, for a neuron at one RMS of the axis.
    pub bias_mv: f64,
    /// Cycles at the end of a phase whose preparatory state is averaged.
    pub state_cycles: usize,
    /// Run the second exposure again with the bias along and against the
    /// shift axis (the sweep over sizes leaves them out).
    pub bias_runs: bool,
    /// The arm (its `curl` is set by the phases).
    #[serde(skip)]
    pub arm: ArmParams,
}

impl Default for Protocol {
    fn default() -> Self {
        Self {
            prep_ms: 300.0,
            settle_ms: 100.0,
            move_ms: 400.0,
            iti_ms: 300.0,
            stride_ms: 5.0,
            baseline_cycles: 6,
            field_cycles: 20,
            washout_cycles: 20,
            washout_tolerance: 1.5,
            curl: 12.0,
            error_full_m: 0.02,
            dip_ms: 200.0,
            retention_fast: 0.956,
            bias_mv: 1.0,
            state_cycles: 2,
            bias_runs: true,
            arm: ArmParams {
                max_force: 6.0,
                ..ArmParams::default()
            },
        }
    }
}

/// Pass thresholds (EXPERIMENTS.md §2).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Criteria {
    /// Trials to halve the error in the second exposure over the first.
    pub savings_ratio_at_most: f64,
    /// Fraction of the preparatory shift kept after washout.
    pub retained_shift_at_least: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Self {
            savings_ratio_at_most: 0.7,
            retained_shift_at_least: 0.3,
        }
    }
}

/// The phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No field.
    Baseline,
    /// The first exposure.
    Field1,
    /// No field again.
    Washout,
    /// The second exposure.
    Field2,
    /// The second exposure with the bias along the shift axis.
    Field2Along,
    /// The second exposure with the bias against it.
    Field2Against,
}

impl Phase {
    /// Its name in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Baseline => "baseline",
            Phase::Field1 => "field1",
            Phase::Washout => "washout",
            Phase::Field2 => "field2",
            Phase::Field2Along => "field2_along",
            Phase::Field2Against => "field2_against",
        }
    }

    fn curl(self, p: &Protocol) -> f64 {
        match self {
            Phase::Baseline | Phase::Washout => 0.0,
            _ => p.curl,
        }
    }
}

/// One reach.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// Its phase.
    pub phase: Phase,
    /// Target index (0 = +x, counter-clockwise in steps of 45°).
    pub target: usize,
    /// Largest lateral deviation, m, signed (+ = left of the reach).
    pub lateral_error_m: f64,
    /// Hand position at the end of the movement, m.
    pub end: [f64; 2],
    /// Mean rate of each pool over the movement, Hz per neuron.
    pub pool_hz: [f64; MUSCLES],
    /// The hand's path, m, every `stride_ms` (for the figure; not in
    /// summary.json).
    #[serde(skip)]
    pub path: Vec<[f64; 2]>,
}

/// One seed's run.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Preparatory E neurons.
    pub preparatory_neurons: usize,
    /// Every reach, in order (the three second exposures one after another).
    pub trials: Vec<Trial>,
    /// Mean |lateral error| of each cycle, m, per phase.
    pub cycle_error_m: Vec<(Phase, Vec<f64>)>,
    /// Reference error: mean |lateral error| of the first cycle of the
    /// first exposure, m.
    pub reference_error_m: f64,
    /// Mean |lateral error| over the baseline, m.
    pub baseline_error_m: f64,
    /// Cycles the washout took.
    pub washout_cycles: usize,
    /// Trials until a cycle's mean |error| is at most half the reference,
    /// per exposure (None: not within the exposure).
    pub trials_to_halve: Vec<(Phase, Option<usize>)>,
    /// Trials to halve in the second exposure over the first.
    pub savings_ratio: Option<f64>,
    /// Same, with the bias along the shift axis.
    pub savings_ratio_along: Option<f64>,
    /// Same, with the bias against it.
    pub savings_ratio_against: Option<f64>,
    /// Length of the preparatory shift (spikes per neuron and target, RMS,
    /// cross-validated: see [`cross_validated_retention`]).
    pub shift_rms: f64,
    /// Fraction of the shift kept at the end of washout, along its axis.
    pub retained_shift: f64,
    /// Mean weight of the slow and the fast pathway at the end of each
    /// phase (baseline, field1, washout, field2), mV.
    pub pathway_means: Vec<(Phase, f64, f64)>,
    /// Simulated time of every trial, s.
    pub simulated_s: f64,
    /// Wall time, s.
    pub wall_s: f64,
}

/// Everything the experiment measured.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResult {
    /// The protocol.
    pub protocol: Protocol,
    /// The thresholds.
    pub thresholds: Criteria,
    /// Per seed.
    pub seeds: Vec<SeedResult>,
    /// The criteria.
    pub criteria: Vec<CriterionResult>,
    /// Wall time of the whole experiment, s.
    pub wall_s: f64,
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
    /// Trials and phases.
    pub protocol: Protocol,
    /// Where summary.json, table.txt, figure.png and the trial tables go.
    pub out_dir: Option<PathBuf>,
    /// Print a line per finished seed.
    pub progress: bool,
}

/// What can go wrong (the errors every trial loop shares).
pub type SavingsError = crate::trial_loop::TrialLoopError;

impl Protocol {
    /// Checks the protocol; with `dt`, also that its durations are on the
    /// network's step grid.
    pub fn validate(&self, dt: Option<f64>) -> Result<(), SavingsError> {
        let bad = |m: String| Err(SavingsError::Protocol(m));
        for (name, v) in [
            ("prep_ms", self.prep_ms),
            ("move_ms", self.move_ms),
            ("iti_ms", self.iti_ms),
            ("stride_ms", self.stride_ms),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} = {v} ms: must be a positive duration"));
            }
            let Some(dt) = dt else { continue };
            if v < dt || ((v / dt).round() * dt - v).abs() > 1e-9 * v.max(1.0) {
                return bad(format!(
                    "{name} = {v} ms: must be a whole number (>= 1) of steps of dt = {dt} ms"
                ));
            }
        }
        for (name, v, whole) in [
            ("prep_ms", self.prep_ms, self.stride_ms),
            ("move_ms", self.move_ms, self.stride_ms),
        ] {
            if ((v / whole).round() * whole - v).abs() > 1e-9 * v.max(1.0) {
                return bad(format!(
                    "{name} = {v} ms: must be a whole number of strides (stride_ms = {whole} ms)"
                ));
            }
        }
        if !(self.settle_ms >= 0.0 && self.settle_ms < self.prep_ms) {
            return bad(format!(
                "settle_ms = {} ms: must be in [0, prep_ms = {} ms)",
                self.settle_ms, self.prep_ms
            ));
        }
        if ((self.settle_ms / self.stride_ms).round() * self.stride_ms - self.settle_ms).abs()
            > 1e-9 * self.settle_ms.max(1.0)
        {
            return bad(format!(
                "settle_ms = {} ms: must be a whole number of strides (stride_ms = {} ms)",
                self.settle_ms, self.stride_ms
            ));
        }
        if !(self.dip_ms.is_finite() && self.dip_ms >= 0.0 && self.dip_ms <= self.iti_ms) {
            return bad(format!(
                "dip_ms = {} ms: must be in [0, iti_ms = {} ms]",
                self.dip_ms, self.iti_ms
            ));
        }
        if self.baseline_cycles == 0 || self.field_cycles == 0 || self.washout_cycles == 0 {
            return bad(format!(
                "baseline_cycles = {}, field_cycles = {}, washout_cycles = {}: each at least 1",
                self.baseline_cycles, self.field_cycles, self.washout_cycles
            ));
        }
        let shortest = self.field_cycles.min(self.washout_cycles);
        if self.state_cycles == 0 || self.state_cycles > shortest {
            return bad(format!(
                "state_cycles = {}: must be in [1, the shortest phase = {shortest} cycles]",
                self.state_cycles
            ));
        }
        if self.baseline_cycles < 3 * self.state_cycles || self.field_cycles < 2 * self.state_cycles
        {
            return bad(format!(
                "baseline_cycles = {}, field_cycles = {}: must be at least 3 and 2 x state_cycles = {} (independent estimates of the baseline and adapted states)",
                self.baseline_cycles, self.field_cycles, self.state_cycles
            ));
        }
        if !(self.washout_tolerance.is_finite() && self.washout_tolerance >= 1.0) {
            return bad(format!(
                "washout_tolerance = {}: must be >= 1 (a multiple of the baseline error)",
                self.washout_tolerance
            ));
        }
        if !(self.curl.is_finite()) {
            return bad(format!("curl = {}: must be finite", self.curl));
        }
        if !(self.error_full_m.is_finite() && self.error_full_m > 0.0) {
            return bad(format!("error_full_m = {}: must be > 0", self.error_full_m));
        }
        if !(self.retention_fast.is_finite() && (0.0..=1.0).contains(&self.retention_fast)) {
            return bad(format!(
                "retention_fast = {}: must be in [0, 1]",
                self.retention_fast
            ));
        }
        if !self.bias_mv.is_finite() {
            return bad(format!("bias_mv = {}: must be finite", self.bias_mv));
        }
        self.arm
            .check()
            .map_err(|e| SavingsError::Protocol(e.to_string()))?;
        if self.arm.muscles != MUSCLES {
            return bad(format!(
                "arm.muscles = {}: the circuit has {MUSCLES} muscles",
                self.arm.muscles
            ));
        }
        Ok(())
    }

    fn trial_ms(&self) -> f64 {
        self.prep_ms + self.move_ms + self.iti_ms
    }

    fn total_trials(&self) -> usize {
        let exposures = if self.bias_runs { 4 } else { 2 };
        TARGETS * (self.baseline_cycles + self.washout_cycles + exposures * self.field_cycles)
    }
}

/// Where the trial loop finds what it drives and reads.
struct Wiring {
    /// Stimulus of each target's input, and its rate when on.
    targets: Vec<(usize, f64)>,
    prep: Vec<Range<usize>>,
    pool: Vec<Range<usize>>,
    da: Vec<Range<u32>>,
    /// Per muscle: tonic DA, go, hold stimuli (index, rate when on).
    tonic: Vec<(usize, f64)>,
    go: Vec<(usize, f64)>,
    hold: Vec<(usize, f64)>,
    slow: Vec<usize>,
    fast: Vec<usize>,
}

fn wiring(net: &Network, file: &str) -> Result<Wiring, SavingsError> {
    let missing = |what: String| SavingsError::Circuit {
        file: file.to_string(),
        what,
    };
    let range = |name: &str| {
        net.population_range(name).ok_or_else(|| {
            missing(format!(
                "no population `{name}` (the trial loop needs t0_in..t7_in and m0..m3 _prep, _pool, _DA)"
            ))
        })
    };
    let pop_index = |name: &str| net.populations.iter().position(|p| p.name == name);
    let mut w = Wiring {
        targets: Vec::new(),
        prep: Vec::new(),
        pool: Vec::new(),
        da: Vec::new(),
        tonic: Vec::new(),
        go: Vec::new(),
        hold: Vec::new(),
        slow: Vec::new(),
        fast: Vec::new(),
    };
    for k in 0..TARGETS {
        let name = format!("t{k}_in");
        let r = range(&name)?;
        w.targets.push(net.poisson_stimulus_of(&[r]).ok_or_else(|| {
            missing(format!(
                "no Poisson stimulus whose targets are exactly `{name}`"
            ))
        })?);
    }
    for m in 0..MUSCLES {
        let (prep, pool, da) = (
            range(&format!("m{m}_prep"))?,
            range(&format!("m{m}_pool"))?,
            range(&format!("m{m}_DA"))?,
        );
        w.tonic.push(
            net.poisson_stimulus_of(std::slice::from_ref(&da))
                .ok_or_else(|| {
                    missing(format!(
                        "no Poisson stimulus whose targets are exactly `m{m}_DA` (tonic dopamine)"
                    ))
                })?,
        );
        // The go cue and the hold: the excitatory and the inhibitory
        // Poisson stimulus whose targets are exactly the pool.
        let want: Vec<u32> = pool.clone().map(|i| i as u32).collect();
        let find = |excitatory: bool| {
            net.stimuli.iter().find_map(|s| match s {
                crate::build::Stimulus::Poisson {
                    index,
                    targets,
                    weights,
                    lambda,
                    ..
                } if *targets == want
                    && weights.first().is_some_and(|&w| (w > 0.0) == excitatory) =>
                {
                    Some((*index, lambda / (net.dt * 1e-3)))
                }
                _ => None,
            })
        };
        w.go.push(find(true).ok_or_else(|| {
            missing(format!(
                "no excitatory Poisson stimulus whose targets are exactly `m{m}_pool` (the go cue)"
            ))
        })?);
        w.hold.push(find(false).ok_or_else(|| {
            missing(format!(
                "no inhibitory Poisson stimulus whose targets are exactly `m{m}_pool` (the hold)"
            ))
        })?);
        let into = |name: &str| {
            let to = pop_index(name);
            net.projections
                .iter()
                .position(|p| p.dopamine.is_some() && to.is_some_and(|t| p.to == [t]))
                .ok_or_else(|| missing(format!("no stdp_dopamine projection into `{name}`")))
        };
        w.slow.push(into(&format!("m{m}_prep"))?);
        w.fast.push(into(&format!("m{m}_pool"))?);
        w.prep.push(prep);
        w.pool.push(pool);
        w.da.push(da.start as u32..da.end as u32);
    }
    Ok(w)
}

/// The trial loop of one seed: the engine, the arm, and what they need.
struct Lab<'a> {
    engine: Box<dyn Engine + Send>,
    w: Wiring,
    protocol: &'a Protocol,
    arm: PointMassArm,
    targets: Vec<DVec2>,
    directions: Vec<DVec2>,
    draws: Stream,
    /// Initial weights of the fast pathways, per muscle.
    fast0: Vec<Vec<f64>>,
    /// Every preparatory neuron, muscle by muscle.
    prep_ids: Vec<usize>,
    dt: f64,
    chunk: Chunk,
    seed: u64,
}

impl Lab<'_> {
    fn eng(&self) -> impl Fn(EngineError) -> SavingsError + use<> {
        let seed = self.seed;
        move |source| SavingsError::Engine { seed, source }
    }

    fn steps(&self, ms: f64) -> u64 {
        (ms / self.dt).round() as u64
    }

    fn advance(&mut self, ms: f64) -> Result<(), SavingsError> {
        let steps = self.steps(ms);
        if steps == 0 {
            return Ok(());
        }
        self.chunk.spikes.clear();
        self.chunk.samples.clear();
        let eng = self.eng();
        self.engine.advance(steps, &mut self.chunk).map_err(eng)
    }

    fn set_rate(&mut self, (stimulus, rate): (usize, f64), on: bool) -> Result<(), SavingsError> {
        let eng = self.eng();
        self.engine
            .set_stimulus_rate(stimulus, if on { rate } else { 0.0 })
            .map_err(eng)
    }

    fn inject_bias(&mut self, bias: Option<&[f64]>) -> Result<(), SavingsError> {
        let Some(bias) = bias else { return Ok(()) };
        let eng = self.eng();
        for (&neuron, &b) in self.prep_ids.iter().zip(bias) {
            if b != 0.0 {
                self.engine.inject_input(neuron as u32, b).map_err(&eng)?;
            }
        }
        Ok(())
    }

    /// One reach to `target` in `phase`; returns it and the preparatory
    /// state (spike counts of every preparatory neuron after `settle_ms`).
    fn reach(
        &mut self,
        phase: Phase,
        target: usize,
        bias: Option<&[f64]>,
    ) -> Result<(Trial, Vec<u32>), SavingsError> {
        let p = self.protocol;
        let eng = self.eng();
        let stride_s = p.stride_ms * 1e-3;
        self.set_rate(self.w.targets[target], true)?;
        let settle = (p.settle_ms / p.stride_ms).round() as usize;
        let prep_strides = (p.prep_ms / p.stride_ms).round() as usize;
        let mut before = Vec::new();
        for s in 0..prep_strides {
            if s == settle {
                before = self.engine.spike_counts();
            }
            self.inject_bias(bias)?;
            self.advance(p.stride_ms)?;
        }
        let mut last = self.engine.spike_counts();
        let prep: Vec<u32> = self
            .prep_ids
            .iter()
            .map(|&i| (last[i] - before[i]) as u32)
            .collect();
        for m in 0..MUSCLES {
            self.set_rate(self.w.hold[m], false)?;
            self.set_rate(self.w.go[m], true)?;
        }
        self.arm.set_curl(phase.curl(p));
        self.arm.reset();
        let mut path = vec![self.arm.position()];
        let mut totals = [0u64; MUSCLES];
        let move_strides = (p.move_ms / p.stride_ms).round() as usize;
        let mut rates = [0.0; MUSCLES];
        for _ in 0..move_strides {
            self.inject_bias(bias)?;
            self.advance(p.stride_ms)?;
            let now = self.engine.spike_counts();
            for m in 0..MUSCLES {
                let pool = &self.w.pool[m];
                let n: u64 = pool.clone().map(|i| now[i] - last[i]).sum();
                totals[m] += n;
                rates[m] = n as f64 / pool.len() as f64 / stride_s;
            }
            self.arm.step(&rates, stride_s);
            path.push(self.arm.position());
            last = now;
        }
        self.set_rate(self.w.targets[target], false)?;
        for m in 0..MUSCLES {
            self.set_rate(self.w.go[m], false)?;
            self.set_rate(self.w.hold[m], true)?;
        }
        let goal = self.targets[target];
        let error = lateral_error(&path, DVec2::ZERO, goal);
        // The correction the reach needed, and each muscle's share of it.
        let correction = -error * goal.normalize().perp();
        let mut dips = Vec::new();
        for m in 0..MUSCLES {
            let signal = (correction.dot(self.directions[m]) / p.error_full_m).clamp(-1.0, 1.0);
            if signal > 0.0 {
                let da = self.w.da[m].clone();
                let k = (signal * da.len() as f64).round() as u32;
                for n in da.start..da.start + k {
                    self.engine.inject_input(n, 1000.0).map_err(&eng)?;
                }
            } else if signal < 0.0 {
                let dip = (-signal * p.dip_ms / self.dt).round() * self.dt;
                if dip > 0.0 {
                    dips.push((dip, m));
                }
            }
        }
        dips.sort_by(|a, b| a.0.total_cmp(&b.0));
        for &(_, m) in &dips {
            self.set_rate(self.w.tonic[m], false)?;
        }
        let mut elapsed = 0.0;
        for &(dip, m) in &dips {
            self.advance(dip - elapsed)?;
            elapsed = dip;
            self.set_rate(self.w.tonic[m], true)?;
        }
        self.advance(p.iti_ms - elapsed)?;
        if p.retention_fast < 1.0 {
            for m in 0..MUSCLES {
                let now = self
                    .engine
                    .projection_weights(self.w.fast[m])
                    .map_err(&eng)?;
                let kept: Vec<f64> = now
                    .iter()
                    .zip(&self.fast0[m])
                    .map(|(&w, &w0)| w0 + (w - w0) * p.retention_fast)
                    .collect();
                self.engine
                    .set_projection_weights(self.w.fast[m], &kept)
                    .map_err(&eng)?;
            }
        }
        let move_s = p.move_ms * 1e-3;
        let trial = Trial {
            phase,
            target,
            lateral_error_m: error,
            end: self.arm.position().to_array(),
            pool_hz: std::array::from_fn(|m| {
                totals[m] as f64 / self.w.pool[m].len() as f64 / move_s
            }),
            path: path.iter().map(|p| p.to_array()).collect(),
        };
        Ok((trial, prep))
    }

    /// Up to `cycles` cycles of the 8 targets in random order, or fewer when
    /// `back_below` is set and the mean |error| of the last two cycles falls
    /// to it (after at least `state_cycles` cycles); returns the trials and
    /// every cycle's preparatory state (target-major: target k's neuron i
    /// at `k * neurons + i`).
    fn phase(
        &mut self,
        phase: Phase,
        cycles: usize,
        bias: Option<&[Vec<f64>]>,
        back_below: Option<f64>,
    ) -> Result<(Vec<Trial>, Vec<Vec<f64>>), SavingsError> {
        let n = self.prep_ids.len();
        let mut states = Vec::new();
        let mut trials = Vec::new();
        for cycle in 0..cycles {
            let mut state = vec![0.0; TARGETS * n];
            let mut order: Vec<usize> = (0..TARGETS).collect();
            for i in (1..TARGETS).rev() {
                let j = self.draws.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
            for target in order {
                let b = bias.map(|b| b[target].as_slice());
                let (trial, prep) = self.reach(phase, target, b)?;
                for (s, &c) in state[target * n..(target + 1) * n].iter_mut().zip(&prep) {
                    *s = f64::from(c);
                }
                trials.push(trial);
            }
            states.push(state);
            if let Some(level) = back_below {
                let errors = cycle_errors(&trials);
                if cycle + 1 >= self.protocol.state_cycles.max(2)
                    && errors[cycle] + errors[cycle - 1] <= 2.0 * level
                {
                    break;
                }
            }
        }
        Ok((trials, states))
    }

    fn plastic(&self) -> Vec<usize> {
        self.w.slow.iter().chain(&self.w.fast).copied().collect()
    }

    fn pathway_means(&self) -> Result<(f64, f64), SavingsError> {
        let eng = self.eng();
        let mean = |ps: &[usize]| -> Result<f64, SavingsError> {
            let (mut sum, mut n) = (0.0, 0usize);
            for &p in ps {
                let ws = self.engine.projection_weights(p).map_err(&eng)?;
                sum += ws.iter().sum::<f64>();
                n += ws.len();
            }
            Ok(sum / n.max(1) as f64)
        };
        Ok((mean(&self.w.slow)?, mean(&self.w.fast)?))
    }
}

/// The mean of some cycles' preparatory states.
fn mean_state<'a>(states: impl Iterator<Item = &'a Vec<f64>>) -> Vec<f64> {
    let mut sum: Vec<f64> = Vec::new();
    let mut n = 0usize;
    for s in states {
        if sum.is_empty() {
            sum = vec![0.0; s.len()];
        }
        for (a, b) in sum.iter_mut().zip(s) {
            *a += b;
        }
        n += 1;
    }
    for a in &mut sum {
        *a /= n.max(1) as f64;
    }
    sum
}

/// Mean |lateral error| of each cycle of 8 trials.
pub fn cycle_errors(trials: &[Trial]) -> Vec<f64> {
    trials
        .chunks(TARGETS)
        .map(|c| c.iter().map(|t| t.lateral_error_m.abs()).sum::<f64>() / c.len() as f64)
        .collect()
}

/// Trials until the first cycle whose mean |error| is at most half of
/// `reference` (counting whole cycles), or None.
pub fn trials_to_halve(cycle_error: &[f64], reference: f64) -> Option<usize> {
    cycle_error
        .iter()
        .position(|&e| e <= 0.5 * reference)
        .map(|c| (c + 1) * TARGETS)
}

/// How much of the preparatory shift a state keeps along the shift's axis,
/// from two independent estimates of the shift (`shift_a`, `shift_b`, each
/// a late-exposure state minus its own baseline estimate), a third,
/// independent baseline estimate `base` and the state `kept`:
/// `(kept - base) . (shift_a + shift_b) / 2` over `shift_a . shift_b`.
/// With independent noise in every estimate, numerator and denominator are
/// unbiased for `retained |shift|^2` and `|shift|^2`, so noise alone gives
/// about 0, not the 0.5 that a shared baseline estimate would. Returns the
/// fraction and the shift's RMS per neuron and target (from the same
/// cross-product; NaN and 0 when the two estimates do not agree in
/// direction).
pub fn cross_validated_retention(
    shift_a: &[f64],
    shift_b: &[f64],
    base: &[f64],
    kept: &[f64],
) -> (f64, f64) {
    let dot: f64 = shift_a.iter().zip(shift_b).map(|(a, b)| a * b).sum();
    if dot <= 0.0 || shift_a.is_empty() {
        return (f64::NAN, 0.0);
    }
    let along: f64 = kept
        .iter()
        .zip(base)
        .zip(shift_a.iter().zip(shift_b))
        .map(|((k, b), (a, c))| (k - b) * 0.5 * (a + c))
        .sum();
    (along / dot, (dot / shift_a.len() as f64).sqrt())
}

/// Runs one seed.
pub fn run_seed(
    path: &Path,
    overrides: &[Override],
    seed: u64,
    backend: Backend,
    protocol: &Protocol,
) -> Result<SeedResult, SavingsError> {
    let started = Instant::now();
    let file = path.display().to_string();
    let net = crate::trial_loop::build_seeded(path, overrides, seed)
        .map_err(SavingsError::Description)?;
    protocol.validate(Some(net.dt))?;
    let w = wiring(&net, &file)?;
    let dt = net.dt;
    let trial_steps = (protocol.trial_ms() / dt).round() as u64;
    let most = trial_steps * protocol.total_trials() as u64;
    if net.steps < most {
        return Err(SavingsError::Circuit {
            file,
            what: format!(
                "run.duration = {} ms is shorter than the protocol ({} trials of {} ms = {} ms)",
                net.steps as f64 * dt,
                protocol.total_trials(),
                protocol.trial_ms(),
                most as f64 * dt
            ),
        });
    }
    // The loop reads and writes plastic weights between trials; stdp_dopamine
    // weights are brought up to date at its volume transmitter's triggers,
    // so trials must end on one.
    for &p in w.slow.iter().chain(&w.fast) {
        if let Some(d) = net.projections[p].dopamine {
            let trigger = u64::from(d.deliver_interval) * net.min_delay;
            if trigger > 0 && !trial_steps.is_multiple_of(trigger) {
                return Err(SavingsError::Circuit {
                    file,
                    what: format!(
                        "a trial of {} ms (prep_ms + move_ms + iti_ms) is not a multiple of projection {p}'s dopamine update interval ({} ms): the weights the loop reads would miss the changes since the last update",
                        protocol.trial_ms(),
                        trigger as f64 * dt
                    ),
                });
            }
        }
    }
    let prep_ids: Vec<usize> = w.prep.iter().flat_map(|r| r.clone()).collect();
    let net = Arc::new(net);
    let opts = RunOptions::one_of_many(backend, None);
    let engine = make_engine(Arc::clone(&net), &opts).map_err(|source| SavingsError::Run {
        seed,
        source: Box::new(source),
    })?;
    let arm = PointMassArm::new(protocol.arm).map_err(|e| SavingsError::Protocol(e.to_string()))?;
    let directions = (0..MUSCLES)
        .map(|m| DVec2::from_angle(std::f64::consts::TAU * m as f64 / MUSCLES as f64))
        .collect();
    let mut lab = Lab {
        engine,
        w,
        protocol,
        arm,
        targets: savings_targets(),
        directions,
        draws: Stream::new(seed, stream_id(Purpose::Trial, 0), 0),
        fast0: Vec::new(),
        prep_ids,
        dt,
        chunk: Chunk::default(),
        seed,
    };
    let eng = lab.eng();
    for k in 0..TARGETS {
        lab.set_rate(lab.w.targets[k], false)?;
    }
    for m in 0..MUSCLES {
        lab.set_rate(lab.w.go[m], false)?;
        lab.set_rate(lab.w.hold[m], true)?;
    }
    lab.fast0 = lab
        .w
        .fast
        .iter()
        .map(|&p| lab.engine.projection_weights(p))
        .collect::<Result<_, _>>()
        .map_err(&eng)?;
    let mut trials = Vec::new();
    let mut cycle_error_m = Vec::new();
    let mut pathway_means = Vec::new();
    let mut run =
        |lab: &mut Lab, phase, cycles, bias: Option<&[Vec<f64>]>, back_below: Option<f64>| {
            let (t, states) = lab.phase(phase, cycles, bias, back_below)?;
            let (slow, fast) = lab.pathway_means()?;
            pathway_means.push((phase, slow, fast));
            cycle_error_m.push((phase, cycle_errors(&t)));
            let mean_error =
                t.iter().map(|t| t.lateral_error_m.abs()).sum::<f64>() / t.len() as f64;
            trials.extend(t);
            Ok::<_, SavingsError>((states, mean_error))
        };
    let p = protocol;
    let k = p.state_cycles;
    let (base, baseline_error_m) = run(&mut lab, Phase::Baseline, p.baseline_cycles, None, None)?;
    // Independent estimates of each state, from disjoint cycles, so that
    // the noise of one is not counted as shift in another: the baseline's
    // last 3 k cycles in three groups (two anchor the two estimates of the
    // shift, one measures what washout kept), the first exposure's last 2 k
    // in two.
    let groups = |states: &[Vec<f64>], n: usize| -> Vec<Vec<f64>> {
        let last = &states[states.len() - n * k..];
        (0..n)
            .map(|g| mean_state(last.iter().skip(g).step_by(n)))
            .collect()
    };
    let base = groups(&base, 3);
    let (field1, _) = run(&mut lab, Phase::Field1, p.field_cycles, None, None)?;
    let field1 = groups(&field1, 2);
    let (washed, _) = run(
        &mut lab,
        Phase::Washout,
        p.washout_cycles,
        None,
        Some(p.washout_tolerance * baseline_error_m),
    )?;
    let washout_cycles = washed.len();
    let washed = mean_state(washed[washed.len() - k..].iter());
    let plastic = lab.plastic();
    let after_washout: Vec<Vec<f64>> = plastic
        .iter()
        .map(|&q| lab.engine.projection_weights(q))
        .collect::<Result<_, _>>()
        .map_err(&eng)?;
    let shift_a: Vec<f64> = field1[0].iter().zip(&base[0]).map(|(f, b)| f - b).collect();
    let shift_b: Vec<f64> = field1[1].iter().zip(&base[1]).map(|(f, b)| f - b).collect();
    let (retained_shift, shift_rms) =
        cross_validated_retention(&shift_a, &shift_b, &base[2], &washed);
    let shift: Vec<f64> = shift_a
        .iter()
        .zip(&shift_b)
        .map(|(a, b)| 0.5 * (a + b))
        .collect();
    // The bias is scaled by the axis' RMS as measured (noise included).
    let axis_rms = (shift.iter().map(|x| x * x).sum::<f64>() / shift.len() as f64).sqrt();
    let n = lab.prep_ids.len();
    let bias = |sign: f64| -> Vec<Vec<f64>> {
        (0..TARGETS)
            .map(|k| {
                shift[k * n..(k + 1) * n]
                    .iter()
                    .map(|&u| {
                        if axis_rms > 0.0 {
                            sign * p.bias_mv * u / axis_rms
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect()
    };
    run(&mut lab, Phase::Field2, p.field_cycles, None, None)?;
    let biased: &[(Phase, f64)] = if p.bias_runs {
        &[(Phase::Field2Along, 1.0), (Phase::Field2Against, -1.0)]
    } else {
        &[]
    };
    for &(phase, sign) in biased {
        for (&q, ws) in plastic.iter().zip(&after_washout) {
            lab.engine.set_projection_weights(q, ws).map_err(&eng)?;
        }
        run(&mut lab, phase, p.field_cycles, Some(&bias(sign)), None)?;
    }
    let errors = |phase: Phase| {
        cycle_error_m
            .iter()
            .find(|(q, _)| *q == phase)
            .map(|(_, e)| e.as_slice())
            .unwrap_or(&[])
    };
    let reference_error_m = errors(Phase::Field1).first().copied().unwrap_or(f64::NAN);
    let exposures = [
        Phase::Field1,
        Phase::Field2,
        Phase::Field2Along,
        Phase::Field2Against,
    ];
    let trials_to_halve: Vec<(Phase, Option<usize>)> = exposures
        .iter()
        .filter(|&&q| !errors(q).is_empty())
        .map(|&q| (q, trials_to_halve(errors(q), reference_error_m)))
        .collect();
    let ratio = |q: Phase| {
        let t = |q: Phase| {
            trials_to_halve
                .iter()
                .find(|(x, _)| *x == q)
                .and_then(|x| x.1)
        };
        match (t(Phase::Field1), t(q)) {
            (Some(a), Some(b)) => Some(b as f64 / a as f64),
            _ => None,
        }
    };
    let simulated_s = trials.len() as f64 * protocol.trial_ms() * 1e-3;
    Ok(SeedResult {
        seed,
        simulated_s,
        preparatory_neurons: n,
        savings_ratio: ratio(Phase::Field2),
        savings_ratio_along: ratio(Phase::Field2Along),
        savings_ratio_against: ratio(Phase::Field2Against),
        trials,
        cycle_error_m,
        reference_error_m,
        baseline_error_m,
        washout_cycles,
        trials_to_halve,
        shift_rms,
        retained_shift,
        pathway_means,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// Cycles at the start of an exposure whose mean error measures how fast
/// it was relearned, for the bias comparisons (trials to halve is counted
/// in whole cycles, too coarse to tell two fast relearnings apart).
pub const EARLY_CYCLES: usize = 5;

impl SeedResult {
    /// The numbers a sweep tabulates (`renshaw sweep` with
    /// `experiment = "savings"`): `savings_ratio`, `savings` (1 - ratio),
    /// `retained_shift`, `shift_rms`, `reference_error_m`,
    /// `baseline_error_m`, `washout_cycles`, `duration_s` (simulated),
    /// `trials_to_halve.PHASE` and
    /// `early_error.PHASE` per exposure; a measure that does not exist (an
    /// exposure that never halved its error, and the ratio with it) is left
    /// out, as JSON has no NaN.
    pub fn measures(&self) -> std::collections::BTreeMap<String, f64> {
        let mut m = std::collections::BTreeMap::new();
        let ratio = self.savings_ratio.unwrap_or(f64::NAN);
        m.insert("savings_ratio".into(), ratio);
        m.insert("savings".into(), 1.0 - ratio);
        m.insert("retained_shift".into(), self.retained_shift);
        m.insert("shift_rms".into(), self.shift_rms);
        m.insert("reference_error_m".into(), self.reference_error_m);
        m.insert("baseline_error_m".into(), self.baseline_error_m);
        m.insert("washout_cycles".into(), self.washout_cycles as f64);
        m.insert("duration_s".into(), self.simulated_s);
        for (q, t) in &self.trials_to_halve {
            m.insert(
                format!("trials_to_halve.{}", q.name()),
                t.map_or(f64::NAN, |t| t as f64),
            );
            m.insert(format!("early_error.{}", q.name()), self.early_error(*q));
        }
        m.retain(|_, v| v.is_finite());
        m
    }

    /// Mean |error| over the first [`EARLY_CYCLES`] cycles of an exposure,
    /// over the reference error.
    pub fn early_error(&self, phase: Phase) -> f64 {
        self.cycle_error_m
            .iter()
            .find(|(q, _)| *q == phase)
            .map_or(f64::NAN, |(_, e)| {
                let k = e.len().min(EARLY_CYCLES);
                e[..k].iter().sum::<f64>() / k.max(1) as f64 / self.reference_error_m
            })
    }

    /// Trials to halve the error in an exposure.
    pub fn halved_after(&self, phase: Phase) -> Option<usize> {
        self.trials_to_halve
            .iter()
            .find(|(q, _)| *q == phase)
            .and_then(|x| x.1)
    }
}

/// The pass criteria of EXPERIMENTS.md §2 that one network size shows.
pub fn evaluate(seeds: &[SeedResult], c: &Criteria) -> Vec<CriterionResult> {
    let per = |f: &dyn Fn(&SeedResult) -> (f64, bool)| -> Vec<(u64, f64, bool)> {
        seeds
            .iter()
            .map(|s| {
                let (v, ok) = f(s);
                (s.seed, v, ok)
            })
            .collect()
    };
    let biased = seeds.iter().all(|s| {
        s.cycle_error_m
            .iter()
            .any(|(q, _)| *q == Phase::Field2Along)
    });
    let mut out = vec![
        CriterionResult {
            criterion: format!(
                "trials to halve the error, 2nd exposure / 1st <= {}",
                c.savings_ratio_at_most
            ),
            per_seed: per(&|s| match s.savings_ratio {
                Some(r) => (r, r <= c.savings_ratio_at_most),
                None => (f64::NAN, false),
            }),
        },
        CriterionResult {
            criterion: format!(
                "after washout the preparatory state keeps >= {:.0} % of the shift along its axis",
                c.retained_shift_at_least * 100.0
            ),
            per_seed: per(&|s| {
                (
                    s.retained_shift,
                    s.retained_shift >= c.retained_shift_at_least,
                )
            }),
        },
    ];
    if !biased {
        return out;
    }
    out.extend([
        CriterionResult {
            criterion: format!(
                "a bias along the shift axis raises savings (early error of the 2nd exposure, first {EARLY_CYCLES} cycles: along minus unbiased < 0)"
            ),
            per_seed: per(&|s| {
                let d = s.early_error(Phase::Field2Along) - s.early_error(Phase::Field2);
                (d, d < 0.0)
            }),
        },
        CriterionResult {
            criterion: "a bias against the shift axis lowers savings (against minus unbiased > 0)"
                .to_string(),
            per_seed: per(&|s| {
                let d = s.early_error(Phase::Field2Against) - s.early_error(Phase::Field2);
                (d, d > 0.0)
            }),
        },
    ]);
    out
}

/// Runs every seed (in parallel) and evaluates the criteria; writes the
/// outputs when `out_dir` is set.
pub fn run_experiment(opts: &ExperimentOptions) -> Result<ExperimentResult, SavingsError> {
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
                "trials to halve {} ({:.0} s)",
                s.trials_to_halve
                    .iter()
                    .map(|(q, t)| format!(
                        "{} {}",
                        q.name(),
                        t.map_or("-".into(), |t| t.to_string())
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
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
        self.criteria.iter().all(CriterionResult::holds)
    }

    /// The table: a row per seed, then the criteria.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>5} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>8}",
            "seed",
            "ref mm",
            "ff1",
            "ff2",
            "along",
            "agnst",
            "ratio",
            "early2",
            "e.along",
            "e.agnst",
            "retained"
        );
        let t = |x: Option<usize>| x.map_or("-".to_string(), |t| t.to_string());
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
        for r in &self.seeds {
            let _ = writeln!(
                s,
                "{:>5} {:>8.1} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7.2} {:>7.2} {:>7.2} {:>8.2}",
                r.seed,
                r.reference_error_m * 1e3,
                t(r.halved_after(Phase::Field1)),
                t(r.halved_after(Phase::Field2)),
                t(r.halved_after(Phase::Field2Along)),
                t(r.halved_after(Phase::Field2Against)),
                f(r.savings_ratio),
                r.early_error(Phase::Field2),
                r.early_error(Phase::Field2Along),
                r.early_error(Phase::Field2Against),
                r.retained_shift
            );
        }
        let _ = writeln!(
            s,
            "(trials to halve the first exposure's initial error, per exposure; early: mean error of the first {EARLY_CYCLES} cycles over that initial error)"
        );
        let _ = writeln!(s);
        for c in &self.criteria {
            let _ = writeln!(s, "{}", c.line());
        }
        s
    }
}

fn write_outputs(dir: &Path, result: &ExperimentResult) -> Result<(), SavingsError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| SavingsError::Output {
            path,
            message: e.to_string(),
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let summary = dir.join("summary.json");
    let text = serde_json::to_string_pretty(result).map_err(|e| SavingsError::Output {
        path: summary.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&summary, text).map_err(io(&summary))?;
    let table = dir.join("table.txt");
    std::fs::write(&table, result.table()).map_err(io(&table))?;
    for r in &result.seeds {
        let csv = dir.join(format!("trials_seed{}.csv", r.seed));
        let mut text = String::from(
            "trial,phase,target,lateral_error_m,end_x_m,end_y_m,pool0_hz,pool1_hz,pool2_hz,pool3_hz\n",
        );
        for (i, t) in r.trials.iter().enumerate() {
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{}\n",
                i + 1,
                t.phase.name(),
                t.target,
                t.lateral_error_m,
                t.end[0],
                t.end[1],
                t.pool_hz[0],
                t.pool_hz[1],
                t.pool_hz[2],
                t.pool_hz[3]
            ));
        }
        std::fs::write(&csv, text).map_err(io(&csv))?;
    }
    let figure = dir.join("figure.png");
    crate::output::plot_savings::figure(result, &figure).map_err(|message| SavingsError::Output {
        path: figure.clone(),
        message,
    })
}

/// One network size of the savings-vs-size sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SizeResult {
    /// Neurons of the preparatory network (E + I), N.
    pub neurons: usize,
    /// E and I (0.8 N and 0.2 N).
    pub n_e: usize,
    /// See `n_e`.
    pub n_i: usize,
    /// Per seed: savings, 1 - (trials to halve, 2nd exposure / 1st); NaN
    /// where an exposure never halved its error.
    pub savings: Vec<(u64, f64)>,
    /// Mean savings over the seeds that have one.
    pub mean_savings: f64,
    /// The experiment at this size.
    pub result: ExperimentResult,
}

/// The savings-vs-size sweep: the whole experiment at each size N (0.8 N
/// excitatory, 0.2 N inhibitory preparatory neurons, set through the
/// description's `n_e` and `n_i`), each size's outputs under `OUT/N{N}/`.
pub fn run_size_sweep(
    opts: &ExperimentOptions,
    sizes: &[usize],
) -> Result<(Vec<SizeResult>, CriterionResult), SavingsError> {
    let mut out = Vec::new();
    for &n in sizes {
        let (n_e, n_i) = (
            (n as f64 * 0.8).round() as usize,
            (n as f64 * 0.2).round() as usize,
        );
        if n_e < MUSCLES || n_i == 0 {
            return Err(SavingsError::Protocol(format!(
                "network size {n}: needs at least {} neurons (0.8 N excitatory split over {MUSCLES} muscles, 0.2 N inhibitory)",
                MUSCLES * 2
            )));
        }
        let mut o = opts.clone();
        for kv in [format!("n_e={n_e}"), format!("n_i={n_i}")] {
            o.overrides
                .push(kv.parse().map_err(SavingsError::Description)?);
        }
        o.out_dir = opts.out_dir.as_ref().map(|d| d.join(format!("N{n}")));
        if opts.progress {
            eprintln!("network size N = {n} ({n_e} E, {n_i} I)");
        }
        let result = run_experiment(&o)?;
        let savings: Vec<(u64, f64)> = result
            .seeds
            .iter()
            .map(|s| (s.seed, s.savings_ratio.map_or(f64::NAN, |r| 1.0 - r)))
            .collect();
        let valid: Vec<f64> = savings
            .iter()
            .map(|x| x.1)
            .filter(|x| x.is_finite())
            .collect();
        out.push(SizeResult {
            neurons: n,
            n_e,
            n_i,
            mean_savings: valid.iter().sum::<f64>() / valid.len().max(1) as f64,
            savings,
            result,
        });
    }
    let criterion = size_criterion(&out);
    if let Some(dir) = &opts.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| SavingsError::Output {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        let path = dir.join("sizes.csv");
        let mut text = String::from("neurons,n_e,n_i,seed,savings\n");
        for r in &out {
            for (seed, s) in &r.savings {
                text.push_str(&format!("{},{},{},{seed},{s}\n", r.neurons, r.n_e, r.n_i));
            }
        }
        std::fs::write(&path, text).map_err(|e| SavingsError::Output {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    Ok((out, criterion))
}

/// "The savings grow with network size": the mean savings of the largest
/// network above the smallest's, and a positive rank correlation between
/// size and mean savings (one value: the correlation).
pub fn size_criterion(sizes: &[SizeResult]) -> CriterionResult {
    let n = sizes.len();
    let means: Vec<f64> = sizes.iter().map(|s| s.mean_savings).collect();
    let rank = |v: &[f64]| -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        for (k, &i) in idx.iter().enumerate() {
            r[i] = k as f64;
        }
        r
    };
    let by_size: Vec<f64> = sizes.iter().map(|s| s.neurons as f64).collect();
    let (rs, rm) = (rank(&by_size), rank(&means));
    let mean = (n as f64 - 1.0) / 2.0;
    let cov: f64 = rs
        .iter()
        .zip(&rm)
        .map(|(a, b)| (a - mean) * (b - mean))
        .sum();
    let var: f64 = rs.iter().map(|a| (a - mean) * (a - mean)).sum();
    let rho = if var > 0.0 { cov / var } else { f64::NAN };
    let ok = n >= 2 && means.iter().all(|m| m.is_finite()) && means[n - 1] > means[0] && rho > 0.0;
    CriterionResult {
        criterion: format!(
            "savings grow with network size (N = {}): rank correlation > 0 and the largest above the smallest",
            sizes
                .iter()
                .map(|s| s.neurons.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        per_seed: vec![(0, rho, ok)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trials_to_halve_counts_whole_cycles_up_to_the_first_one_at_half() {
        let e = [0.02, 0.015, 0.011, 0.0099, 0.012];
        assert_eq!(trials_to_halve(&e, 0.02), Some(4 * TARGETS));
        assert_eq!(trials_to_halve(&e, 0.01), None);
        assert_eq!(trials_to_halve(&[0.004], 0.02), Some(TARGETS));
    }

    #[test]
    fn cycle_errors_average_the_absolute_error_of_each_cycle() {
        let trial = |e: f64| Trial {
            phase: Phase::Field1,
            target: 0,
            lateral_error_m: e,
            end: [0.0; 2],
            pool_hz: [0.0; MUSCLES],
            path: Vec::new(),
        };
        let mut trials: Vec<Trial> = (0..TARGETS)
            .map(|i| trial(if i % 2 == 0 { -0.01 } else { 0.03 }))
            .collect();
        trials.extend((0..TARGETS).map(|_| trial(0.002)));
        let c = cycle_errors(&trials);
        assert_eq!(c.len(), 2);
        assert!(
            (c[0] - 0.02).abs() < 1e-15 && (c[1] - 0.002).abs() < 1e-15,
            "{c:?}"
        );
    }

    #[test]
    fn retention_is_the_kept_fraction_along_the_shift_and_noise_alone_gives_about_zero() {
        // A true shift u; two noiseless estimates; a state keeping 40 % of it.
        let u = [1.0, -2.0, 0.5, 3.0];
        let base = [5.0, 5.0, 5.0, 5.0];
        let kept: Vec<f64> = base.iter().zip(&u).map(|(b, x)| b + 0.4 * x).collect();
        let (r, rms) = cross_validated_retention(&u, &u, &base, &kept);
        assert!((r - 0.4).abs() < 1e-12, "{r}");
        let norm = (u.iter().map(|x| x * x).sum::<f64>() / 4.0).sqrt();
        assert!((rms - norm).abs() < 1e-12);
        // A component orthogonal to the shift is not counted.
        let kept2: Vec<f64> = kept
            .iter()
            .zip([2.0, 1.0, 0.0, 0.0])
            .map(|(k, o)| k + o)
            .collect();
        assert!((cross_validated_retention(&u, &u, &base, &kept2).0 - 0.4).abs() < 1e-12);
        // Pure noise: independent draws everywhere, no shift at all. The
        // estimate scatters around 0 (a shared baseline would give 0.5).
        let mut rng = Stream::new(7, 1, 0);
        let mut noise = |n: usize| -> Vec<f64> { (0..n).map(|_| rng.normal()).collect() };
        let n = 20_000;
        let sum =
            |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x + y).collect() };
        // A small true shift keeps the denominator positive; nothing kept.
        let tiny: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { 0.3 } else { -0.3 })
            .collect();
        let (b0, b1, b2) = (noise(n), noise(n), noise(n));
        let (f0, f1) = (sum(&noise(n), &tiny), sum(&noise(n), &tiny));
        let w = noise(n);
        let sa: Vec<f64> = f0.iter().zip(&b0).map(|(f, b)| f - b).collect();
        let sb: Vec<f64> = f1.iter().zip(&b1).map(|(f, b)| f - b).collect();
        let (r, _) = cross_validated_retention(&sa, &sb, &b2, &w);
        assert!(r.abs() < 0.3, "noise alone kept {r}");
    }

    #[test]
    fn impossible_protocols_are_named() {
        let bad = |p: Protocol, what: &str| {
            let e = p.validate(Some(1.0)).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        };
        bad(
            Protocol {
                prep_ms: 302.0,
                ..Protocol::default()
            },
            "prep_ms",
        );
        bad(
            Protocol {
                move_ms: 0.5,
                ..Protocol::default()
            },
            "move_ms",
        );
        bad(
            Protocol {
                baseline_cycles: 5,
                ..Protocol::default()
            },
            "baseline_cycles",
        );
        bad(
            Protocol {
                dip_ms: 400.0,
                ..Protocol::default()
            },
            "dip_ms",
        );
        bad(
            Protocol {
                retention_fast: 1.5,
                ..Protocol::default()
            },
            "retention_fast",
        );
        bad(
            Protocol {
                washout_tolerance: 0.5,
                ..Protocol::default()
            },
            "washout_tolerance",
        );
        bad(
            Protocol {
                arm: ArmParams {
                    muscles: 6,
                    ..Protocol::default().arm
                },
                ..Protocol::default()
            },
            "muscles",
        );
        Protocol::default().validate(Some(1.0)).unwrap();
    }
}

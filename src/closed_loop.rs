//! Closed loops and protocols: bodies exchanging activity with the network,
//! cues, and the phases of an experiment.
//!
//! Every `interval` ms a body reads the spikes its motor pools fired since
//! the last exchange (as a rate per neuron), advances its mechanics by the
//! interval, and sets the rates of its afferents' Poisson stimuli from its
//! new state. The network therefore sees the body's state one exchange
//! late, as a real spinal cord sees its limb one conduction delay late.
//! All of it goes through the [`Engine`] trait (`spike_counts`,
//! `set_stimulus_rate`, `set_silenced`, `set_plasticity`,
//! `set_projection_weights`), so it runs the same on both backends.
//!
//! A tool that embeds renshaw brings its own body by implementing [`Body`]
//! and handing it to [`ClosedLoop::with_body`].

use crate::build::Network;
use crate::description::{
    BodyModelSpec, BodySpec, CueMode, Description, GapSpec, HindlimbParams, PhaseSpec, Signal,
};
use crate::engine::{Engine, EngineError};
use crate::rng::{Purpose, Stream, stream_id};
use crate::time::round_to_steps;
use serde::Serialize;

/// Cues to criterion are counted until the mean of the last
/// `CRITERION_WINDOW` intervals between cues exceeds `CRITERION_INTERVAL_MS`.
pub const CRITERION_WINDOW: usize = 5;
/// See [`CRITERION_WINDOW`]: the lab's criterion is a smoothed interval
/// between cues above 1 s.
pub const CRITERION_INTERVAL_MS: f64 = 1000.0;

/// The motor command a body receives: its pools' mean rates over the last
/// interval, in Hz per neuron.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MotorDrive {
    /// Flexor pool rate, Hz per neuron.
    pub flexor_hz: f64,
    /// Extensor pool rate, Hz per neuron.
    pub extensor_hz: f64,
}

/// What a body reports back.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct BodyState {
    /// The measured output: foot height, mm (0 = hanging).
    pub height: f64,
    /// Joint angle, rad.
    pub angle: f64,
    /// Flexor stretch, 0..1.
    pub flexor_stretch: f64,
    /// Extensor stretch, 0..1.
    pub extensor_stretch: f64,
    /// Rate of change of the flexor stretch, 1/s.
    pub flexor_stretch_velocity: f64,
    /// Rate of change of the extensor stretch, 1/s.
    pub extensor_stretch_velocity: f64,
}

impl BodyState {
    fn stretch(&self, s: Signal) -> (f64, f64) {
        match s {
            Signal::Flexor => (self.flexor_stretch, self.flexor_stretch_velocity),
            Signal::Extensor => (self.extensor_stretch, self.extensor_stretch_velocity),
        }
    }
}

/// A body in closed loop with a network.
pub trait Body: Send {
    /// Puts the body back at rest.
    fn reset(&mut self);
    /// Advances the body by `dt_ms` under `drive`.
    fn step(&mut self, drive: MotorDrive, dt_ms: f64);
    /// Its current state.
    fn state(&self) -> BodyState;
}

/// A one-degree-of-freedom hindlimb hanging under gravity: a uniform rod
/// about a hinge, flexed by the flexor and extended by the extensor and
/// gravity, with viscous damping and hard stops at 0 (hanging) and
/// `max_angle`. Each muscle's activation follows its motoneurons' rate
/// (saturating at `saturation_rate`) with time constant `activation_tau`.
/// The foot's height is `length (1 - cos angle)`.
#[derive(Debug, Clone)]
pub struct Hindlimb {
    p: HindlimbParams,
    /// Random torque, N·mm, and the stream it is drawn from.
    noise: f64,
    rng: Stream,
    angle: f64,
    velocity: f64,
    flexor_activation: f64,
    extensor_activation: f64,
    last: BodyState,
}

/// Integration substep of the limb's mechanics, ms.
const LIMB_SUBSTEP_MS: f64 = 0.25;

impl Hindlimb {
    /// A limb at rest (hanging, muscles inactive); `seed` and `index` key
    /// the random stream of its noise torque.
    pub fn new(p: HindlimbParams, seed: u64, index: usize) -> Self {
        let mut limb = Self {
            p,
            noise: 0.0,
            rng: Stream::new(seed, stream_id(Purpose::BodyNoise, index), 0),
            angle: 0.0,
            velocity: 0.0,
            flexor_activation: 0.0,
            extensor_activation: 0.0,
            last: BodyState::default(),
        };
        limb.reset();
        limb
    }

    fn observe(&self, previous: Option<&BodyState>, dt_s: f64) -> BodyState {
        let flexor_stretch = 1.0 - self.angle / self.p.max_angle;
        let extensor_stretch = self.angle / self.p.max_angle;
        let (fv, ev) = match previous {
            Some(prev) if dt_s > 0.0 => (
                (flexor_stretch - prev.flexor_stretch) / dt_s,
                (extensor_stretch - prev.extensor_stretch) / dt_s,
            ),
            _ => (0.0, 0.0),
        };
        BodyState {
            height: self.p.length * (1.0 - self.angle.cos()),
            angle: self.angle,
            flexor_stretch,
            extensor_stretch,
            flexor_stretch_velocity: fv,
            extensor_stretch_velocity: ev,
        }
    }
}

impl Body for Hindlimb {
    fn reset(&mut self) {
        self.angle = 0.0;
        self.velocity = 0.0;
        self.flexor_activation = 0.0;
        self.extensor_activation = 0.0;
        self.noise = 0.0;
        self.last = self.observe(None, 0.0);
    }

    fn step(&mut self, drive: MotorDrive, dt_ms: f64) {
        let p = &self.p;
        let m = p.mass * 1e-3; // kg
        let l = p.length * 1e-3; // m
        let inertia = m * l * l / 3.0;
        let target_f = (drive.flexor_hz / p.saturation_rate).clamp(0.0, 1.0);
        let target_e = (drive.extensor_hz / p.saturation_rate).clamp(0.0, 1.0);
        let n = (dt_ms / LIMB_SUBSTEP_MS).ceil().max(1.0) as usize;
        let h = dt_ms / n as f64;
        let decay = (-h / p.activation_tau).exp();
        if p.torque_noise > 0.0 {
            // Exact update of an Ornstein–Uhlenbeck process over the
            // interval, held constant within it.
            let a = (-dt_ms / p.noise_tau).exp();
            self.noise = self.noise * a + p.torque_noise * (1.0 - a * a).sqrt() * self.rng.normal();
        }
        for _ in 0..n {
            self.flexor_activation = target_f + (self.flexor_activation - target_f) * decay;
            self.extensor_activation = target_e + (self.extensor_activation - target_e) * decay;
            // Torques in N·m (the parameters are in N·mm).
            let torque = (p.flexor_torque * self.flexor_activation
                - p.extensor_torque * self.extensor_activation
                - p.damping * self.velocity
                + self.noise)
                * 1e-3
                - m * p.gravity * 0.5 * l * self.angle.sin();
            let hs = h * 1e-3;
            // Semi-implicit Euler: velocity first, then the angle with it.
            self.velocity += torque / inertia * hs;
            self.angle += self.velocity * hs;
            if self.angle <= 0.0 {
                self.angle = 0.0;
                self.velocity = self.velocity.max(0.0);
            } else if self.angle >= p.max_angle {
                self.angle = p.max_angle;
                self.velocity = self.velocity.min(0.0);
            }
        }
        let prev = self.last;
        self.last = self.observe(Some(&prev), dt_ms * 1e-3);
    }

    fn state(&self) -> BodyState {
        self.last
    }
}

/// Measures of one body over one phase.
#[derive(Debug, Clone, Serialize)]
pub struct BodyPhaseMeasures {
    /// Where its cues came from.
    pub cue_mode: String,
    /// Cues delivered to it.
    pub cues: usize,
    /// Percent of the phase's exchanges with the foot below the threshold.
    pub below_threshold_percent: f64,
    /// The same per whole or partial minute of the phase.
    pub below_threshold_percent_per_minute: Vec<f64>,
    /// The same over the phase's last 2 minutes (all of it if shorter).
    pub below_threshold_percent_last_2_min: f64,
    /// Cues delivered up to the learning criterion (the smoothed interval
    /// between cues above 1 s), `None` if the phase ended before it.
    pub cues_to_criterion: Option<usize>,
    /// Time of the criterion from the phase's start, ms.
    pub criterion_time_ms: Option<f64>,
    /// Mean foot height, mm.
    pub mean_height_mm: f64,
}

/// Measures of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseMeasures {
    /// Its name.
    pub name: String,
    /// Start, ms.
    pub start_ms: f64,
    /// Duration, ms.
    pub duration_ms: f64,
    /// Populations silenced.
    pub silenced: Vec<String>,
    /// Whether plasticity was on.
    pub plasticity: bool,
    /// Per body, in body order, with its name.
    pub bodies: Vec<(String, BodyPhaseMeasures)>,
}

/// What a closed-loop run measured: `summary.json`'s `protocol`.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolSummary {
    /// The bodies: name, exchange interval (ms), cue threshold (mm, if any).
    pub bodies: Vec<BodyInfo>,
    /// The phases in order.
    pub phases: Vec<PhaseMeasures>,
    /// Files written (relative to the run directory).
    pub files: Vec<String>,
}

/// A body's description in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct BodyInfo {
    /// Name.
    pub name: String,
    /// Exchange interval, ms.
    pub interval_ms: f64,
    /// Cue threshold, mm.
    pub threshold_mm: Option<f64>,
    /// Highest foot height, mm.
    pub max_height_mm: f64,
}

/// The recorded trace of one body.
#[derive(Debug, Clone, Default)]
pub struct BodyTraceData {
    /// Foot height after each exchange (exchange k ends at (k+1)·interval).
    pub heights: Vec<f32>,
    /// Cue onsets this body received, in steps.
    pub cue_steps: Vec<u64>,
}

struct BodyRun {
    spec: BodySpec,
    body: Box<dyn Body>,
    interval_steps: u64,
    pools: [Vec<std::ops::Range<usize>>; 2],
    pool_sizes: [usize; 2],
    last_counts: [u64; 2],
    cue_off_step: Option<u64>,
    last_onset: Option<u64>,
    trace: BodyTraceData,
}

struct PhaseRun {
    spec: PhaseSpec,
    start: u64,
    end: u64,
}

/// Runs bodies and phases against an engine. The run loop asks
/// [`ClosedLoop::next_event`] where to stop and calls [`ClosedLoop::at`]
/// there.
pub struct ClosedLoop {
    dt: f64,
    seed: u64,
    bodies: Vec<BodyRun>,
    phases: Vec<PhaseRun>,
    current_phase: Option<usize>,
    silenced: Vec<bool>,
    plastic: Vec<usize>,
    plasticity_on: bool,
    initial_weights: Option<Vec<f64>>,
    /// Per phase, per body: index of the first trace sample and cue in it.
    phase_marks: Vec<Vec<(usize, usize)>>,
    gaps_applied: u64,
}

/// Why a closed loop cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ClosedLoopError {
    /// The engine refused a run-time change.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A body was replaced by one of an unknown name.
    #[error("no body named `{0}` in the description")]
    UnknownBody(String),
}

impl ClosedLoop {
    /// The closed loop of a description built into `net`; `None` when the
    /// description has no bodies and no phases.
    pub fn new(desc: &Description, net: &Network) -> Option<Self> {
        if desc.bodies.is_empty() && desc.phases.is_empty() {
            return None;
        }
        let dt = net.dt;
        let bodies = desc
            .bodies
            .iter()
            .enumerate()
            .map(|(index, b)| {
                let range = |p: usize| {
                    let l = &net.populations[p];
                    l.offset as usize..(l.offset + l.size) as usize
                };
                let flex: Vec<_> = b.flexor.iter().map(|&p| range(p)).collect();
                let ext: Vec<_> = b.extensor.iter().map(|&p| range(p)).collect();
                let size = |r: &[std::ops::Range<usize>]| r.iter().map(|r| r.len()).sum();
                BodyRun {
                    body: match &b.model {
                        BodyModelSpec::Hindlimb(p) => Box::new(Hindlimb::new(*p, net.seed, index)),
                    },
                    interval_steps: round_to_steps(b.interval, dt).max(1),
                    pool_sizes: [size(&flex), size(&ext)],
                    pools: [flex, ext],
                    last_counts: [0, 0],
                    cue_off_step: None,
                    last_onset: None,
                    trace: BodyTraceData::default(),
                    spec: b.clone(),
                }
            })
            .collect();
        let specs: Vec<PhaseSpec> = if desc.phases.is_empty() {
            vec![PhaseSpec {
                name: "run".into(),
                duration: net.steps as f64 * dt,
                cues: desc
                    .bodies
                    .iter()
                    .map(|b| {
                        if b.cue.is_some() {
                            CueMode::Contingent
                        } else {
                            CueMode::Off
                        }
                    })
                    .collect(),
                silence: Vec::new(),
                plasticity: true,
                reset_bodies: false,
                gap: None,
            }]
        } else {
            desc.phases.clone()
        };
        let mut start = 0;
        let phases = specs
            .into_iter()
            .map(|spec| {
                let end = start + round_to_steps(spec.duration, dt);
                let p = PhaseRun { spec, start, end };
                start = end;
                p
            })
            .collect();
        let plastic = net
            .projections
            .iter()
            .enumerate()
            .filter(|(_, p)| p.plasticity.is_some() || p.dopamine.is_some())
            .map(|(i, _)| i)
            .collect();
        Some(Self {
            dt,
            seed: net.seed,
            bodies,
            phases,
            current_phase: None,
            silenced: vec![false; net.populations.len()],
            plastic,
            plasticity_on: true,
            initial_weights: None,
            phase_marks: Vec::new(),
            gaps_applied: 0,
        })
    }

    /// Replaces the model of body `name` by `body` (a tool's own body).
    pub fn with_body(mut self, name: &str, body: Box<dyn Body>) -> Result<Self, ClosedLoopError> {
        let b = self
            .bodies
            .iter_mut()
            .find(|b| b.spec.name == name)
            .ok_or_else(|| ClosedLoopError::UnknownBody(name.to_string()))?;
        b.body = body;
        Ok(self)
    }

    /// The next step (absolute) at which the loop must act, after `done`.
    pub fn next_event(&self, done: u64) -> u64 {
        let mut next = u64::MAX;
        for b in &self.bodies {
            next = next.min((done / b.interval_steps + 1) * b.interval_steps);
            if let Some(off) = b.cue_off_step.filter(|&s| s > done) {
                next = next.min(off);
            }
        }
        for p in &self.phases {
            if p.start > done {
                next = next.min(p.start);
            }
        }
        next
    }

    /// Acts at step `done`: phase changes, body exchanges, cues.
    pub fn at(&mut self, engine: &mut dyn Engine, done: u64) -> Result<(), ClosedLoopError> {
        // The exchange at a phase boundary ends the interval of the phase
        // before it; then the phases starting now (zero-length gap phases
        // start and end at once).
        self.exchange(engine, done)?;
        while let Some(next) = self.next_phase_starting(done) {
            self.start_phase(engine, next)?;
        }
        Ok(())
    }

    fn exchange(&mut self, engine: &mut dyn Engine, done: u64) -> Result<(), ClosedLoopError> {
        for b in &mut self.bodies {
            if b.cue_off_step == Some(done) {
                b.cue_off_step = None;
                if let Some(c) = &b.spec.cue {
                    engine.set_stimulus_rate(c.stimulus, 0.0)?;
                }
            }
        }
        let due: Vec<usize> = (0..self.bodies.len())
            .filter(|&i| done > 0 && done.is_multiple_of(self.bodies[i].interval_steps))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let counts = engine.spike_counts();
        // No cue starts at the last exchange of a phase: it would be cut
        // off at once by the next phase.
        let phase = self
            .current_phase
            .filter(|&i| self.phases[i].end != done)
            .map(|i| &self.phases[i].spec);
        let mut onsets = vec![false; self.bodies.len()];
        for &i in &due {
            let b = &mut self.bodies[i];
            let seconds = b.interval_steps as f64 * self.dt * 1e-3;
            let mut rates = [0.0; 2];
            for (k, rate) in rates.iter_mut().enumerate() {
                let total: u64 = b.pools[k]
                    .iter()
                    .map(|r| counts[r.clone()].iter().sum::<u64>())
                    .sum();
                let new = total - b.last_counts[k];
                b.last_counts[k] = total;
                if b.pool_sizes[k] > 0 {
                    *rate = new as f64 / (b.pool_sizes[k] as f64 * seconds);
                }
            }
            let interval_ms = b.interval_steps as f64 * self.dt;
            b.body.step(
                MotorDrive {
                    flexor_hz: rates[0],
                    extensor_hz: rates[1],
                },
                interval_ms,
            );
            let state = b.body.state();
            b.trace.heights.push(state.height as f32);
            for a in &b.spec.afferents {
                engine.set_stimulus_rate(a.stimulus, afferent_rate(a, &state))?;
            }
            if let (Some(cue), Some(phase)) = (&b.spec.cue, phase) {
                let free = b
                    .last_onset
                    .is_none_or(|t| (done - t) as f64 * self.dt >= cue.min_interval - 1e-9);
                if phase.cues[i] == CueMode::Contingent && state.height < cue.threshold && free {
                    onsets[i] = true;
                }
            }
        }
        if let Some(phase) = phase {
            for (i, m) in phase.cues.iter().enumerate() {
                if let CueMode::Yoked(src) = m {
                    if onsets[*src] {
                        onsets[i] = true;
                    }
                }
            }
        }
        for (i, b) in self.bodies.iter_mut().enumerate() {
            if !onsets[i] {
                continue;
            }
            let cue = b
                .spec
                .cue
                .as_ref()
                .expect("only bodies with a cue get onsets");
            engine.set_stimulus_rate(cue.stimulus, cue.rate)?;
            b.last_onset = Some(done);
            b.cue_off_step = Some(done + round_to_steps(cue.duration, self.dt).max(1));
            b.trace.cue_steps.push(done);
        }
        Ok(())
    }

    fn next_phase_starting(&self, done: u64) -> Option<usize> {
        let next = self.current_phase.map_or(0, |i| i + 1);
        (next < self.phases.len() && self.phases[next].start == done).then_some(next)
    }

    fn start_phase(
        &mut self,
        engine: &mut dyn Engine,
        index: usize,
    ) -> Result<(), ClosedLoopError> {
        let spec = self.phases[index].spec.clone();
        for (p, s) in self.silenced.iter_mut().enumerate() {
            let want = spec.silence.contains(&p);
            if *s != want {
                engine.set_silenced(p, want)?;
                *s = want;
            }
        }
        if spec.plasticity != self.plasticity_on {
            for &p in &self.plastic {
                engine.set_plasticity(p, spec.plasticity)?;
            }
            self.plasticity_on = spec.plasticity;
        }
        if self.initial_weights.is_none() {
            self.initial_weights = Some(if self.plastic.is_empty() {
                Vec::new()
            } else {
                engine.synapse_weights()?
            });
        }
        if let Some(gap) = spec.gap {
            self.apply_gap(engine, gap)?;
        }
        for b in &mut self.bodies {
            if spec.reset_bodies {
                b.body.reset();
            }
            // A cue in progress ends with its phase.
            if b.cue_off_step.take().is_some() {
                if let Some(c) = &b.spec.cue {
                    engine.set_stimulus_rate(c.stimulus, 0.0)?;
                }
            }
            b.last_onset = None;
        }
        self.phase_marks.push(
            self.bodies
                .iter()
                .map(|b| (b.trace.heights.len(), b.trace.cue_steps.len()))
                .collect(),
        );
        self.current_phase = Some(index);
        Ok(())
    }

    /// `w <- w0 + (1 - decay)(w - w0) + noise · wmax · N(0, 1)`, clipped to
    /// the projection's range, for every plastic synapse. The noise comes
    /// from its own Philox stream keyed by the seed, the gap's number and
    /// the synapse, so it is the same on every backend.
    fn apply_gap(&mut self, engine: &mut dyn Engine, gap: GapSpec) -> Result<(), ClosedLoopError> {
        if self.plastic.is_empty() {
            return Ok(());
        }
        let w0 = self.initial_weights.clone().unwrap_or_default();
        let now = engine.synapse_weights()?;
        let net = engine.network();
        let per_projection: Vec<(usize, Vec<f64>)> = self
            .plastic
            .iter()
            .filter_map(|&p| {
                overnight_weights(net, self.seed, self.gaps_applied, p, &w0, &now, gap)
                    .map(|ws| (p, ws))
            })
            .collect();
        for (p, ws) in per_projection {
            engine.set_projection_weights(p, &ws)?;
        }
        self.gaps_applied += 1;
        Ok(())
    }

    /// The recorded traces, in body order, with their names.
    pub fn traces(&self) -> Vec<(&str, &BodyTraceData)> {
        self.bodies
            .iter()
            .map(|b| (b.spec.name.as_str(), &b.trace))
            .collect()
    }

    /// The measures of every phase, from the traces.
    pub fn summary(&self) -> ProtocolSummary {
        let mut phases = Vec::new();
        for (pi, phase) in self.phases.iter().enumerate() {
            let Some(marks) = self.phase_marks.get(pi) else {
                continue;
            };
            let mut bodies = Vec::new();
            for (bi, b) in self.bodies.iter().enumerate() {
                let (h0, c0) = marks[bi];
                let (h1, c1) = self
                    .phase_marks
                    .get(pi + 1)
                    .map_or((b.trace.heights.len(), b.trace.cue_steps.len()), |m| m[bi]);
                let heights = &b.trace.heights[h0..h1];
                let cues = &b.trace.cue_steps[c0..c1];
                let interval_ms = b.interval_steps as f64 * self.dt;
                let threshold = b.spec.cue.as_ref().map(|c| c.threshold);
                bodies.push((
                    b.spec.name.clone(),
                    measure(
                        heights,
                        interval_ms,
                        threshold,
                        cues,
                        phase.start,
                        phase.end,
                        self.dt,
                        match &phase.spec.cues[bi] {
                            CueMode::Off => "off".to_string(),
                            CueMode::Contingent => "contingent".to_string(),
                            CueMode::Yoked(s) => format!("yoked to {}", self.bodies[*s].spec.name),
                        },
                    ),
                ));
            }
            phases.push(PhaseMeasures {
                name: phase.spec.name.clone(),
                start_ms: phase.start as f64 * self.dt,
                duration_ms: (phase.end - phase.start) as f64 * self.dt,
                silenced: Vec::new(),
                plasticity: phase.spec.plasticity,
                bodies,
            });
        }
        ProtocolSummary {
            bodies: self
                .bodies
                .iter()
                .map(|b| BodyInfo {
                    name: b.spec.name.clone(),
                    interval_ms: b.interval_steps as f64 * self.dt,
                    threshold_mm: b.spec.cue.as_ref().map(|c| c.threshold),
                    max_height_mm: match &b.spec.model {
                        BodyModelSpec::Hindlimb(p) => p.max_height(),
                    },
                })
                .collect(),
            phases,
            files: Vec::new(),
        }
    }
}

/// An afferent's rate for a body state.
pub fn afferent_rate(a: &crate::description::AfferentSpec, s: &BodyState) -> f64 {
    let (stretch, velocity) = s.stretch(a.signal);
    (a.base_rate + a.length_gain * stretch + a.velocity_gain * velocity.max(0.0))
        .clamp(0.0, a.max_rate)
}

#[allow(clippy::too_many_arguments)]
fn measure(
    heights: &[f32],
    interval_ms: f64,
    threshold: Option<f64>,
    cues: &[u64],
    start: u64,
    end: u64,
    dt: f64,
    cue_mode: String,
) -> BodyPhaseMeasures {
    let below = |hs: &[f32]| -> f64 {
        match threshold {
            Some(t) if !hs.is_empty() => {
                100.0 * hs.iter().filter(|&&h| (h as f64) < t).count() as f64 / hs.len() as f64
            }
            _ => 0.0,
        }
    };
    let per_minute = (60_000.0 / interval_ms).round().max(1.0) as usize;
    let last_2 = (120_000.0 / interval_ms).round() as usize;
    let cue_ms: Vec<f64> = cues.iter().map(|&c| (c - start) as f64 * dt).collect();
    let (cues_to_criterion, criterion_time_ms) = criterion(&cue_ms, (end - start) as f64 * dt)
        .map_or((None, None), |(n, t)| (Some(n), Some(t)));
    BodyPhaseMeasures {
        cue_mode,
        cues: cues.len(),
        below_threshold_percent: below(heights),
        below_threshold_percent_per_minute: heights.chunks(per_minute).map(below).collect(),
        below_threshold_percent_last_2_min: below(&heights[heights.len().saturating_sub(last_2)..]),
        cues_to_criterion,
        criterion_time_ms,
        mean_height_mm: if heights.is_empty() {
            0.0
        } else {
            heights.iter().map(|&h| h as f64).sum::<f64>() / heights.len() as f64
        },
    }
}

/// The learning criterion: the first moment at which the mean of the last
/// [`CRITERION_WINDOW`] intervals between cues (the interval still open
/// since the last cue counting as the newest) exceeds
/// [`CRITERION_INTERVAL_MS`]. The window must be full: the criterion can
/// only be met once `CRITERION_WINDOW - 1` intervals have closed, so that a
/// single long pause after the first cue is not mistaken for learning.
/// Returns the cues delivered by then and the moment (ms from the phase's
/// start), or `None` if the phase (`length` ms) ends first or fewer than
/// `CRITERION_WINDOW` cues came.
pub fn criterion(cue_ms: &[f64], length: f64) -> Option<(usize, f64)> {
    let k = CRITERION_WINDOW;
    for (i, &last) in cue_ms.iter().enumerate().skip(k - 1) {
        // The newest k - 1 closed intervals before cue i.
        let recent: Vec<f64> = cue_ms[i + 1 - k..=i]
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        let sum: f64 = recent.iter().sum();
        let n = k as f64;
        // The open interval o makes the mean exceed the limit when
        // (sum + o) / n > limit.
        let open_needed = (CRITERION_INTERVAL_MS * n - sum).max(0.0);
        let moment = last + open_needed;
        let next = cue_ms.get(i + 1).copied().unwrap_or(length);
        if moment < next && moment <= length {
            return Some((i + 1, moment));
        }
    }
    None
}

/// One plastic projection's weights after an overnight gap:
/// `w <- w0 + (1 - decay)(w - w0) + noise · wmax · N(0, 1)`, clipped to the
/// projection's range, in `engine::projection_synapses` order. `w0` and
/// `now` are whole-network weights (`Engine::synapse_weights` order). The
/// noise comes from its own Philox stream keyed by the seed, the gap's
/// number and the synapse's index, so it is the same on every backend.
/// `None` when the projection is not plastic.
pub fn overnight_weights(
    net: &Network,
    seed: u64,
    gap_number: u64,
    projection: usize,
    w0: &[f64],
    now: &[f64],
    gap: GapSpec,
) -> Option<Vec<f64>> {
    let proj = &net.projections[projection];
    let (lo, hi) = match (&proj.plasticity, &proj.dopamine) {
        (Some(s), _) if s.wmax >= 0.0 => (0.0, s.wmax),
        (Some(s), _) => (s.wmax, 0.0),
        (None, Some(d)) => (d.wmin, d.wmax),
        _ => return None,
    };
    let scale = hi.abs().max(lo.abs());
    let mut ws = Vec::new();
    for (i, &proj_of) in net.synapses.projection.iter().enumerate() {
        if proj_of as usize != projection {
            continue;
        }
        let noise = if gap.weight_noise > 0.0 {
            // Keyed by the synapse's index (entity: high bits, counter: low bits).
            let mut rng = Stream::at(
                seed,
                stream_id(Purpose::GapNoise, gap_number as usize),
                (i as u64 >> 32) as u32,
                (i as u64) << 20,
            );
            rng.normal() * gap.weight_noise * scale
        } else {
            0.0
        };
        let w = w0[i] + (1.0 - gap.weight_decay) * (now[i] - w0[i]) + noise;
        ws.push(w.clamp(lo, hi));
    }
    Some(ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::description::HINDLIMB_DEFAULTS;

    #[test]
    fn a_limb_without_drive_hangs_and_a_strong_flexor_lifts_it() {
        let mut limb = Hindlimb::new(HINDLIMB_DEFAULTS, 1, 0);
        for _ in 0..500 {
            limb.step(MotorDrive::default(), 1.0);
        }
        assert_eq!(limb.state().height, 0.0);
        for _ in 0..500 {
            limb.step(
                MotorDrive {
                    flexor_hz: HINDLIMB_DEFAULTS.saturation_rate,
                    extensor_hz: 0.0,
                },
                1.0,
            );
        }
        let top = HINDLIMB_DEFAULTS.max_height();
        assert!(
            (limb.state().height - top).abs() < 1e-9,
            "{:?}",
            limb.state()
        );
        // Released, it falls back down under gravity within a second.
        for _ in 0..1000 {
            limb.step(MotorDrive::default(), 1.0);
        }
        assert!(limb.state().height < 0.05 * top, "{:?}", limb.state());
    }

    #[test]
    fn static_equilibrium_balances_gravity() {
        // With half the flexor torque needed at 30 degrees, the limb settles there.
        let p = HINDLIMB_DEFAULTS;
        let theta: f64 = 0.5;
        let gravity_nmm = p.mass * 1e-3 * p.gravity * 0.5 * p.length * 1e-3 * theta.sin() * 1e3;
        let activation = gravity_nmm / p.flexor_torque;
        let mut limb = Hindlimb::new(p, 1, 0);
        for _ in 0..5000 {
            limb.step(
                MotorDrive {
                    flexor_hz: activation * p.saturation_rate,
                    extensor_hz: 0.0,
                },
                1.0,
            );
        }
        assert!(
            (limb.state().angle - theta).abs() < 1e-3,
            "{:?}",
            limb.state()
        );
    }

    #[test]
    fn criterion_counts_cues_until_the_smoothed_interval_passes_one_second() {
        // Cues every 200 ms, then none: the open interval must bring the
        // mean of 5 intervals (4 of 200 ms + the open one) above 1000 ms.
        let cues: Vec<f64> = (0..10).map(|i| i as f64 * 200.0).collect();
        let (n, t) = criterion(&cues, 60_000.0).unwrap();
        assert_eq!(n, 10);
        assert!((t - (1800.0 + 5000.0 - 800.0)).abs() < 1e-9, "{t}");
        // Never reached when cues keep coming every 200 ms.
        let steady: Vec<f64> = (0..300).map(|i| i as f64 * 200.0).collect();
        assert_eq!(criterion(&steady, 60_000.0), None);
        // Fewer than 5 cues: the window is never full.
        assert_eq!(criterion(&[0.0], 60_000.0), None);
        assert_eq!(criterion(&[0.0, 3000.0, 9000.0, 20000.0], 60_000.0), None);
        assert_eq!(criterion(&[], 60_000.0), None);
        // Widening intervals: after the 5th cue the 4 closed intervals (100,
        // 200, 1000, 3000 ms) sum to 4300 ms, so the open one must reach
        // 700 ms: the criterion is met at 5000 ms with 5 cues.
        let widening = [0.0, 100.0, 300.0, 1300.0, 4300.0];
        assert_eq!(criterion(&widening, 60_000.0), Some((5, 5000.0)));
    }
}

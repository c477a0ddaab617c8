//! The validated, typed form of a description.

use crate::models::ModelKind;
use serde::Serialize;

/// A validated network description, ready to be built.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    /// The file it came from (or `<string>`), for messages.
    pub source: String,
    /// `[parameters]` after overrides and evaluation, in file order.
    pub parameters: Vec<(String, f64)>,
    /// Global settings.
    pub network: NetworkSpec,
    /// Populations in file order; neuron ids are laid out in this order.
    pub populations: Vec<PopulationSpec>,
    /// External inputs.
    pub stimuli: Vec<StimulusSpec>,
    /// Connections between populations.
    pub projections: Vec<ProjectionSpec>,
    /// What to record.
    pub records: Vec<RecordSpec>,
    /// Which projections' weights to record.
    pub weight_records: Vec<WeightRecordSpec>,
    /// How long to simulate.
    pub run: RunSpec,
    /// Closed-loop bodies (`[bodies.NAME]`), in file order.
    pub bodies: Vec<BodySpec>,
    /// Protocol phases (`[[phases]]`) in order; empty when the description
    /// has none (then bodies run one implicit phase with contingent cues).
    pub phases: Vec<PhaseSpec>,
}

/// A body in closed loop with the network: every `interval` ms it reads the
/// spikes of its motor pools and sets the rates of its afferents.
#[derive(Debug, Clone, Serialize)]
pub struct BodySpec {
    /// Its name (instances prefix it as they prefix populations).
    pub name: String,
    /// The body model and its parameters.
    pub model: BodyModelSpec,
    /// Exchange interval in ms: a whole number of steps, at least one.
    pub interval: f64,
    /// Populations whose spikes drive the flexor.
    pub flexor: Vec<usize>,
    /// Populations whose spikes drive the extensor.
    pub extensor: Vec<usize>,
    /// Afferents whose rates follow the body's state.
    pub afferents: Vec<AfferentSpec>,
    /// The cue delivered to the body's cue afferents, if any.
    pub cue: Option<CueSpec>,
}

/// The body models.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyModelSpec {
    /// A one-degree-of-freedom hindlimb under gravity.
    Hindlimb(HindlimbParams),
}

/// Parameters of the hindlimb (see `closed_loop::Hindlimb`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HindlimbParams {
    /// Limb length from the joint to the foot, mm.
    pub length: f64,
    /// Limb mass, g (a uniform rod about the joint).
    pub mass: f64,
    /// Largest flexion angle, rad (the foot's highest point).
    pub max_angle: f64,
    /// Viscous damping at the joint, N·mm·s/rad.
    pub damping: f64,
    /// Torque of the fully active flexor, N·mm.
    pub flexor_torque: f64,
    /// Torque of the fully active extensor, N·mm.
    pub extensor_torque: f64,
    /// Motoneuron rate (Hz per neuron) that activates a muscle fully.
    pub saturation_rate: f64,
    /// Time constant of muscle activation, ms.
    pub activation_tau: f64,
    /// Gravitational acceleration, m/s².
    pub gravity: f64,
    /// Standard deviation of a random torque on the joint (spontaneous
    /// movements, postural sway), N·mm; 0 for none.
    pub torque_noise: f64,
    /// Correlation time of that torque (an Ornstein–Uhlenbeck process), ms.
    pub noise_tau: f64,
}

impl HindlimbParams {
    /// Highest foot height, mm (the foot hangs at 0).
    pub fn max_height(&self) -> f64 {
        self.length * (1.0 - self.max_angle.cos())
    }
}

/// What an afferent population reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The flexor's stretch: 1 with the limb hanging, 0 fully flexed.
    Flexor,
    /// The extensor's stretch: 0 with the limb hanging, 1 fully flexed.
    Extensor,
}

/// An afferent population whose Poisson drive follows the body.
#[derive(Debug, Clone, Serialize)]
pub struct AfferentSpec {
    /// The afferent population.
    pub population: usize,
    /// The muscle whose stretch it reports.
    pub signal: Signal,
    /// Rate at zero stretch, Hz; negative for an afferent that is silent
    /// until the stretch reaches `-base_rate / length_gain`.
    pub base_rate: f64,
    /// Hz per unit of stretch (0..1).
    pub length_gain: f64,
    /// Hz per unit of stretch per second, for lengthening only (Ia-like).
    pub velocity_gain: f64,
    /// Largest rate, Hz.
    pub max_rate: f64,
    /// Index of the Poisson stimulus that carries it (appended to `stimuli`).
    pub stimulus: usize,
}

/// A cue: a burst of Poisson input to the cue afferents.
#[derive(Debug, Clone, Serialize)]
pub struct CueSpec {
    /// The cue afferent population.
    pub population: usize,
    /// Foot height (mm) below which a contingent cue is delivered.
    pub threshold: f64,
    /// Rate of the afferents' drive during a cue, Hz.
    pub rate: f64,
    /// Length of one cue, ms.
    pub duration: f64,
    /// Smallest time between two cue onsets, ms.
    pub min_interval: f64,
    /// Index of the Poisson stimulus that carries it (appended to `stimuli`).
    pub stimulus: usize,
}

/// Where a body's cues come from in a phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CueMode {
    /// No cues.
    Off,
    /// A cue whenever the body's own foot is below the threshold (master).
    Contingent,
    /// The cues of another body (its index), at the same moments (yoked).
    Yoked(usize),
}

/// A protocol phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseSpec {
    /// Its name.
    pub name: String,
    /// Simulated time, ms (0 for a pure gap).
    pub duration: f64,
    /// Cue mode of every body, in body order.
    pub cues: Vec<CueMode>,
    /// Populations silenced (lesioned) during the phase.
    pub silence: Vec<usize>,
    /// Whether plastic projections learn during the phase.
    pub plasticity: bool,
    /// Put every body back at rest when the phase starts.
    pub reset_bodies: bool,
    /// Changes to the plastic weights when the phase starts (an "overnight").
    pub gap: Option<GapSpec>,
}

/// What happens to plastic weights over a gap between sessions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GapSpec {
    /// Fraction of each weight's change since the start of the run that is
    /// lost: `w <- w0 + (1 - weight_decay) (w - w0)`.
    pub weight_decay: f64,
    /// Standard deviation of Gaussian noise added to each weight, as a
    /// fraction of the projection's largest weight.
    pub weight_noise: f64,
}

/// `[network]`.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkSpec {
    /// Simulation step in ms.
    pub dt: f64,
    /// Seed of every random stream.
    pub seed: u64,
}

/// A population of identical neurons.
#[derive(Debug, Clone, Serialize)]
pub struct PopulationSpec {
    /// Its name.
    pub name: String,
    /// Its model.
    pub model: ModelKind,
    /// Number of neurons.
    pub size: usize,
    /// Full parameter vector in [`ModelKind::params`] order (defaults filled in).
    pub params: Vec<f64>,
    /// Initial value of each state variable, in [`ModelKind::state`] order;
    /// `None` means the model's default.
    pub init: Vec<Option<Dist>>,
}

/// A number or a random distribution of numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dist {
    /// Always this value.
    Constant(f64),
    /// Uniform on [low, high).
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Normal.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Normal, redrawn until inside [min, max] (a truncated normal, as NEST's `redraw`).
    NormalClipped {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
        /// Lower bound (may be -inf).
        min: f64,
        /// Upper bound (may be +inf).
        max: f64,
    },
    /// exp(N(mu, sigma)), as NEST's `lognormal(mean=mu, std=sigma)`.
    Lognormal {
        /// Mean of the underlying normal.
        mu: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
}

impl Dist {
    /// The smallest and largest value it can take.
    pub fn bounds(&self) -> (f64, f64) {
        match *self {
            Dist::Constant(v) => (v, v),
            Dist::Uniform { low, high } => (low, high),
            Dist::Normal { .. } => (f64::NEG_INFINITY, f64::INFINITY),
            Dist::NormalClipped { min, max, .. } => (min, max),
            Dist::Lognormal { .. } => (0.0, f64::INFINITY),
        }
    }
}

/// A selection of neurons of one population.
#[derive(Debug, Clone, Serialize)]
pub struct NeuronSelection {
    /// Index into [`Description::populations`].
    pub population: usize,
    /// Local neuron indices; `None` is the whole population.
    pub neurons: Option<Vec<u32>>,
}

/// An external input.
#[derive(Debug, Clone, Serialize)]
pub struct StimulusSpec {
    /// What it is.
    pub kind: StimulusKind,
    /// Which neurons receive it, in order (a per-neuron list follows this order).
    pub targets: Vec<NeuronSelection>,
    /// Weight of each spike (spike stimuli) in the target model's weight unit.
    pub weight: Dist,
    /// Delay in ms (rounded to steps as documented).
    pub delay: Dist,
    /// Active from this time (ms).
    pub start: f64,
    /// Active until this time (ms), `inf` for the whole run.
    pub stop: f64,
}

/// The kinds of stimulus.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StimulusKind {
    /// An independent Poisson spike train per target neuron.
    Poisson {
        /// Rate in Hz.
        rate: f64,
    },
    /// A constant current in pA.
    Dc {
        /// Amplitude in pA.
        amplitude: f64,
    },
    /// A piecewise-constant current in pA.
    StepCurrent {
        /// Switch times in ms, increasing.
        times: Vec<f64>,
        /// Amplitudes in pA from each switch time on.
        amplitudes: Vec<f64>,
    },
    /// Spikes at given times: one list per target neuron.
    SpikeTimes {
        /// Spike times in ms per target neuron (a single list when shared).
        per_neuron: Vec<Vec<f64>>,
        /// Whether one list is shared by all targets.
        shared: bool,
    },
}

impl StimulusKind {
    /// Whether it sends spikes (and so has weight and delay).
    pub fn is_spiking(&self) -> bool {
        matches!(self, Self::Poisson { .. } | Self::SpikeTimes { .. })
    }
}

/// A connection rule, as NEST's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum ConnectRule {
    /// Every source to every target.
    AllToAll,
    /// Source i to target i.
    OneToOne,
    /// Each pair independently with probability p.
    FixedProbability {
        /// Probability.
        p: f64,
    },
    /// Each target gets exactly this many sources.
    FixedIndegree {
        /// In-degree.
        indegree: u64,
    },
    /// Each source gets exactly this many targets.
    FixedOutdegree {
        /// Out-degree.
        outdegree: u64,
    },
    /// Exactly this many connections, pairs drawn uniformly.
    FixedTotalNumber {
        /// Number of connections.
        n: u64,
    },
}

/// A projection from one set of populations onto another.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionSpec {
    /// Source populations (their union, in this order).
    pub from: Vec<usize>,
    /// Target populations (their union, in this order).
    pub to: Vec<usize>,
    /// Connection rule.
    pub rule: ConnectRule,
    /// Whether a neuron may connect to itself.
    pub allow_autapses: bool,
    /// Whether a pair may be connected more than once.
    pub allow_multapses: bool,
    /// Weight; its sign makes a synapse excitatory or inhibitory.
    pub weight: Dist,
    /// Delay in ms.
    pub delay: Dist,
    /// Spike-timing-dependent plasticity, `None` for static synapses.
    pub plasticity: Option<StdpParams>,
    /// Dopamine-modulated STDP, `None` unless `rule = "stdp_dopamine"`.
    pub dopamine: Option<DopamineParams>,
}

/// Reward-modulated STDP with the semantics of NEST's `stdp_dopamine_synapse`
/// (Izhikevich 2007; Potjans et al. 2010).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DopamineParams {
    /// Increment of the eligibility trace at a pre-before-post pairing.
    pub a_plus: f64,
    /// Decrement of the eligibility trace at a post-before-pre pairing.
    pub a_minus: f64,
    /// Time constant of the presynaptic trace, ms.
    pub tau_plus: f64,
    /// Time constant of the eligibility trace, ms.
    pub tau_c: f64,
    /// Time constant of the dopamine concentration, ms.
    pub tau_n: f64,
    /// Dopamine baseline.
    pub b: f64,
    /// Smallest weight.
    pub wmin: f64,
    /// Largest weight.
    pub wmax: f64,
    /// Population whose spikes release dopamine (index into populations).
    pub source: usize,
    /// Delay from a dopamine neuron's spike to its effect, ms.
    pub dopamine_delay: f64,
    /// Synapses are brought up to date every `deliver_interval` minimum delays.
    pub deliver_interval: u32,
}

/// Pair STDP with the semantics of NEST's `stdp_synapse` (all-to-all
/// pairing) or `stdp_nn_symm_synapse` (symmetric nearest neighbour).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StdpParams {
    /// Time constant of the presynaptic trace, ms.
    pub tau_plus: f64,
    /// Learning rate.
    pub lambda: f64,
    /// Ratio of depression to potentiation.
    pub alpha: f64,
    /// Weight dependence of potentiation: 0 additive, 1 multiplicative.
    pub mu_plus: f64,
    /// Weight dependence of depression: 0 additive, 1 multiplicative.
    pub mu_minus: f64,
    /// Largest weight (its sign is the weights' sign).
    pub wmax: f64,
    /// Symmetric nearest-neighbour pairing instead of all-to-all.
    pub nearest: bool,
}

/// A request to record a projection's weights.
#[derive(Debug, Clone, Serialize)]
pub struct WeightRecordSpec {
    /// Index into [`Description::projections`].
    pub projection: usize,
    /// Snapshot interval, ms.
    pub interval: f64,
}

/// A recording request.
#[derive(Debug, Clone, Serialize)]
pub struct RecordSpec {
    /// Which neurons.
    pub selection: NeuronSelection,
    /// Record their spikes.
    pub spikes: bool,
    /// State variables (indices into the model's state list) to sample.
    pub state: Vec<usize>,
    /// Sampling interval in ms.
    pub interval: f64,
}

/// `[run]`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSpec {
    /// Simulated time in ms.
    pub duration: f64,
    /// Start of the analysis window in ms: statistics use only the spikes
    /// after it (the network is simulated and recorded from 0 all the same).
    pub warmup: f64,
}

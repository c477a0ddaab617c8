//! The GPU data layout, defined once: `#[repr(C)]` structs that the kernels
//! read (their WGSL twins are in `shaders/shared/bindings.wgsl`), and the
//! host-side arrays of a network in that layout, shared by the GPU engine
//! and its CPU twin.

use crate::build::{Network, Stimulus};
use crate::engine::cpu::neuron_update::{propagator_32, refractory_steps};
use crate::models::ModelKind;
use crate::rng::{POISSON_PIECE, PoissonParams};
use bytemuck::{Pod, Zeroable};

/// Per-population constants. WGSL: `PopParams`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct PopParams {
    /// 0 `iaf_psc_delta`, 1 `iaf_psc_exp`, 2 `iaf_cond_exp`.
    pub model: u32,
    /// Refractory period in steps.
    pub ref_steps: u32,
    /// Row of the population's first neuron in the postsynaptic spike
    /// history ([`NO_HISTORY`] when no plastic synapse ends in it).
    pub history_base: u32,
    /// Global id of the population's first neuron.
    pub first_neuron: u32,
    /// E_L.
    pub e_l: f32,
    /// Threshold (relative to E_L for psc models).
    pub theta: f32,
    /// Reset (relative to E_L for psc models).
    pub v_reset: f32,
    /// Lower bound of V (delta; relative to E_L).
    pub v_min: f32,
    /// P22 (psc_exp) or P33 (delta).
    pub p22: f32,
    /// P20 (psc_exp) or P30 (delta).
    pub p20: f32,
    /// exp(-h/tau_syn_ex).
    pub p11_ex: f32,
    /// exp(-h/tau_syn_in).
    pub p11_in: f32,
    /// Current-to-voltage propagator, excitatory.
    pub p21_ex: f32,
    /// Current-to-voltage propagator, inhibitory.
    pub p21_in: f32,
    /// I_e.
    pub i_e: f32,
    /// 1 / C_m.
    pub inv_c_m: f32,
    /// g_L.
    pub g_l: f32,
    /// E_ex.
    pub e_ex: f32,
    /// E_in.
    pub e_in: f32,
    /// 1 / tau_syn_ex.
    pub inv_tau_ex: f32,
    /// 1 / tau_syn_in.
    pub inv_tau_in: f32,
    /// Step, ms.
    pub dt: f32,
    /// dt / tau_minus (the postsynaptic STDP trace's decay per step).
    pub dt_tau_minus: f32,
    /// Row of the population's first neuron among the sources of dopamine
    /// synapses (their slice spike masks, see [`DopamineLayout`]);
    /// [`NO_HISTORY`] when no dopamine synapse leaves the population.
    pub dopa_row: u32,
    /// Nonzero while the population is silenced (lesioned): its neurons
    /// keep their state, discard their input and do not spike.
    pub silenced: u32,
}

/// Per-step constants, one per step of a chunk at a 256-byte stride. WGSL: `StepUniform`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq, Default)]
pub struct StepUniform {
    /// Neurons.
    pub n_neurons: u32,
    /// Ring slots.
    pub ring_len: u32,
    /// step mod ring_len.
    pub slot: u32,
    /// step mod 2.
    pub parity: u32,
    /// Step index within the chunk.
    pub step_in_chunk: u32,
    /// Current changes of this step: events[current_begin..current_end].
    pub current_begin: u32,
    /// See `current_begin`.
    pub current_end: u32,
    /// Spikes to inject for the next step: events[inject_begin..inject_end].
    pub inject_begin: u32,
    /// See `inject_begin`.
    pub inject_end: u32,
    /// Poisson entries.
    pub n_poisson: u32,
    /// Seed, low word.
    pub seed_lo: u32,
    /// Seed, high word.
    pub seed_hi: u32,
    /// Poisson counter (stamp << 8), low word.
    pub pctr_lo: u32,
    /// Poisson counter, high word.
    pub pctr_hi: u32,
    /// Stamp (step + 1), low word.
    pub stamp_lo: u32,
    /// Stamp, high word.
    pub stamp_hi: u32,
    /// Row of the sample buffer, `u32::MAX` when nothing samples.
    pub sample_slot: u32,
    /// Sampling recorders, bits 0..32.
    pub sample_mask_lo: u32,
    /// Sampling recorders, bits 32..64.
    pub sample_mask_hi: u32,
    /// Columns of the sample buffer.
    pub n_sample_columns: u32,
    /// Capacity of the recorded-spike buffer.
    pub rec_capacity: u32,
    /// 1 when some synapse is plastic: neurons keep their spike stamps and
    /// presynaptic traces.
    pub plastic: u32,
    /// Presynaptic traces per neuron (one per distinct tau_plus).
    pub n_traces: u32,
    /// Row of the first trace's entry in the STDP rule table.
    pub trace_row: u32,
    /// Dopamine-modulated projections (0: none, and the dopamine fields
    /// below are unused).
    pub n_dopa: u32,
    /// Neurons with outgoing dopamine synapses: the length of each half of
    /// the sender list.
    pub dopa_sources: u32,
    /// Words of a sender's slice spike mask: ceil(min_delay / 32).
    pub dopa_words: u32,
    /// NEST's min_delay in steps: the length of a slice.
    pub dopa_min_delay: u32,
    /// step mod min_delay: this step's bit in the slice spike masks (0:
    /// the masks are cleared first).
    pub dopa_slice_step: u32,
    /// Which half of the sender list this step's spikes join: (step /
    /// min_delay) mod 2.
    pub dopa_fill: u32,
    /// 1 when the presynaptic spikes of the slice that just ended are sent
    /// through their dopamine synapses at the start of this step.
    pub dopa_send: u32,
    /// 1 when some volume transmitter updates its synapses at the end of
    /// this step (stamp a multiple of its deliver_interval * min_delay).
    pub dopa_trigger: u32,
}

/// Stride of per-step uniforms (the minimum uniform offset alignment wgpu guarantees).
pub const UNIFORM_STRIDE: u64 = 256;

/// One (Poisson stimulus, target) pair. WGSL: `PoissonEntry`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct PoissonEntry {
    /// Target neuron.
    pub target: u32,
    /// Weight.
    pub weight: f32,
    /// Delay, steps.
    pub delay: u32,
    /// Index into the Poisson stimulus table.
    pub stim: u32,
}

/// A Poisson stimulus. WGSL: `PoissonStim`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct PoissonStim {
    /// Random stream id.
    pub stream: u32,
    /// Whole pieces of mean 16.
    pub pieces: u32,
    /// Mean of the last piece.
    pub rest: f32,
    /// exp(-rest).
    pub exp_rest: f32,
    /// exp(-16).
    pub exp_piece: f32,
    /// First active stamp, low word.
    pub first_lo: u32,
    /// First active stamp, high word.
    pub first_hi: u32,
    /// Last active stamp, low word.
    pub last_lo: u32,
    /// Last active stamp, high word.
    pub last_hi: u32,
    /// Philox key of its draws, low word.
    pub seed_lo: u32,
    /// Philox key, high word.
    pub seed_hi: u32,
    /// Subtracted from a target's id to give its random entity (see
    /// `build::PoissonRng`).
    pub entity_offset: u32,
}

/// A current change or a spike to inject. WGSL: `Event`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct Event {
    /// Target neuron.
    pub target: u32,
    /// Current change (pA) or weight.
    pub value: f32,
}

/// A synapse in a CSR row. WGSL: `Synapse`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct Synapse {
    /// Target neuron.
    pub target: u32,
    /// Weight; the deliver kernel rewrites it for plastic synapses.
    pub weight: f32,
    /// Delay in steps in bits 0..16; bits 16..32 hold, for a plastic
    /// synapse, its row in the STDP rule table plus one (0: static). See
    /// [`Synapse::delay_steps`] and [`Synapse::rule`].
    pub delay: u32,
}

impl Synapse {
    /// Delay in steps.
    #[inline]
    pub fn delay_steps(&self) -> u32 {
        self.delay & 0xffff
    }

    /// Index of the synapse's row in the STDP rule table, `None` when static.
    #[inline]
    pub fn rule(&self) -> Option<usize> {
        match self.delay >> 16 {
            0 => None,
            r => Some(r as usize - 1),
        }
    }
}

/// Bytes of one synapse on the device.
pub const SYNAPSE_BYTES: u64 = std::mem::size_of::<Synapse>() as u64;

/// Per-synapse STDP state next to each synapse buffer (one per synapse of a
/// plastic network): the weight before the change of its source's last
/// spike, and the one before the change of the spike before that; they are
/// what a weight snapshot shows while those changes are still on their way
/// (see [`DeviceNetwork::visible_weights`]). WGSL: `vec2<f32>` in `plastic`.
pub type PlasticState = [f32; 2];

/// Bytes of per-synapse STDP state.
pub const PLASTIC_BYTES: u64 = std::mem::size_of::<PlasticState>() as u64;

/// Postsynaptic spikes kept per neuron that receives plastic synapses
/// (WGSL: `POST_HISTORY`, checked by a test). A presynaptic spike needs the
/// target's spikes since its previous spike (shifted back by the delay) and
/// the one before; more than the ring holds stops the run with an error.
pub const POST_HISTORY: u32 = 64;

/// `PopParams::history_base` of a population without a spike history
/// (WGSL: `NO_HISTORY`).
pub const NO_HISTORY: u32 = u32::MAX;

/// `counters[3]` while no history has overflowed (else the lowest neuron id
/// whose history was too short).
pub const NO_OVERFLOW: u32 = u32::MAX;

/// The STDP parameters of one projection, one row per projection (zero for
/// static ones). WGSL: `StdpRule`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct StdpRule {
    /// Learning rate.
    pub lambda: f32,
    /// Ratio of depression to potentiation.
    pub alpha: f32,
    /// Weight dependence of potentiation.
    pub mu_plus: f32,
    /// Weight dependence of depression.
    pub mu_minus: f32,
    /// Largest weight (its sign is the weights' sign).
    pub wmax: f32,
    /// dt / tau_plus.
    pub dt_tau_plus: f32,
    /// 1: symmetric nearest neighbour (`stdp_nn_symm`), 0: all-to-all (`stdp`).
    pub nearest: u32,
    /// 0 while switched off: weights frozen, traces keep running.
    pub enabled: u32,
    /// Which of the source's presynaptic traces (K+) the rule reads.
    pub trace: u32,
    /// For a `stdp_dopamine` projection, 1 + its row in the dopamine rule
    /// table ([`DopaRule`]); 0 for pair STDP. Such a row's other fields are
    /// unused.
    pub dopamine: u32,
}

/// One entry of a neuron's postsynaptic spike history. WGSL: `HistoryEntry`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq, Default)]
pub struct HistoryEntry {
    /// Stamp of the spike.
    pub stamp: u32,
    /// The trace K- just after it.
    pub kminus: f32,
}

/// The parameters and volume transmitter of one `stdp_dopamine` projection,
/// one row per such projection. Times are in steps, rates per step, as the
/// kernels count time in stamps. WGSL: `DopaRule`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct DopaRule {
    /// Increment of c per pre-before-post pairing (times K+).
    pub a_plus: f32,
    /// Decrement of c per post-before-pre pairing (times K-).
    pub a_minus: f32,
    /// dt / tau_plus.
    pub dt_tau_plus: f32,
    /// dt / tau_c.
    pub dt_tau_c: f32,
    /// dt / tau_n.
    pub dt_tau_n: f32,
    /// 1 / tau_n (ms^-1): the jump of n per dopamine spike.
    pub inv_tau_n: f32,
    /// taus dt, taus = 1/tau_c + 1/tau_n.
    pub taus_dt: f32,
    /// 1 / taus (ms).
    pub inv_taus: f32,
    /// b tau_c (ms).
    pub b_tau_c: f32,
    /// 2^(F - 32): a weight change times this is what `to_fixed` turns
    /// into the weight's fixed point (F fractional bits, see [`DopaSynapse`]).
    pub w_scale: f32,
    /// 2^(32 - F): the fixed point's high word back to weight units.
    pub w_unscale: f32,
    /// Weight changes are clamped to +-this (twice the largest |Wmin|,
    /// |Wmax|, rounded up to a power of two) before the fixed point, so that
    /// it cannot overflow; the clipped result is the same.
    pub dw_limit: f32,
    /// Wmin in the fixed point, low word.
    pub wmin_lo: u32,
    /// Wmin in the fixed point, high word (two's complement).
    pub wmin_hi: u32,
    /// Wmax in the fixed point, low word.
    pub wmax_lo: u32,
    /// Wmax in the fixed point, high word.
    pub wmax_hi: u32,
    /// 0 while switched off: weights frozen, traces keep running.
    pub enabled: u32,
    /// Steps between the volume transmitter's updates: deliver_interval *
    /// min_delay (at most `u32::MAX`).
    pub trigger_every: u32,
    /// Global id of the first neuron of the dopamine population.
    pub da_first: u32,
    /// One past its last neuron.
    pub da_end: u32,
    /// Dopamine delay, steps (>= 1).
    pub delay: u32,
    /// First word of this projection's region in the `dopamine` buffer
    /// (see [`DopamineLayout`]).
    pub base: u32,
    /// Entries in each half of its dopamine spike list.
    pub capacity: u32,
}

impl DopaRule {
    /// Words of one half of the spike list: a count, then (stamp,
    /// multiplicity) per entry.
    pub fn list_words(&self) -> u32 {
        1 + 2 * self.capacity
    }

    /// Words of this projection's region: two list halves, then the ring of
    /// dopamine spikes on their way (delay + 1 counts).
    pub fn region_words(&self) -> u32 {
        2 * self.list_words() + self.delay + 1
    }
}

/// The state of one dopamine synapse, kept apart from the synapses (one per
/// dopamine synapse of a chunk, in CSR order). WGSL: `DopaSynapse`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq, Default)]
pub struct DopaSynapse {
    /// Index of the synapse in its chunk (whose `plastic` entry holds this
    /// state's index, as bits, in its first word).
    pub syn: u32,
    /// Stamp of the synapse's last update (NEST's t_lastupdate).
    pub last_update: u32,
    /// Position in its volume transmitter's spike list.
    pub idx: u32,
    /// Stamp at which `kplus` holds the presynaptic trace K+ (its last
    /// presynaptic spike): the traces decay lazily, from the stamp of their
    /// last jump, so that no rounding of a decay factor compounds at every
    /// update.
    pub t_kplus: u32,
    /// Stamp at which `c` holds the eligibility trace (its last jump).
    pub t_c: u32,
    /// Stamp at which `n` holds the dopamine concentration (the last
    /// dopamine spike the synapse has seen).
    pub t_n: u32,
    /// K+ at `t_kplus`.
    pub kplus: f32,
    /// c at `t_c`.
    pub c: f32,
    /// n at `t_n`.
    pub n: f32,
    /// The weight in 64-bit fixed point with F fractional bits (F per
    /// projection, from its largest |Wmin|, |Wmax|), low word; the kernels
    /// add each closed-form piece to it exactly (integer addition), so that
    /// thousands of small changes do not each lose f32's rounding.
    /// `Synapse::weight` is its f32 value, which spikes deliver.
    pub w_lo: u32,
    /// High word (two's complement).
    pub w_hi: u32,
}

/// A dopamine synapse's weight from its fixed point, in f64 (exact to 53 bits).
pub fn dopa_weight(r: &DopaRule, st: &DopaSynapse) -> f64 {
    (st.w_hi as i32 as f64 + st.w_lo as f64 * 2f64.powi(-32)) * r.w_unscale as f64
}

/// Bytes of one dopamine synapse's state.
pub const DOPA_SYNAPSE_BYTES: u64 = std::mem::size_of::<DopaSynapse>() as u64;

/// Most entries a volume transmitter's spike list may hold between two of
/// its updates (one per step in which dopamine arrives, plus the list's
/// start). A list holds min(deliver_interval * min_delay + 1, this) entries,
/// so it can only overflow when the updates are more than this many steps
/// apart; then the run stops with an error naming the projection.
pub const DOPA_HISTORY_MAX: u32 = 16384;

/// `counters[6]` while no volume transmitter's spike list has overflowed
/// (else the lowest dopamine rule row that did).
pub const DOPA_OVERFLOW_WORD: usize = 6;

/// Where dopamine data sits in the `dopamine` buffer (u32 words):
///
/// - `[0, 2 sources)`: the sender list, two halves of `sources` neuron ids
///   (alternating slices): the neurons with outgoing dopamine synapses that
///   spiked in a slice, each once;
/// - `[2 sources, 2 sources + sources * words)`: each such neuron's slice
///   spike mask, `words` words: bit b set when it spiked at the slice's
///   (b+1)-th step;
/// - per dopamine projection, at its `DopaRule::base`: two spike lists
///   (count, then (stamp, multiplicity) pairs), for alternating update
///   periods, then the ring of dopamine spikes on their way.
#[derive(Debug, Clone, Default)]
pub struct DopamineLayout {
    /// Neurons with outgoing dopamine synapses.
    pub sources: u32,
    /// Words per slice spike mask.
    pub words: u32,
    /// NEST's min_delay, steps.
    pub min_delay: u32,
    /// Network projection index of each row of `rules`.
    pub projection: Vec<usize>,
    /// One per dopamine projection.
    pub rules: Vec<DopaRule>,
    /// Words of the `dopamine` buffer.
    pub total_words: u64,
    /// The initial dopamine synapse states of each synapse chunk.
    pub synapses: Vec<Vec<DopaSynapse>>,
}

impl DopamineLayout {
    /// The initial contents of the `dopamine` buffer: empty sender lists and
    /// masks; each volume transmitter's list for the first period (stamps
    /// 1..=trigger_every, half 1) starts with a pseudo spike at 0.
    pub fn initial_words(&self) -> Vec<u32> {
        let mut words = vec![0u32; self.total_words as usize];
        for r in &self.rules {
            let list = (r.base + r.list_words()) as usize;
            words[list] = 1;
        }
        words
    }
}

/// Rows of synapses that fit one storage binding.
#[derive(Debug, Clone)]
pub struct SynapseChunk {
    /// `row_ptr[i]..row_ptr[i + 1]` are source `i`'s synapses in this chunk (empty for others).
    pub row_ptr: Vec<u32>,
    /// The synapses.
    pub synapses: Vec<Synapse>,
}

/// A recorder that samples state.
#[derive(Debug, Clone)]
pub struct SamplingRecorder {
    /// Index in `Network::recorders`.
    pub recorder: usize,
    /// Interval in steps.
    pub interval: u64,
    /// Its columns in the sample buffer.
    pub columns: std::ops::Range<usize>,
}

/// A network in the device layout.
#[derive(Debug, Clone)]
pub struct DeviceNetwork {
    /// Neurons.
    pub n: u32,
    /// Ring slots (longest delay + 1).
    pub ring_len: u32,
    /// Seed.
    pub seed: u64,
    /// Per population.
    pub pop_params: Vec<PopParams>,
    /// Population index | recorded << 31.
    pub neuron_info: Vec<u32>,
    /// Initial (V, a, b, h).
    pub state: Vec<[f32; 4]>,
    /// Synapses split into binding-sized chunks.
    pub synapse_chunks: Vec<SynapseChunk>,
    /// Poisson (stimulus, target) pairs.
    pub poisson_entries: Vec<PoissonEntry>,
    /// Poisson stimuli.
    pub poisson_stims: Vec<PoissonStim>,
    /// For each of the network's stimuli, its entry in `poisson_stims`, if
    /// it has one (host only: how `set_stimulus_rate` finds it without a
    /// search, which a batch of many instances would pay at every exchange).
    pub poisson_stim_of: Vec<Option<u32>>,
    /// 1/k as f32.
    pub inv_k: Vec<f32>,
    /// Current changes (step, event), merged per (step, target), sorted.
    pub currents: Vec<(u64, Event)>,
    /// Spikes to inject at the end of a step (step, event), sorted.
    pub injections: Vec<(u64, Event)>,
    /// (neuron, var, recorder, 0) per sampled column.
    pub sample_map: Vec<[u32; 4]>,
    /// The sampling recorders.
    pub sampling: Vec<SamplingRecorder>,
    /// Whether any synapse is plastic.
    pub plastic: bool,
    /// STDP parameters, one row per projection (zero for static ones).
    pub stdp_rules: Vec<StdpRule>,
    /// Neurons with a postsynaptic spike history ([`POST_HISTORY`] entries each).
    pub history_rows: u32,
    /// Presynaptic traces per neuron: one per distinct dt / tau_plus. Their
    /// rows in `stdp_rules` follow the projections' (only `dt_tau_plus` set).
    pub n_traces: u32,
    /// Dopamine-modulated STDP (empty without `stdp_dopamine` projections).
    pub dopamine: DopamineLayout,
}

/// Why a network cannot be laid out for the device.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LayoutError {
    /// A feature the GPU kernels do not implement.
    #[error("{0}")]
    Unsupported(String),
}

/// Entries of the 1/k table.
pub const INV_K_LEN: usize = 64;

impl DeviceNetwork {
    /// Lays out a network; synapse chunks hold at most `max_chunk_synapses` each.
    pub fn new(net: &Network, max_chunk_synapses: u64) -> Result<Self, LayoutError> {
        let (mut stdp_rules, receives_plastic, n_traces) = stdp_layout(net)?;
        let plastic = receives_plastic.iter().any(|&r| r);
        let n = net.n_neurons as u32;
        let dt = net.dt;
        let mut history_rows = 0u32;
        let mut pop_params = Vec::new();
        let mut state = vec![[0.0f32; 4]; net.n_neurons];
        let mut neuron_info = vec![0u32; net.n_neurons];
        for (pi, p) in net.populations.iter().enumerate() {
            let e_l = p.param("E_L");
            let ref_steps = refractory_steps(p.param("t_ref"), dt);
            let mut pp = PopParams {
                ref_steps,
                history_base: NO_HISTORY,
                first_neuron: p.offset,
                dopa_row: NO_HISTORY,
                e_l: e_l as f32,
                i_e: p.param("I_e") as f32,
                dt: dt as f32,
                ..Zeroable::zeroed()
            };
            if receives_plastic[pi] {
                pp.history_base = history_rows;
                pp.dt_tau_minus = (dt / p.param("tau_minus")) as f32;
                history_rows = history_rows.checked_add(p.size).ok_or_else(|| {
                    LayoutError::Unsupported(
                        "too many neurons receive plastic synapses for the GPU's spike history"
                            .into(),
                    )
                })?;
            }
            match p.model {
                ModelKind::IafPscDelta => {
                    if p.param("refractory_input") != 0.0 {
                        return Err(LayoutError::Unsupported(format!(
                            "population `{}`: refractory_input = true is not implemented by the GPU kernels; use --backend cpu",
                            p.name
                        )));
                    }
                    let tau = p.param("tau_m");
                    pp.model = 0;
                    pp.p22 = (-dt / tau).exp() as f32;
                    pp.p20 = (-tau / p.param("C_m") * (-dt / tau).exp_m1()) as f32;
                    pp.theta = (p.param("V_th") - e_l) as f32;
                    pp.v_reset = (p.param("V_reset") - e_l) as f32;
                    pp.v_min = (p.param("V_min") - e_l) as f32;
                }
                ModelKind::IafPscExp => {
                    let (tau, c) = (p.param("tau_m"), p.param("C_m"));
                    let (tex, tin) = (p.param("tau_syn_ex"), p.param("tau_syn_in"));
                    pp.model = 1;
                    pp.p22 = (-dt / tau).exp() as f32;
                    pp.p20 = (-tau / c * (-dt / tau).exp_m1()) as f32;
                    pp.p11_ex = (-dt / tex).exp() as f32;
                    pp.p11_in = (-dt / tin).exp() as f32;
                    pp.p21_ex = propagator_32(tex, tau, c, dt) as f32;
                    pp.p21_in = propagator_32(tin, tau, c, dt) as f32;
                    pp.theta = (p.param("V_th") - e_l) as f32;
                    pp.v_reset = (p.param("V_reset") - e_l) as f32;
                }
                ModelKind::IafCondExp => {
                    pp.model = 2;
                    pp.inv_c_m = (1.0 / p.param("C_m")) as f32;
                    pp.g_l = p.param("g_L") as f32;
                    pp.e_ex = p.param("E_ex") as f32;
                    pp.e_in = p.param("E_in") as f32;
                    pp.inv_tau_ex = (1.0 / p.param("tau_syn_ex")) as f32;
                    pp.inv_tau_in = (1.0 / p.param("tau_syn_in")) as f32;
                    pp.theta = p.param("V_th") as f32;
                    pp.v_reset = p.param("V_reset") as f32;
                }
            }
            pop_params.push(pp);
            for i in 0..p.size as usize {
                let g = p.offset as usize + i;
                neuron_info[g] = pi as u32;
                let init = &p.initial_state;
                state[g] = match p.model {
                    ModelKind::IafPscDelta => [(init[0][i] - e_l) as f32, 0.0, 0.0, 0.0],
                    ModelKind::IafPscExp => [
                        (init[0][i] - e_l) as f32,
                        init[1][i] as f32,
                        init[2][i] as f32,
                        0.0,
                    ],
                    ModelKind::IafCondExp => [
                        init[0][i] as f32,
                        init[1][i] as f32,
                        init[2][i] as f32,
                        dt as f32,
                    ],
                };
            }
        }
        for r in net.recorders.iter().filter(|r| r.spikes) {
            for &g in &r.neurons {
                neuron_info[g as usize] |= 1 << 31;
            }
        }

        // Synapse chunks, split at row boundaries.
        let syn = &net.synapses;
        let mut synapse_chunks = Vec::new();
        let mut src = 0usize;
        let max = max_chunk_synapses.max(1);
        while src < net.n_neurons || synapse_chunks.is_empty() {
            let first = src;
            let base = syn.row_start[first];
            while src < net.n_neurons && syn.row_start[src + 1] - base <= max {
                src += 1;
            }
            if src == first && src < net.n_neurons {
                return Err(LayoutError::Unsupported(format!(
                    "neuron {first} has {} outgoing synapses, more than one storage binding holds ({max})",
                    syn.row_start[first + 1] - base
                )));
            }
            let end = syn.row_start[src];
            let row_ptr: Vec<u32> = syn
                .row_start
                .iter()
                .map(|&s| (s.clamp(base, end) - base) as u32)
                .collect();
            let synapses = (base as usize..end as usize)
                .map(|k| {
                    let proj = syn.projection[k] as usize;
                    let layout = &net.projections[proj];
                    let rule = if layout.plasticity.is_some() || layout.dopamine.is_some() {
                        (proj as u32 + 1) << 16
                    } else {
                        0
                    };
                    Synapse {
                        target: syn.target[k],
                        weight: syn.weight[k] as f32,
                        delay: syn.delay[k] as u32 | rule,
                    }
                })
                .collect();
            synapse_chunks.push(SynapseChunk { row_ptr, synapses });
            if src >= net.n_neurons {
                break;
            }
        }

        let mut poisson_entries = Vec::new();
        let mut poisson_stims = Vec::new();
        let mut poisson_stim_of = vec![None; net.stimuli.len()];
        let mut injections = Vec::new();
        for stim in &net.stimuli {
            match stim {
                Stimulus::Poisson {
                    index,
                    rng,
                    targets,
                    weights,
                    delays,
                    lambda,
                    first_stamp,
                    last_stamp,
                } => {
                    let pp = PoissonParams::new(*lambda);
                    let si = poisson_stims.len() as u32;
                    poisson_stims.push(PoissonStim {
                        stream: rng.stream,
                        pieces: pp.pieces,
                        rest: pp.rest as f32,
                        exp_rest: pp.exp_rest as f32,
                        exp_piece: pp.exp_piece as f32,
                        first_lo: *first_stamp as u32,
                        first_hi: (*first_stamp >> 32) as u32,
                        last_lo: *last_stamp as u32,
                        last_hi: (*last_stamp >> 32) as u32,
                        seed_lo: rng.seed as u32,
                        seed_hi: (rng.seed >> 32) as u32,
                        entity_offset: rng.entity_offset,
                    });
                    if let Some(slot) = poisson_stim_of.get_mut(*index) {
                        *slot = Some(si);
                    }
                    for (i, &t) in targets.iter().enumerate() {
                        poisson_entries.push(PoissonEntry {
                            target: t,
                            weight: weights[i] as f32,
                            delay: delays[i] as u32,
                            stim: si,
                        });
                    }
                }
                Stimulus::Deliveries(list) => {
                    for d in list {
                        injections.push((
                            d.step - 1,
                            Event {
                                target: d.target,
                                value: d.weight as f32,
                            },
                        ));
                    }
                }
            }
        }
        injections.sort_by_key(|e| e.0);
        let mut merged: Vec<(u64, u32, f64)> = net
            .currents
            .iter()
            .map(|c| (c.step, c.target, c.delta))
            .collect();
        merged.sort_by_key(|c| (c.0, c.1));
        let mut currents: Vec<(u64, Event)> = Vec::new();
        let mut acc: Option<(u64, u32, f64)> = None;
        for c in merged {
            match &mut acc {
                Some(a) if a.0 == c.0 && a.1 == c.1 => a.2 += c.2,
                _ => {
                    if let Some(a) = acc.take() {
                        currents.push((
                            a.0,
                            Event {
                                target: a.1,
                                value: a.2 as f32,
                            },
                        ));
                    }
                    acc = Some(c);
                }
            }
        }
        if let Some(a) = acc {
            currents.push((
                a.0,
                Event {
                    target: a.1,
                    value: a.2 as f32,
                },
            ));
        }

        let mut sample_map = Vec::new();
        let mut sampling = Vec::new();
        for (ri, r) in net.recorders.iter().enumerate() {
            if r.state.is_empty() {
                continue;
            }
            if ri >= 64 {
                return Err(LayoutError::Unsupported(
                    "the GPU backend samples state for at most 64 recorders".into(),
                ));
            }
            let start = sample_map.len();
            for &var in &r.state {
                for &g in &r.neurons {
                    sample_map.push([g, var as u32, ri as u32, 0]);
                }
            }
            sampling.push(SamplingRecorder {
                recorder: ri,
                interval: r.interval_steps,
                columns: start..sample_map.len(),
            });
        }
        let dopamine = dopamine_layout(net, &mut pop_params, &synapse_chunks, &mut stdp_rules)?;
        let inv_k = (0..INV_K_LEN)
            .map(|k| if k == 0 { 0.0 } else { 1.0 / k as f32 })
            .collect();
        debug_assert_eq!(POISSON_PIECE, 16.0, "the kernels hard-code the piece mean");
        Ok(Self {
            n,
            ring_len: (net.max_delay + 1) as u32,
            seed: net.seed,
            pop_params,
            neuron_info,
            state,
            synapse_chunks,
            poisson_entries,
            poisson_stims,
            poisson_stim_of,
            inv_k,
            currents,
            injections,
            sample_map,
            sampling,
            plastic,
            stdp_rules,
            history_rows,
            n_traces,
            dopamine,
        })
    }

    /// The initial per-synapse STDP state of a synapse chunk: no change yet.
    /// A dopamine synapse's entry holds instead the index of its
    /// [`DopaSynapse`] state (as f32 bits) in its first word.
    pub fn initial_plastic_state(&self, chunk: &SynapseChunk) -> Vec<PlasticState> {
        let mut q = 0u32;
        chunk
            .synapses
            .iter()
            .map(|s| {
                if self.is_dopamine(s) {
                    q += 1;
                    [f32::from_bits(q - 1), 0.0]
                } else {
                    [s.weight, s.weight]
                }
            })
            .collect()
    }

    /// The synapses `ks` (indices in `Network::synapses`, increasing) by
    /// synapse chunk: for each chunk that holds some, its index and, for
    /// each of them, (its position in `ks`, its index within the chunk).
    pub fn locate_synapses(&self, ks: &[usize]) -> Vec<(usize, Vec<(usize, usize)>)> {
        let mut out = Vec::new();
        let (mut base, mut i) = (0usize, 0usize);
        for (c, chunk) in self.synapse_chunks.iter().enumerate() {
            let end = base + chunk.synapses.len();
            let mut here = Vec::new();
            while i < ks.len() && ks[i] < end {
                here.push((i, ks[i] - base));
                i += 1;
            }
            if !here.is_empty() {
                out.push((c, here));
            }
            base = end;
        }
        out
    }

    /// The index of synapse `j` of chunk `chunk`'s [`DopaSynapse`] state
    /// among the chunk's, when it is a dopamine synapse.
    pub fn dopa_index(&self, chunk: usize, j: usize) -> Option<usize> {
        let states = self.dopamine.synapses.get(chunk)?;
        states.binary_search_by_key(&(j as u32), |st| st.syn).ok()
    }

    /// Sets a synapse's weight to `w` as the kernels read it, as
    /// [`DeviceNetwork::new`] lays a description's weight out: the f32 weight
    /// in the synapse; for a dopamine synapse also its state's fixed point
    /// (`dopa`, which must then be given); for other synapses of a plastic
    /// network its [`PlasticState`] (`plastic`) as no change on its way (a
    /// dopamine synapse's holds its state's index and is left alone).
    pub fn encode_weight(
        &self,
        s: &mut Synapse,
        plastic: Option<&mut PlasticState>,
        dopa: Option<&mut DopaSynapse>,
        w: f64,
    ) {
        s.weight = w as f32;
        if self.is_dopamine(s) {
            let r = &self.dopamine.rules
                [self.stdp_rules[s.rule().expect("plastic")].dopamine as usize - 1];
            let st = dopa.expect("a dopamine synapse's state");
            (st.w_lo, st.w_hi) = crate::engine::twin::fixed::to_fixed(s.weight * r.w_scale);
        } else if let Some(p) = plastic {
            *p = [s.weight, s.weight];
        }
    }

    /// Whether a synapse is dopamine-modulated.
    #[inline]
    pub fn is_dopamine(&self, s: &Synapse) -> bool {
        s.rule().is_some_and(|r| self.stdp_rules[r].dopamine != 0)
    }

    /// Words (`[u32; 2]`) of per-neuron STDP state: the stamps of the last
    /// and the previous spike, then (K+ before, K+ after the last spike) as
    /// f32 bits for each trace.
    pub fn pre_state_stride(&self) -> u32 {
        1 + self.n_traces
    }

    /// Checks that steps `first..first + steps` can run: a plastic network
    /// runs at most [`MAX_PLASTIC_STEPS`] steps.
    pub fn check_steps(&self, first: u64, steps: u64) -> Result<(), String> {
        if self.plastic && first.saturating_add(steps) > MAX_PLASTIC_STEPS {
            return Err(stamp_limit_message());
        }
        Ok(())
    }

    /// Every synapse's weight as recorded at stamp `now`, in
    /// `Network::synapses` order, from the device buffers: `synapses` and
    /// `plastic` are the chunks' contents concatenated, `pre_state` the
    /// per-neuron STDP state. As on the CPU engine, the change a spike at t
    /// makes shows from its arrival t + d on: a synapse shows its working
    /// weight once its source's last spike has arrived, else the weight
    /// before that spike's change, or, when the spike before is on its way
    /// too, the weight before that one's. Exact unless a source spikes three
    /// times within one delay (then the earliest of those changes shows
    /// early; see docs/gpu.md). A dopamine synapse shows its working weight,
    /// as on the CPU engine (NEST changes it at its updates, not at spike
    /// arrival), from its fixed point, in f64: `dopa` holds the dopamine
    /// synapse states of every chunk, concatenated. Static synapses show
    /// their (f64) weights in `base` (the description's, or as set at run
    /// time), which the device never changes.
    #[expect(
        clippy::too_many_arguments,
        reason = "the device buffers read back, passed apart as the engines hold them"
    )]
    pub fn visible_weights(
        &self,
        net: &Network,
        base: &[f64],
        synapses: &[Synapse],
        plastic: &[PlasticState],
        pre_state: &[[u32; 2]],
        dopa: &[DopaSynapse],
        now: u64,
    ) -> Vec<f64> {
        let syn = &net.synapses;
        let mut out = base.to_vec();
        if !self.plastic {
            return out;
        }
        let stride = self.pre_state_stride() as usize;
        for src in 0..net.n_neurons {
            let [last, prev] = pre_state[src * stride].map(u64::from);
            for k in syn.row_start[src] as usize..syn.row_start[src + 1] as usize {
                let s = &synapses[k];
                if self.is_dopamine(s) {
                    // Below, with its state.
                } else if s.rule().is_some() {
                    let d = s.delay_steps() as u64;
                    let arrived = |stamp: u64| stamp == 0 || stamp + d <= now;
                    out[k] = if arrived(last) {
                        s.weight
                    } else if arrived(prev) {
                        plastic[k][0]
                    } else {
                        plastic[k][1]
                    } as f64;
                }
            }
        }
        let (mut base, mut q) = (0usize, 0usize);
        for (c, states) in self.synapse_chunks.iter().zip(&self.dopamine.synapses) {
            for st in &dopa[q..q + states.len()] {
                let k = base + st.syn as usize;
                let r = &self.dopamine.rules
                    [self.stdp_rules[synapses[k].rule().expect("plastic")].dopamine as usize - 1];
                out[k] = dopa_weight(r, st);
            }
            base += c.synapses.len();
            q += states.len();
        }
        out
    }

    /// The per-step uniforms and the event buffer of the steps `first..first + steps`,
    /// and for each step with sampling, the recorders that sample then.
    pub fn plan_chunk(&self, first: u64, steps: u64, rec_capacity: u32) -> ChunkPlan {
        let mut uniforms = Vec::with_capacity(steps as usize);
        let mut events = Vec::new();
        let mut sample_rows = Vec::new();
        let cur_start = self.currents.partition_point(|c| c.0 < first);
        let inj_start = self.injections.partition_point(|c| c.0 < first);
        let (mut ci, mut ii) = (cur_start, inj_start);
        for j in 0..steps {
            let step = first + j;
            let stamp = step + 1;
            let current_begin = events.len() as u32;
            while let Some(c) = self.currents.get(ci).filter(|c| c.0 == step) {
                events.push(c.1);
                ci += 1;
            }
            let current_end = events.len() as u32;
            let inject_begin = events.len() as u32;
            while let Some(c) = self.injections.get(ii).filter(|c| c.0 == step) {
                events.push(c.1);
                ii += 1;
            }
            let inject_end = events.len() as u32;
            let mut mask = 0u64;
            for s in &self.sampling {
                if stamp.is_multiple_of(s.interval) {
                    mask |= 1 << s.recorder;
                }
            }
            let sample_slot = if mask != 0 {
                sample_rows.push((stamp, mask));
                (sample_rows.len() - 1) as u32
            } else {
                u32::MAX
            };
            let pctr = stamp << 8;
            let dopa = &self.dopamine;
            let m = dopa.min_delay.max(1) as u64;
            uniforms.push(StepUniform {
                n_neurons: self.n,
                ring_len: self.ring_len,
                slot: (step % self.ring_len as u64) as u32,
                parity: (step % 2) as u32,
                step_in_chunk: j as u32,
                current_begin,
                current_end,
                inject_begin,
                inject_end,
                n_poisson: self.poisson_entries.len() as u32,
                seed_lo: self.seed as u32,
                seed_hi: (self.seed >> 32) as u32,
                pctr_lo: pctr as u32,
                pctr_hi: (pctr >> 32) as u32,
                stamp_lo: stamp as u32,
                stamp_hi: (stamp >> 32) as u32,
                sample_slot,
                sample_mask_lo: mask as u32,
                sample_mask_hi: (mask >> 32) as u32,
                n_sample_columns: self.sample_map.len() as u32,
                rec_capacity,
                plastic: u32::from(self.plastic),
                n_traces: self.n_traces,
                trace_row: self.stdp_rules.len() as u32 - self.n_traces,
                n_dopa: dopa.rules.len() as u32,
                dopa_sources: dopa.sources,
                dopa_words: dopa.words,
                dopa_min_delay: dopa.min_delay,
                dopa_slice_step: (step % m) as u32,
                dopa_fill: ((step / m) % 2) as u32,
                dopa_send: u32::from(step > 0 && step.is_multiple_of(m) && !dopa.rules.is_empty()),
                dopa_trigger: u32::from(
                    dopa.rules
                        .iter()
                        .any(|r| stamp.is_multiple_of(r.trigger_every as u64)),
                ),
            });
        }
        ChunkPlan {
            uniforms,
            events,
            sample_rows,
        }
    }
}

/// The STDP rule table (one row per projection, then one per presynaptic
/// trace), per population whether a plastic synapse ends in it, and the
/// number of traces; refuses what the kernels do not implement.
fn stdp_layout(net: &Network) -> Result<(Vec<StdpRule>, Vec<bool>, u32), LayoutError> {
    let mut rules = Vec::with_capacity(net.projections.len());
    let mut receives = vec![false; net.populations.len()];
    // Rules with the same dt / tau_plus share a trace (they compute the same one).
    let mut traces: Vec<f32> = Vec::new();
    for (i, p) in net.projections.iter().enumerate() {
        if (p.plasticity.is_some() || p.dopamine.is_some()) && i >= 0xffff {
            return Err(LayoutError::Unsupported(format!(
                "projection {i} is plastic, but the GPU kernels pack a plastic projection's index into 16 bits (below 65535); use --backend cpu"
            )));
        }
        if p.dopamine.is_some() {
            // Its row gets `dopamine` set by dopamine_layout.
            for &t in &p.to {
                receives[t] = true;
            }
            rules.push(StdpRule::zeroed());
            continue;
        }
        let Some(s) = &p.plasticity else {
            rules.push(StdpRule::zeroed());
            continue;
        };
        for &t in &p.to {
            receives[t] = true;
        }
        let dt_tau_plus = (net.dt / s.tau_plus) as f32;
        let trace = match traces.iter().position(|&x| x == dt_tau_plus) {
            Some(q) => q,
            None => {
                traces.push(dt_tau_plus);
                traces.len() - 1
            }
        } as u32;
        rules.push(StdpRule {
            lambda: s.lambda as f32,
            alpha: s.alpha as f32,
            mu_plus: s.mu_plus as f32,
            mu_minus: s.mu_minus as f32,
            wmax: s.wmax as f32,
            dt_tau_plus,
            nearest: u32::from(s.nearest),
            enabled: 1,
            trace,
            dopamine: 0,
        });
    }
    for &dt_tau_plus in &traces {
        rules.push(StdpRule {
            dt_tau_plus,
            ..StdpRule::zeroed()
        });
    }
    if receives.iter().any(|&r| r) && net.steps > MAX_PLASTIC_STEPS {
        return Err(LayoutError::Unsupported(stamp_limit_message()));
    }
    Ok((rules, receives, traces.len() as u32))
}

/// The dopamine rule table, the `dopamine` buffer's layout and the initial
/// dopamine synapse states; sets the populations' `dopa_row` and the
/// dopamine projections' `StdpRule::dopamine`.
fn dopamine_layout(
    net: &Network,
    pop_params: &mut [PopParams],
    chunks: &[SynapseChunk],
    stdp_rules: &mut [StdpRule],
) -> Result<DopamineLayout, LayoutError> {
    if !net.has_dopamine() {
        return Ok(DopamineLayout::default());
    }
    let min_delay = u32::try_from(net.min_delay)
        .map_err(|_| LayoutError::Unsupported("min_delay exceeds 2^32 steps".into()))?;
    let mut sources = 0u32;
    let mut is_source = vec![false; net.populations.len()];
    for p in net.projections.iter().filter(|p| p.dopamine.is_some()) {
        for &f in &p.from {
            is_source[f] = true;
        }
    }
    for (pi, pop) in net.populations.iter().enumerate() {
        if is_source[pi] {
            pop_params[pi].dopa_row = sources;
            sources = sources.checked_add(pop.size).ok_or_else(|| {
                LayoutError::Unsupported("too many sources of dopamine synapses".into())
            })?;
        }
    }
    let words = min_delay.div_ceil(32);
    let mut total = 2 * sources as u64 + sources as u64 * words as u64;
    let mut rules = Vec::new();
    let mut projection = Vec::new();
    let dt = net.dt;
    for (i, p) in net.projections.iter().enumerate() {
        let Some(d) = &p.dopamine else { continue };
        let delay = crate::time::round_to_steps(d.dopamine_delay, dt).max(1);
        if delay >= 1 << 16 {
            return Err(LayoutError::Unsupported(format!(
                "projection {i}: dopamine_delay = {} ms is {delay} steps; the GPU kernels take at most 65535; use --backend cpu",
                d.dopamine_delay
            )));
        }
        let trigger_every = (d.deliver_interval as u64 * net.min_delay).min(u32::MAX as u64) as u32;
        let da = &net.populations[d.source];
        let taus = (d.tau_c + d.tau_n) / (d.tau_c * d.tau_n);
        // The weights' fixed point: |w| < 2^e_w, and w - dw (dw clamped to
        // 2^(e_w + 1)) < 2^(e_w + 2) must fit 63 bits: F = 61 - e_w.
        let largest = d.wmin.abs().max(d.wmax.abs()) as f32;
        if !largest.is_finite() || largest >= 2f32.powi(120) {
            return Err(LayoutError::Unsupported(format!(
                "projection {i}: Wmin and Wmax must lie within +-2^120 on the GPU; use --backend cpu"
            )));
        }
        let e_w = if largest > 0.0 {
            (largest.log2().floor() as i32 + 1).max(-90)
        } else {
            -90
        };
        let frac_bits = 61 - e_w;
        let fixed =
            |w: f64| crate::engine::twin::fixed::to_fixed(w as f32 * 2f32.powi(frac_bits - 32));
        let (wmin, wmax) = (fixed(d.wmin), fixed(d.wmax));
        let rule = DopaRule {
            a_plus: d.a_plus as f32,
            a_minus: d.a_minus as f32,
            dt_tau_plus: (dt / d.tau_plus) as f32,
            dt_tau_c: (dt / d.tau_c) as f32,
            dt_tau_n: (dt / d.tau_n) as f32,
            inv_tau_n: (1.0 / d.tau_n) as f32,
            taus_dt: (taus * dt) as f32,
            inv_taus: (1.0 / taus) as f32,
            b_tau_c: (d.b * d.tau_c) as f32,
            w_scale: 2f32.powi(frac_bits - 32),
            w_unscale: 2f32.powi(32 - frac_bits),
            dw_limit: 2f32.powi(e_w + 1),
            wmin_lo: wmin.0,
            wmin_hi: wmin.1,
            wmax_lo: wmax.0,
            wmax_hi: wmax.1,
            enabled: 1,
            trigger_every,
            da_first: da.offset,
            da_end: da.offset + da.size,
            delay: delay as u32,
            base: 0,
            capacity: trigger_every.saturating_add(1).min(DOPA_HISTORY_MAX),
        };
        let base = u32::try_from(total).map_err(|_| {
            LayoutError::Unsupported("the dopamine buffer exceeds 2^32 words".into())
        })?;
        total += rule.region_words() as u64;
        stdp_rules[i].dopamine = rules.len() as u32 + 1;
        rules.push(DopaRule { base, ..rule });
        projection.push(i);
    }
    if total > u32::MAX as u64 {
        return Err(LayoutError::Unsupported(
            "the dopamine buffer exceeds 2^32 words".into(),
        ));
    }
    let synapses = chunks
        .iter()
        .map(|c| {
            c.synapses
                .iter()
                .enumerate()
                .filter(|(_, s)| s.rule().is_some_and(|r| stdp_rules[r].dopamine != 0))
                .map(|(j, s)| {
                    let r = &rules[stdp_rules[s.rule().expect("plastic")].dopamine as usize - 1];
                    let (w_lo, w_hi) = crate::engine::twin::fixed::to_fixed(s.weight * r.w_scale);
                    DopaSynapse {
                        syn: j as u32,
                        w_lo,
                        w_hi,
                        ..Default::default()
                    }
                })
                .collect()
        })
        .collect();
    Ok(DopamineLayout {
        sources,
        words,
        min_delay,
        projection,
        rules,
        total_words: total,
        synapses,
    })
}

/// Steps a plastic network may run on the GPU: spike stamps are u32, and a
/// stamp plus a delay (< 2^16) must not wrap.
pub const MAX_PLASTIC_STEPS: u64 = u32::MAX as u64 - (1 << 16);

fn stamp_limit_message() -> String {
    format!(
        "STDP on the GPU keeps spike stamps in 32 bits: a plastic network runs at most {MAX_PLASTIC_STEPS} steps; use --backend cpu"
    )
}

/// The error for a postsynaptic spike history too short for an STDP update.
pub fn history_overflow_message(net: &Network, neuron: u32) -> String {
    let pop = &net.populations[net.population_of(neuron)];
    format!(
        "STDP on the GPU: neuron {neuron} (population `{}`, index {}) spiked more often than its {POST_HISTORY}-spike history holds between two updates of a plastic synapse onto it (two spikes of its presynaptic neuron, shifted by the delay; for stdp_dopamine, two volume-transmitter updates); the update needs all of them, so this chunk's output was discarded. Run this network with --backend cpu",
        pop.name,
        neuron - pop.offset
    )
}

/// The error for a volume transmitter whose spike list overflowed.
pub fn dopamine_overflow_message(net: &Network, dn: &DeviceNetwork, row: u32) -> String {
    let r = &dn.dopamine.rules[row as usize];
    let projection = dn.dopamine.projection[row as usize];
    let source = net.projections[projection]
        .dopamine
        .map_or(String::new(), |d| net.populations[d.source].name.clone());
    format!(
        "stdp_dopamine on the GPU: projection {projection}'s volume transmitter (dopamine from `{source}`) received dopamine in more than {} steps between two of its updates (every {} steps = deliver_interval * min_delay); its spike list holds {} entries (limit {DOPA_HISTORY_MAX}), so this chunk's output was discarded. Lower deliver_interval or run this network with --backend cpu",
        r.capacity - 1,
        r.trigger_every,
        r.capacity
    )
}

/// What the host prepares for one chunk of steps.
#[derive(Debug, Clone)]
pub struct ChunkPlan {
    /// One per step.
    pub uniforms: Vec<StepUniform>,
    /// Current changes and injections, referenced by the uniforms' ranges.
    pub events: Vec<Event>,
    /// (stamp, recorder mask) of each sample row.
    pub sample_rows: Vec<(u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// (member name, Rust offset) of each field, in declaration order.
    fn check(wgsl: &naga::Module, name: &str, size: usize, fields: &[(&str, usize)]) {
        let ty = wgsl
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no WGSL struct {name}"))
            .1;
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{name} is not a struct")
        };
        assert_eq!(
            *span as usize, size,
            "{name}: WGSL size {span}, Rust size {size}"
        );
        for (field, offset) in fields {
            let m = members
                .iter()
                .find(|m| m.name.as_deref() == Some(*field))
                .unwrap_or_else(|| panic!("{name}.{field} missing in WGSL"));
            assert_eq!(
                m.offset as usize, *offset,
                "{name}.{field}: WGSL offset {}, Rust offset {offset}",
                m.offset
            );
        }
    }

    /// The Rust structs and their WGSL counterparts (shaders/shared/bindings.wgsl)
    /// agree in size and in the offset of every field, as naga lays them out.
    #[test]
    fn layouts_match_wgsl() {
        let module =
            naga::front::wgsl::parse_str(&crate::engine::gpu::shaders::compose("neuron_update"))
                .unwrap();
        macro_rules! fields {
            ($t:ty: $($f:ident),*) => { &[$((stringify!($f), offset_of!($t, $f))),*] };
        }
        check(
            &module,
            "PopParams",
            size_of::<PopParams>(),
            fields!(PopParams: model, ref_steps, history_base, first_neuron, e_l, theta, v_reset, v_min, p22, p20, p11_ex, p11_in, p21_ex, p21_in, i_e, inv_c_m, g_l, e_ex, e_in, inv_tau_ex, inv_tau_in, dt, dt_tau_minus, dopa_row, silenced),
        );
        check(
            &module,
            "StepUniform",
            size_of::<StepUniform>(),
            fields!(StepUniform: n_neurons, ring_len, slot, parity, step_in_chunk, current_begin, current_end, inject_begin, inject_end, n_poisson, seed_lo, seed_hi, pctr_lo, pctr_hi, stamp_lo, stamp_hi, sample_slot, sample_mask_lo, sample_mask_hi, n_sample_columns, rec_capacity, plastic, n_traces, trace_row, n_dopa, dopa_sources, dopa_words, dopa_min_delay, dopa_slice_step, dopa_fill, dopa_send, dopa_trigger),
        );
        check(
            &module,
            "PoissonEntry",
            size_of::<PoissonEntry>(),
            fields!(PoissonEntry: weight, delay, stim),
        );
        check(
            &module,
            "PoissonStim",
            size_of::<PoissonStim>(),
            fields!(PoissonStim: stream, pieces, rest, exp_rest, exp_piece, first_lo, first_hi, last_lo, last_hi),
        );
        check(&module, "Event", size_of::<Event>(), fields!(Event: value));
        check(
            &module,
            "StdpRule",
            size_of::<StdpRule>(),
            fields!(StdpRule: lambda, alpha, mu_plus, mu_minus, wmax, dt_tau_plus, nearest, enabled, trace, dopamine),
        );
        check(
            &module,
            "DopaRule",
            size_of::<DopaRule>(),
            fields!(DopaRule: a_plus, a_minus, dt_tau_plus, dt_tau_c, dt_tau_n, inv_tau_n, taus_dt, inv_taus, b_tau_c, w_scale, w_unscale, dw_limit, wmin_lo, wmin_hi, wmax_lo, wmax_hi, enabled, trigger_every, da_first, da_end, delay, base, capacity),
        );
        check(
            &module,
            "DopaSynapse",
            size_of::<DopaSynapse>(),
            fields!(DopaSynapse: syn, last_update, idx, t_kplus, t_c, t_n, kplus, c, n, w_lo, w_hi),
        );
        check(
            &module,
            "HistoryEntry",
            size_of::<HistoryEntry>(),
            fields!(HistoryEntry: stamp, kminus),
        );
        for (name, value) in [("POST_HISTORY", POST_HISTORY), ("NO_HISTORY", NO_HISTORY)] {
            let c = module
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no WGSL constant {name}"))
                .1;
            assert_eq!(
                module.global_expressions[c.init],
                naga::Expression::Literal(naga::Literal::U32(value)),
                "WGSL {name} differs from the Rust constant"
            );
        }
        check(
            &module,
            "Synapse",
            size_of::<Synapse>(),
            fields!(Synapse: weight, delay),
        );
        // `target` is a WGSL keyword; the WGSL name is `dst`, at the same offset.
        check(
            &module,
            "Synapse",
            size_of::<Synapse>(),
            &[("dst", offset_of!(Synapse, target))],
        );
        check(
            &module,
            "PoissonEntry",
            size_of::<PoissonEntry>(),
            &[("dst", offset_of!(PoissonEntry, target))],
        );
        check(
            &module,
            "Event",
            size_of::<Event>(),
            &[("dst", offset_of!(Event, target))],
        );
    }

    /// Several synapse buffers hold exactly the rows of one.
    #[test]
    fn synapse_chunks_split_at_row_boundaries() {
        let text = r#"
[populations.A]
model = "iaf_psc_delta"
size = 50
[[projections]]
from = "A"
to = "A"
connect = { rule = "fixed_indegree", indegree = 7 }
synapse = { weight = 0.5, delay = { uniform = [0.1, 2.0] } }
[run]
duration = 1.0
"#;
        let desc =
            crate::description::parse_str(text, crate::description::Format::Toml, "t").unwrap();
        let net = crate::build::build(&desc).unwrap();
        let one = DeviceNetwork::new(&net, u64::MAX).unwrap();
        let many = DeviceNetwork::new(&net, 20).unwrap();
        assert_eq!(one.synapse_chunks.len(), 1);
        assert!(many.synapse_chunks.len() >= 350 / 20);
        for src in 0..50 {
            let row = |dn: &DeviceNetwork| -> Vec<Synapse> {
                dn.synapse_chunks
                    .iter()
                    .flat_map(|c| {
                        c.synapses[c.row_ptr[src] as usize..c.row_ptr[src + 1] as usize].to_vec()
                    })
                    .collect()
            };
            assert_eq!(row(&one), row(&many), "row {src}");
        }
        assert!(many.synapse_chunks.iter().all(|c| c.synapses.len() <= 20));
    }
}

// Every binding of renshaw's kernels. One bind group layout serves all
// kernels (src/engine/gpu/mod.rs builds it); each kernel uses a subset.
// The structs mirror src/engine/gpu/layout.rs (size and offset tests there).

// Mirrors layout::PopParams.
struct PopParams {
    model: u32,          // 0 iaf_psc_delta, 1 iaf_psc_exp, 2 iaf_cond_exp
    ref_steps: u32,
    history_base: u32,   // history row of the first neuron, NO_HISTORY without plastic input
    first_neuron: u32,   // global id of the first neuron
    e_l: f32,
    theta: f32,          // psc models: V_th - E_L; cond: V_th
    v_reset: f32,        // psc models: V_reset - E_L; cond: V_reset
    v_min: f32,          // delta: V_min - E_L
    p22: f32,            // delta: P33; psc_exp: P22
    p20: f32,            // delta: P30; psc_exp: P20
    p11_ex: f32,
    p11_in: f32,
    p21_ex: f32,
    p21_in: f32,
    i_e: f32,
    inv_c_m: f32,
    g_l: f32,
    e_ex: f32,
    e_in: f32,
    inv_tau_ex: f32,
    inv_tau_in: f32,
    dt: f32,
    dt_tau_minus: f32,   // dt / tau_minus: decay of the postsynaptic STDP trace per step
    dopa_row: u32,       // row of the first neuron among dopamine senders, NO_HISTORY if none
    silenced: u32,       // nonzero: lesioned, no update and no spikes
}

// Mirrors layout::StepUniform; one per step of a chunk, at a dynamic offset.
struct StepUniform {
    n_neurons: u32,
    ring_len: u32,
    slot: u32,           // step mod ring_len
    parity: u32,         // step mod 2: which half of the spike list
    step_in_chunk: u32,
    current_begin: u32,  // events[current_begin..current_end] are current changes of this step
    current_end: u32,
    inject_begin: u32,   // events[inject_begin..inject_end] are spikes read in the next step
    inject_end: u32,
    n_poisson: u32,
    seed_lo: u32,
    seed_hi: u32,
    pctr_lo: u32,        // Poisson counter: stamp << 8
    pctr_hi: u32,
    stamp_lo: u32,
    stamp_hi: u32,
    sample_slot: u32,    // row of sample_buf, or 0xffffffff when no recorder samples now
    sample_mask_lo: u32, // which recorders sample now (bit r)
    sample_mask_hi: u32,
    n_sample_columns: u32,
    rec_capacity: u32,
    plastic: u32,        // 1 when some synapse is plastic: pre_state and post_history are kept
    n_traces: u32,       // presynaptic traces per neuron (one per distinct tau_plus)
    trace_row: u32,      // row of the first trace in stdp_rules (only dt_tau_plus set)
    n_dopa: u32,         // stdp_dopamine projections (0: none; the fields below unused)
    dopa_sources: u32,   // neurons with outgoing dopamine synapses (half of the sender list)
    dopa_words: u32,     // words of a slice spike mask
    dopa_min_delay: u32, // NEST's min_delay in steps: a slice
    dopa_slice_step: u32, // step mod min_delay: this step's mask bit (0: masks cleared first)
    dopa_fill: u32,      // sender-list half this step's spikes join
    dopa_send: u32,      // 1: the last slice's presynaptic spikes are sent at this step's start
    dopa_trigger: u32,   // 1: some volume transmitter updates its synapses at this step's end
}

// Mirrors layout::PoissonEntry: one (stimulus, target) pair.
struct PoissonEntry {
    dst: u32,
    weight: f32,
    delay: u32,
    stim: u32,
}

// Mirrors layout::PoissonStim.
struct PoissonStim {
    stream: u32,
    pieces: u32,
    rest: f32,
    exp_rest: f32,
    exp_piece: f32,
    first_lo: u32,
    first_hi: u32,
    last_lo: u32,
    last_hi: u32,
    seed_lo: u32,
    seed_hi: u32,
    entity_offset: u32,
}

// Mirrors layout::Event: a current change (value in pA) or a spike to inject (value = weight).
struct Event {
    dst: u32,
    value: f32,
}

// Mirrors layout::Synapse. delay: steps in bits 0..16; bits 16..32 hold the
// projection index + 1 (its row of stdp_rules) of a plastic synapse, 0 for a static one.
struct Synapse {
    dst: u32,
    weight: f32,
    delay: u32,
}

// Postsynaptic spikes kept per neuron with plastic input (layout::POST_HISTORY).
const POST_HISTORY: u32 = 64u;
// PopParams.history_base of a population without plastic input (layout::NO_HISTORY).
const NO_HISTORY: u32 = 0xffffffffu;

// Mirrors layout::StdpRule: one row per projection (zero for static ones).
struct StdpRule {
    lambda: f32,
    alpha: f32,
    mu_plus: f32,
    mu_minus: f32,
    wmax: f32,
    dt_tau_plus: f32,    // dt / tau_plus
    nearest: u32,        // 1 stdp_nn_symm, 0 stdp (all-to-all)
    enabled: u32,        // 0: weights frozen, traces keep running
    trace: u32,          // which presynaptic trace (K+) of the source the rule reads
    dopamine: u32,       // stdp_dopamine: 1 + row in dopa_rules (other fields unused); 0: pair STDP
}

// Mirrors layout::DopaRule: one stdp_dopamine projection and its volume
// transmitter; times in steps.
struct DopaRule {
    a_plus: f32,
    a_minus: f32,
    dt_tau_plus: f32,
    dt_tau_c: f32,
    dt_tau_n: f32,
    inv_tau_n: f32,      // 1 / tau_n (per ms): n's jump per dopamine spike
    taus_dt: f32,        // (1/tau_c + 1/tau_n) dt
    inv_taus: f32,       // 1 / (1/tau_c + 1/tau_n), ms
    b_tau_c: f32,        // b tau_c, ms
    w_scale: f32,        // 2^(F - 32): weight change -> to_fixed argument (F fractional bits)
    w_unscale: f32,      // 2^(32 - F)
    dw_limit: f32,       // weight changes are clamped to +-dw_limit (no effect after clipping)
    wmin_lo: u32,        // Wmin in the fixed point
    wmin_hi: u32,
    wmax_lo: u32,        // Wmax in the fixed point
    wmax_hi: u32,
    enabled: u32,        // 0: weights frozen, traces keep running
    trigger_every: u32,  // steps between updates: deliver_interval * min_delay
    da_first: u32,       // dopamine neurons: [da_first, da_end)
    da_end: u32,
    delay: u32,          // dopamine delay, steps
    base: u32,           // this projection's region in `dopamine`
    capacity: u32,       // entries per spike-list half
}

// Mirrors layout::DopaSynapse: the state of one dopamine synapse. Each trace
// holds its value at the stamp of its last jump and decays lazily from there.
struct DopaSynapse {
    syn: u32,            // its index in the chunk's synapses
    last_update: u32,    // stamp
    idx: u32,            // position in the volume transmitter's spike list
    t_kplus: u32,        // stamp of kplus
    t_c: u32,            // stamp of c
    t_n: u32,            // stamp of n
    kplus: f32,
    c: f32,
    n: f32,
    w_lo: u32,           // the weight in 64-bit fixed point (F fractional bits)
    w_hi: u32,
}

// Mirrors layout::HistoryEntry: a postsynaptic spike and the trace K- just after it.
struct HistoryEntry {
    stamp: u32,
    kminus: f32,
}

@group(0) @binding(0) var<storage, read> pop_params: array<PopParams>;
// Population index in the low 31 bits; bit 31 set when the neuron's spikes are recorded.
@group(0) @binding(1) var<storage, read> neuron_info: array<u32>;
// (V, a, b, h): V_m (relative to E_L for psc models), I_syn_ex / g_ex, I_syn_in / g_in, integrator step.
@group(0) @binding(2) var<storage, read_write> state: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> refractory: array<u32>;
// Ring buffer of 64-bit fixed-point input: word ((slot * n + neuron) * 2 + channel) * 2 is the low half.
@group(0) @binding(4) var<storage, read_write> ring: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> i_stim: array<f32>;
// Spiking neurons of the step, two halves by step parity.
@group(0) @binding(6) var<storage, read_write> spike_list: array<u32>;
// [0], [1]: spike counts of the two halves; [2]: recorded spikes in this chunk;
// [3]: lowest neuron whose STDP spike history was too short (0xffffffff: none);
// [4], [5]: lengths of the two halves of the dopamine sender list; [6]: lowest
// dopamine rule row whose spike list overflowed (0xffffffff: none).
@group(0) @binding(7) var<storage, read_write> counters: array<atomic<u32>>;
@group(0) @binding(8) var<storage, read_write> spike_counts: array<u32>;
// Recorded spikes: (step in chunk, neuron).
@group(0) @binding(9) var<storage, read_write> rec_buf: array<vec2<u32>>;
@group(0) @binding(10) var<storage, read> poisson_entries: array<PoissonEntry>;
@group(0) @binding(11) var<storage, read> poisson_stims: array<PoissonStim>;
// inv_k[k] = 1 / k as f32 (inv_k[0] unused).
@group(0) @binding(12) var<storage, read> inv_k: array<f32>;
@group(0) @binding(13) var<storage, read> events: array<Event>;
// Sampled columns: (neuron, state variable, recorder).
@group(0) @binding(14) var<storage, read> sample_map: array<vec4<u32>>;
@group(0) @binding(15) var<storage, read_write> sample_buf: array<f32>;
@group(0) @binding(16) var<storage, read> stdp_rules: array<StdpRule>;
// Per neuron of a plastic network, 1 + n_traces words: the stamps of its last and
// previous spike (0: none), then per trace (K+ before, K+ after the last spike) as f32 bits.
@group(0) @binding(17) var<storage, read_write> pre_state: array<vec2<u32>>;
// Per neuron with plastic input, POST_HISTORY entries: a ring indexed by spike count.
@group(0) @binding(18) var<storage, read_write> post_history: array<HistoryEntry>;
@group(0) @binding(19) var<storage, read> dopa_rules: array<DopaRule>;
// Dopamine words (layout::DopamineLayout): the sender list (two halves of
// dopa_sources neuron ids), each sender's slice spike mask (dopa_words words),
// then per dopamine projection at DopaRule.base two spike lists (a count,
// then (stamp, multiplicity) pairs) and the ring of dopamine on its way.
@group(0) @binding(20) var<storage, read_write> dopamine: array<u32>;

@group(1) @binding(0) var<uniform> su: StepUniform;

@group(2) @binding(0) var<storage, read> row_ptr: array<u32>;
@group(2) @binding(1) var<storage, read_write> synapses: array<Synapse>;
// Per synapse of a plastic network: the weights (f32 bits) before the changes of
// its source's last and previous spike (what snapshots show while those are on
// their way); for a dopamine synapse, .x is the index of its DopaSynapse.
@group(2) @binding(2) var<storage, read_write> plastic: array<vec2<u32>>;
// Per dopamine synapse of the chunk, in CSR order.
@group(2) @binding(3) var<storage, read_write> dopa_syn: array<DopaSynapse>;

// Linear invocation index of a 2-D dispatch (x up to 65535 workgroups of 64).
fn linear_index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * 65535u * 64u;
}

// Dopamine-modulated STDP with the semantics of NEST's stdp_dopamine_synapse
// and its volume_transmitter, as the CPU engine's src/engine/cpu/dopamine.rs,
// in f32 and in stamps (time differences are exact step counts). Twin:
// src/engine/twin/dopamine.rs. Needs shared/bindings.wgsl and
// shared/stdp.wgsl (the postsynaptic spike history).

// A synapse's state while it is updated.
struct DopaWork {
    w: f32,
    kplus: f32,
    c: f32,
    n: f32,
    idx: u32,            // position in the spike list
    lu: u32,             // stamp of the last update
}

// a - b in steps, signed (stamps differ by less than 2^31).
fn dopa_steps(a: u32, b: u32) -> f32 {
    return f32(bitcast<i32>(a - b));
}

// exp(x) - 1 without the cancellation of exp(x) - 1 near 0 (WGSL has no
// expm1): Taylor to x^9 / 9! below |x| = 0.5 (truncation < 1e-9 relative).
fn dopa_expm1(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334 + x * (0.0013888889 + x * (0.0001984127 + x * (0.0000248016 + x * 0.0000027557319))))))));
    }
    return exp(x) - 1.0;
}

// First word of spike list `half` of a volume transmitter: its length, then
// (stamp, multiplicity) per entry. List k (stamps in ((k-1) E, k E], E =
// trigger_every) is in half k mod 2 and starts with a pseudo spike at (k-1) E.
fn dopa_list(r: DopaRule, half: u32) -> u32 {
    return r.base + half * (1u + 2u * r.capacity);
}

fn dopa_stamp(list: u32, i: u32) -> u32 {
    return dopamine[list + 1u + 2u * i];
}

fn dopa_mult(list: u32, i: u32) -> f32 {
    return f32(dopamine[list + 2u + 2u * i]);
}

// dw/dt = c (n - b) over one piece ending minus_steps before its start
// (NEST's update_weight_), then clipped to [Wmin, Wmax].
fn dopa_update_weight(r: DopaRule, s: ptr<function, DopaWork>, c0: f32, n0: f32, minus_steps: f32) {
    let dw = c0 * (n0 * r.inv_taus * dopa_expm1(r.taus_dt * minus_steps) - r.b_tau_c * dopa_expm1(minus_steps * r.dt_tau_c));
    (*s).w = min(max((*s).w - dw, r.wmin), r.wmax);
}

// The next dopamine spike: n decays to it and jumps (NEST's update_dopamine_).
fn dopa_update_dopamine(r: DopaRule, s: ptr<function, DopaWork>, list: u32) {
    let i = (*s).idx;
    let minus = dopa_steps(dopa_stamp(list, i), dopa_stamp(list, i + 1u));
    (*s).idx = i + 1u;
    (*s).n = (*s).n * exp(minus * r.dt_tau_n) + dopa_mult(list, i + 1u) * r.inv_tau_n;
}

// Whether the spike after the synapse's position lies at or before t1.
fn dopa_next_in(s: ptr<function, DopaWork>, list: u32, t1: u32) -> bool {
    let i = (*s).idx;
    return dopamine[list] > i + 1u && dopa_stamp(list, i + 1u) <= t1;
}

// Brings w, c and n from t0 to t1 over the dopamine spikes in (t0, t1]
// (NEST's process_dopa_spikes_); t1 < t0 integrates backwards.
fn dopa_process(r: DopaRule, s: ptr<function, DopaWork>, list: u32, t0: u32, t1: u32) {
    if (dopa_next_in(s, list, t1)) {
        let i0 = (*s).idx;
        let n0 = (*s).n * exp(dopa_steps(dopa_stamp(list, i0), t0) * r.dt_tau_n);
        dopa_update_weight(r, s, (*s).c, n0, dopa_steps(t0, dopa_stamp(list, i0 + 1u)));
        dopa_update_dopamine(r, s, list);
        while (dopa_next_in(s, list, t1)) {
            let i = (*s).idx;
            let cd = (*s).c * exp(dopa_steps(t0, dopa_stamp(list, i)) * r.dt_tau_c);
            dopa_update_weight(r, s, cd, (*s).n, dopa_steps(dopa_stamp(list, i), dopa_stamp(list, i + 1u)));
            dopa_update_dopamine(r, s, list);
        }
        let i = (*s).idx;
        let cd = (*s).c * exp(dopa_steps(t0, dopa_stamp(list, i)) * r.dt_tau_c);
        dopa_update_weight(r, s, cd, (*s).n, dopa_steps(dopa_stamp(list, i), t1));
    } else {
        let i = (*s).idx;
        let n0 = (*s).n * exp(dopa_steps(dopa_stamp(list, i), t0) * r.dt_tau_n);
        dopa_update_weight(r, s, (*s).c, n0, dopa_steps(t0, t1));
    }
    (*s).c = (*s).c * exp(-dopa_steps(t1, t0) * r.dt_tau_c);
}

// The target's spike history: its row, and the spike counts first..count
// that its ring still holds.
struct DopaPost {
    row: u32,
    first: u32,
    count: u32,
    dt_tau_minus: f32,
}

fn dopa_post(dst: u32) -> DopaPost {
    let p = pop_params[neuron_info[dst] & 0x7fffffffu];
    let count = spike_counts[dst];
    return DopaPost(p.history_base + (dst - p.first_neuron), count - min(count, POST_HISTORY), count, p.dt_tau_minus);
}

// From the last update through every target spike that arrives (t_post + d)
// up to `until`: the pieces in between, and c += A+ K+ at each arrival.
// Returns the time reached. (NEST's same-time exception cannot apply: an
// arrival t_post + d <= until.) A spike the history has lost flags dst.
fn dopa_facilitate(r: DopaRule, s: ptr<function, DopaWork>, list: u32, dst: u32, post: DopaPost, delay: u32, until: u32) -> u32 {
    let lu = (*s).lu;
    // Target spikes with lo < stamp <= hi (stamps start at 1: lo = 0 takes all, hi = 0 none).
    let lo = select(0u, lu - delay, lu > delay);
    let hi = select(0u, until - delay, until > delay);
    let end = history_after(post.row, post.first, post.count, hi);
    let start = history_after(post.row, post.first, end, lo);
    if (start == post.first && post.first > 0u && lo < hi) {
        atomicMin(&counters[3], dst);
    }
    var t0 = lu;
    for (var i = start; i < end; i++) {
        let t_post = history_entry(post.row, i).stamp + delay;
        dopa_process(r, s, list, t0, t_post);
        t0 = t_post;
        (*s).c = (*s).c + r.a_plus * (*s).kplus * exp(dopa_steps(lu, t0) * r.dt_tau_plus);
    }
    return t0;
}

// The target's trace K- at stamp t from its spikes strictly before t.
fn dopa_kminus(post: DopaPost, dst: u32, t: u32) -> f32 {
    if (t <= 1u) {
        return 0.0;
    }
    let before = history_after(post.row, post.first, post.count, t - 1u);
    if (before == post.first) {
        if (post.first > 0u) {
            atomicMin(&counters[3], dst);
        }
        return 0.0;
    }
    let e = history_entry(post.row, before - 1u);
    return e.kminus * exp(dopa_steps(e.stamp, t) * post.dt_tau_minus);
}

// NEST's send: the presynaptic spike with stamp `stamp` (sent at the start of
// the next slice, after the volume transmitter's update that ended its
// slice); returns the weight it is delivered with.
fn dopa_send(r: DopaRule, s: ptr<function, DopaWork>, list: u32, dst: u32, delay: u32, stamp: u32) -> f32 {
    let frozen = (*s).w;
    let lu = (*s).lu;
    let post = dopa_post(dst);
    let t0 = dopa_facilitate(r, s, list, dst, post, delay, stamp);
    dopa_process(r, s, list, t0, stamp);
    let t = select(0u, stamp - delay, stamp > delay);
    (*s).c = (*s).c - r.a_minus * dopa_kminus(post, dst, t);
    (*s).kplus = (*s).kplus * exp(dopa_steps(lu, stamp) * r.dt_tau_plus) + 1.0;
    (*s).lu = stamp;
    if (r.enabled == 0u) {
        (*s).w = frozen;
    }
    return (*s).w;
}

// NEST's trigger_update_weight: the volume transmitter brings the synapse up
// to stamp `t` (the end of its update period) without a spike.
fn dopa_trigger(r: DopaRule, s: ptr<function, DopaWork>, list: u32, dst: u32, delay: u32, t: u32) {
    let frozen = (*s).w;
    let lu = (*s).lu;
    let post = dopa_post(dst);
    let t0 = dopa_facilitate(r, s, list, dst, post, delay, t);
    dopa_process(r, s, list, t0, t);
    (*s).n = (*s).n * exp(dopa_steps(dopa_stamp(list, (*s).idx), t) * r.dt_tau_n);
    (*s).kplus = (*s).kplus * exp(dopa_steps(lu, t) * r.dt_tau_plus);
    (*s).lu = t;
    (*s).idx = 0u;
    if (r.enabled == 0u) {
        (*s).w = frozen;
    }
}

// The working state of dopamine synapse q with weight w.
fn dopa_load(q: u32, w: f32) -> DopaWork {
    let st = dopa_syn[q];
    return DopaWork(w, st.kplus, st.c, st.n, st.idx, st.last_update);
}

// Stores synapse j's state q back.
fn dopa_store(q: u32, j: u32, s: DopaWork) {
    synapses[j].weight = s.w;
    dopa_syn[q] = DopaSynapse(j, s.lu, s.idx, s.kplus, s.c, s.n);
}

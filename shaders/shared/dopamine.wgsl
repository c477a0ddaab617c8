// Dopamine-modulated STDP with the semantics of NEST's stdp_dopamine_synapse
// and its volume_transmitter, as the CPU engine's src/engine/cpu/dopamine.rs,
// in f32 and in stamps (time differences are exact step counts). Twin:
// src/engine/twin/dopamine.rs. Needs shared/bindings.wgsl, shared/fixed.wgsl
// (to_fixed, fixed_to_f32) and shared/stdp.wgsl (the postsynaptic history).
//
// Two things keep f32 from compounding its rounding over the thousands of
// updates a weight sees: each trace (K+, c, n) holds its value at the stamp
// of its last jump and is decayed from there in one exp when read (NEST
// multiplies a decay factor in at every update), and the weight is kept in
// 64-bit fixed point, to which each closed-form piece is added exactly.

// A synapse's state while it is updated.
struct DopaWork {
    wf: vec2<u32>,       // weight, fixed point (low, high)
    kplus: f32,
    c: f32,
    n: f32,
    tk: u32,             // stamp of kplus
    tc: u32,             // stamp of c
    tn: u32,             // stamp of n
    idx: u32,            // position in the spike list
    lu: u32,             // stamp of the last update
}

// a - b in steps, signed (stamps differ by less than 2^31).
fn dopa_steps(a: u32, b: u32) -> f32 {
    return f32(bitcast<i32>(a - b));
}

fn dopa_kplus_at(r: DopaRule, s: ptr<function, DopaWork>, t: u32) -> f32 {
    return (*s).kplus * exp(-dopa_steps(t, (*s).tk) * r.dt_tau_plus);
}

fn dopa_c_at(r: DopaRule, s: ptr<function, DopaWork>, t: u32) -> f32 {
    return (*s).c * exp(-dopa_steps(t, (*s).tc) * r.dt_tau_c);
}

fn dopa_n_at(r: DopaRule, s: ptr<function, DopaWork>, t: u32) -> f32 {
    return (*s).n * exp(-dopa_steps(t, (*s).tn) * r.dt_tau_n);
}

// exp(x) - 1 without the cancellation of exp(x) - 1 near 0 (WGSL has no
// expm1): Taylor to x^9 / 9! below |x| = 0.5 (truncation < 1e-9 relative).
fn dopa_expm1(x: f32) -> f32 {
    if (abs(x) < 0.5) {
        return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334 + x * (0.0013888889 + x * (0.0001984127 + x * (0.0000248016 + x * 0.0000027557319))))))));
    }
    return exp(x) - 1.0;
}

// a + b, 64-bit two's complement in (low, high) words.
fn dopa_add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// a < b, signed 64-bit.
fn dopa_less64(a: vec2<u32>, b: vec2<u32>) -> bool {
    return bitcast<i32>(a.y) < bitcast<i32>(b.y) || (a.y == b.y && a.x < b.x);
}

// The f32 weight of a fixed-point one.
fn dopa_weight(r: DopaRule, wf: vec2<u32>) -> f32 {
    return fixed_to_f32(wf.x, wf.y) * r.w_unscale;
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

// dw/dt = c (n - b) over one piece ending minus_steps before its start, c0
// and n0 at its start (NEST's update_weight_), then clipped to [Wmin, Wmax].
fn dopa_update_weight(r: DopaRule, s: ptr<function, DopaWork>, c0: f32, n0: f32, minus_steps: f32) {
    let dw = c0 * (n0 * r.inv_taus * dopa_expm1(r.taus_dt * minus_steps) - r.b_tau_c * dopa_expm1(minus_steps * r.dt_tau_c));
    var w = dopa_add64((*s).wf, to_fixed(clamp(-dw, -r.dw_limit, r.dw_limit) * r.w_scale));
    let wmin = vec2<u32>(r.wmin_lo, r.wmin_hi);
    let wmax = vec2<u32>(r.wmax_lo, r.wmax_hi);
    if (dopa_less64(w, wmin)) {
        w = wmin;
    } else if (dopa_less64(wmax, w)) {
        w = wmax;
    }
    (*s).wf = w;
}

// The next dopamine spike: n decays to it and jumps (NEST's update_dopamine_).
fn dopa_update_dopamine(r: DopaRule, s: ptr<function, DopaWork>, list: u32) {
    let i = (*s).idx;
    let t = dopa_stamp(list, i + 1u);
    (*s).idx = i + 1u;
    (*s).n = dopa_n_at(r, s, t) + dopa_mult(list, i + 1u) * r.inv_tau_n;
    (*s).tn = t;
}

// Whether the spike after the synapse's position lies at or before t1.
fn dopa_next_in(s: ptr<function, DopaWork>, list: u32, t1: u32) -> bool {
    let i = (*s).idx;
    return dopamine[list] > i + 1u && dopa_stamp(list, i + 1u) <= t1;
}

// Brings the weight from t0 to t1 over the dopamine spikes in (t0, t1]
// (NEST's process_dopa_spikes_; c and n at t1 follow from their stamps);
// t1 < t0 integrates backwards.
fn dopa_process(r: DopaRule, s: ptr<function, DopaWork>, list: u32, t0: u32, t1: u32) {
    if (dopa_next_in(s, list, t1)) {
        let next = dopa_stamp(list, (*s).idx + 1u);
        dopa_update_weight(r, s, dopa_c_at(r, s, t0), dopa_n_at(r, s, t0), dopa_steps(t0, next));
        dopa_update_dopamine(r, s, list);
        while (dopa_next_in(s, list, t1)) {
            let t = dopa_stamp(list, (*s).idx);
            let next = dopa_stamp(list, (*s).idx + 1u);
            dopa_update_weight(r, s, dopa_c_at(r, s, t), dopa_n_at(r, s, t), dopa_steps(t, next));
            dopa_update_dopamine(r, s, list);
        }
        let t = dopa_stamp(list, (*s).idx);
        dopa_update_weight(r, s, dopa_c_at(r, s, t), dopa_n_at(r, s, t), dopa_steps(t, t1));
    } else {
        dopa_update_weight(r, s, dopa_c_at(r, s, t0), dopa_n_at(r, s, t0), dopa_steps(t0, t1));
    }
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
        (*s).c = dopa_c_at(r, s, t0) + r.a_plus * dopa_kplus_at(r, s, t0);
        (*s).tc = t0;
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
    let frozen = (*s).wf;
    let post = dopa_post(dst);
    let t0 = dopa_facilitate(r, s, list, dst, post, delay, stamp);
    dopa_process(r, s, list, t0, stamp);
    let t = select(0u, stamp - delay, stamp > delay);
    (*s).c = dopa_c_at(r, s, stamp) - r.a_minus * dopa_kminus(post, dst, t);
    (*s).tc = stamp;
    (*s).kplus = dopa_kplus_at(r, s, stamp) + 1.0;
    (*s).tk = stamp;
    (*s).lu = stamp;
    if (r.enabled == 0u) {
        (*s).wf = frozen;
    }
    return dopa_weight(r, (*s).wf);
}

// NEST's trigger_update_weight: the volume transmitter brings the synapse up
// to stamp `t` (the end of its update period) without a spike.
fn dopa_trigger(r: DopaRule, s: ptr<function, DopaWork>, list: u32, dst: u32, delay: u32, t: u32) {
    let frozen = (*s).wf;
    let post = dopa_post(dst);
    let t0 = dopa_facilitate(r, s, list, dst, post, delay, t);
    dopa_process(r, s, list, t0, t);
    (*s).lu = t;
    (*s).idx = 0u;
    if (r.enabled == 0u) {
        (*s).wf = frozen;
    }
}

// The working state of dopamine synapse q.
fn dopa_load(q: u32) -> DopaWork {
    let st = dopa_syn[q];
    return DopaWork(vec2<u32>(st.w_lo, st.w_hi), st.kplus, st.c, st.n, st.t_kplus, st.t_c, st.t_n, st.idx, st.last_update);
}

// Stores synapse j's state q back, and its f32 weight in the synapse.
fn dopa_store(r: DopaRule, q: u32, j: u32, s: DopaWork) {
    synapses[j].weight = dopa_weight(r, s.wf);
    dopa_syn[q] = DopaSynapse(j, s.lu, s.idx, s.tk, s.tc, s.tn, s.kplus, s.c, s.n, s.wf.x, s.wf.y);
}

//! Twin of `shaders/shared/dopamine.wgsl`: NEST's `stdp_dopamine_synapse`
//! in f32 and in stamps on the device layout, operation for operation.

use super::DeviceState;
use super::stdp::{history_after, history_entry};
use crate::engine::gpu::layout::{DeviceNetwork, DopaRule, DopaSynapse, POST_HISTORY};

/// A synapse's state while it is updated.
#[derive(Debug, Clone, Copy)]
pub struct DopaWork {
    /// Weight.
    pub w: f32,
    /// Presynaptic trace K+.
    pub kplus: f32,
    /// Eligibility trace.
    pub c: f32,
    /// Dopamine concentration.
    pub n: f32,
    /// Position in the spike list.
    pub idx: u32,
    /// Stamp of the last update.
    pub lu: u32,
}

/// `a - b` in steps, signed.
#[inline]
pub fn dopa_steps(a: u32, b: u32) -> f32 {
    a.wrapping_sub(b) as i32 as f32
}

/// exp(x) - 1, as the kernel computes it (Taylor below |x| = 0.5).
#[inline]
pub fn dopa_expm1(x: f32) -> f32 {
    if x.abs() < 0.5 {
        return x
            * (1.0
                + x * (0.5
                    + x * (0.166_666_67
                        + x * (0.041_666_668
                            + x * (0.008_333_334
                                + x * (0.001_388_888_9
                                    + x * (0.000_198_412_7
                                        + x * (0.000_024_801_6 + x * 0.000_002_755_731_9))))))));
    }
    x.exp() - 1.0
}

/// First word of spike list `half`.
#[inline]
pub fn dopa_list(r: &DopaRule, half: u32) -> u32 {
    r.base + half * (1 + 2 * r.capacity)
}

#[inline]
fn dopa_stamp(words: &[u32], list: u32, i: u32) -> u32 {
    words[(list + 1 + 2 * i) as usize]
}

#[inline]
fn dopa_mult(words: &[u32], list: u32, i: u32) -> f32 {
    words[(list + 2 + 2 * i) as usize] as f32
}

fn dopa_update_weight(r: &DopaRule, s: &mut DopaWork, c0: f32, n0: f32, minus_steps: f32) {
    let dw = c0
        * (n0 * r.inv_taus * dopa_expm1(r.taus_dt * minus_steps)
            - r.b_tau_c * dopa_expm1(minus_steps * r.dt_tau_c));
    s.w = (s.w - dw).max(r.wmin).min(r.wmax);
}

fn dopa_update_dopamine(r: &DopaRule, s: &mut DopaWork, words: &[u32], list: u32) {
    let i = s.idx;
    let minus = dopa_steps(dopa_stamp(words, list, i), dopa_stamp(words, list, i + 1));
    s.idx = i + 1;
    s.n = s.n * (minus * r.dt_tau_n).exp() + dopa_mult(words, list, i + 1) * r.inv_tau_n;
}

fn dopa_next_in(s: &DopaWork, words: &[u32], list: u32, t1: u32) -> bool {
    let i = s.idx;
    words[list as usize] > i + 1 && dopa_stamp(words, list, i + 1) <= t1
}

/// Brings w, c and n from t0 to t1 over the dopamine spikes in (t0, t1].
pub fn dopa_process(r: &DopaRule, s: &mut DopaWork, words: &[u32], list: u32, t0: u32, t1: u32) {
    if dopa_next_in(s, words, list, t1) {
        let i0 = s.idx;
        let n0 = s.n * (dopa_steps(dopa_stamp(words, list, i0), t0) * r.dt_tau_n).exp();
        let c = s.c;
        dopa_update_weight(r, s, c, n0, dopa_steps(t0, dopa_stamp(words, list, i0 + 1)));
        dopa_update_dopamine(r, s, words, list);
        while dopa_next_in(s, words, list, t1) {
            let i = s.idx;
            let cd = s.c * (dopa_steps(t0, dopa_stamp(words, list, i)) * r.dt_tau_c).exp();
            let n = s.n;
            dopa_update_weight(
                r,
                s,
                cd,
                n,
                dopa_steps(dopa_stamp(words, list, i), dopa_stamp(words, list, i + 1)),
            );
            dopa_update_dopamine(r, s, words, list);
        }
        let i = s.idx;
        let cd = s.c * (dopa_steps(t0, dopa_stamp(words, list, i)) * r.dt_tau_c).exp();
        let n = s.n;
        dopa_update_weight(r, s, cd, n, dopa_steps(dopa_stamp(words, list, i), t1));
    } else {
        let i = s.idx;
        let n0 = s.n * (dopa_steps(dopa_stamp(words, list, i), t0) * r.dt_tau_n).exp();
        let c = s.c;
        dopa_update_weight(r, s, c, n0, dopa_steps(t0, t1));
    }
    s.c *= (-dopa_steps(t1, t0) * r.dt_tau_c).exp();
}

/// The target's spike history: row, the counts it still holds, its decay.
#[derive(Debug, Clone, Copy)]
pub struct DopaPost {
    row: u32,
    first: u32,
    count: u32,
    dt_tau_minus: f32,
}

fn dopa_post(dn: &DeviceNetwork, ds: &DeviceState, dst: u32) -> DopaPost {
    let p = &dn.pop_params[(dn.neuron_info[dst as usize] & 0x7fff_ffff) as usize];
    let count = ds.spike_counts[dst as usize];
    DopaPost {
        row: p.history_base + (dst - p.first_neuron),
        first: count - count.min(POST_HISTORY),
        count,
        dt_tau_minus: p.dt_tau_minus,
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the kernel function's arguments, one for one"
)]
fn dopa_facilitate(
    r: &DopaRule,
    s: &mut DopaWork,
    ds: &mut DeviceState,
    list: u32,
    dst: u32,
    post: DopaPost,
    delay: u32,
    until: u32,
) -> u32 {
    let lu = s.lu;
    let lo = if lu > delay { lu - delay } else { 0 };
    let hi = if until > delay { until - delay } else { 0 };
    let h = &ds.post_history;
    let end = history_after(h, post.row, post.first, post.count, hi);
    let start = history_after(h, post.row, post.first, end, lo);
    if start == post.first && post.first > 0 && lo < hi {
        ds.counters[3] = ds.counters[3].min(dst);
    }
    let mut t0 = lu;
    for i in start..end {
        let t_post = history_entry(&ds.post_history, post.row, i).stamp + delay;
        dopa_process(r, s, &ds.dopamine, list, t0, t_post);
        t0 = t_post;
        s.c += r.a_plus * s.kplus * (dopa_steps(lu, t0) * r.dt_tau_plus).exp();
    }
    t0
}

fn dopa_kminus(ds: &mut DeviceState, post: DopaPost, dst: u32, t: u32) -> f32 {
    if t <= 1 {
        return 0.0;
    }
    let h = &ds.post_history;
    let before = history_after(h, post.row, post.first, post.count, t - 1);
    if before == post.first {
        if post.first > 0 {
            ds.counters[3] = ds.counters[3].min(dst);
        }
        return 0.0;
    }
    let e = history_entry(h, post.row, before - 1);
    e.kminus * (dopa_steps(e.stamp, t) * post.dt_tau_minus).exp()
}

/// NEST's send of the presynaptic spike `stamp`; returns the delivered weight.
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel function's arguments, one for one"
)]
pub fn dopa_send(
    dn: &DeviceNetwork,
    ds: &mut DeviceState,
    r: &DopaRule,
    s: &mut DopaWork,
    list: u32,
    dst: u32,
    delay: u32,
    stamp: u32,
) -> f32 {
    let frozen = s.w;
    let lu = s.lu;
    let post = dopa_post(dn, ds, dst);
    let t0 = dopa_facilitate(r, s, ds, list, dst, post, delay, stamp);
    dopa_process(r, s, &ds.dopamine, list, t0, stamp);
    let t = if stamp > delay { stamp - delay } else { 0 };
    s.c -= r.a_minus * dopa_kminus(ds, post, dst, t);
    s.kplus = s.kplus * (dopa_steps(lu, stamp) * r.dt_tau_plus).exp() + 1.0;
    s.lu = stamp;
    if r.enabled == 0 {
        s.w = frozen;
    }
    s.w
}

/// NEST's trigger_update_weight: brings the synapse up to stamp `t`.
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel function's arguments, one for one"
)]
pub fn dopa_trigger(
    dn: &DeviceNetwork,
    ds: &mut DeviceState,
    r: &DopaRule,
    s: &mut DopaWork,
    list: u32,
    dst: u32,
    delay: u32,
    t: u32,
) {
    let frozen = s.w;
    let lu = s.lu;
    let post = dopa_post(dn, ds, dst);
    let t0 = dopa_facilitate(r, s, ds, list, dst, post, delay, t);
    dopa_process(r, s, &ds.dopamine, list, t0, t);
    s.n *= (dopa_steps(dopa_stamp(&ds.dopamine, list, s.idx), t) * r.dt_tau_n).exp();
    s.kplus *= (dopa_steps(lu, t) * r.dt_tau_plus).exp();
    s.lu = t;
    s.idx = 0;
    if r.enabled == 0 {
        s.w = frozen;
    }
}

/// The working state of dopamine synapse `q` of chunk `chunk`, weight `w`.
pub fn dopa_load(ds: &DeviceState, chunk: usize, q: u32, w: f32) -> DopaWork {
    let st = ds.dopa_syn[chunk][q as usize];
    DopaWork {
        w,
        kplus: st.kplus,
        c: st.c,
        n: st.n,
        idx: st.idx,
        lu: st.last_update,
    }
}

/// Stores synapse `j`'s state `q` back.
pub fn dopa_store(ds: &mut DeviceState, chunk: usize, q: u32, j: u32, s: &DopaWork) {
    ds.synapses[chunk][j as usize].weight = s.w;
    ds.dopa_syn[chunk][q as usize] = DopaSynapse {
        syn: j,
        last_update: s.lu,
        idx: s.idx,
        kplus: s.kplus,
        c: s.c,
        n: s.n,
    };
}

//! Twin of `shaders/shared/dopamine.wgsl`: NEST's `stdp_dopamine_synapse`
//! in f32 and in stamps on the device layout, operation for operation:
//! traces decay lazily from the stamp of their last jump, and the weight is
//! a 64-bit fixed point to which each closed-form piece is added exactly.

use super::DeviceState;
use super::fixed::{fixed_to_f32, to_fixed};
use super::stdp::{history_after, history_entry};
use crate::engine::gpu::layout::{DeviceNetwork, DopaRule, DopaSynapse, POST_HISTORY};

/// A synapse's state while it is updated.
#[derive(Debug, Clone, Copy)]
pub struct DopaWork {
    /// Weight, fixed point (low, high).
    pub wf: (u32, u32),
    /// Presynaptic trace K+ at `tk`.
    pub kplus: f32,
    /// Eligibility trace at `tc`.
    pub c: f32,
    /// Dopamine concentration at `tn`.
    pub n: f32,
    /// Stamp of `kplus`.
    pub tk: u32,
    /// Stamp of `c`.
    pub tc: u32,
    /// Stamp of `n`.
    pub tn: u32,
    /// Position in the spike list.
    pub idx: u32,
    /// Stamp of the last update.
    pub lu: u32,
}

impl DopaWork {
    fn kplus_at(&self, r: &DopaRule, t: u32) -> f32 {
        self.kplus * (-dopa_steps(t, self.tk) * r.dt_tau_plus).exp()
    }

    fn c_at(&self, r: &DopaRule, t: u32) -> f32 {
        self.c * (-dopa_steps(t, self.tc) * r.dt_tau_c).exp()
    }

    fn n_at(&self, r: &DopaRule, t: u32) -> f32 {
        self.n * (-dopa_steps(t, self.tn) * r.dt_tau_n).exp()
    }
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

/// a + b, 64-bit two's complement in (low, high) words.
#[inline]
fn dopa_add64(a: (u32, u32), b: (u32, u32)) -> (u32, u32) {
    let lo = a.0.wrapping_add(b.0);
    (lo, a.1.wrapping_add(b.1).wrapping_add(u32::from(lo < a.0)))
}

/// a < b, signed 64-bit.
#[inline]
fn dopa_less64(a: (u32, u32), b: (u32, u32)) -> bool {
    (a.1 as i32) < (b.1 as i32) || (a.1 == b.1 && a.0 < b.0)
}

/// The f32 weight of a fixed-point one.
#[inline]
pub fn dopa_weight(r: &DopaRule, wf: (u32, u32)) -> f32 {
    fixed_to_f32(wf.0, wf.1) * r.w_unscale
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
    // WGSL's clamp: min(max(x, lo), hi).
    let d = (-dw).max(-r.dw_limit).min(r.dw_limit);
    let mut w = dopa_add64(s.wf, to_fixed(d * r.w_scale));
    let (wmin, wmax) = ((r.wmin_lo, r.wmin_hi), (r.wmax_lo, r.wmax_hi));
    if dopa_less64(w, wmin) {
        w = wmin;
    } else if dopa_less64(wmax, w) {
        w = wmax;
    }
    s.wf = w;
}

fn dopa_update_dopamine(r: &DopaRule, s: &mut DopaWork, words: &[u32], list: u32) {
    let i = s.idx;
    let t = dopa_stamp(words, list, i + 1);
    s.idx = i + 1;
    s.n = s.n_at(r, t) + dopa_mult(words, list, i + 1) * r.inv_tau_n;
    s.tn = t;
}

fn dopa_next_in(s: &DopaWork, words: &[u32], list: u32, t1: u32) -> bool {
    let i = s.idx;
    words[list as usize] > i + 1 && dopa_stamp(words, list, i + 1) <= t1
}

/// Brings the weight from t0 to t1 over the dopamine spikes in (t0, t1]
/// (c and n at t1 follow from their stamps).
pub fn dopa_process(r: &DopaRule, s: &mut DopaWork, words: &[u32], list: u32, t0: u32, t1: u32) {
    if dopa_next_in(s, words, list, t1) {
        let next = dopa_stamp(words, list, s.idx + 1);
        let (c0, n0) = (s.c_at(r, t0), s.n_at(r, t0));
        dopa_update_weight(r, s, c0, n0, dopa_steps(t0, next));
        dopa_update_dopamine(r, s, words, list);
        while dopa_next_in(s, words, list, t1) {
            let t = dopa_stamp(words, list, s.idx);
            let next = dopa_stamp(words, list, s.idx + 1);
            let (c, n) = (s.c_at(r, t), s.n_at(r, t));
            dopa_update_weight(r, s, c, n, dopa_steps(t, next));
            dopa_update_dopamine(r, s, words, list);
        }
        let t = dopa_stamp(words, list, s.idx);
        let (c, n) = (s.c_at(r, t), s.n_at(r, t));
        dopa_update_weight(r, s, c, n, dopa_steps(t, t1));
    } else {
        let (c0, n0) = (s.c_at(r, t0), s.n_at(r, t0));
        dopa_update_weight(r, s, c0, n0, dopa_steps(t0, t1));
    }
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
    let lo = lu.saturating_sub(delay);
    let hi = until.saturating_sub(delay);
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
        s.c = s.c_at(r, t0) + r.a_plus * s.kplus_at(r, t0);
        s.tc = t0;
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
    let frozen = s.wf;
    let post = dopa_post(dn, ds, dst);
    let t0 = dopa_facilitate(r, s, ds, list, dst, post, delay, stamp);
    dopa_process(r, s, &ds.dopamine, list, t0, stamp);
    let t = stamp.saturating_sub(delay);
    s.c = s.c_at(r, stamp) - r.a_minus * dopa_kminus(ds, post, dst, t);
    s.tc = stamp;
    s.kplus = s.kplus_at(r, stamp) + 1.0;
    s.tk = stamp;
    s.lu = stamp;
    if r.enabled == 0 {
        s.wf = frozen;
    }
    dopa_weight(r, s.wf)
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
    let frozen = s.wf;
    let post = dopa_post(dn, ds, dst);
    let t0 = dopa_facilitate(r, s, ds, list, dst, post, delay, t);
    dopa_process(r, s, &ds.dopamine, list, t0, t);
    s.lu = t;
    s.idx = 0;
    if r.enabled == 0 {
        s.wf = frozen;
    }
}

/// The working state of dopamine synapse `q` of chunk `chunk`.
pub fn dopa_load(ds: &DeviceState, chunk: usize, q: u32) -> DopaWork {
    let st = ds.dopa_syn[chunk][q as usize];
    DopaWork {
        wf: (st.w_lo, st.w_hi),
        kplus: st.kplus,
        c: st.c,
        n: st.n,
        tk: st.t_kplus,
        tc: st.t_c,
        tn: st.t_n,
        idx: st.idx,
        lu: st.last_update,
    }
}

/// Stores synapse `j`'s state `q` back, and its f32 weight in the synapse.
pub fn dopa_store(ds: &mut DeviceState, r: &DopaRule, chunk: usize, q: u32, j: u32, s: &DopaWork) {
    ds.synapses[chunk][j as usize].weight = dopa_weight(r, s.wf);
    ds.dopa_syn[chunk][q as usize] = DopaSynapse {
        syn: j,
        last_update: s.lu,
        idx: s.idx,
        t_kplus: s.tk,
        t_c: s.tc,
        t_n: s.tn,
        kplus: s.kplus,
        c: s.c,
        n: s.n,
        w_lo: s.wf.0,
        w_hi: s.wf.1,
    };
}

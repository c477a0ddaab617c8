//! Dopamine-modulated STDP on the CPU engine, with the semantics of NEST's
//! `stdp_dopamine_synapse` and `volume_transmitter`, step for step:
//!
//! - every synapse carries an eligibility trace c, raised by A+ K+ at a
//!   pre-before-post pairing and lowered by A- K- at post-before-pre, and a
//!   copy of the dopamine concentration n, raised by 1/tau_n at each dopamine
//!   spike (the spike of a neuron of the `dopamine` population, arriving
//!   `dopamine_delay` later); between events dw/dt = c (n - b), integrated in
//!   closed form and clipped to [Wmin, Wmax] at each piece;
//! - NEST's volume transmitter collects dopamine spikes and, every
//!   `deliver_interval` minimum delays, brings every synapse up to date
//!   (`trigger`); presynaptic spikes emitted in one min-delay slice are
//!   processed at the start of the next (`send`), after that slice's trigger.
//!   Weights move between presynaptic spikes, at those triggers.

use super::stdp::PostHistory;
use crate::build::Network;
use crate::description::DopamineParams;
use std::collections::BTreeMap;

/// One dopamine-modulated projection and its volume transmitter.
#[derive(Debug, Clone)]
pub struct DopaProjection {
    /// Projection index.
    pub projection: usize,
    /// Parameters.
    pub p: DopamineParams,
    /// Its synapses (indices into `Network::synapses`).
    pub synapses: Vec<usize>,
    /// NEST's spike counter: (time ms, multiplicity), starting with a pseudo
    /// spike at the last trigger.
    pub spikecounter: Vec<(f64, f64)>,
    /// Dopamine spikes on their way: arrival stamp -> multiplicity.
    pub arriving: BTreeMap<u64, f64>,
    /// Global ids of the dopamine neurons: [first, end).
    pub source: (u32, u32),
    /// Dopamine delay, steps.
    pub delay: u64,
    /// Steps between triggers.
    pub trigger_every: u64,
}

/// Per-synapse state of dopamine synapses (indexed like `Network::synapses`).
#[derive(Debug, Clone)]
pub struct Dopamine {
    /// The projections.
    pub projections: Vec<DopaProjection>,
    /// Which projection (index into `projections`) each network projection is, if any.
    pub of_projection: Vec<Option<usize>>,
    /// Eligibility trace.
    pub c: Vec<f64>,
    /// Dopamine concentration as the synapse last saw it.
    pub n: Vec<f64>,
    /// Stamp of the synapse's last update.
    pub last_update: Vec<u64>,
    /// Position in its transmitter's spike counter.
    pub dopa_idx: Vec<u32>,
    /// Presynaptic spikes waiting for the next slice: (stamp, synapse).
    pub queued: Vec<(u64, usize)>,
    /// For each source neuron, its dopamine synapses.
    pub rows: Vec<Vec<usize>>,
    /// NEST's min_delay in steps (slice length).
    pub min_delay: u64,
}

impl Dopamine {
    /// The state of a network's dopamine projections, if it has any.
    pub fn new(net: &Network) -> Option<Self> {
        if !net.has_dopamine() {
            return None;
        }
        let mut of_projection = vec![None; net.projections.len()];
        let mut projections = Vec::new();
        for (pi, proj) in net.projections.iter().enumerate() {
            if let Some(p) = proj.dopamine {
                of_projection[pi] = Some(projections.len());
                let pop = &net.populations[p.source];
                projections.push(DopaProjection {
                    projection: pi,
                    p,
                    synapses: Vec::new(),
                    spikecounter: vec![(0.0, 0.0)],
                    arriving: BTreeMap::new(),
                    source: (pop.offset, pop.offset + pop.size),
                    delay: crate::time::round_to_steps(p.dopamine_delay, net.dt).max(1),
                    trigger_every: p.deliver_interval as u64 * net.min_delay,
                });
            }
        }
        let syn = &net.synapses;
        let mut rows = vec![Vec::new(); net.n_neurons];
        for (src, row) in rows.iter_mut().enumerate() {
            for k in syn.row_start[src] as usize..syn.row_start[src + 1] as usize {
                if let Some(d) = of_projection[syn.projection[k] as usize] {
                    projections[d].synapses.push(k);
                    row.push(k);
                }
            }
        }
        let n = syn.len();
        Some(Self {
            projections,
            of_projection,
            c: vec![0.0; n],
            n: vec![0.0; n],
            last_update: vec![0; n],
            dopa_idx: vec![0; n],
            queued: Vec::new(),
            rows,
            min_delay: net.min_delay,
        })
    }
}

/// The state of one synapse while it is updated.
struct Syn<'a> {
    w: &'a mut f64,
    kplus: &'a mut f64,
    c: &'a mut f64,
    n: &'a mut f64,
    idx: &'a mut u32,
}

fn update_weight(p: &DopamineParams, s: &mut Syn<'_>, c0: f64, n0: f64, minus_dt: f64) {
    // The terms that are exactly zero are skipped (no eligibility, or no
    // dopamine above a zero baseline): most synapses at most triggers, and
    // each term costs an exp.
    if c0 != 0.0 {
        let taus = (p.tau_c + p.tau_n) / (p.tau_c * p.tau_n);
        let dopamine = if n0 != 0.0 {
            n0 / taus * (taus * minus_dt).exp_m1()
        } else {
            0.0
        };
        let baseline = if p.b != 0.0 {
            p.b * p.tau_c * (minus_dt / p.tau_c).exp_m1()
        } else {
            0.0
        };
        *s.w -= c0 * (dopamine - baseline);
    }
    *s.w = s.w.clamp(p.wmin, p.wmax);
}

/// `x * exp(arg)`, skipping the exp when x is 0.
#[inline]
fn decayed(x: f64, arg: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x * arg.exp() }
}

fn update_dopamine(p: &DopamineParams, s: &mut Syn<'_>, spikes: &[(f64, f64)]) {
    let i = *s.idx as usize;
    let minus_dt = spikes[i].0 - spikes[i + 1].0;
    *s.idx += 1;
    *s.n = decayed(*s.n, minus_dt / p.tau_n) + spikes[i + 1].1 / p.tau_n;
}

/// Brings weight, c and n from t0 to t1 over the dopamine spikes in (t0, t1].
fn process_dopa_spikes(
    p: &DopamineParams,
    s: &mut Syn<'_>,
    spikes: &[(f64, f64)],
    t0: f64,
    t1: f64,
) {
    let eps = 1e-9;
    let next_in = |s: &Syn<'_>| {
        spikes.len() > *s.idx as usize + 1 && t1 - spikes[*s.idx as usize + 1].0 > -eps
    };
    if next_in(s) {
        let i = *s.idx as usize;
        let n0 = decayed(*s.n, (spikes[i].0 - t0) / p.tau_n);
        let c = *s.c;
        update_weight(p, s, c, n0, t0 - spikes[i + 1].0);
        update_dopamine(p, s, spikes);
        while next_in(s) {
            let i = *s.idx as usize;
            let cd = decayed(*s.c, (t0 - spikes[i].0) / p.tau_c);
            let n = *s.n;
            update_weight(p, s, cd, n, spikes[i].0 - spikes[i + 1].0);
            update_dopamine(p, s, spikes);
        }
        let i = *s.idx as usize;
        let cd = decayed(*s.c, (t0 - spikes[i].0) / p.tau_c);
        let n = *s.n;
        update_weight(p, s, cd, n, spikes[i].0 - t1);
        *s.c = decayed(*s.c, -(t1 - t0) / p.tau_c);
    } else {
        let i = *s.idx as usize;
        let n0 = decayed(*s.n, (spikes[i].0 - t0) / p.tau_n);
        let c = *s.c;
        update_weight(p, s, c, n0, t0 - t1);
        *s.c = decayed(*s.c, -(t1 - t0) / p.tau_c);
    }
}

/// Post spikes (stamps) with lo < s <= hi (signed bounds in steps).
fn window(post: &PostHistory, lo: i64, hi: i64) -> &[u64] {
    let a = post.stamps.partition_point(|&s| (s as i64) <= lo);
    let b = post.stamps.partition_point(|&s| (s as i64) <= hi);
    if b > a { &post.stamps[a..b] } else { &[] }
}

/// NEST's K- at time `t` (in steps) from spikes strictly before it.
fn k_minus(post: &PostHistory, t: i64, dt: f64, inv_tau_minus: f64) -> f64 {
    let before = post.stamps.partition_point(|&s| (s as i64) < t);
    if before == 0 {
        return 0.0;
    }
    post.kminus[before - 1]
        * ((post.stamps[before - 1] as f64 - t as f64) * dt * inv_tau_minus).exp()
}

/// Everything one synapse update needs besides the synapse's own state.
pub struct Context<'a> {
    /// Parameters.
    pub p: &'a DopamineParams,
    /// The transmitter's spike counter.
    pub spikes: &'a [(f64, f64)],
    /// The target's history.
    pub post: &'a PostHistory,
    /// 1 / tau_minus of the target.
    pub inv_tau_minus: f64,
    /// Synapse delay, steps.
    pub delay: u64,
    /// Step.
    pub dt: f64,
    /// Whether the weight may change (plasticity switched on).
    pub enabled: bool,
}

/// Brings the synapse from its last update through every postsynaptic spike
/// that arrives (t_post + d) up to `until` - d, raising c at each; returns the
/// time reached. `skip_at`: a presynaptic spike time at which a postsynaptic
/// spike is not paired.
fn facilitate_until(
    cx: &Context<'_>,
    s: &mut Syn<'_>,
    last_update: u64,
    until: u64,
    skip_at: Option<f64>,
) -> f64 {
    let (p, dt, d) = (cx.p, cx.dt, cx.delay as i64);
    let tlu = last_update as f64 * dt;
    let mut t0 = tlu;
    for &tp in window(cx.post, last_update as i64 - d, until as i64 - d) {
        let t_post = tp as f64 * dt + d as f64 * dt;
        process_dopa_spikes(p, s, cx.spikes, t0, t_post);
        t0 = t_post;
        if skip_at.is_none_or(|t| t - tp as f64 * dt > 1e-9) {
            *s.c += p.a_plus * *s.kplus * ((tlu - t0) / p.tau_plus).exp();
        }
    }
    t0
}

/// `send`: a presynaptic spike with stamp `stamp`; returns the weight it is delivered with.
#[expect(
    clippy::too_many_arguments,
    reason = "one synapse's state, passed apart as the engine stores it"
)]
pub fn send(
    cx: &Context<'_>,
    w: &mut f64,
    kplus: &mut f64,
    c: &mut f64,
    n: &mut f64,
    idx: &mut u32,
    last_update: &mut u64,
    stamp: u64,
) -> f64 {
    let (p, dt, d) = (cx.p, cx.dt, cx.delay as i64);
    let frozen = *w;
    let mut s = Syn {
        w,
        kplus,
        c,
        n,
        idx,
    };
    let t_spike = stamp as f64 * dt;
    let tlu = *last_update as f64 * dt;
    // NEST skips pairing a post spike with a pre spike at the same time.
    let t0 = facilitate_until(cx, &mut s, *last_update, stamp, Some(t_spike));
    process_dopa_spikes(p, &mut s, cx.spikes, t0, t_spike);
    *s.c -= p.a_minus * k_minus(cx.post, stamp as i64 - d, dt, cx.inv_tau_minus);
    *s.kplus = *s.kplus * ((tlu - t_spike) / p.tau_plus).exp() + 1.0;
    *last_update = stamp;
    if !cx.enabled {
        *s.w = frozen;
    }
    *s.w
}

/// `trigger_update_weight`: brings the synapse up to `stamp` without a spike.
#[expect(
    clippy::too_many_arguments,
    reason = "one synapse's state, passed apart as the engine stores it"
)]
pub fn trigger(
    cx: &Context<'_>,
    w: &mut f64,
    kplus: &mut f64,
    c: &mut f64,
    n: &mut f64,
    idx: &mut u32,
    last_update: &mut u64,
    stamp: u64,
) {
    let (p, dt) = (cx.p, cx.dt);
    let frozen = *w;
    let mut s = Syn {
        w,
        kplus,
        c,
        n,
        idx,
    };
    let t_trig = stamp as f64 * dt;
    let tlu = *last_update as f64 * dt;
    let t0 = facilitate_until(cx, &mut s, *last_update, stamp, None);
    process_dopa_spikes(p, &mut s, cx.spikes, t0, t_trig);
    let i = *s.idx as usize;
    *s.n = decayed(*s.n, (cx.spikes[i].0 - t_trig) / p.tau_n);
    *s.kplus = decayed(*s.kplus, (tlu - t_trig) / p.tau_plus);
    *last_update = stamp;
    *s.idx = 0;
    if !cx.enabled {
        *s.w = frozen;
    }
}

/// The decay factors of a [`trigger`] over a quiet interval, shared by every
/// synapse of a projection last updated at the previous trigger: with no
/// dopamine spike and no postsynaptic spike in between, a trigger only
/// decays c, n and K+ and integrates dw = c (n - b) over the same interval
/// for all of them, so the exps are the same numbers for all of them.
pub struct QuietTrigger {
    /// Stamp of the synapses' last update (the previous trigger).
    pub last_update: u64,
    /// Stamp of this trigger.
    pub stamp: u64,
    /// `exp(-T / tau_c)`: c's decay.
    c_decay: f64,
    /// `exp(-T / tau_n)`: n's decay.
    n_decay: f64,
    /// `exp(-T / tau_plus)`: K+'s decay.
    kplus_decay: f64,
    /// `expm1(-T (tau_c + tau_n) / (tau_c tau_n))`: the dopamine term.
    dopamine_expm1: f64,
    /// `expm1(-T / tau_c)`: the baseline term.
    baseline_expm1: f64,
}

impl QuietTrigger {
    /// The factors from `last_update` to `stamp`, computed with exactly the
    /// operations [`trigger`] does, so that [`trigger_quiet`] gives the same
    /// bits.
    pub fn new(p: &DopamineParams, last_update: u64, stamp: u64, dt: f64) -> Self {
        let tlu = last_update as f64 * dt;
        let t_trig = stamp as f64 * dt;
        let taus = (p.tau_c + p.tau_n) / (p.tau_c * p.tau_n);
        let minus_dt = tlu - t_trig;
        Self {
            last_update,
            stamp,
            c_decay: (-(t_trig - tlu) / p.tau_c).exp(),
            n_decay: ((tlu - t_trig) / p.tau_n).exp(),
            kplus_decay: ((tlu - t_trig) / p.tau_plus).exp(),
            dopamine_expm1: (taus * minus_dt).exp_m1(),
            baseline_expm1: (minus_dt / p.tau_c).exp_m1(),
        }
    }

    /// Whether [`trigger_quiet`] applies to a synapse: it was last updated at
    /// the previous trigger, no dopamine spike came since (`spikes` holds only
    /// the pseudo spike at that trigger) and no postsynaptic spike arrives in
    /// between.
    pub fn applies(&self, cx: &Context<'_>, last_update: u64) -> bool {
        let d = cx.delay as i64;
        last_update == self.last_update
            && cx.spikes.len() == 1
            && cx.spikes[0].0 == last_update as f64 * cx.dt
            && window(cx.post, last_update as i64 - d, self.stamp as i64 - d).is_empty()
    }
}

/// [`trigger`] for a synapse to which `q` [applies](QuietTrigger::applies):
/// the same results, with the exps taken from `q`.
pub fn trigger_quiet(
    cx: &Context<'_>,
    q: &QuietTrigger,
    w: &mut f64,
    kplus: &mut f64,
    c: &mut f64,
    n: &mut f64,
    last_update: &mut u64,
) {
    let p = cx.p;
    let frozen = *w;
    // n0 = n * exp(0) = n: the pseudo spike is at the last update.
    let (c0, n0) = (*c, *n);
    if c0 != 0.0 {
        let taus = (p.tau_c + p.tau_n) / (p.tau_c * p.tau_n);
        let dopamine = if n0 != 0.0 {
            n0 / taus * q.dopamine_expm1
        } else {
            0.0
        };
        let baseline = if p.b != 0.0 {
            p.b * p.tau_c * q.baseline_expm1
        } else {
            0.0
        };
        *w -= c0 * (dopamine - baseline);
    }
    *w = w.clamp(p.wmin, p.wmax);
    *c = if c0 == 0.0 { 0.0 } else { c0 * q.c_decay };
    *n = if n0 == 0.0 { 0.0 } else { n0 * q.n_decay };
    *kplus = if *kplus == 0.0 {
        0.0
    } else {
        *kplus * q.kplus_decay
    };
    *last_update = q.stamp;
    if !cx.enabled {
        *w = frozen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(b: f64) -> DopamineParams {
        DopamineParams {
            a_plus: 1.0,
            a_minus: 1.5,
            tau_plus: 20.0,
            tau_c: 1000.0,
            tau_n: 200.0,
            b,
            wmin: 0.0,
            wmax: 4.0,
            source: 0,
            dopamine_delay: 1.0,
            deliver_interval: 20,
        }
    }

    /// The quiet trigger gives the general trigger's bits, for every mix of
    /// zero and non-zero traces, baselines, frozen plasticity and intervals
    /// (dt 0.1 ms, where the interval times are inexact in binary).
    #[test]
    fn quiet_trigger_matches_trigger_bit_for_bit() {
        let post = PostHistory {
            stamps: vec![2000, 5000],
            kminus: vec![1.0, 1.2],
        };
        let mut checked = 0;
        for b in [0.0, 0.01] {
            for enabled in [true, false] {
                for (last, stamp) in [(0, 200), (200, 400), (4000, 4200), (7, 1007)] {
                    for (c, n, kplus) in [
                        (0.0, 0.0, 0.0),
                        (0.3, 0.0, 1.0),
                        (0.0, 0.02, 0.5),
                        (-0.7, 0.013, 2.5),
                        (0.25, 0.031, 0.0),
                    ] {
                        let p = params(b);
                        let spikes = [(last as f64 * 0.1, 0.0)];
                        let cx = Context {
                            p: &p,
                            spikes: &spikes,
                            post: &post,
                            inv_tau_minus: 1.0 / 20.0,
                            delay: 10,
                            dt: 0.1,
                            enabled,
                        };
                        let q = QuietTrigger::new(&p, last, stamp, 0.1);
                        assert!(q.applies(&cx, last), "quiet interval {last}..{stamp}");
                        let (mut w1, mut k1, mut c1, mut n1, mut i1, mut l1) =
                            (1.7, kplus, c, n, 0u32, last);
                        trigger(
                            &cx, &mut w1, &mut k1, &mut c1, &mut n1, &mut i1, &mut l1, stamp,
                        );
                        let (mut w2, mut k2, mut c2, mut n2, mut l2) = (1.7, kplus, c, n, last);
                        trigger_quiet(&cx, &q, &mut w2, &mut k2, &mut c2, &mut n2, &mut l2);
                        for (a, z) in [(w1, w2), (k1, k2), (c1, c2), (n1, n2)] {
                            assert_eq!(a.to_bits(), z.to_bits(), "{a} vs {z}");
                        }
                        assert_eq!((l1, i1), (l2, 0));
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 80);
    }

    /// It does not apply where the general trigger does more: a dopamine
    /// spike, a postsynaptic spike in the interval, or a synapse updated
    /// since the previous trigger.
    #[test]
    fn quiet_trigger_declines_busy_intervals() {
        let p = params(0.0);
        let quiet_post = PostHistory {
            stamps: vec![],
            kminus: vec![],
        };
        let busy_post = PostHistory {
            stamps: vec![250],
            kminus: vec![1.0],
        };
        let cx = |spikes: &'static [(f64, f64)], post| Context {
            p: &p,
            spikes,
            post,
            inv_tau_minus: 0.05,
            delay: 1,
            dt: 1.0,
            enabled: true,
        };
        let q = QuietTrigger::new(&p, 200, 400, 1.0);
        assert!(q.applies(&cx(&[(200.0, 0.0)], &quiet_post), 200));
        assert!(!q.applies(&cx(&[(200.0, 0.0), (300.0, 1.0)], &quiet_post), 200));
        assert!(!q.applies(&cx(&[(200.0, 0.0)], &busy_post), 200));
        assert!(!q.applies(&cx(&[(200.0, 0.0)], &quiet_post), 310));
    }
}

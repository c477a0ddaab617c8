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

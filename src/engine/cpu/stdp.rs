//! Pair STDP on the CPU engine, with the semantics of NEST's `stdp_synapse`
//! (all-to-all pairing) and `stdp_nn_symm_synapse` (symmetric nearest
//! neighbour).
//!
//! As in NEST, a synapse's weight changes only when its presynaptic neuron
//! spikes, and the whole delay counts as dendritic: a presynaptic spike at t
//! first potentiates once for every postsynaptic spike in
//! (t_last - d, t - d] (t_last: the previous presynaptic spike), then
//! depresses by the postsynaptic trace at t - d (spikes strictly before),
//! and is delivered with the new weight. Postsynaptic spikes after the last
//! presynaptic spike potentiate only when the next one comes.

use crate::build::Network;
use crate::description::StdpParams;

/// A neuron's postsynaptic spike history and trace, as NEST's archiving node.
#[derive(Debug, Clone, Default)]
pub struct PostHistory {
    /// Spike stamps, increasing.
    pub stamps: Vec<u64>,
    /// The trace K- just after each of those spikes.
    pub kminus: Vec<f64>,
}

/// Per-synapse and per-neuron plasticity state.
#[derive(Debug, Clone)]
pub struct Plasticity {
    /// Rule of each projection (`None`: static).
    pub rules: Vec<Option<StdpParams>>,
    /// Whether each projection's weights may change now.
    pub enabled: Vec<bool>,
    /// Working weight of every synapse: the one its latest presynaptic spike set.
    pub weight: Vec<f64>,
    /// Weight of every synapse as recorded: a presynaptic spike's change shows
    /// from its arrival (t + d) on, as NEST's weights change when the spike is
    /// delivered (exactly so where the delay is NEST's min_delay).
    pub visible: Vec<f64>,
    /// Changes not yet visible, bucketed by arrival stamp modulo the ring
    /// length (arrivals lie less than a ring length ahead): (synapse, weight).
    pub pending: Vec<Vec<(usize, f64)>>,
    /// Presynaptic trace K+ of every synapse just after its last presynaptic spike.
    pub kplus: Vec<f64>,
    /// Stamp of every synapse's last presynaptic spike (0: none yet, as NEST's t_lastspike = 0).
    pub last_pre: Vec<u64>,
    /// History of every neuron that receives a plastic synapse.
    pub post: Vec<PostHistory>,
    /// 1 / tau_minus of every neuron.
    pub inv_tau_minus: Vec<f64>,
    /// Whether a neuron receives a plastic synapse.
    pub plastic_target: Vec<bool>,
    /// Whether each projection is dopamine-modulated (handled by `dopamine.rs`).
    pub dopamine_projection: Vec<bool>,
}

impl Plasticity {
    /// The initial state; `None` when no projection is plastic.
    pub fn new(net: &Network) -> Option<Self> {
        if !net.is_plastic() {
            return None;
        }
        let rules: Vec<Option<StdpParams>> = net.projections.iter().map(|p| p.plasticity).collect();
        let mut plastic_target = vec![false; net.n_neurons];
        let dopamine: Vec<bool> = net
            .projections
            .iter()
            .map(|p| p.dopamine.is_some())
            .collect();
        for (k, &t) in net.synapses.target.iter().enumerate() {
            let p = net.synapses.projection[k] as usize;
            if rules[p].is_some() || dopamine[p] {
                plastic_target[t as usize] = true;
            }
        }
        let mut inv_tau_minus = vec![0.0; net.n_neurons];
        for p in &net.populations {
            let v = 1.0 / p.param("tau_minus");
            inv_tau_minus[p.offset as usize..(p.offset + p.size) as usize].fill(v);
        }
        let n_syn = net.synapses.len();
        Some(Self {
            enabled: vec![true; rules.len()],
            rules,
            weight: net.synapses.weight.clone(),
            visible: net.synapses.weight.clone(),
            pending: vec![Vec::new(); (net.max_delay + 1) as usize],
            kplus: vec![0.0; n_syn],
            last_pre: vec![0; n_syn],
            post: vec![PostHistory::default(); net.n_neurons],
            inv_tau_minus,
            plastic_target,
            dopamine_projection: dopamine,
        })
    }

    /// Queues changes (arrival stamp, synapse, weight) made in this step.
    pub fn queue(&mut self, changes: impl IntoIterator<Item = (u64, usize, f64)>) {
        let len = self.pending.len() as u64;
        for (arrival, k, w) in changes {
            self.pending[(arrival % len) as usize].push((k, w));
        }
    }

    /// Makes visible the changes whose spikes arrive at `stamp`.
    pub fn commit(&mut self, stamp: u64) {
        let bucket = (stamp % self.pending.len() as u64) as usize;
        for (k, w) in self.pending[bucket].drain(..) {
            self.visible[k] = w;
        }
    }

    /// Appends this step's spikes (stamp `stamp`) to the histories that need them.
    pub fn record_post_spikes(&mut self, spikes: &[u32], stamp: u64, dt: f64) {
        for &i in spikes {
            let i = i as usize;
            if !self.plastic_target[i] {
                continue;
            }
            let h = &mut self.post[i];
            let k = match (h.stamps.last(), h.kminus.last()) {
                (Some(&last), Some(&k)) => {
                    k * ((last as f64 * dt - stamp as f64 * dt) * self.inv_tau_minus[i]).exp() + 1.0
                }
                _ => 1.0,
            };
            h.stamps.push(stamp);
            h.kminus.push(k);
        }
    }

    /// Drops history that no synapse can read again: for each neuron, the
    /// spikes before the last one at or before the earliest window start
    /// (t_last - d) of its incoming plastic synapses (that one is kept: its
    /// trace value still counts).
    pub fn prune(&mut self, net: &Network, dopamine_last_update: Option<&[u64]>) {
        let mut horizon = vec![u64::MAX; net.n_neurons];
        let syn = &net.synapses;
        for k in 0..syn.len() {
            let p = syn.projection[k] as usize;
            let last = if self.rules[p].is_some() {
                self.last_pre[k]
            } else if let (Some(lu), Some(_)) = (dopamine_last_update, net.projections[p].dopamine)
            {
                lu[k]
            } else {
                continue;
            };
            let t = syn.target[k] as usize;
            horizon[t] = horizon[t].min(last.saturating_sub(syn.delay[k] as u64));
        }
        for (h, &limit) in self.post.iter_mut().zip(&horizon) {
            let keep_from = h.stamps.partition_point(|&s| s <= limit).saturating_sub(1);
            if keep_from > 0 {
                h.stamps.drain(..keep_from);
                h.kminus.drain(..keep_from);
            }
        }
    }
}

/// x^mu, exact and fast for the additive (0) and multiplicative (1) rules.
#[inline]
fn pow_mu(x: f64, mu: f64) -> f64 {
    if mu == 0.0 {
        1.0
    } else if mu == 1.0 {
        x
    } else {
        x.powf(mu)
    }
}

/// NEST's facilitation: w/Wmax grows by lambda (1 - w/Wmax)^mu_plus K+, capped at 1.
#[inline]
pub fn facilitate(p: &StdpParams, w: f64, kplus: f64) -> f64 {
    let norm = w / p.wmax + p.lambda * pow_mu(1.0 - w / p.wmax, p.mu_plus) * kplus;
    if norm < 1.0 { norm * p.wmax } else { p.wmax }
}

/// NEST's depression: w/Wmax shrinks by alpha lambda (w/Wmax)^mu_minus K-, floored at 0.
#[inline]
pub fn depress(p: &StdpParams, w: f64, kminus: f64) -> f64 {
    let norm = w / p.wmax - p.alpha * p.lambda * pow_mu(w / p.wmax, p.mu_minus) * kminus;
    if norm > 0.0 { norm * p.wmax } else { 0.0 }
}

/// The update of one synapse at a presynaptic spike with stamp `stamp`;
/// returns the new weight (the one the spike is delivered with).
#[expect(
    clippy::too_many_arguments,
    reason = "one synapse's state and its context, passed apart so blocks can own them"
)]
#[inline]
pub fn on_pre_spike(
    p: &StdpParams,
    enabled: bool,
    weight: &mut f64,
    kplus: &mut f64,
    last_pre: &mut u64,
    stamp: u64,
    delay: u64,
    post: &PostHistory,
    inv_tau_minus: f64,
    dt: f64,
) -> f64 {
    let t = stamp as f64 * dt;
    let t_last = *last_pre as f64 * dt;
    let d = delay as f64 * dt;
    if enabled {
        let mut w = *weight;
        // Post spikes with t_last - d < t_post <= t - d, compared in steps.
        let lo = last_pre.saturating_sub(delay);
        let window_start = if *last_pre >= delay {
            post.stamps.partition_point(|&s| s <= lo)
        } else {
            0
        };
        let window_end = if stamp >= delay {
            post.stamps.partition_point(|&s| s <= stamp - delay)
        } else {
            0
        };
        for &s in &post.stamps[window_start..window_end] {
            let minus_dt = t_last - (s as f64 * dt + d);
            let k = if p.nearest {
                (minus_dt / p.tau_plus).exp()
            } else {
                *kplus * (minus_dt / p.tau_plus).exp()
            };
            w = facilitate(p, w, k);
        }
        // The trace at t - d from post spikes strictly before it.
        let before = if stamp >= delay {
            post.stamps.partition_point(|&s| s < stamp - delay)
        } else {
            0
        };
        let kminus = if before == 0 {
            0.0
        } else {
            let s = post.stamps[before - 1];
            let decay = ((s as f64 * dt - (t - d)) * inv_tau_minus).exp();
            if p.nearest {
                decay
            } else {
                post.kminus[before - 1] * decay
            }
        };
        w = depress(p, w, kminus);
        *weight = w;
    }
    *kplus = *kplus * ((t_last - t) / p.tau_plus).exp() + 1.0;
    *last_pre = stamp;
    *weight
}

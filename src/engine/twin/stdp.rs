//! Twin of `shaders/shared/stdp.wgsl`: pair STDP in f32 on the device layout.

use super::DeviceState;
use crate::engine::gpu::layout::{
    DeviceNetwork, HistoryEntry, POST_HISTORY, StdpRule, StepUniform,
};

/// WGSL's `fract`.
#[inline]
fn fract(x: f32) -> f32 {
    x - x.floor()
}

/// x^mu as C's pow for mu >= 0, except a negative x with a fractional mu.
#[inline]
pub fn stdp_pow(x: f32, mu: f32) -> f32 {
    if mu == 0.0 {
        return 1.0;
    }
    if mu == 1.0 {
        return x;
    }
    if x == 0.0 {
        return 0.0;
    }
    if x > 0.0 {
        return x.powf(mu);
    }
    let r = (-x).powf(mu);
    if fract(mu * 0.5) != 0.0 { -r } else { r }
}

/// NEST's facilitation.
#[inline]
pub fn stdp_facilitate(r: &StdpRule, w: f32, k: f32) -> f32 {
    let x = w / r.wmax;
    if 1.0 - x < 0.0 && fract(r.mu_plus) != 0.0 {
        return r.wmax;
    }
    let norm = x + r.lambda * stdp_pow(1.0 - x, r.mu_plus) * k;
    if norm < 1.0 { norm * r.wmax } else { r.wmax }
}

/// NEST's depression.
#[inline]
pub fn stdp_depress(r: &StdpRule, w: f32, k: f32) -> f32 {
    let x = w / r.wmax;
    if x < 0.0 && fract(r.mu_minus) != 0.0 {
        return 0.0;
    }
    let norm = x - r.alpha * r.lambda * stdp_pow(x, r.mu_minus) * k;
    if norm > 0.0 { norm * r.wmax } else { 0.0 }
}

/// Entry `i` (a spike count) of history row `row`.
#[inline]
pub fn history_entry(history: &[HistoryEntry], row: u32, i: u32) -> HistoryEntry {
    history[(row * POST_HISTORY + i % POST_HISTORY) as usize]
}

/// The first entry in `[begin, end)` of a row whose stamp is after `t`.
#[inline]
pub fn history_after(history: &[HistoryEntry], row: u32, begin: u32, end: u32, t: u32) -> u32 {
    let (mut lo, mut hi) = (begin, end);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if history_entry(history, row, mid).stamp <= t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The update of plastic synapse `j` of chunk `chunk` (source `src`, target
/// `dst`) at its source's spike of this step; returns the delivered weight.
#[expect(
    clippy::too_many_arguments,
    reason = "the kernel function's arguments, one for one"
)]
pub fn stdp_on_pre_spike(
    dn: &DeviceNetwork,
    ds: &mut DeviceState,
    su: &StepUniform,
    chunk: usize,
    j: usize,
    src: u32,
    dst: u32,
    delay: u32,
    r: &StdpRule,
    w_old: f32,
) -> f32 {
    let stamp = su.stamp_lo;
    let base = (src * (1 + su.n_traces)) as usize;
    let t_last = ds.pre_state[base][1];
    let kplus = f32::from_bits(ds.pre_state[base + 1 + r.trace as usize][0]);
    let mut w = w_old;
    if r.enabled != 0 {
        let p = &dn.pop_params[(dn.neuron_info[dst as usize] & 0x7fff_ffff) as usize];
        let row = p.history_base + (dst - p.first_neuron);
        let count = ds.spike_counts[dst as usize];
        let first = count - count.min(POST_HISTORY);
        let lo = t_last.saturating_sub(delay);
        let hi = stamp.saturating_sub(delay);
        let h = &ds.post_history;
        let end = history_after(h, row, first, count, hi);
        let mut lost = false;
        if hi > 0 && (r.nearest != 0 || kplus != 0.0 || w / r.wmax > 1.0) {
            let start = history_after(h, row, first, end, lo);
            lost = start == first && first > 0;
            for i in start..end {
                let s = history_entry(h, row, i).stamp;
                let decay = (-((s + delay - t_last) as f32) * r.dt_tau_plus).exp();
                let k = if r.nearest != 0 { decay } else { kplus * decay };
                w = stdp_facilitate(r, w, k);
            }
        }
        if hi > 1 {
            let mut before = end;
            if before > first && history_entry(h, row, before - 1).stamp == hi {
                before -= 1;
            }
            if before > first {
                let e = history_entry(h, row, before - 1);
                let decay = (-((hi - e.stamp) as f32) * p.dt_tau_minus).exp();
                let k = if r.nearest != 0 {
                    decay
                } else {
                    e.kminus * decay
                };
                w = stdp_depress(r, w, k);
            } else if first > 0 {
                lost = true;
            }
        }
        if lost {
            ds.counters[3] = ds.counters[3].min(dst);
        }
        ds.synapses[chunk][j].weight = w;
    }
    ds.plastic[chunk][j] = [w_old, ds.plastic[chunk][j][0]];
    w
}

// Pair STDP with the semantics of NEST's stdp_synapse (all-to-all) and
// stdp_nn_symm_synapse (symmetric nearest neighbour), as the CPU engine's
// src/engine/cpu/stdp.rs, in f32. Twin: src/engine/twin/stdp.rs.
// Needs shared/bindings.wgsl.

// x^mu as C's pow for mu >= 0, except a negative x with a fractional mu
// (NaN in C), which the callers handle first.
fn stdp_pow(x: f32, mu: f32) -> f32 {
    if (mu == 0.0) {
        return 1.0;
    }
    if (mu == 1.0) {
        return x;
    }
    if (x == 0.0) {
        return 0.0;
    }
    if (x > 0.0) {
        return pow(x, mu);
    }
    let r = pow(-x, mu);
    return select(r, -r, fract(mu * 0.5) != 0.0);
}

// NEST's facilitation: w/Wmax grows by lambda (1 - w/Wmax)^mu_plus k, capped at 1.
fn stdp_facilitate(r: StdpRule, w: f32, k: f32) -> f32 {
    let x = w / r.wmax;
    if (1.0 - x < 0.0 && fract(r.mu_plus) != 0.0) {
        // pow is NaN there, and NaN < 1 is false: NEST returns Wmax.
        return r.wmax;
    }
    let norm = x + r.lambda * stdp_pow(1.0 - x, r.mu_plus) * k;
    return select(r.wmax, norm * r.wmax, norm < 1.0);
}

// NEST's depression: w/Wmax shrinks by alpha lambda (w/Wmax)^mu_minus k, floored at 0.
fn stdp_depress(r: StdpRule, w: f32, k: f32) -> f32 {
    let x = w / r.wmax;
    if (x < 0.0 && fract(r.mu_minus) != 0.0) {
        return 0.0;
    }
    let norm = x - r.alpha * r.lambda * stdp_pow(x, r.mu_minus) * k;
    return select(0.0, norm * r.wmax, norm > 0.0);
}

// Entry i (a spike count) of history row `row`.
fn history_entry(row: u32, i: u32) -> HistoryEntry {
    return post_history[row * POST_HISTORY + i % POST_HISTORY];
}

// The first entry in [begin, end) of a history row whose stamp is after t
// (stamps increase along a row).
fn history_after(row: u32, begin: u32, end: u32, t: u32) -> u32 {
    var lo = begin;
    var hi = end;
    while (lo < hi) {
        let mid = lo + (hi - lo) / 2u;
        if (history_entry(row, mid).stamp <= t) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// The update of plastic synapse j (source src, target dst) at its source's
// spike of this step (stamp t); returns the weight the spike is delivered
// with. As NEST, the whole delay d is dendritic: first potentiation for every
// target spike in (t_last - d, t - d], then depression by the target's trace
// at t - d from its spikes strictly before. When the target's history no
// longer holds a spike the update needs, the lowest such target goes to
// counters[3], and the host stops the run.
fn stdp_on_pre_spike(j: u32, src: u32, dst: u32, delay: u32, r: StdpRule, w_old: f32) -> f32 {
    let stamp = su.stamp_lo;
    // neuron_update has shifted the source's state: .x is this spike, .y the
    // previous one (0: none), and K+ before is the trace just after t_last.
    let base = src * (1u + su.n_traces);
    let t_last = pre_state[base].y;
    let kplus = bitcast<vec2<f32>>(pre_state[base + 1u + r.trace]).x;
    var w = w_old;
    if (r.enabled != 0u) {
        let p = pop_params[neuron_info[dst] & 0x7fffffffu];
        let row = p.history_base + (dst - p.first_neuron);
        let count = spike_counts[dst];
        // Spikes first..count of the target are still in its ring.
        let first = count - min(count, POST_HISTORY);
        // Stamps start at 1: lo = 0 takes every spike, hi = 0 none.
        let lo = select(0u, t_last - delay, t_last > delay);
        let hi = select(0u, stamp - delay, stamp > delay);
        let end = history_after(row, first, count, hi);
        var lost = false;
        // Without an earlier source spike (K+ = 0) all-to-all potentiation is
        // the identity, unless w lies beyond Wmax (then it clips to Wmax).
        if (hi > 0u && (r.nearest != 0u || kplus != 0.0 || w / r.wmax > 1.0)) {
            let start = history_after(row, first, end, lo);
            // Spikes before `first` are gone; they may lie in the window.
            lost = start == first && first > 0u;
            for (var i = start; i < end; i++) {
                let s = history_entry(row, i).stamp;
                let decay = exp(-f32(s + delay - t_last) * r.dt_tau_plus);
                w = stdp_facilitate(r, w, select(kplus * decay, decay, r.nearest != 0u));
            }
        }
        if (hi > 1u) {
            var before = end;
            if (before > first && history_entry(row, before - 1u).stamp == hi) {
                before = before - 1u;
            }
            if (before > first) {
                let e = history_entry(row, before - 1u);
                let decay = exp(-f32(hi - e.stamp) * p.dt_tau_minus);
                w = stdp_depress(r, w, select(e.kminus * decay, decay, r.nearest != 0u));
            } else if (first > 0u) {
                lost = true;
            }
        }
        if (lost) {
            atomicMin(&counters[3], dst);
        }
        synapses[j].weight = w;
    }
    plastic[j] = vec2<u32>(bitcast<u32>(w_old), plastic[j].x);
    return w;
}

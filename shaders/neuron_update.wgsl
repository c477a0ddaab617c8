// One step of every neuron, all models in one dispatch, NEST's order of
// operations (docs/models.md). Twin: src/engine/twin/neuron_update.rs.
// #include "shared/bindings.wgsl"
// #include "shared/fixed.wgsl"

fn cond_rhs(p: PopParams, y: vec3<f32>, cur: f32) -> vec3<f32> {
    let i_syn_ex = y.y * (y.x - p.e_ex);
    let i_syn_in = y.z * (y.x - p.e_in);
    let i_leak = p.g_l * (y.x - p.e_l);
    return vec3<f32>((-i_leak + cur + p.i_e - i_syn_ex - i_syn_in) * p.inv_c_m, -y.y * p.inv_tau_ex, -y.z * p.inv_tau_in);
}

struct Rkf45 {
    y: vec3<f32>,
    err: vec3<f32>,
}

// Runge-Kutta-Fehlberg 4(5): fifth-order solution and error estimate.
fn rkf45(p: PopParams, y: vec3<f32>, h: f32, cur: f32) -> Rkf45 {
    let k1 = cond_rhs(p, y, cur);
    let k2 = cond_rhs(p, y + h * (0.25 * k1), cur);
    let k3 = cond_rhs(p, y + h * (0.09375 * k1 + 0.28125 * k2), cur);
    let k4 = cond_rhs(p, y + h * (0.87938097405553 * k1 - 3.2771961766045 * k2 + 3.3208921256258535 * k3), cur);
    let k5 = cond_rhs(p, y + h * (2.0324074074074074 * k1 - 8.0 * k2 + 7.173489278752436 * k3 - 0.20589668615984405 * k4), cur);
    let k6 = cond_rhs(p, y + h * (-0.2962962962962963 * k1 + 2.0 * k2 - 1.3816764132553607 * k3 + 0.4529727095516569 * k4 - 0.275 * k5), cur);
    var out: Rkf45;
    out.y = y + h * (0.11851851851851852 * k1 + 0.5189863547758285 * k3 + 0.5061314903420167 * k4 - 0.18 * k5 + 0.03636363636363636 * k6);
    out.err = h * (0.002777777777777778 * k1 - 0.02994152046783626 * k3 - 0.029199893673577886 * k4 + 0.02 * k5 + 0.03636363636363636 * k6);
    return out;
}

// Adaptive integration over one step, GSL's standard step control
// (absolute tolerance 1e-3); the sub-step size carries over in s.w.
fn cond_integrate(p: PopParams, s_in: vec4<f32>, cur: f32) -> vec4<f32> {
    var y = s_in.xyz;
    var h_next = s_in.w;
    if (h_next <= 0.0) {
        h_next = p.dt;
    }
    var t = 0.0;
    var guard = 0u;
    while (t < p.dt && guard < 10000u) {
        guard = guard + 1u;
        let remaining = p.dt - t;
        var h = min(h_next, remaining);
        let final_step = h >= remaining;
        loop {
            let r = rkf45(p, y, h, cur);
            let e = abs(r.err) * 1000.0;
            let rmax = max(e.x, max(e.y, e.z));
            if (rmax > 1.1) {
                h = h * max(0.9 / pow(rmax, 0.2), 0.2);
                continue;
            }
            y = r.y;
            if (final_step && h >= remaining) {
                t = p.dt;
            } else {
                t = t + h;
            }
            if (rmax < 0.5) {
                h = h * clamp(0.9 / pow(rmax, 1.0 / 6.0), 1.0, 5.0);
            }
            h_next = h;
            break;
        }
    }
    return vec4<f32>(y, h_next);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = linear_index(gid);
    if (i >= su.n_neurons) {
        return;
    }
    let info = neuron_info[i];
    let p = pop_params[info & 0x7fffffffu];
    let ex = ring_take(ring_word(su.slot, i, 0u));
    let inh = ring_take(ring_word(su.slot, i, 1u));
    let cur = i_stim[i];
    var s = state[i];
    var r = refractory[i];
    var spiked = false;
    if (p.silenced != 0u) {
        // Lesioned: the input taken above is dropped; state stays as it was.
    } else if (p.model == 0u) {
        if (r == 0u) {
            s.x = p.p20 * (cur + p.i_e) + p.p22 * s.x + (ex + inh);
            s.x = max(s.x, p.v_min);
        } else {
            r = r - 1u;
        }
        if (s.x >= p.theta) {
            r = p.ref_steps;
            s.x = p.v_reset;
            spiked = true;
        }
    } else if (p.model == 1u) {
        if (r == 0u) {
            s.x = s.x * p.p22 + s.y * p.p21_ex + s.z * p.p21_in + (p.i_e + cur) * p.p20;
        } else {
            r = r - 1u;
        }
        s.y = s.y * p.p11_ex + ex;
        s.z = s.z * p.p11_in + inh;
        if (s.x >= p.theta) {
            r = p.ref_steps;
            s.x = p.v_reset;
            spiked = true;
        }
    } else {
        s = cond_integrate(p, s, cur);
        if (r > 0u) {
            r = r - 1u;
            s.x = p.v_reset;
        } else if (s.x >= p.theta) {
            r = p.ref_steps;
            s.x = p.v_reset;
            spiked = true;
        }
        s.y = s.y + ex;
        s.z = s.z - inh;
    }
    state[i] = s;
    refractory[i] = r;
    if (su.n_dopa != 0u && p.dopa_row != NO_HISTORY) {
        // A source of dopamine synapses: its spikes of the slice, a bit per
        // step, and (at its first one) its place in the slice's sender list.
        let mask = 2u * su.dopa_sources + (p.dopa_row + i - p.first_neuron) * su.dopa_words;
        var fresh = true;
        for (var wd = 0u; wd < su.dopa_words; wd++) {
            if (su.dopa_slice_step == 0u) {
                dopamine[mask + wd] = 0u;
            } else if (dopamine[mask + wd] != 0u) {
                fresh = false;
            }
        }
        if (spiked) {
            let wd = mask + su.dopa_slice_step / 32u;
            dopamine[wd] = dopamine[wd] | (1u << (su.dopa_slice_step % 32u));
            if (fresh) {
                let k = atomicAdd(&counters[4u + su.dopa_fill], 1u);
                dopamine[su.dopa_fill * su.dopa_sources + k] = i;
            }
        }
    }
    if (spiked) {
        let k = atomicAdd(&counters[su.parity], 1u);
        spike_list[su.parity * su.n_neurons + k] = i;
        let count = spike_counts[i];
        spike_counts[i] = count + 1u;
        if (su.plastic != 0u) {
            // STDP: as a source, its last two spike stamps and its traces K+
            // (before, after this spike); as a target, its history (a ring
            // indexed by spike count) with the trace K- after each spike.
            let base = i * (1u + su.n_traces);
            let stamps = pre_state[base];
            pre_state[base] = vec2<u32>(su.stamp_lo, stamps.x);
            for (var q = 0u; q < su.n_traces; q++) {
                let kplus = bitcast<vec2<f32>>(pre_state[base + 1u + q]).y;
                let decay = exp(-f32(su.stamp_lo - stamps.x) * stdp_rules[su.trace_row + q].dt_tau_plus);
                pre_state[base + 1u + q] = bitcast<vec2<u32>>(vec2<f32>(kplus, kplus * decay + 1.0));
            }
            if (p.history_base != NO_HISTORY) {
                let row = (p.history_base + (i - p.first_neuron)) * POST_HISTORY;
                var kminus = 1.0;
                if (count > 0u) {
                    let last = post_history[row + (count - 1u) % POST_HISTORY];
                    kminus = last.kminus * exp(-f32(su.stamp_lo - last.stamp) * p.dt_tau_minus) + 1.0;
                }
                post_history[row + count % POST_HISTORY] = HistoryEntry(su.stamp_lo, kminus);
            }
        }
        if ((info & 0x80000000u) != 0u) {
            let slot = atomicAdd(&counters[2], 1u);
            if (slot < su.rec_capacity) {
                rec_buf[slot] = vec2<u32>(su.step_in_chunk, i);
            }
        }
    }
}

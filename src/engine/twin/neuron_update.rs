//! Twin of `shaders/neuron_update.wgsl`: the same operations in f32.

use super::DeviceState;
use super::fixed::{ring_take, ring_word};
use crate::engine::gpu::layout::{
    DeviceNetwork, HistoryEntry, NO_HISTORY, POST_HISTORY, PopParams, StepUniform,
};

type V3 = [f32; 3];

#[inline]
fn axpy(y: V3, h: f32, terms: &[(f32, V3)]) -> V3 {
    // WGSL evaluates `y + h * (c1 * k1 + c2 * k2 + ...)` left to right per component.
    let mut out = [0.0f32; 3];
    for j in 0..3 {
        let mut acc = terms[0].0 * terms[0].1[j];
        for t in &terms[1..] {
            acc += t.0 * t.1[j];
        }
        out[j] = y[j] + h * acc;
    }
    out
}

fn cond_rhs(p: &PopParams, y: V3, cur: f32) -> V3 {
    let i_syn_ex = y[1] * (y[0] - p.e_ex);
    let i_syn_in = y[2] * (y[0] - p.e_in);
    let i_leak = p.g_l * (y[0] - p.e_l);
    [
        (-i_leak + cur + p.i_e - i_syn_ex - i_syn_in) * p.inv_c_m,
        -y[1] * p.inv_tau_ex,
        -y[2] * p.inv_tau_in,
    ]
}

const A4: [f32; 3] = [0.879_381, -3.277_196_2, 3.320_892];
const A5: [f32; 4] = [2.032_407_5, -8.0, 7.173_489, -0.205_896_69];
const A6: [f32; 5] = [-0.296_296_3, 2.0, -1.381_676_4, 0.452_972_7, -0.275];
const C5: [f32; 5] = [
    0.118_518_52,
    0.518_986_34,
    0.506_131_5,
    -0.18,
    0.036_363_635,
];
const E5: [f32; 5] = [
    0.002_777_777_8,
    -0.029_941_52,
    -0.029_199_895,
    0.02,
    0.036_363_635,
];

fn rkf45(p: &PopParams, y: V3, h: f32, cur: f32) -> (V3, V3) {
    let k1 = cond_rhs(p, y, cur);
    let k2 = cond_rhs(p, axpy(y, h, &[(0.25, k1)]), cur);
    let k3 = cond_rhs(p, axpy(y, h, &[(0.09375, k1), (0.28125, k2)]), cur);
    let k4 = cond_rhs(p, axpy(y, h, &[(A4[0], k1), (A4[1], k2), (A4[2], k3)]), cur);
    let k5 = cond_rhs(
        p,
        axpy(y, h, &[(A5[0], k1), (A5[1], k2), (A5[2], k3), (A5[3], k4)]),
        cur,
    );
    let k6 = cond_rhs(
        p,
        axpy(
            y,
            h,
            &[
                (A6[0], k1),
                (A6[1], k2),
                (A6[2], k3),
                (A6[3], k4),
                (A6[4], k5),
            ],
        ),
        cur,
    );
    let y5 = axpy(
        y,
        h,
        &[
            (C5[0], k1),
            (C5[1], k3),
            (C5[2], k4),
            (C5[3], k5),
            (C5[4], k6),
        ],
    );
    let err = axpy(
        [0.0; 3],
        h,
        &[
            (E5[0], k1),
            (E5[1], k3),
            (E5[2], k4),
            (E5[3], k5),
            (E5[4], k6),
        ],
    );
    (y5, err)
}

fn cond_integrate(p: &PopParams, s: [f32; 4], cur: f32) -> [f32; 4] {
    let mut y = [s[0], s[1], s[2]];
    let mut h_next = if s[3] <= 0.0 { p.dt } else { s[3] };
    let mut t = 0.0f32;
    let mut guard = 0;
    while t < p.dt && guard < 10000 {
        guard += 1;
        let remaining = p.dt - t;
        let mut h = h_next.min(remaining);
        let final_step = h >= remaining;
        loop {
            let (y5, err) = rkf45(p, y, h, cur);
            let rmax = err.iter().map(|e| e.abs() * 1000.0).fold(0.0f32, f32::max);
            if rmax > 1.1 {
                h *= (0.9 / rmax.powf(0.2)).max(0.2);
                continue;
            }
            y = y5;
            t = if final_step && h >= remaining {
                p.dt
            } else {
                t + h
            };
            if rmax < 0.5 {
                h *= (0.9 / rmax.powf(1.0 / 6.0)).clamp(1.0, 5.0);
            }
            h_next = h;
            break;
        }
    }
    [y[0], y[1], y[2], h_next]
}

/// Advances every neuron by one step.
pub fn neuron_update(dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform) {
    for i in 0..su.n_neurons {
        let iu = i as usize;
        let info = dn.neuron_info[iu];
        let p = &dn.pop_params[(info & 0x7fff_ffff) as usize];
        let ex = ring_take(&mut ds.ring, ring_word(su, su.slot, i, 0));
        let inh = ring_take(&mut ds.ring, ring_word(su, su.slot, i, 1));
        let cur = ds.i_stim[iu];
        let mut s = ds.state[iu];
        let mut r = ds.refractory[iu];
        let mut spiked = false;
        match p.model {
            // Lesioned: the input taken above is dropped; state stays as it was.
            _ if p.silenced != 0 => {}
            0 => {
                if r == 0 {
                    s[0] = p.p20 * (cur + p.i_e) + p.p22 * s[0] + (ex + inh);
                    s[0] = s[0].max(p.v_min);
                } else {
                    r -= 1;
                }
                if s[0] >= p.theta {
                    r = p.ref_steps;
                    s[0] = p.v_reset;
                    spiked = true;
                }
            }
            1 => {
                if r == 0 {
                    s[0] = s[0] * p.p22 + s[1] * p.p21_ex + s[2] * p.p21_in + (p.i_e + cur) * p.p20;
                } else {
                    r -= 1;
                }
                s[1] = s[1] * p.p11_ex + ex;
                s[2] = s[2] * p.p11_in + inh;
                if s[0] >= p.theta {
                    r = p.ref_steps;
                    s[0] = p.v_reset;
                    spiked = true;
                }
            }
            _ => {
                s = cond_integrate(p, s, cur);
                if r > 0 {
                    r -= 1;
                    s[0] = p.v_reset;
                } else if s[0] >= p.theta {
                    r = p.ref_steps;
                    s[0] = p.v_reset;
                    spiked = true;
                }
                s[1] += ex;
                s[2] -= inh;
            }
        }
        ds.state[iu] = s;
        ds.refractory[iu] = r;
        if su.n_dopa != 0 && p.dopa_row != NO_HISTORY {
            let mask =
                (2 * su.dopa_sources + (p.dopa_row + i - p.first_neuron) * su.dopa_words) as usize;
            let words = &mut ds.dopamine[mask..mask + su.dopa_words as usize];
            if su.dopa_slice_step == 0 {
                words.fill(0);
            }
            let fresh = words.iter().all(|&w| w == 0);
            if spiked {
                words[(su.dopa_slice_step / 32) as usize] |= 1 << (su.dopa_slice_step % 32);
                if fresh {
                    let k = ds.counters[4 + su.dopa_fill as usize];
                    ds.counters[4 + su.dopa_fill as usize] += 1;
                    ds.dopamine[(su.dopa_fill * su.dopa_sources + k) as usize] = i;
                }
            }
        }
        if spiked {
            let k = ds.counters[su.parity as usize];
            ds.counters[su.parity as usize] += 1;
            ds.spike_list[(su.parity * su.n_neurons + k) as usize] = i;
            let count = ds.spike_counts[iu];
            ds.spike_counts[iu] = count + 1;
            if su.plastic != 0 {
                let base = (i * (1 + su.n_traces)) as usize;
                let stamps = ds.pre_state[base];
                ds.pre_state[base] = [su.stamp_lo, stamps[0]];
                for q in 0..su.n_traces as usize {
                    let kplus = f32::from_bits(ds.pre_state[base + 1 + q][1]);
                    let decay = (-((su.stamp_lo - stamps[0]) as f32)
                        * dn.stdp_rules[su.trace_row as usize + q].dt_tau_plus)
                        .exp();
                    ds.pre_state[base + 1 + q] = [kplus.to_bits(), (kplus * decay + 1.0).to_bits()];
                }
                if p.history_base != NO_HISTORY {
                    let row = ((p.history_base + (i - p.first_neuron)) * POST_HISTORY) as usize;
                    let mut kminus = 1.0f32;
                    if count > 0 {
                        let last = ds.post_history[row + ((count - 1) % POST_HISTORY) as usize];
                        kminus = last.kminus
                            * (-((su.stamp_lo - last.stamp) as f32) * p.dt_tau_minus).exp()
                            + 1.0;
                    }
                    ds.post_history[row + (count % POST_HISTORY) as usize] = HistoryEntry {
                        stamp: su.stamp_lo,
                        kminus,
                    };
                }
            }
            if info & 0x8000_0000 != 0 {
                let slot = ds.counters[2];
                ds.counters[2] += 1;
                if slot < su.rec_capacity {
                    ds.rec_buf.push([su.step_in_chunk, i]);
                }
            }
        }
    }
}

//! Twin of `shaders/dopamine_send.wgsl`.

use super::DeviceState;
use super::dopamine::{dopa_list, dopa_load, dopa_send, dopa_store};
use super::fixed::deliver_to_slot;
use crate::engine::gpu::layout::{DeviceNetwork, StepUniform};

/// Sends the last slice's presynaptic spikes through the dopamine synapses
/// of synapse chunk `chunk`.
pub fn dopamine_send(dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform, chunk: usize) {
    let half = 1 - su.dopa_fill;
    let n_senders = ds.counters[4 + half as usize];
    let last = su.stamp_lo - 1;
    let first_stamp = last + 1 - su.dopa_min_delay;
    let row_ptr = &dn.synapse_chunks[chunk].row_ptr;
    for k in 0..n_senders {
        let src = ds.dopamine[(half * su.dopa_sources + k) as usize];
        let p = &dn.pop_params[(dn.neuron_info[src as usize] & 0x7fff_ffff) as usize];
        let mask = 2 * su.dopa_sources + (p.dopa_row + src - p.first_neuron) * su.dopa_words;
        for j in row_ptr[src as usize]..row_ptr[src as usize + 1] {
            let syn = ds.synapses[chunk][j as usize];
            let rule = syn.delay >> 16;
            if rule == 0 {
                continue;
            }
            let dr = dn.stdp_rules[rule as usize - 1].dopamine;
            if dr == 0 {
                continue;
            }
            let r = dn.dopamine.rules[dr as usize - 1];
            let delay = syn.delay & 0xffff;
            let list = dopa_list(&r, (last / r.trigger_every + 1) % 2);
            let q = ds.plastic[chunk][j as usize][0].to_bits();
            let mut s = dopa_load(ds, chunk, q);
            for wd in 0..su.dopa_words {
                let mut bits = ds.dopamine[(mask + wd) as usize];
                while bits != 0 {
                    let stamp = first_stamp + wd * 32 + bits.trailing_zeros();
                    bits &= bits - 1;
                    let w = dopa_send(dn, ds, &r, &mut s, list, syn.target, delay, stamp);
                    let slot = (stamp - 1 + delay) % su.ring_len;
                    deliver_to_slot(&mut ds.ring, su, syn.target, slot, w);
                }
            }
            dopa_store(ds, &r, chunk, q, j, &s);
        }
    }
}

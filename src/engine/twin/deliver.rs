//! Twin of `shaders/deliver.wgsl`.

use super::DeviceState;
use super::fixed::deliver as add;
use super::stdp::stdp_on_pre_spike;
use crate::engine::gpu::layout::{DeviceNetwork, StepUniform};

/// Delivers this step's spikes over synapse chunk `chunk`, updating plastic
/// synapses first.
pub fn deliver(dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform, chunk: usize) {
    let n = su.n_neurons as usize;
    let count = ds.counters[su.parity as usize] as usize;
    let row_ptr = &dn.synapse_chunks[chunk].row_ptr;
    for k in 0..count {
        let src = ds.spike_list[su.parity as usize * n + k];
        for j in row_ptr[src as usize] as usize..row_ptr[src as usize + 1] as usize {
            let syn = ds.synapses[chunk][j];
            let delay = syn.delay & 0xffff;
            let rule = syn.delay >> 16;
            let mut w = syn.weight;
            if rule != 0 {
                let r = dn.stdp_rules[rule as usize - 1];
                if r.dopamine != 0 {
                    // Sent at the next slice start (dopamine_send).
                    continue;
                }
                w = stdp_on_pre_spike(dn, ds, su, chunk, j, src, syn.target, delay, &r, syn.weight);
            }
            add(&mut ds.ring, su, syn.target, delay, w);
        }
    }
}

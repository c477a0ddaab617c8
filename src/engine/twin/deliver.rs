//! Twin of `shaders/deliver.wgsl`.

use super::DeviceState;
use super::fixed::deliver as add;
use crate::engine::gpu::layout::{StepUniform, SynapseChunk};

/// Delivers this step's spikes over one synapse chunk.
pub fn deliver(ds: &mut DeviceState, su: &StepUniform, chunk: &SynapseChunk) {
    let n = su.n_neurons as usize;
    let count = ds.counters[su.parity as usize] as usize;
    for k in 0..count {
        let src = ds.spike_list[su.parity as usize * n + k] as usize;
        for syn in &chunk.synapses[chunk.row_ptr[src] as usize..chunk.row_ptr[src + 1] as usize] {
            add(&mut ds.ring, su, syn.target, syn.delay, syn.weight);
        }
    }
}

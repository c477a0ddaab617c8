// Spike-driven propagation over the CSR rows of one synapse buffer: each
// workgroup takes spikes in turn, its threads stride over the row. A plastic
// synapse is updated first (shared/stdp.wgsl) and delivers its new weight;
// each synapse is in one row, and a row is walked once a step, so no two
// threads touch a synapse's state. Dopamine synapses are skipped: their
// spikes go out at the next slice start (dopamine_send.wgsl). Twin:
// src/engine/twin/deliver.rs.
// #include "shared/bindings.wgsl"
// #include "shared/fixed.wgsl"
// #include "shared/stdp.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n_spikes = atomicLoad(&counters[su.parity]);
    for (var k = wg.x; k < n_spikes; k = k + nwg.x) {
        let src = spike_list[su.parity * su.n_neurons + k];
        let begin = row_ptr[src];
        let end = row_ptr[src + 1u];
        for (var j = begin + lid; j < end; j = j + 64u) {
            let syn = synapses[j];
            let delay = syn.delay & 0xffffu;
            let rule = syn.delay >> 16u;
            var w = syn.weight;
            if (rule != 0u) {
                let r = stdp_rules[rule - 1u];
                if (r.dopamine != 0u) {
                    continue;
                }
                w = stdp_on_pre_spike(j, src, syn.dst, delay, r, syn.weight);
            }
            deliver(syn.dst, delay, w);
        }
    }
}

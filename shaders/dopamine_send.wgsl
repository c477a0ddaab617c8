// Start of the first step of a slice: the presynaptic spikes of the slice
// that just ended go through their dopamine synapses (NEST's send, after the
// volume transmitter's update at the slice end), each delivered with the
// weight it leaves with, as if sent at its own time. One workgroup per
// sender in turn, threads stride over its CSR row; a synapse takes its
// source's spikes of the slice in order. Twin: src/engine/twin/dopamine_send.rs.
// #include "shared/bindings.wgsl"
// #include "shared/fixed.wgsl"
// #include "shared/stdp.wgsl"
// #include "shared/dopamine.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let half = 1u - su.dopa_fill;
    let n_senders = atomicLoad(&counters[4u + half]);
    // The slice's last stamp is this step's number; its first bit is stamp last - min_delay + 1.
    let last = su.stamp_lo - 1u;
    let first_stamp = last + 1u - su.dopa_min_delay;
    for (var k = wg.x; k < n_senders; k = k + nwg.x) {
        let src = dopamine[half * su.dopa_sources + k];
        let p = pop_params[neuron_info[src] & 0x7fffffffu];
        let mask = 2u * su.dopa_sources + (p.dopa_row + src - p.first_neuron) * su.dopa_words;
        let begin = row_ptr[src];
        let end = row_ptr[src + 1u];
        for (var j = begin + lid; j < end; j = j + 64u) {
            let syn = synapses[j];
            let rule = syn.delay >> 16u;
            if (rule == 0u) {
                continue;
            }
            let dr = stdp_rules[rule - 1u].dopamine;
            if (dr == 0u) {
                continue;
            }
            let r = dopa_rules[dr - 1u];
            let delay = syn.delay & 0xffffu;
            // The list of the update period this slice's end starts (or continues).
            let list = dopa_list(r, (last / r.trigger_every + 1u) % 2u);
            let q = plastic[j].x;
            var s = dopa_load(q);
            for (var wd = 0u; wd < su.dopa_words; wd++) {
                var bits = dopamine[mask + wd];
                while (bits != 0u) {
                    let stamp = first_stamp + wd * 32u + countTrailingZeros(bits);
                    bits = bits & (bits - 1u);
                    let w = dopa_send(r, &s, list, syn.dst, delay, stamp);
                    // Read in the update of step stamp - 1 + delay, as if delivered at stamp.
                    deliver_to_slot(syn.dst, (stamp - 1u + delay) % su.ring_len, w);
                }
            }
            dopa_store(r, q, j, s);
        }
    }
}

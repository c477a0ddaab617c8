// End of a step: each volume transmitter (one workgroup per stdp_dopamine
// projection) counts the spikes of its dopamine population in this step,
// puts them on their way (arrival after the dopamine delay), and appends the
// dopamine arriving now to its spike list as one entry (stamp, multiplicity).
// At the end of an update period it starts the next period's list with a
// pseudo spike at this stamp (NEST resets its spike counter after each
// update). A full list flags the projection in counters[6]. Twin:
// src/engine/twin/dopamine_transmit.rs.
// #include "shared/bindings.wgsl"
// #include "shared/fixed.wgsl"
// #include "shared/stdp.wgsl"
// #include "shared/dopamine.wgsl"

var<workgroup> da_spikes: atomic<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let d = wg.x;
    let r = dopa_rules[d];
    if (lid == 0u) {
        atomicStore(&da_spikes, 0u);
    }
    workgroupBarrier();
    let n_spikes = atomicLoad(&counters[su.parity]);
    var mine = 0u;
    for (var k = lid; k < n_spikes; k = k + 64u) {
        let i = spike_list[su.parity * su.n_neurons + k];
        if (i >= r.da_first && i < r.da_end) {
            mine = mine + 1u;
        }
    }
    if (mine > 0u) {
        atomicAdd(&da_spikes, mine);
    }
    workgroupBarrier();
    if (lid != 0u) {
        return;
    }
    let stamp = su.stamp_lo;
    let ring = r.base + 2u * (1u + 2u * r.capacity);
    let ring_len = r.delay + 1u;
    let leaving = atomicLoad(&da_spikes);
    if (leaving > 0u) {
        let slot = ring + (stamp + r.delay) % ring_len;
        dopamine[slot] = dopamine[slot] + leaving;
    }
    let here = ring + stamp % ring_len;
    let m = dopamine[here];
    dopamine[here] = 0u;
    // This stamp belongs to period k = ceil(stamp / E), whose list is half k mod 2.
    let k = stamp / r.trigger_every + select(1u, 0u, stamp % r.trigger_every == 0u);
    if (m > 0u) {
        let list = dopa_list(r, k % 2u);
        let len = dopamine[list];
        if (len < r.capacity) {
            dopamine[list + 1u + 2u * len] = stamp;
            dopamine[list + 2u + 2u * len] = m;
            dopamine[list] = len + 1u;
        } else {
            atomicMin(&counters[6], d);
        }
    }
    if (stamp % r.trigger_every == 0u) {
        let next = dopa_list(r, (k + 1u) % 2u);
        dopamine[next] = 1u;
        dopamine[next + 1u] = stamp;
        dopamine[next + 2u] = 0u;
    }
}

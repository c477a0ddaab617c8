// End of a step whose stamp ends an update period of a volume transmitter:
// every synapse of that projection is brought up to this stamp (NEST's
// trigger_update_weight), its weights moving with the dopamine of the
// period. One invocation per dopamine synapse of the chunk. Runs after
// dopamine_transmit (which starts the next period's list in the other half).
// Twin: src/engine/twin/dopamine_trigger.rs.
// #include "shared/bindings.wgsl"
// #include "shared/fixed.wgsl"
// #include "shared/stdp.wgsl"
// #include "shared/dopamine.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let q = linear_index(gid);
    if (q >= arrayLength(&dopa_syn)) {
        return;
    }
    let j = dopa_syn[q].syn;
    let syn = synapses[j];
    let r = dopa_rules[stdp_rules[(syn.delay >> 16u) - 1u].dopamine - 1u];
    let stamp = su.stamp_lo;
    if (stamp % r.trigger_every != 0u) {
        return;
    }
    var s = dopa_load(q);
    dopa_trigger(r, &s, dopa_list(r, (stamp / r.trigger_every) % 2u), syn.dst, syn.delay & 0xffffu, stamp);
    dopa_store(r, q, j, s);
}

// Spike-time stimuli: spikes read in the next step's update are added to
// its ring slot. Twin: src/engine/twin/inject_spikes.rs.
// #include "shared/bindings.wgsl"
// #include "shared/fixed.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = su.inject_begin + linear_index(gid);
    if (e >= su.inject_end) {
        return;
    }
    let ev = events[e];
    deliver(ev.dst, 1u, ev.value);
}

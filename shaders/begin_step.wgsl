// Start of a step: clears this step's half of the spike list (and, at a
// slice start, the half of the dopamine sender list the slice fills) and
// applies the device-current changes due now. Twin: src/engine/twin/begin_step.rs.
// #include "shared/bindings.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = linear_index(gid);
    if (i == 0u) {
        atomicStore(&counters[su.parity], 0u);
        if (su.n_dopa != 0u && su.dopa_slice_step == 0u) {
            atomicStore(&counters[4u + su.dopa_fill], 0u);
        }
    }
    let e = su.current_begin + i;
    if (e < su.current_end) {
        // The host merged changes per (step, target): no two threads share a target.
        let ev = events[e];
        i_stim[ev.dst] = i_stim[ev.dst] + ev.value;
    }
}

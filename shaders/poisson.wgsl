// Poisson stimuli: one thread per (stimulus, target); the count is a pure
// function of (seed, stimulus, target, stamp). Twin: src/engine/twin/poisson.rs.
// #include "shared/bindings.wgsl"
// #include "shared/fixed.wgsl"
// #include "shared/philox.wgsl"

fn le64(a_lo: u32, a_hi: u32, b_lo: u32, b_hi: u32) -> bool {
    return a_hi < b_hi || (a_hi == b_hi && a_lo <= b_lo);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = linear_index(gid);
    if (i >= su.n_poisson) {
        return;
    }
    let e = poisson_entries[i];
    let stim = poisson_stims[e.stim];
    let is_on = le64(stim.first_lo, stim.first_hi, su.stamp_lo, su.stamp_hi) && le64(su.stamp_lo, su.stamp_hi, stim.last_lo, stim.last_hi);
    if (!is_on) {
        return;
    }
    let k = poisson_count(stim, e.dst);
    if (k > 0u) {
        deliver(e.dst, e.delay, e.weight * f32(k));
    }
}

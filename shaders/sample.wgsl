// Copies the state variables of sampling recorders into this step's row of
// sample_buf. Twin: src/engine/twin/sample.rs.
// #include "shared/bindings.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = linear_index(gid);
    if (c >= su.n_sample_columns) {
        return;
    }
    let m = sample_map[c];
    let is_on = select((su.sample_mask_lo >> m.z) & 1u, (su.sample_mask_hi >> (m.z - 32u)) & 1u, m.z >= 32u);
    if (is_on == 0u) {
        return;
    }
    let p = pop_params[neuron_info[m.x] & 0x7fffffffu];
    let s = state[m.x];
    var v = s[m.y];
    if (m.y == 0u && p.model != 2u) {
        v = v + p.e_l;
    }
    sample_buf[su.sample_slot * su.n_sample_columns + c] = v;
}

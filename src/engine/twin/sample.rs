//! Twin of `shaders/sample.wgsl`.

use super::DeviceState;
use crate::engine::gpu::layout::{DeviceNetwork, StepUniform};

/// Copies sampled state into this step's row.
pub fn sample(dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform) {
    let cols = su.n_sample_columns as usize;
    let mask = su.sample_mask_lo as u64 | (su.sample_mask_hi as u64) << 32;
    for (c, m) in dn.sample_map.iter().enumerate() {
        if mask & (1 << m[2]) == 0 {
            continue;
        }
        let p = &dn.pop_params[(dn.neuron_info[m[0] as usize] & 0x7fff_ffff) as usize];
        let mut v = ds.state[m[0] as usize][m[1] as usize];
        if m[1] == 0 && p.model != 2 {
            v += p.e_l;
        }
        ds.sample_buf[su.sample_slot as usize * cols + c] = v;
    }
}

//! Twin of `shaders/poisson.wgsl`.

use super::DeviceState;
use super::fixed::deliver;
use crate::engine::gpu::layout::{DeviceNetwork, StepUniform};
use crate::rng::poisson_f32;

/// Draws and delivers every Poisson stimulus' spikes of this step.
pub fn poisson(dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform) {
    let stamp = su.stamp_lo as u64 | (su.stamp_hi as u64) << 32;
    for e in &dn.poisson_entries {
        let stim = &dn.poisson_stims[e.stim as usize];
        let first = stim.first_lo as u64 | (stim.first_hi as u64) << 32;
        let last = stim.last_lo as u64 | (stim.last_hi as u64) << 32;
        if stamp < first || stamp > last {
            continue;
        }
        let seed = stim.seed_lo as u64 | (stim.seed_hi as u64) << 32;
        let k = poisson_f32(
            seed,
            stim.stream,
            e.target - stim.entity_offset,
            stamp,
            stim.pieces,
            stim.rest,
            stim.exp_rest,
            stim.exp_piece,
            &dn.inv_k,
        );
        if k > 0 {
            deliver(&mut ds.ring, su, e.target, e.delay, e.weight * k as f32);
        }
    }
}

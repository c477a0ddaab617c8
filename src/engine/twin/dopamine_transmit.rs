//! Twin of `shaders/dopamine_transmit.wgsl`.

use super::DeviceState;
use super::dopamine::dopa_list;
use crate::engine::gpu::layout::{DOPA_OVERFLOW_WORD, DeviceNetwork, StepUniform};

/// Every volume transmitter: this step's dopamine spikes on their way, the
/// arriving ones into the spike list, the next period's list started.
pub fn dopamine_transmit(dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform) {
    for (d, r) in dn.dopamine.rules.iter().enumerate() {
        let n_spikes = ds.counters[su.parity as usize];
        let half = (su.parity * su.n_neurons) as usize;
        let leaving = ds.spike_list[half..half + n_spikes as usize]
            .iter()
            .filter(|&&i| i >= r.da_first && i < r.da_end)
            .count() as u32;
        let stamp = su.stamp_lo;
        let ring = r.base + 2 * (1 + 2 * r.capacity);
        let ring_len = r.delay + 1;
        if leaving > 0 {
            ds.dopamine[(ring + (stamp + r.delay) % ring_len) as usize] += leaving;
        }
        let here = (ring + stamp % ring_len) as usize;
        let m = std::mem::take(&mut ds.dopamine[here]);
        let k = stamp / r.trigger_every + u32::from(!stamp.is_multiple_of(r.trigger_every));
        if m > 0 {
            let list = dopa_list(r, k % 2) as usize;
            let len = ds.dopamine[list];
            if len < r.capacity {
                ds.dopamine[list + 1 + 2 * len as usize] = stamp;
                ds.dopamine[list + 2 + 2 * len as usize] = m;
                ds.dopamine[list] = len + 1;
            } else {
                ds.counters[DOPA_OVERFLOW_WORD] = ds.counters[DOPA_OVERFLOW_WORD].min(d as u32);
            }
        }
        if stamp.is_multiple_of(r.trigger_every) {
            let next = dopa_list(r, (k + 1) % 2) as usize;
            ds.dopamine[next..next + 3].copy_from_slice(&[1, stamp, 0]);
        }
    }
}

//! Twin of `shaders/begin_step.wgsl`.

use super::DeviceState;
use crate::engine::gpu::layout::{DeviceNetwork, Event, StepUniform};

/// Clears this step's spike list half (and at a slice start the dopamine
/// sender list half it fills) and applies current changes.
pub fn begin_step(_dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform, events: &[Event]) {
    ds.counters[su.parity as usize] = 0;
    if su.n_dopa != 0 && su.dopa_slice_step == 0 {
        ds.counters[4 + su.dopa_fill as usize] = 0;
    }
    for ev in &events[su.current_begin as usize..su.current_end as usize] {
        ds.i_stim[ev.target as usize] += ev.value;
    }
}

//! Twin of `shaders/begin_step.wgsl`.

use super::DeviceState;
use crate::engine::gpu::layout::{DeviceNetwork, Event, StepUniform};

/// Clears this step's spike list half and applies current changes.
pub fn begin_step(_dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform, events: &[Event]) {
    ds.counters[su.parity as usize] = 0;
    for ev in &events[su.current_begin as usize..su.current_end as usize] {
        ds.i_stim[ev.target as usize] += ev.value;
    }
}

//! Twin of `shaders/inject_spikes.wgsl`.

use super::DeviceState;
use super::fixed::deliver;
use crate::engine::gpu::layout::{Event, StepUniform};

/// Adds spike-time stimuli read in the next step.
pub fn inject_spikes(ds: &mut DeviceState, su: &StepUniform, events: &[Event]) {
    for ev in &events[su.inject_begin as usize..su.inject_end as usize] {
        deliver(&mut ds.ring, su, ev.target, 1, ev.value);
    }
}

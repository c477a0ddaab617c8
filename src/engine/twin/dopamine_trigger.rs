//! Twin of `shaders/dopamine_trigger.wgsl`.

use super::DeviceState;
use super::dopamine::{dopa_list, dopa_load, dopa_store, dopa_trigger};
use crate::engine::gpu::layout::{DeviceNetwork, StepUniform};

/// Brings every dopamine synapse of chunk `chunk` whose volume transmitter
/// ends an update period at this stamp up to it.
pub fn dopamine_trigger(dn: &DeviceNetwork, ds: &mut DeviceState, su: &StepUniform, chunk: usize) {
    for q in 0..ds.dopa_syn[chunk].len() as u32 {
        let j = ds.dopa_syn[chunk][q as usize].syn;
        let syn = ds.synapses[chunk][j as usize];
        let r =
            dn.dopamine.rules[dn.stdp_rules[(syn.delay >> 16) as usize - 1].dopamine as usize - 1];
        let stamp = su.stamp_lo;
        if !stamp.is_multiple_of(r.trigger_every) {
            continue;
        }
        let mut s = dopa_load(ds, chunk, q);
        let list = dopa_list(&r, (stamp / r.trigger_every) % 2);
        dopa_trigger(
            dn,
            ds,
            &r,
            &mut s,
            list,
            syn.target,
            syn.delay & 0xffff,
            stamp,
        );
        dopa_store(ds, &r, chunk, q, j, &s);
    }
}

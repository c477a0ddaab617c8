//! CPU twins of the WGSL kernels: each file here does, in f32 and on the
//! same data layout ([`DeviceNetwork`], [`DeviceState`]), what the kernel of
//! the same name in `shaders/` does, so the two backends can be compared
//! kernel by kernel. [`TwinEngine`] runs them in the GPU engine's order.

pub mod begin_step;
pub mod deliver;
pub mod dopamine;
pub mod dopamine_send;
pub mod dopamine_transmit;
pub mod dopamine_trigger;
pub mod fixed;
pub mod inject_spikes;
pub mod neuron_update;
pub mod poisson;
pub mod sample;
pub mod stdp;

use super::gpu::layout::{
    ChunkPlan, DOPA_OVERFLOW_WORD, DeviceNetwork, DopaSynapse, HistoryEntry, NO_OVERFLOW,
    POST_HISTORY, PlasticState, StepUniform, Synapse, dopamine_overflow_message,
    history_overflow_message,
};
use super::{Chunk, Engine, EngineError, Sample, Spike};
use crate::build::Network;
use std::sync::Arc;

/// The mutable device buffers, on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceState {
    /// (V, a, b, h) per neuron.
    pub state: Vec<[f32; 4]>,
    /// Refractory steps left.
    pub refractory: Vec<u32>,
    /// Ring buffer words (see `shaders/shared/fixed.wgsl`).
    pub ring: Vec<u32>,
    /// Device current per neuron.
    pub i_stim: Vec<f32>,
    /// Spiking neurons, two halves by parity.
    pub spike_list: Vec<u32>,
    /// Spike counts of the halves, recorded spikes, lowest neuron whose STDP
    /// history overflowed ([`NO_OVERFLOW`]: none), the lengths of the
    /// dopamine sender list's halves, the lowest dopamine rule row whose
    /// spike list overflowed, unused.
    pub counters: [u32; 8],
    /// Spikes per neuron.
    pub spike_counts: Vec<u32>,
    /// Recorded spikes (step in chunk, neuron).
    pub rec_buf: Vec<[u32; 2]>,
    /// Sample rows.
    pub sample_buf: Vec<f32>,
    /// The synapses of each chunk (plastic ones change weight).
    pub synapses: Vec<Vec<Synapse>>,
    /// Per-synapse STDP state of each chunk (empty for static networks).
    pub plastic: Vec<Vec<PlasticState>>,
    /// Per neuron (plastic networks), [`DeviceNetwork::pre_state_stride`]
    /// words: its last two spike stamps, then its traces K+ (f32 bits).
    pub pre_state: Vec<[u32; 2]>,
    /// Postsynaptic spike histories, [`POST_HISTORY`] entries per row.
    pub post_history: Vec<HistoryEntry>,
    /// The dopamine synapse states of each chunk.
    pub dopa_syn: Vec<Vec<DopaSynapse>>,
    /// The `dopamine` words (see [`crate::engine::gpu::layout::DopamineLayout`]).
    pub dopamine: Vec<u32>,
}

impl DeviceState {
    /// The initial state of a laid-out network.
    pub fn new(dn: &DeviceNetwork) -> Self {
        let n = dn.n as usize;
        Self {
            state: dn.state.clone(),
            refractory: vec![0; n],
            ring: vec![0; n * dn.ring_len as usize * 4],
            i_stim: vec![0.0; n],
            spike_list: vec![0; 2 * n],
            counters: [0, 0, 0, NO_OVERFLOW, 0, 0, NO_OVERFLOW, 0],
            spike_counts: vec![0; n],
            rec_buf: Vec::new(),
            sample_buf: Vec::new(),
            synapses: dn
                .synapse_chunks
                .iter()
                .map(|c| c.synapses.clone())
                .collect(),
            plastic: dn
                .synapse_chunks
                .iter()
                .map(|c| {
                    if dn.plastic {
                        dn.initial_plastic_state(c)
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
            pre_state: vec![
                [0; 2];
                if dn.plastic {
                    n * dn.pre_state_stride() as usize
                } else {
                    0
                }
            ],
            post_history: vec![
                HistoryEntry::default();
                dn.history_rows as usize * POST_HISTORY as usize
            ],
            dopa_syn: (0..dn.synapse_chunks.len())
                .map(|c| dn.dopamine.synapses.get(c).cloned().unwrap_or_default())
                .collect(),
            dopamine: dn.dopamine.initial_words(),
        }
    }

    /// Every synapse's weight as recorded at stamp `now` (see
    /// [`DeviceNetwork::visible_weights`]); static synapses show `base`'s.
    pub fn visible_weights(
        &self,
        dn: &DeviceNetwork,
        net: &Network,
        base: &[f64],
        now: u64,
    ) -> Vec<f64> {
        if !dn.plastic {
            return base.to_vec();
        }
        let synapses: Vec<Synapse> = self.synapses.concat();
        let plastic: Vec<PlasticState> = self.plastic.concat();
        let dopa: Vec<DopaSynapse> = self.dopa_syn.concat();
        dn.visible_weights(net, base, &synapses, &plastic, &self.pre_state, &dopa, now)
    }

    /// Sets the weights of synapses `ks` (indices in `Network::synapses`,
    /// increasing) to `weights` as the GPU engine's
    /// `set_projection_weights` writes them.
    pub fn set_weights(&mut self, dn: &DeviceNetwork, ks: &[usize], weights: &[f64]) {
        for (c, list) in dn.locate_synapses(ks) {
            for (i, j) in list {
                let q = dn.dopa_index(c, j);
                dn.encode_weight(
                    &mut self.synapses[c][j],
                    self.plastic[c].get_mut(j),
                    q.map(|q| &mut self.dopa_syn[c][q]),
                    weights[i],
                );
            }
        }
    }
}

/// Runs one step's kernels in the GPU engine's order.
pub fn run_step(
    dn: &DeviceNetwork,
    ds: &mut DeviceState,
    su: &StepUniform,
    events: &[super::gpu::layout::Event],
) {
    if su.dopa_send != 0 {
        for chunk in 0..dn.synapse_chunks.len() {
            dopamine_send::dopamine_send(dn, ds, su, chunk);
        }
    }
    begin_step::begin_step(dn, ds, su, events);
    neuron_update::neuron_update(dn, ds, su);
    for chunk in 0..dn.synapse_chunks.len() {
        deliver::deliver(dn, ds, su, chunk);
    }
    poisson::poisson(dn, ds, su);
    inject_spikes::inject_spikes(ds, su, events);
    if su.sample_slot != u32::MAX {
        sample::sample(dn, ds, su);
    }
    if su.n_dopa > 0 {
        dopamine_transmit::dopamine_transmit(dn, ds, su);
    }
    if su.dopa_trigger != 0 {
        for chunk in 0..dn.synapse_chunks.len() {
            dopamine_trigger::dopamine_trigger(dn, ds, su, chunk);
        }
    }
}

/// Turns a chunk's recorded spikes and samples into engine output (shared
/// with the GPU engine, which reads the same buffers back).
pub fn collect_chunk(
    dn: &DeviceNetwork,
    first_step: u64,
    plan: &ChunkPlan,
    rec: &[[u32; 2]],
    samples: &[f32],
    out: &mut Chunk,
) {
    let mut spikes: Vec<Spike> = rec
        .iter()
        .map(|r| Spike {
            stamp: first_step + r[0] as u64 + 1,
            neuron: r[1],
        })
        .collect();
    spikes.sort_unstable();
    out.spikes.extend(spikes);
    let cols = dn.sample_map.len();
    for (row, &(stamp, mask)) in plan.sample_rows.iter().enumerate() {
        for s in &dn.sampling {
            if mask & (1 << s.recorder) != 0 {
                let values = samples[row * cols + s.columns.start..row * cols + s.columns.end]
                    .iter()
                    .map(|&v| v as f64)
                    .collect();
                out.samples.push(Sample {
                    recorder: s.recorder,
                    stamp,
                    values,
                });
            }
        }
    }
}

/// The CPU twin of the GPU engine: the kernels' twins run in order, in f32.
/// Slow (single-threaded); it exists to check the GPU backend.
pub struct TwinEngine {
    net: Arc<Network>,
    dn: DeviceNetwork,
    ds: DeviceState,
    step: u64,
    /// Every synapse's f64 weight once [`Engine::set_projection_weights`]
    /// has changed some (`None`: the description's), as the GPU engine's.
    set_weights: Option<Vec<f64>>,
}

impl TwinEngine {
    /// Lays out a network; `max_chunk_synapses` as in [`DeviceNetwork::new`].
    pub fn new(net: Arc<Network>, max_chunk_synapses: u64) -> Result<Self, EngineError> {
        let dn = DeviceNetwork::new(&net, max_chunk_synapses)
            .map_err(|e| EngineError::Backend(e.to_string()))?;
        let ds = DeviceState::new(&dn);
        Ok(Self {
            net,
            dn,
            ds,
            step: 0,
            set_weights: None,
        })
    }

    /// The device buffers, for comparison with the GPU's.
    pub fn device_state(&self) -> &DeviceState {
        &self.ds
    }
}

impl Engine for TwinEngine {
    fn describe(&self) -> String {
        "cpu twin of the GPU kernels (f32)".into()
    }

    fn network(&self) -> &Network {
        &self.net
    }

    fn current_step(&self) -> u64 {
        self.step
    }

    fn advance(&mut self, steps: u64, out: &mut Chunk) -> Result<(), EngineError> {
        self.dn
            .check_steps(self.step, steps)
            .map_err(EngineError::Backend)?;
        let plan = self.dn.plan_chunk(self.step, steps, u32::MAX);
        self.ds.counters[2] = 0;
        self.ds.rec_buf.clear();
        self.ds.sample_buf = vec![0.0; plan.sample_rows.len() * self.dn.sample_map.len()];
        for su in &plan.uniforms {
            run_step(&self.dn, &mut self.ds, su, &plan.events);
        }
        if self.ds.counters[DOPA_OVERFLOW_WORD] != NO_OVERFLOW {
            return Err(EngineError::Backend(dopamine_overflow_message(
                &self.net,
                &self.dn,
                self.ds.counters[DOPA_OVERFLOW_WORD],
            )));
        }
        if self.ds.counters[3] != NO_OVERFLOW {
            return Err(EngineError::Backend(history_overflow_message(
                &self.net,
                self.ds.counters[3],
            )));
        }
        collect_chunk(
            &self.dn,
            self.step,
            &plan,
            &self.ds.rec_buf,
            &self.ds.sample_buf,
            out,
        );
        self.step += steps;
        Ok(())
    }

    fn spike_counts(&self) -> Vec<u64> {
        self.ds.spike_counts.iter().map(|&c| c as u64).collect()
    }

    fn synapse_weights(&self) -> Result<Vec<f64>, EngineError> {
        let base = self
            .set_weights
            .as_deref()
            .unwrap_or(&self.net.synapses.weight);
        Ok(self
            .ds
            .visible_weights(&self.dn, &self.net, base, self.step))
    }

    fn set_projection_weights(
        &mut self,
        projection: usize,
        weights: &[f64],
    ) -> Result<(), EngineError> {
        let ks = super::check_projection_weights(&self.net, projection, weights)?;
        self.ds.set_weights(&self.dn, &ks, weights);
        let all = self
            .set_weights
            .get_or_insert_with(|| self.net.synapses.weight.clone());
        for (&k, &w) in ks.iter().zip(weights) {
            all[k] = w;
        }
        Ok(())
    }

    fn set_plasticity(&mut self, projection: usize, enabled: bool) -> Result<(), EngineError> {
        if let Some(row) = self
            .dn
            .dopamine
            .projection
            .iter()
            .position(|&p| p == projection)
        {
            self.dn.dopamine.rules[row].enabled = u32::from(enabled);
            return Ok(());
        }
        match self.net.projections.get(projection) {
            Some(p) if p.plasticity.is_some() => {
                self.dn.stdp_rules[projection].enabled = u32::from(enabled);
                Ok(())
            }
            _ => Err(super::not_plastic(&self.net, projection)),
        }
    }
}

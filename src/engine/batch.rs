//! Batched runs: B instances stepped by one engine over their union
//! ([`crate::build::batch`]), each seen through its own [`InstanceView`].
//!
//! An `InstanceView` is an [`Engine`] for one instance: its network, its
//! neuron, stimulus, population and projection indices, its spike counts
//! and weights, all translated by the instance's offsets into the union
//! engine. The run loop of each instance (recording, closed-loop bodies,
//! protocol phases, statistics) runs unchanged on its view, between
//! advances of the union that the batch driver (`simulation::run_batch`)
//! makes for all instances at once, by the smallest number of steps any
//! instance asked for; [`BatchLayout::split`] hands each instance its part
//! of the output.
//!
//! A closed loop that exchanges every millisecond thus costs one engine
//! call per millisecond for all instances together, not one per instance:
//! what makes many small circuits on a GPU cost about as much as one.
//! Spike counts and weights are read from the device once per step of the
//! union ([`ReadCache`]), however many instances ask.

use super::{Chunk, Engine, EngineError, Sample, Spike};
use crate::build::{InstanceSpan, Network};
use std::cell::RefCell;

/// Where each instance's neurons and recorders lie in a union.
#[derive(Debug, Clone)]
pub struct BatchLayout {
    /// Per instance.
    pub spans: Vec<InstanceSpan>,
    /// Instance of each union neuron id.
    neuron_instance: Vec<u32>,
    /// Instance of each union recorder.
    recorder_instance: Vec<u32>,
}

impl BatchLayout {
    /// The layout of `union` (made by `build::batch` with these `spans`).
    pub fn new(union: &Network, spans: Vec<InstanceSpan>) -> Self {
        let mut neuron_instance = vec![0u32; union.n_neurons];
        let mut recorder_instance = vec![0u32; union.recorders.len()];
        for (k, s) in spans.iter().enumerate() {
            neuron_instance[s.neurons.start as usize..s.neurons.end as usize].fill(k as u32);
            recorder_instance[s.recorders.clone()].fill(k as u32);
        }
        Self {
            spans,
            neuron_instance,
            recorder_instance,
        }
    }

    /// Splits the union's output into each instance's, in its own ids.
    pub fn split(&self, chunk: Chunk) -> Vec<Chunk> {
        let mut parts = vec![Chunk::default(); self.spans.len()];
        for s in chunk.spikes {
            let k = self.neuron_instance[s.neuron as usize] as usize;
            parts[k].spikes.push(Spike {
                stamp: s.stamp,
                neuron: s.neuron - self.spans[k].neurons.start,
            });
        }
        for s in chunk.samples {
            let k = self.recorder_instance[s.recorder] as usize;
            parts[k].samples.push(Sample {
                recorder: s.recorder - self.spans[k].recorders.start,
                ..s
            });
        }
        parts
    }
}

/// Readouts of the union, each valid at the union step it names: one
/// device readback per step for all instances.
#[derive(Debug, Default)]
pub struct ReadCache {
    counts: Option<(u64, Vec<u64>)>,
    weights: Option<(u64, Vec<f64>)>,
}

/// One instance's view of a union engine (see the module docs).
pub struct InstanceView<'a> {
    /// The union's engine.
    pub union: &'a mut (dyn Engine + Send),
    /// The instance's place in it.
    pub span: &'a InstanceSpan,
    /// The instance's own network.
    pub net: &'a Network,
    /// Shared readouts (filled by whichever instance asks first in a step).
    pub cache: &'a RefCell<ReadCache>,
    /// What `describe` says.
    pub describe: &'a str,
}

impl InstanceView<'_> {
    fn local_index(
        &self,
        what: &str,
        i: usize,
        range: &std::ops::Range<usize>,
    ) -> Result<usize, EngineError> {
        if i < range.len() {
            Ok(range.start + i)
        } else {
            Err(EngineError::Backend(format!(
                "no {what} {i}: the instance has {}",
                range.len()
            )))
        }
    }
}

impl Engine for InstanceView<'_> {
    fn describe(&self) -> String {
        self.describe.to_string()
    }

    fn network(&self) -> &Network {
        self.net
    }

    fn current_step(&self) -> u64 {
        self.union.current_step()
    }

    fn advance(&mut self, _steps: u64, _out: &mut Chunk) -> Result<(), EngineError> {
        Err(EngineError::Backend(
            "an instance of a batch does not advance alone: the batch driver advances every instance together".into(),
        ))
    }

    fn spike_counts(&self) -> Vec<u64> {
        let r = self.span.neurons.start as usize..self.span.neurons.end as usize;
        let step = self.union.current_step();
        let mut cache = self.cache.borrow_mut();
        if cache.counts.as_ref().is_none_or(|(s, _)| *s != step) {
            cache.counts = Some((step, self.union.spike_counts()));
        }
        cache.counts.as_ref().expect("just set").1[r].to_vec()
    }

    fn synapse_weights(&self) -> Result<Vec<f64>, EngineError> {
        let r = self.span.synapses.clone();
        let step = self.union.current_step();
        let mut cache = self.cache.borrow_mut();
        if cache.weights.as_ref().is_none_or(|(s, _)| *s != step) {
            cache.weights = Some((step, self.union.synapse_weights()?));
        }
        Ok(cache.weights.as_ref().expect("just set").1[r].to_vec())
    }

    fn set_plasticity(&mut self, projection: usize, enabled: bool) -> Result<(), EngineError> {
        let p = self.local_index("projection", projection, &self.span.projections)?;
        self.union.set_plasticity(p, enabled)
    }

    fn device_memory_bytes(&self) -> Option<u64> {
        self.union.device_memory_bytes()
    }

    fn inject_input(&mut self, neuron: u32, weight: f64) -> Result<(), EngineError> {
        super::check_injection(self.net, neuron, weight)?;
        self.union
            .inject_input(self.span.neurons.start + neuron, weight)
    }

    fn set_stimulus_rate(&mut self, stimulus: usize, rate_hz: f64) -> Result<(), EngineError> {
        let s = self.local_index("stimulus", stimulus, &self.span.stimuli)?;
        self.union.set_stimulus_rate(s, rate_hz)
    }

    fn set_projection_weights(
        &mut self,
        projection: usize,
        weights: &[f64],
    ) -> Result<(), EngineError> {
        let p = self.local_index("projection", projection, &self.span.projections)?;
        self.cache.borrow_mut().weights = None;
        self.union.set_projection_weights(p, weights)
    }

    fn set_silenced(&mut self, population: usize, silenced: bool) -> Result<(), EngineError> {
        let p = self.local_index("population", population, &self.span.populations)?;
        self.union.set_silenced(p, silenced)
    }
}

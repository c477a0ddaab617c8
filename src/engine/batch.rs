//! Batched runs: B instances stepped by one engine over their union
//! ([`crate::build::batch`]), each seen through its own [`InstanceEngine`].
//!
//! An `InstanceEngine` is an [`Engine`] for one instance: its network, its
//! neuron, stimulus, population and projection indices, its spike counts
//! and weights. So the ordinary run loop (recording, closed-loop bodies,
//! protocol phases, statistics) runs unchanged for each instance, on its own
//! thread. The instances advance in lockstep: `advance` blocks until every
//! instance still running has asked to advance; then the last one to ask
//! advances the union by the smallest number of steps any of them asked
//! for, hands each its part of the output, and releases those whose request
//! is complete. Calls between advances (rates of afferents, lesions,
//! weights, readouts) act at once on the shared engine, translated by the
//! instance's offsets: no instance can be between two of its calls while
//! the union steps, because the union steps only when all are waiting.
//!
//! A closed loop that exchanges every millisecond thus costs one engine
//! call per millisecond for all instances together, not one per instance:
//! what makes many small circuits on a GPU cost about as much as one.
//! Spike counts and weights are read from the device once per step of the
//! union, however many instances ask.

use super::{Chunk, Engine, EngineError, Sample, Spike};
use crate::build::{InstanceSpan, Network};
use std::sync::{Arc, Condvar, Mutex};

struct Shared {
    engine: Box<dyn Engine + Send>,
    /// Instances not yet dropped.
    active: usize,
    /// Instances blocked in `advance`.
    waiting: usize,
    /// Steps each instance still has to advance in its current request (0: none).
    remaining: Vec<u64>,
    /// Output gathered for each instance's current request.
    gathered: Vec<Chunk>,
    /// An engine failure, reported to every instance that advances after it.
    failed: Option<String>,
    /// Cached readouts of the union, valid at the union's step they name.
    counts: Option<(u64, Vec<u64>)>,
    weights: Option<(u64, Vec<f64>)>,
    /// Instance of each union neuron id / recorder (for splitting output).
    neuron_instance: Vec<u32>,
    recorder_instance: Vec<u32>,
}

struct Group {
    shared: Mutex<Shared>,
    wake: Condvar,
    spans: Vec<InstanceSpan>,
    describe: String,
}

/// One instance of a batched run.
pub struct InstanceEngine {
    group: Arc<Group>,
    index: usize,
    net: Arc<Network>,
    step: u64,
}

/// Engines for the instances `nets` of a batch, over `union` (an engine of
/// the union [`crate::build::batch`] made of them, with `spans` its layout).
pub fn instance_engines(
    union: Box<dyn Engine + Send>,
    spans: Vec<InstanceSpan>,
    nets: Vec<Arc<Network>>,
) -> Vec<InstanceEngine> {
    assert_eq!(spans.len(), nets.len(), "one span per instance");
    let b = nets.len();
    let mut neuron_instance = vec![0u32; union.network().n_neurons];
    let mut recorder_instance = vec![0u32; union.network().recorders.len()];
    for (k, s) in spans.iter().enumerate() {
        neuron_instance[s.neurons.start as usize..s.neurons.end as usize].fill(k as u32);
        recorder_instance[s.recorders.clone()].fill(k as u32);
    }
    let describe = format!("{} (batch of {b} instances)", union.describe());
    let group = Arc::new(Group {
        shared: Mutex::new(Shared {
            engine: union,
            active: b,
            waiting: 0,
            remaining: vec![0; b],
            gathered: vec![Chunk::default(); b],
            failed: None,
            counts: None,
            weights: None,
            neuron_instance,
            recorder_instance,
        }),
        wake: Condvar::new(),
        spans,
        describe,
    });
    nets.into_iter()
        .enumerate()
        .map(|(index, net)| InstanceEngine {
            group: Arc::clone(&group),
            index,
            net,
            step: 0,
        })
        .collect()
}

impl Shared {
    /// Advances the union for every waiting instance and hands out the output.
    fn drive(&mut self, spans: &[InstanceSpan]) {
        let steps = self
            .remaining
            .iter()
            .copied()
            .filter(|&r| r > 0)
            .min()
            .expect("some instance is waiting");
        let mut chunk = Chunk::default();
        if let Err(e) = self.engine.advance(steps, &mut chunk) {
            self.failed = Some(e.to_string());
        }
        for s in chunk.spikes {
            let k = self.neuron_instance[s.neuron as usize] as usize;
            self.gathered[k].spikes.push(Spike {
                stamp: s.stamp,
                neuron: s.neuron - spans[k].neurons.start,
            });
        }
        for s in chunk.samples {
            let k = self.recorder_instance[s.recorder] as usize;
            self.gathered[k].samples.push(Sample {
                recorder: s.recorder - spans[k].recorders.start,
                ..s
            });
        }
        for r in self.remaining.iter_mut().filter(|r| **r > 0) {
            *r -= steps;
            if *r == 0 {
                self.waiting -= 1;
            }
        }
    }

    fn counts(&mut self) -> &[u64] {
        let step = self.engine.current_step();
        if self.counts.as_ref().is_none_or(|(s, _)| *s != step) {
            self.counts = Some((step, self.engine.spike_counts()));
        }
        &self.counts.as_ref().expect("just set").1
    }
}

impl InstanceEngine {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A panic in another instance's thread poisons the lock; the state
        // it guards is still consistent (every change is made whole).
        self.group
            .shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn span(&self) -> &InstanceSpan {
        &self.group.spans[self.index]
    }

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

impl Drop for InstanceEngine {
    fn drop(&mut self) {
        let group = Arc::clone(&self.group);
        let mut sh = self.lock();
        sh.active -= 1;
        sh.remaining[self.index] = 0;
        // The others may all be waiting for this one.
        if sh.active > 0 && sh.waiting == sh.active {
            sh.drive(&group.spans);
        }
        drop(sh);
        group.wake.notify_all();
    }
}

impl Engine for InstanceEngine {
    fn describe(&self) -> String {
        self.group.describe.clone()
    }

    fn network(&self) -> &Network {
        &self.net
    }

    fn current_step(&self) -> u64 {
        self.step
    }

    fn advance(&mut self, steps: u64, out: &mut Chunk) -> Result<(), EngineError> {
        if steps == 0 {
            return Ok(());
        }
        let group = Arc::clone(&self.group);
        let mut sh = self.lock();
        if let Some(e) = &sh.failed {
            return Err(EngineError::Backend(e.clone()));
        }
        sh.remaining[self.index] = steps;
        sh.waiting += 1;
        loop {
            if sh.waiting == sh.active && sh.remaining[self.index] > 0 {
                sh.drive(&group.spans);
                group.wake.notify_all();
            }
            if sh.remaining[self.index] == 0 {
                break;
            }
            sh = group
                .wake
                .wait(sh)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let mine = std::mem::take(&mut sh.gathered[self.index]);
        if let Some(e) = &sh.failed {
            return Err(EngineError::Backend(e.clone()));
        }
        drop(sh);
        self.step += steps;
        out.spikes.extend(mine.spikes);
        out.samples.extend(mine.samples);
        Ok(())
    }

    fn spike_counts(&self) -> Vec<u64> {
        let r = self.span().neurons.clone();
        self.lock().counts()[r.start as usize..r.end as usize].to_vec()
    }

    fn synapse_weights(&self) -> Result<Vec<f64>, EngineError> {
        let r = self.span().synapses.clone();
        let mut sh = self.lock();
        let step = sh.engine.current_step();
        if sh.weights.as_ref().is_none_or(|(s, _)| *s != step) {
            let w = sh.engine.synapse_weights()?;
            sh.weights = Some((step, w));
        }
        Ok(sh.weights.as_ref().expect("just set").1[r].to_vec())
    }

    fn set_plasticity(&mut self, projection: usize, enabled: bool) -> Result<(), EngineError> {
        let p = self.local_index("projection", projection, &self.span().projections)?;
        self.lock().engine.set_plasticity(p, enabled)
    }

    fn device_memory_bytes(&self) -> Option<u64> {
        self.lock().engine.device_memory_bytes()
    }

    fn inject_input(&mut self, neuron: u32, weight: f64) -> Result<(), EngineError> {
        super::check_injection(&self.net, neuron, weight)?;
        let n = self.span().neurons.start + neuron;
        self.lock().engine.inject_input(n, weight)
    }

    fn set_stimulus_rate(&mut self, stimulus: usize, rate_hz: f64) -> Result<(), EngineError> {
        let s = self.local_index("stimulus", stimulus, &self.span().stimuli)?;
        self.lock().engine.set_stimulus_rate(s, rate_hz)
    }

    fn set_projection_weights(
        &mut self,
        projection: usize,
        weights: &[f64],
    ) -> Result<(), EngineError> {
        let p = self.local_index("projection", projection, &self.span().projections)?;
        let mut sh = self.lock();
        sh.weights = None;
        sh.engine.set_projection_weights(p, weights)
    }

    fn set_silenced(&mut self, population: usize, silenced: bool) -> Result<(), EngineError> {
        let p = self.local_index("population", population, &self.span().populations)?;
        self.lock().engine.set_silenced(p, silenced)
    }
}

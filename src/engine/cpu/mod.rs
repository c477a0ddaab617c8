//! The CPU engine: the reference backend, multithreaded with rayon.
//!
//! One step, for step `n` (from `n dt` to `(n + 1) dt`):
//! 1. device current changes due at step `n` are applied;
//! 2. every population is updated in parallel, reading ring-buffer slot
//!    `n mod L` (then clearing it); spikes get stamp `n + 1`;
//! 3. spikes of step `n` and stimulus spikes emitted at stamp `n + 1` are
//!    delivered: a synapse of delay `d` adds its weight to slot `(n + d) mod L`;
//! 4. recorders sample state at stamps that are multiples of their interval.
//!
//! Synaptic input is summed in 64-bit fixed point (32 fractional bits), so
//! the sum does not depend on the order in which threads add it.

pub mod neuron_update;

use super::{Chunk, Engine, EngineError, Sample, Spike};
use crate::build::{Network, PopulationLayout, Stimulus};
use crate::models::ModelKind;
use crate::rng::{PoissonParams, Purpose, inv_k_table, poisson_f32, stream_id};
use neuron_update::*;
use rayon::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Fixed-point scale of synaptic input: 2^32 units per mV, pA or nS.
pub const FIXED_SCALE: f64 = 4_294_967_296.0;

/// A weight in fixed point.
#[inline]
pub fn to_fixed(w: f64) -> i64 {
    (w * FIXED_SCALE).round() as i64
}

/// Neurons per parallel work item.
const CHUNK: usize = 2048;

enum PopState {
    Delta(PscDeltaProps, Vec<PscDeltaState>),
    Exp(PscExpProps, Vec<PscExpState>),
    Cond(CondExpProps, Vec<CondExpState>),
}

fn make_state<M: NeuronModel>(pop: &PopulationLayout, dt: f64) -> (M::Props, Vec<M::State>) {
    (
        M::props(pop, dt),
        (0..pop.size as usize).map(|i| M::init(pop, i)).collect(),
    )
}

/// Runs one model's update over a population, in parallel chunks.
fn update_population<M: NeuronModel>(
    props: &M::Props,
    states: &mut [M::State],
    ring_ex: &mut [AtomicI64],
    ring_in: &mut [AtomicI64],
    i_stim: &[f64],
    spiked: &mut [bool],
) {
    states
        .par_chunks_mut(CHUNK)
        .zip(ring_ex.par_chunks_mut(CHUNK))
        .zip(ring_in.par_chunks_mut(CHUNK))
        .zip(i_stim.par_chunks(CHUNK))
        .zip(spiked.par_chunks_mut(CHUNK))
        .for_each(|((((s, ex), in_), cur), out)| {
            for i in 0..s.len() {
                let e = std::mem::take(ex[i].get_mut()) as f64 / FIXED_SCALE;
                let n = std::mem::take(in_[i].get_mut()) as f64 / FIXED_SCALE;
                out[i] = M::update(props, &mut s[i], e, n, cur[i]);
            }
        });
}

fn sample_population<M: NeuronModel>(
    props: &M::Props,
    states: &[M::State],
    local: &[usize],
    var: usize,
    out: &mut Vec<f64>,
) {
    out.extend(local.iter().map(|&i| M::get(props, &states[i], var)));
}

/// The CPU backend.
pub struct CpuEngine {
    net: Arc<Network>,
    step: u64,
    pops: Vec<PopState>,
    /// Ring buffers, slot-major: `ring_ex[slot * n + neuron]`.
    ring_ex: Vec<AtomicI64>,
    ring_in: Vec<AtomicI64>,
    ring_len: u64,
    i_stim: Vec<f64>,
    spiked: Vec<bool>,
    spike_counts: Vec<u64>,
    recorded: Vec<bool>,
    next_current: usize,
    delivery_cursor: Vec<usize>,
    poisson: Vec<Option<PoissonParams>>,
    inv_k: Vec<f32>,
    threads: Option<rayon::ThreadPool>,
}

impl CpuEngine {
    /// Prepares the state of a built network; `threads` = `None` uses rayon's
    /// global pool (all cores).
    pub fn new(net: Arc<Network>, threads: Option<usize>) -> Result<Self, EngineError> {
        let n = net.n_neurons;
        let ring_len = net.max_delay + 1;
        let ring_cells = (ring_len as usize)
            .checked_mul(n)
            .ok_or_else(|| EngineError::Backend("ring buffer size overflows".into()))?;
        let pops = net
            .populations
            .iter()
            .map(|p| match p.model {
                ModelKind::IafPscDelta => {
                    let (a, b) = make_state::<IafPscDelta>(p, net.dt);
                    PopState::Delta(a, b)
                }
                ModelKind::IafPscExp => {
                    let (a, b) = make_state::<IafPscExp>(p, net.dt);
                    PopState::Exp(a, b)
                }
                ModelKind::IafCondExp => {
                    let (a, b) = make_state::<IafCondExp>(p, net.dt);
                    PopState::Cond(a, b)
                }
            })
            .collect();
        let mut recorded = vec![false; n];
        for r in net.recorders.iter().filter(|r| r.spikes) {
            for &i in &r.neurons {
                recorded[i as usize] = true;
            }
        }
        let poisson = net
            .stimuli
            .iter()
            .map(|s| match s {
                Stimulus::Poisson { lambda, .. } => Some(PoissonParams::new(*lambda)),
                Stimulus::Deliveries(_) => None,
            })
            .collect();
        let threads = match threads {
            None => None,
            Some(t) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .map_err(|e| EngineError::Backend(format!("cannot start {t} threads: {e}")))?,
            ),
        };
        Ok(Self {
            step: 0,
            pops,
            ring_ex: (0..ring_cells).map(|_| AtomicI64::new(0)).collect(),
            ring_in: (0..ring_cells).map(|_| AtomicI64::new(0)).collect(),
            ring_len,
            i_stim: vec![0.0; n],
            spiked: vec![false; n],
            spike_counts: vec![0; n],
            recorded,
            next_current: 0,
            delivery_cursor: vec![0; net.stimuli.len()],
            poisson,
            inv_k: inv_k_table(),
            threads,
            net,
        })
    }

    fn one_step(&mut self, out: &mut Chunk) {
        let net = Arc::clone(&self.net);
        let n = net.n_neurons;
        let step = self.step;

        // 1. Device currents.
        while let Some(c) = net.currents.get(self.next_current) {
            if c.step > step {
                break;
            }
            self.i_stim[c.target as usize] += c.delta;
            self.next_current += 1;
        }

        // 2. Neuron updates.
        let slot = (step % self.ring_len) as usize;
        let row = slot * n..(slot + 1) * n;
        let ring_ex = &mut self.ring_ex[row.clone()];
        let ring_in = &mut self.ring_in[row];
        for (pop, state) in net.populations.iter().zip(self.pops.iter_mut()) {
            let r = pop.offset as usize..(pop.offset + pop.size) as usize;
            let (ex, in_, cur, sp) = (
                &mut ring_ex[r.clone()],
                &mut ring_in[r.clone()],
                &self.i_stim[r.clone()],
                &mut self.spiked[r],
            );
            match state {
                PopState::Delta(p, s) => update_population::<IafPscDelta>(p, s, ex, in_, cur, sp),
                PopState::Exp(p, s) => update_population::<IafPscExp>(p, s, ex, in_, cur, sp),
                PopState::Cond(p, s) => update_population::<IafCondExp>(p, s, ex, in_, cur, sp),
            }
        }
        let stamp = step + 1;
        let spikes: Vec<u32> = (0..n as u32).filter(|&i| self.spiked[i as usize]).collect();
        for &i in &spikes {
            self.spike_counts[i as usize] += 1;
            if self.recorded[i as usize] {
                out.spikes.push(Spike { stamp, neuron: i });
            }
        }

        // 3. Delivery.
        let syn = &net.synapses;
        let ring_len = self.ring_len;
        let (rex, rin) = (&self.ring_ex, &self.ring_in);
        let deliver = |target: u32, delay: u64, w: f64| {
            let cell = ((step + delay) % ring_len) as usize * n + target as usize;
            if w >= 0.0 {
                rex[cell].fetch_add(to_fixed(w), Ordering::Relaxed);
            } else {
                rin[cell].fetch_add(to_fixed(w), Ordering::Relaxed);
            }
        };
        spikes.par_iter().for_each(|&src| {
            let (a, b) = (
                syn.row_start[src as usize] as usize,
                syn.row_start[src as usize + 1] as usize,
            );
            for k in a..b {
                deliver(syn.target[k], syn.delay[k] as u64, syn.weight[k]);
            }
        });
        for (si, stim) in net.stimuli.iter().enumerate() {
            match stim {
                Stimulus::Poisson {
                    index,
                    targets,
                    weights,
                    delays,
                    first_stamp,
                    last_stamp,
                    ..
                } => {
                    if stamp < *first_stamp || stamp > *last_stamp {
                        continue;
                    }
                    let params = self.poisson[si]
                        .as_ref()
                        .expect("poisson stimulus has params");
                    let stream = stream_id(Purpose::Poisson, *index);
                    targets
                        .par_iter()
                        .enumerate()
                        .with_min_len(256)
                        .for_each(|(i, &t)| {
                            let k = draw_poisson(net.seed, stream, t, stamp, params, &self.inv_k);
                            if k > 0 {
                                deliver(t, delays[i] as u64, weights[i] * k as f64);
                            }
                        });
                }
                Stimulus::Deliveries(list) => {
                    let cursor = &mut self.delivery_cursor[si];
                    // Deliveries are due `delay` steps ahead; hand over all
                    // whose read step is within the ring's horizon.
                    while let Some(d) = list.get(*cursor) {
                        if d.step > step + ring_len - 1 {
                            break;
                        }
                        if d.step > step {
                            deliver(d.target, d.step - step, d.weight);
                        }
                        *cursor += 1;
                    }
                }
            }
        }

        // 4. Sampling.
        for (ri, rec) in net.recorders.iter().enumerate() {
            if rec.state.is_empty() || !stamp.is_multiple_of(rec.interval_steps) {
                continue;
            }
            let pop = &net.populations[rec.population];
            let local: Vec<usize> = rec
                .neurons
                .iter()
                .map(|&g| (g - pop.offset) as usize)
                .collect();
            let mut values = Vec::with_capacity(local.len() * rec.state.len());
            for &var in &rec.state {
                match &self.pops[rec.population] {
                    PopState::Delta(p, s) => {
                        sample_population::<IafPscDelta>(p, s, &local, var, &mut values)
                    }
                    PopState::Exp(p, s) => {
                        sample_population::<IafPscExp>(p, s, &local, var, &mut values)
                    }
                    PopState::Cond(p, s) => {
                        sample_population::<IafCondExp>(p, s, &local, var, &mut values)
                    }
                }
            }
            out.samples.push(Sample {
                recorder: ri,
                stamp,
                values,
            });
        }
        self.step += 1;
    }
}

/// The Poisson count of one target at one stamp, the same integer the GPU
/// kernel draws (see [`crate::rng::poisson_f32`]).
#[inline]
pub fn draw_poisson(
    seed: u64,
    stream: u32,
    target: u32,
    stamp: u64,
    params: &PoissonParams,
    inv_k: &[f32],
) -> u32 {
    poisson_f32(
        seed,
        stream,
        target,
        stamp,
        params.pieces,
        params.rest as f32,
        params.exp_rest as f32,
        params.exp_piece as f32,
        inv_k,
    )
}

impl Engine for CpuEngine {
    fn describe(&self) -> String {
        let threads = self
            .threads
            .as_ref()
            .map_or(rayon::current_num_threads(), |t| t.current_num_threads());
        format!("cpu ({threads} threads)")
    }

    fn network(&self) -> &Network {
        &self.net
    }

    fn current_step(&self) -> u64 {
        self.step
    }

    fn advance(&mut self, steps: u64, out: &mut Chunk) -> Result<(), EngineError> {
        match self.threads.take() {
            Some(pool) => {
                pool.install(|| {
                    for _ in 0..steps {
                        self.one_step(out);
                    }
                });
                self.threads = Some(pool);
            }
            None => {
                for _ in 0..steps {
                    self.one_step(out);
                }
            }
        }
        Ok(())
    }

    fn spike_counts(&self) -> Vec<u64> {
        self.spike_counts.clone()
    }
}

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
//! the sum does not depend on the order in which it is added. Delivery needs
//! no atomics: the neurons are split into blocks, each block owns its
//! neurons' ring cells, and each block takes from every spiking row (rows are
//! sorted by target) and every Poisson table the part that ends in it.

pub mod dopamine;
pub mod neuron_update;
pub mod stdp;

use super::{Chunk, Engine, EngineError, Sample, Spike};
use crate::build::{Network, PopulationLayout, Stimulus};
use crate::models::ModelKind;
use crate::rng::{LANES, PoissonParams, PoissonSampler, inv_k_table};
use neuron_update::*;
use rayon::prelude::*;
use std::sync::Arc;

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

/// Runs one model's update over a population, in parallel chunks; `cells`
/// is the population's part of this step's ring slot (two per neuron).
/// One chunk of a population: states, input cells, stimulus currents, spike flags.
type UpdateChunk<'a, S> = (((&'a mut [S], &'a mut [i64]), &'a [f64]), &'a mut [bool]);

/// `inv_k_table()`, computed once.
static INV_K: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();

fn update_population<M: NeuronModel>(
    props: &M::Props,
    states: &mut [M::State],
    cells: &mut [i64],
    i_stim: &[f64],
    spiked: &mut [bool],
    sequential: bool,
) {
    let update = |(((s, cells), cur), out): UpdateChunk<'_, M::State>| {
        for i in 0..s.len() {
            let e = std::mem::take(&mut cells[2 * i]) as f64 / FIXED_SCALE;
            let n = std::mem::take(&mut cells[2 * i + 1]) as f64 / FIXED_SCALE;
            out[i] = M::update(props, &mut s[i], e, n, cur[i]);
        }
    };
    if sequential {
        update((((states, cells), i_stim), spiked));
        return;
    }
    states
        .par_chunks_mut(CHUNK)
        .zip(cells.par_chunks_mut(CHUNK * 2))
        .zip(i_stim.par_chunks(CHUNK))
        .zip(spiked.par_chunks_mut(CHUNK))
        .for_each(update);
}

/// Per-synapse plasticity state shared by the delivery blocks; like
/// [`RingCells`], each synapse is written only by the block that owns its
/// target neuron.
#[derive(Clone, Copy)]
struct SynapseCells {
    weight: *mut f64,
    kplus: *mut f64,
    last_pre: *mut u64,
    len: usize,
}

// SAFETY: writes are partitioned by synapse (through its target's block), and
// the arrays outlive the parallel region that uses them.
unsafe impl Send for SynapseCells {}
// SAFETY: as above.
unsafe impl Sync for SynapseCells {}

/// The ring buffer shared by the delivery blocks. Each block writes only the
/// cells of its own target neurons (in every slot), so no two threads ever
/// touch the same cell; the blocks' neuron ranges are disjoint by
/// construction in `one_step`.
#[derive(Clone, Copy)]
struct RingCells(*mut i64);

// SAFETY: see the type's documentation: writes through the pointer are
// partitioned by target neuron among the threads, and the buffer outlives
// the parallel region that uses it.
unsafe impl Send for RingCells {}
// SAFETY: as above.
unsafe impl Sync for RingCells {}

impl RingCells {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    fn ptr(self) -> *mut i64 {
        self.0
    }
}

/// A Poisson stimulus' targets, sorted by neuron so that a block finds its
/// part by binary search.
struct PoissonTable {
    /// Index of the stimulus in the description.
    stimulus: usize,
    sampler: PoissonSampler,
    stream: u32,
    /// Philox key of its draws.
    seed: u64,
    /// Subtracted from a target to give its random entity (see `PoissonRng`).
    entity_offset: u32,
    first_stamp: u64,
    last_stamp: u64,
    /// (target, weight in fixed point, delay), sorted by target.
    entries: Vec<(u32, i64, u16)>,
    /// Mean count per step the sampler draws with.
    lambda: f64,
    /// The rate is 0: no draws (closed loops switch cues and thresholded
    /// afferents off and on). A zero count needs no random number, so
    /// skipping the draws changes no other count.
    silent: bool,
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

/// How delivery treats a synapse of a plastic network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SynapseKind {
    /// Fixed weight.
    Static,
    /// Pair STDP: updated at the presynaptic spike.
    Stdp,
    /// Dopamine-modulated STDP: sent at the next slice.
    Dopamine,
}

/// The CPU backend.
pub struct CpuEngine {
    net: Arc<Network>,
    step: u64,
    pops: Vec<PopState>,
    /// Ring buffer, slot-major: `ring[(slot * n + neuron) * 2 + channel]`,
    /// channel 0 excitatory, 1 inhibitory. Slot-major keeps the cells that
    /// one delay writes in a step together, which is what caches like.
    ring: Vec<i64>,
    ring_len: u64,
    /// Neurons per delivery block.
    block: usize,
    /// For each source row, where each delivery block's part begins (relative
    /// to the row; `n_blocks + 1` entries a row), so that no block searches.
    row_splits: Vec<u32>,
    /// In a plastic network, each synapse's rule (see [`SynapseKind`]), so
    /// that delivery does not look its projection up per synapse.
    synapse_kind: Vec<SynapseKind>,
    /// Per source neuron: whether every synapse of its row is static (its
    /// spikes then take the static delivery loop even in a plastic network).
    static_row: Vec<bool>,
    i_stim: Vec<f64>,
    spiked: Vec<bool>,
    spike_counts: Vec<u64>,
    recorded: Vec<bool>,
    next_current: usize,
    delivery_cursor: Vec<usize>,
    poisson: Vec<PoissonTable>,
    /// For each stimulus of the network, its table in `poisson`, if Poisson.
    poisson_table_of: Vec<Option<usize>>,
    /// Per population: lesioned (see [`Engine::set_silenced`]).
    silenced: Vec<bool>,
    /// Synapse weights in fixed point, converted once (static synapses).
    weight_fixed: Vec<i64>,
    /// Every synapse's weight once [`Engine::set_projection_weights`] has
    /// changed some, in a network without plasticity (`None`: the
    /// description's; plastic networks keep them in `plasticity.visible`).
    set_weights: Option<Vec<f64>>,
    /// STDP state, when a projection is plastic.
    plasticity: Option<stdp::Plasticity>,
    /// Dopamine-modulated STDP state, when a projection has it.
    dopamine: Option<dopamine::Dopamine>,
    threads: Option<rayon::ThreadPool>,
    /// Everything on the calling thread, no rayon (`threads = Some(1)`).
    sequential: bool,
}

impl CpuEngine {
    /// Prepares the state of a built network; `threads` = `None` uses rayon's
    /// global pool (all cores).
    pub fn new(net: Arc<Network>, threads: Option<usize>) -> Result<Self, EngineError> {
        let n = net.n_neurons;
        let ring_len = net.max_delay + 1;
        let ring_cells = (ring_len as usize)
            .checked_mul(2 * n)
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
        let poisson: Vec<PoissonTable> = net
            .stimuli
            .iter()
            .filter_map(|s| match s {
                Stimulus::Poisson {
                    index,
                    rng,
                    targets,
                    weights,
                    delays,
                    lambda,
                    first_stamp,
                    last_stamp,
                } => {
                    let mut entries: Vec<(u32, i64, u16)> = targets
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| (t, to_fixed(weights[i]), delays[i]))
                        .collect();
                    entries.sort_by_key(|e| e.0);
                    Some(PoissonTable {
                        stimulus: *index,
                        sampler: PoissonSampler::new(&PoissonParams::new(*lambda), &inv_k_table()),
                        stream: rng.stream,
                        seed: rng.seed,
                        entity_offset: rng.entity_offset,
                        first_stamp: *first_stamp,
                        last_stamp: *last_stamp,
                        entries,
                        lambda: *lambda,
                        silent: *lambda == 0.0,
                    })
                }
                Stimulus::Deliveries(_) => None,
            })
            .collect();
        // One thread runs on the caller's thread: handing every step to a
        // pool's worker costs more than a small network's step (closed
        // loops advance one exchange interval at a time).
        let sequential = threads == Some(1);
        let threads = match threads {
            None | Some(1) => None,
            Some(t) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .map_err(|e| EngineError::Backend(format!("cannot start {t} threads: {e}")))?,
            ),
        };
        Ok(Self {
            sequential,
            step: 0,
            pops,
            ring: vec![0; ring_cells],
            ring_len,
            block: 0,
            row_splits: Vec::new(),
            synapse_kind: Vec::new(),
            static_row: Vec::new(),
            i_stim: vec![0.0; n],
            spiked: vec![false; n],
            spike_counts: vec![0; n],
            recorded,
            next_current: 0,
            delivery_cursor: vec![0; net.stimuli.len()],
            poisson_table_of: {
                let mut of = vec![None; net.stimuli.len()];
                for (t, table) in poisson.iter().enumerate() {
                    if let Some(slot) = of.get_mut(table.stimulus) {
                        *slot = Some(t);
                    }
                }
                of
            },
            poisson,
            silenced: vec![false; net.populations.len()],
            weight_fixed: net
                .synapses
                .weight
                .par_iter()
                .map(|&w| to_fixed(w))
                .collect(),
            set_weights: None,
            plasticity: stdp::Plasticity::new(&net),
            dopamine: dopamine::Dopamine::new(&net),
            threads,
            net,
        })
    }

    fn one_step(&mut self, out: &mut Chunk) {
        let net = Arc::clone(&self.net);
        let n = net.n_neurons;
        let step = self.step;

        // 0. Presynaptic spikes of dopamine synapses from the last slice.
        if let (Some(d), Some(p)) = (self.dopamine.as_mut(), self.plasticity.as_mut()) {
            if step.is_multiple_of(d.min_delay) && !d.queued.is_empty() {
                let ring_len = self.ring_len;
                for (s, k) in std::mem::take(&mut d.queued) {
                    let w = dopamine_send(&net, d, p, s, k);
                    let read_step = s - 1 + net.synapses.delay[k] as u64;
                    let cell =
                        ((read_step % ring_len) as usize * n + net.synapses.target[k] as usize) * 2;
                    self.ring[cell + usize::from(w < 0.0)] += to_fixed(w);
                }
            }
        }

        // 1. Device currents.
        while let Some(c) = net.currents.get(self.next_current) {
            if c.step > step {
                break;
            }
            self.i_stim[c.target as usize] += c.delta;
            self.next_current += 1;
        }

        // 2. Neuron updates.
        let ring_len = self.ring_len;
        let slot = (step % ring_len) as usize;
        let row = &mut self.ring[slot * 2 * n..(slot + 1) * 2 * n];
        let seq = self.sequential;
        for ((pop, state), &silenced) in net
            .populations
            .iter()
            .zip(self.pops.iter_mut())
            .zip(&self.silenced)
        {
            let r = pop.offset as usize..(pop.offset + pop.size) as usize;
            let cells = &mut row[r.start * 2..r.end * 2];
            let (cur, sp) = (&self.i_stim[r.clone()], &mut self.spiked[r]);
            if silenced {
                cells.fill(0);
                sp.fill(false);
                continue;
            }
            match state {
                PopState::Delta(p, s) => {
                    update_population::<IafPscDelta>(p, s, cells, cur, sp, seq)
                }
                PopState::Exp(p, s) => update_population::<IafPscExp>(p, s, cells, cur, sp, seq),
                PopState::Cond(p, s) => update_population::<IafCondExp>(p, s, cells, cur, sp, seq),
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

        // 3. Delivery, block by block of target neurons.
        if self.block == 0 {
            let threads = if self.sequential {
                1
            } else {
                rayon::current_num_threads().max(1)
            };
            // Four equal blocks a thread balance the load; small networks run as
            // one block, as waking threads would cost more than it saves.
            // On one thread blocks only add work (each searches its share of
            // every Poisson table): one block.
            self.block = if n < 4096 || self.sequential {
                n.max(1)
            } else {
                n.div_ceil(threads * 4)
            };
        }
        let block = self.block;
        let n_blocks = n.div_ceil(block);
        if self.row_splits.is_empty() && n > 0 {
            self.row_splits = row_splits(&net.synapses, n, block);
        }
        let row_splits = &self.row_splits;
        if self.synapse_kind.is_empty()
            && let Some(p) = self.plasticity.as_ref()
        {
            self.synapse_kind = net
                .synapses
                .projection
                .iter()
                .map(|&pi| {
                    let pi = pi as usize;
                    if p.rules[pi].is_some() {
                        SynapseKind::Stdp
                    } else if p.dopamine_projection[pi] {
                        SynapseKind::Dopamine
                    } else {
                        SynapseKind::Static
                    }
                })
                .collect();
            self.static_row = (0..n)
                .map(|src| {
                    let row = net.synapses.row_start[src] as usize
                        ..net.synapses.row_start[src + 1] as usize;
                    self.synapse_kind[row]
                        .iter()
                        .all(|k| matches!(k, SynapseKind::Static))
                })
                .collect();
        }
        let synapse_kind = &self.synapse_kind;
        let static_row = &self.static_row;
        let syn = &net.synapses;
        let weight_fixed = &self.weight_fixed;
        let active: Vec<&PoissonTable> = self
            .poisson
            .iter()
            .filter(|p| !p.silent && stamp >= p.first_stamp && stamp <= p.last_stamp)
            .collect();
        let dt = net.dt;
        let plastic = self.plasticity.as_mut().map(|p| {
            let cells = SynapseCells {
                weight: p.weight.as_mut_ptr(),
                kplus: p.kplus.as_mut_ptr(),
                last_pre: p.last_pre.as_mut_ptr(),
                len: p.weight.len(),
            };
            (
                &p.rules[..],
                &p.enabled[..],
                &p.post[..],
                &p.inv_tau_minus[..],
                cells,
                &p.dopamine_projection[..],
            )
        });
        let cells = RingCells(self.ring.as_mut_ptr());
        let ring_cells = self.ring.len();
        let now_slot = (step % ring_len) as usize;
        let ring_len_usize = ring_len as usize;
        let has_plastic = plastic.is_some();
        let deliver_block = |b: usize| {
            // Weight changes of this block, visible from the spike's arrival on.
            let mut changes = Vec::new();
            let lo = (b * block) as u32;
            let hi = ((b + 1) * block).min(n) as u32;
            let add = |target: u32, delay: u64, w: i64| {
                debug_assert!(target >= lo && target < hi);
                // delay < ring_len, so one subtraction replaces a division.
                let mut slot = now_slot + delay as usize;
                if slot >= ring_len_usize {
                    slot -= ring_len_usize;
                }
                let cell = (slot * n + target as usize) * 2 + usize::from(w < 0);
                assert!(cell < ring_cells);
                // SAFETY: `target` lies in this block's range [lo, hi), which no
                // other block shares, and `cell` is in bounds (checked above).
                unsafe { *cells.ptr().add(cell) += w };
            };
            for &src in &spikes {
                let (a, z) = (
                    syn.row_start[src as usize] as usize,
                    syn.row_start[src as usize + 1] as usize,
                );
                debug_assert!(z >= a);
                let splits = &row_splits[src as usize * (n_blocks + 1)..];
                let first = a + splits[b] as usize;
                let end = a + splits[b + 1] as usize;
                if plastic.is_none() || static_row[src as usize] {
                    // Static synapses: the hot loop, over zipped slices so
                    // that no index is bounds-checked per synapse.
                    let targets = &syn.target[first..end];
                    let delays = &syn.delay[first..end];
                    let weights = &weight_fixed[first..end];
                    for ((&t, &d), &w) in targets.iter().zip(delays).zip(weights) {
                        add(t, d as u64, w);
                    }
                    continue;
                }
                let (rules, enabled, post, inv_tau_minus, cells, _) =
                    plastic.expect("checked above");
                for k in first..end {
                    match synapse_kind[k] {
                        SynapseKind::Static => {
                            add(syn.target[k], syn.delay[k] as u64, weight_fixed[k])
                        }
                        // Dopamine synapses are sent at the next slice (see dopamine.rs).
                        SynapseKind::Dopamine => {}
                        SynapseKind::Stdp => {
                            let pi = syn.projection[k] as usize;
                            let p = rules[pi].as_ref().expect("an STDP synapse has its rule");
                            let target = syn.target[k] as usize;
                            assert!(k < cells.len);
                            // SAFETY: synapse k ends in this block's neuron range, so no
                            // other block touches its state; k is in bounds (checked).
                            let w = unsafe {
                                stdp::on_pre_spike(
                                    p,
                                    enabled[pi],
                                    &mut *cells.weight.add(k),
                                    &mut *cells.kplus.add(k),
                                    &mut *cells.last_pre.add(k),
                                    stamp,
                                    syn.delay[k] as u64,
                                    &post[target],
                                    inv_tau_minus[target],
                                    dt,
                                )
                            };
                            add(syn.target[k], syn.delay[k] as u64, to_fixed(w));
                            changes.push((stamp + syn.delay[k] as u64, k, w));
                        }
                    }
                }
            }
            for table in &active {
                let e = &table.entries;
                let first = e.partition_point(|x| x.0 < lo);
                let end = e.partition_point(|x| x.0 < hi);
                let mut rest = &e[first..end];
                if table.sampler.single_word() {
                    // Eight targets at a time: the Philox blocks vectorize.
                    let mut groups = rest.chunks_exact(LANES);
                    for group in &mut groups {
                        let entities: [u32; LANES] =
                            std::array::from_fn(|i| group[i].0 - table.entity_offset);
                        let ks =
                            table
                                .sampler
                                .draw_lanes(table.seed, table.stream, &entities, stamp);
                        for (&(t, w, d), &k) in group.iter().zip(&ks) {
                            if k > 0 {
                                add(t, d as u64, w * k as i64);
                            }
                        }
                    }
                    rest = groups.remainder();
                }
                for &(t, w, d) in rest {
                    let k = table.sampler.draw(
                        table.seed,
                        table.stream,
                        t - table.entity_offset,
                        stamp,
                    );
                    if k > 0 {
                        add(t, d as u64, w * k as i64);
                    }
                }
            }
            changes
        };
        let committed: Vec<Vec<(u64, usize, f64)>> = if self.sequential {
            (0..n_blocks).map(deliver_block).collect()
        } else {
            (0..n_blocks).into_par_iter().map(deliver_block).collect()
        };
        for (si, stim) in net.stimuli.iter().enumerate() {
            if let Stimulus::Deliveries(list) = stim {
                let cursor = &mut self.delivery_cursor[si];
                // Deliveries are due `delay` steps ahead; hand over all whose
                // read step is within the ring's horizon.
                while let Some(d) = list.get(*cursor) {
                    if d.step > step + ring_len - 1 {
                        break;
                    }
                    if d.step > step {
                        let cell = ((d.step % ring_len) as usize * n + d.target as usize) * 2;
                        self.ring[cell + usize::from(d.weight < 0.0)] += to_fixed(d.weight);
                    }
                    *cursor += 1;
                }
            }
        }

        if let Some(p) = self.plasticity.as_mut() {
            debug_assert!(has_plastic);
            p.queue(committed.into_iter().flatten());
            p.commit(stamp);
            p.record_post_spikes(&spikes, stamp, net.dt);
            if let Some(d) = self.dopamine.as_mut() {
                dopamine_after_step(&net, d, p, &spikes, stamp);
            }
            if stamp.is_multiple_of(4096) {
                p.prune(&net, self.dopamine.as_ref().map(|d| &d.last_update[..]));
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

/// The block boundaries within every CSR row (rows are sorted by target).
fn row_splits(syn: &crate::build::Synapses, n: usize, block: usize) -> Vec<u32> {
    let n_blocks = n.div_ceil(block);
    let mut splits = vec![0u32; n * (n_blocks + 1)];
    splits
        .par_chunks_mut(n_blocks + 1)
        .enumerate()
        .for_each(|(src, out)| {
            let row = &syn.target[syn.row_start[src] as usize..syn.row_start[src + 1] as usize];
            for (b, o) in out.iter_mut().enumerate() {
                let bound = (b * block).min(n) as u32;
                *o = row.partition_point(|&t| t < bound) as u32;
            }
        });
    splits
}

/// Queues this step's presynaptic spikes of dopamine synapses, lets the
/// volume transmitters receive arriving dopamine, and triggers the synapse
/// updates that are due (NEST's `volume_transmitter::update`).
fn dopamine_after_step(
    net: &Network,
    d: &mut dopamine::Dopamine,
    p: &mut stdp::Plasticity,
    spikes: &[u32],
    stamp: u64,
) {
    for &src in spikes {
        for &k in &d.rows[src as usize] {
            d.queued.push((stamp, k));
        }
    }
    let dt = net.dt;
    for vt in 0..d.projections.len() {
        let proj = &mut d.projections[vt];
        for &src in spikes {
            if src >= proj.source.0 && src < proj.source.1 {
                *proj.arriving.entry(stamp + proj.delay).or_insert(0.0) += 1.0;
            }
        }
        if let Some(m) = proj.arriving.remove(&stamp) {
            proj.spikecounter.push((stamp as f64 * dt, m));
        }
        if stamp.is_multiple_of(proj.trigger_every) {
            let projection = proj.projection;
            let enabled = p.enabled[projection];
            let quiet = dopamine::QuietTrigger::new(
                &proj.p,
                stamp.saturating_sub(proj.trigger_every),
                stamp,
                dt,
            );
            for &k in &d.projections[vt].synapses {
                let target = net.synapses.target[k] as usize;
                let cx = dopamine::Context {
                    p: &d.projections[vt].p,
                    spikes: &d.projections[vt].spikecounter,
                    post: &p.post[target],
                    inv_tau_minus: p.inv_tau_minus[target],
                    delay: net.synapses.delay[k] as u64,
                    dt,
                    enabled,
                };
                if quiet.applies(&cx, d.last_update[k]) {
                    dopamine::trigger_quiet(
                        &cx,
                        &quiet,
                        &mut p.weight[k],
                        &mut p.kplus[k],
                        &mut d.c[k],
                        &mut d.n[k],
                        &mut d.last_update[k],
                    );
                    p.visible[k] = p.weight[k];
                    continue;
                }
                dopamine::trigger(
                    &cx,
                    &mut p.weight[k],
                    &mut p.kplus[k],
                    &mut d.c[k],
                    &mut d.n[k],
                    &mut d.dopa_idx[k],
                    &mut d.last_update[k],
                    stamp,
                );
                p.visible[k] = p.weight[k];
            }
            d.projections[vt].spikecounter = vec![(stamp as f64 * dt, 0.0)];
        }
    }
}

/// NEST's `send` of one dopamine synapse; returns the weight to deliver.
fn dopamine_send(
    net: &Network,
    d: &mut dopamine::Dopamine,
    p: &mut stdp::Plasticity,
    stamp: u64,
    k: usize,
) -> f64 {
    let vt = d.of_projection[net.synapses.projection[k] as usize].expect("dopamine synapse");
    let target = net.synapses.target[k] as usize;
    let cx = dopamine::Context {
        p: &d.projections[vt].p,
        spikes: &d.projections[vt].spikecounter,
        post: &p.post[target],
        inv_tau_minus: p.inv_tau_minus[target],
        delay: net.synapses.delay[k] as u64,
        dt: net.dt,
        enabled: p.enabled[d.projections[vt].projection],
    };
    let w = dopamine::send(
        &cx,
        &mut p.weight[k],
        &mut p.kplus[k],
        &mut d.c[k],
        &mut d.n[k],
        &mut d.dopa_idx[k],
        &mut d.last_update[k],
        stamp,
    );
    p.visible[k] = w;
    w
}

impl Engine for CpuEngine {
    fn describe(&self) -> String {
        let threads = self
            .threads
            .as_ref()
            .map_or(rayon::current_num_threads(), |t| t.current_num_threads());
        let threads = if self.sequential { 1 } else { threads };
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

    fn synapse_weights(&self) -> Result<Vec<f64>, EngineError> {
        Ok(match &self.plasticity {
            Some(p) => p.visible.clone(),
            None => self
                .set_weights
                .clone()
                .unwrap_or_else(|| self.net.synapses.weight.clone()),
        })
    }

    fn set_projection_weights(
        &mut self,
        projection: usize,
        weights: &[f64],
    ) -> Result<(), EngineError> {
        let synapses = super::check_projection_weights(&self.net, projection, weights)?;
        for (&k, &w) in synapses.iter().zip(weights) {
            self.weight_fixed[k] = to_fixed(w);
        }
        match self.plasticity.as_mut() {
            Some(p) => {
                // The working weight is what the next presynaptic spike (or
                // dopamine update) starts from; changes still on their way
                // would overwrite the visible weight when they arrive.
                for (&k, &w) in synapses.iter().zip(weights) {
                    p.weight[k] = w;
                    p.visible[k] = w;
                }
                let of = &self.net.synapses.projection;
                for bucket in &mut p.pending {
                    bucket.retain(|&(k, _)| of[k] as usize != projection);
                }
            }
            None => {
                let all = self
                    .set_weights
                    .get_or_insert_with(|| self.net.synapses.weight.clone());
                for (&k, &w) in synapses.iter().zip(weights) {
                    all[k] = w;
                }
            }
        }
        Ok(())
    }

    fn inject_input(&mut self, neuron: u32, weight: f64) -> Result<(), EngineError> {
        super::check_injection(&self.net, neuron, weight)?;
        let n = self.net.n_neurons;
        let slot = (self.step % self.ring_len) as usize;
        self.ring[(slot * n + neuron as usize) * 2 + usize::from(weight < 0.0)] += to_fixed(weight);
        Ok(())
    }

    fn set_stimulus_rate(&mut self, stimulus: usize, rate_hz: f64) -> Result<(), EngineError> {
        let lambda = super::check_rate_change(&self.net, stimulus, rate_hz)?;
        let inv_k = INV_K.get_or_init(inv_k_table);
        // A closed loop sets every afferent's rate at every exchange; most
        // do not change (clipped or silent), and rebuilding costs.
        let table = self
            .poisson_table_of
            .get(stimulus)
            .copied()
            .flatten()
            .map(|t| &mut self.poisson[t]);
        if let Some(table) = table.filter(|t| t.lambda != lambda) {
            debug_assert_eq!(table.stimulus, stimulus);
            table.lambda = lambda;
            table.sampler = PoissonSampler::new(&PoissonParams::new(lambda), inv_k);
            table.silent = lambda == 0.0;
        }
        Ok(())
    }

    fn set_silenced(&mut self, population: usize, silenced: bool) -> Result<(), EngineError> {
        super::check_population(&self.net, population)?;
        self.silenced[population] = silenced;
        Ok(())
    }

    fn set_plasticity(&mut self, projection: usize, enabled: bool) -> Result<(), EngineError> {
        match self.plasticity.as_mut() {
            Some(p)
                if p.rules.get(projection).is_some_and(|r| r.is_some())
                    || p.dopamine_projection.get(projection).is_some_and(|&d| d) =>
            {
                p.enabled[projection] = enabled;
                Ok(())
            }
            _ => Err(super::not_plastic(&self.net, projection)),
        }
    }
}

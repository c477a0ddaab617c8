//! Many built networks as one: the disjoint union that a batched run steps
//! in one pass (one dispatch per kernel on a GPU for all instances).
//!
//! Each instance keeps everything that makes its run its own: its neurons,
//! synapses, weights, stimuli and recorders are copied in at offsets, and
//! its Poisson stimuli keep their random numbers ([`PoissonRng`]: the
//! instance's seed, the stream of its description index, and an entity
//! offset that maps the union's neuron ids back to the instance's). So
//! every instance spikes exactly as it does when run alone.
//!
//! Memory grows with the number of instances by the whole network (the
//! union has no shared connectivity); see docs/sweep.md.

use super::*;
use std::ops::Range;

/// Where an instance lies inside the union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpan {
    /// Global neuron ids.
    pub neurons: Range<u32>,
    /// Population indices.
    pub populations: Range<usize>,
    /// Stimulus indices (`Network::stimuli`).
    pub stimuli: Range<usize>,
    /// Projection indices.
    pub projections: Range<usize>,
    /// Synapse indices (`Network::synapses`).
    pub synapses: Range<usize>,
    /// Recorder indices.
    pub recorders: Range<usize>,
    /// Weight recorder indices.
    pub weight_records: Range<usize>,
}

/// Why networks cannot be batched together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    /// Nothing to batch.
    #[error("a batch needs at least one network")]
    Empty,
    /// Instances must agree on what the engines share.
    #[error(
        "instance {index} differs from instance 0 in {what} ({this} against {first}); instances with a different step, duration or minimum delay run in separate batches"
    )]
    Mismatch {
        /// The instance.
        index: usize,
        /// What differs.
        what: &'static str,
        /// Its value.
        this: String,
        /// Instance 0's.
        first: String,
    },
    /// The union exceeds an index type of the engines.
    #[error("the batch is too large: {what} (split it into smaller batches)")]
    TooLarge {
        /// What overflows.
        what: String,
    },
}

/// The key that decides which instances can share a batch: dt, steps and
/// NEST's min_delay (the engines' slice length).
pub fn batch_key(net: &Network) -> (u64, u64, u64) {
    (net.dt.to_bits(), net.steps, net.min_delay)
}

/// The union of `nets`, and where each lies in it.
pub fn batch(nets: &[&Network]) -> Result<(Network, Vec<InstanceSpan>), BatchError> {
    let first = nets.first().ok_or(BatchError::Empty)?;
    for (index, n) in nets.iter().enumerate().skip(1) {
        let mismatch = |what, this: String, first: String| BatchError::Mismatch {
            index,
            what,
            this,
            first,
        };
        if n.dt != first.dt {
            return Err(mismatch("dt", n.dt.to_string(), first.dt.to_string()));
        }
        if n.steps != first.steps {
            return Err(mismatch(
                "steps",
                n.steps.to_string(),
                first.steps.to_string(),
            ));
        }
        if n.min_delay != first.min_delay {
            return Err(mismatch(
                "min_delay (steps)",
                n.min_delay.to_string(),
                first.min_delay.to_string(),
            ));
        }
    }
    let total_neurons: u64 = nets.iter().map(|n| n.n_neurons as u64).sum();
    if total_neurons > u32::MAX as u64 {
        return Err(BatchError::TooLarge {
            what: format!("{total_neurons} neurons, more than 2^32"),
        });
    }
    let total_projections: usize = nets.iter().map(|n| n.projections.len()).sum();
    if total_projections > u16::MAX as usize + 1 {
        return Err(BatchError::TooLarge {
            what: format!("{total_projections} projections, more than 65536"),
        });
    }
    let mut u = Network {
        dt: first.dt,
        seed: first.seed,
        populations: Vec::new(),
        n_neurons: 0,
        synapses: Synapses::default(),
        stimuli: Vec::new(),
        currents: Vec::new(),
        max_delay: 0,
        recorders: Vec::new(),
        steps: first.steps,
        min_delay: first.min_delay,
        projections: Vec::new(),
        weight_records: Vec::new(),
    };
    u.synapses.row_start.push(0);
    let mut spans = Vec::with_capacity(nets.len());
    for (k, n) in nets.iter().enumerate() {
        let off = u.n_neurons as u32;
        let pop_off = u.populations.len();
        let proj_off = u.projections.len();
        let syn_off = u.synapses.len();
        let stim_off = u.stimuli.len();
        let rec_off = u.recorders.len();
        let wr_off = u.weight_records.len();
        u.populations
            .extend(n.populations.iter().map(|p| PopulationLayout {
                name: format!("{k}/{}", p.name),
                offset: p.offset + off,
                ..p.clone()
            }));
        u.n_neurons += n.n_neurons;
        let s = &n.synapses;
        let base = syn_off as u64;
        u.synapses
            .row_start
            .extend(s.row_start[1..].iter().map(|&r| r + base));
        u.synapses.target.extend(s.target.iter().map(|&t| t + off));
        u.synapses.weight.extend_from_slice(&s.weight);
        u.synapses.delay.extend_from_slice(&s.delay);
        u.synapses
            .projection
            .extend(s.projection.iter().map(|&p| (p as usize + proj_off) as u16));
        for st in &n.stimuli {
            u.stimuli.push(match st {
                Stimulus::Poisson {
                    index,
                    rng,
                    targets,
                    weights,
                    delays,
                    lambda,
                    first_stamp,
                    last_stamp,
                } => Stimulus::Poisson {
                    index: index + stim_off,
                    rng: PoissonRng {
                        entity_offset: rng.entity_offset + off,
                        ..*rng
                    },
                    targets: targets.iter().map(|&t| t + off).collect(),
                    weights: weights.clone(),
                    delays: delays.clone(),
                    lambda: *lambda,
                    first_stamp: *first_stamp,
                    last_stamp: *last_stamp,
                },
                Stimulus::Deliveries(list) => Stimulus::Deliveries(
                    list.iter()
                        .map(|d| Delivery {
                            target: d.target + off,
                            ..*d
                        })
                        .collect(),
                ),
            });
        }
        u.currents.extend(n.currents.iter().map(|c| CurrentChange {
            target: c.target + off,
            ..*c
        }));
        u.max_delay = u.max_delay.max(n.max_delay);
        u.recorders.extend(n.recorders.iter().map(|r| Recorder {
            population: r.population + pop_off,
            neurons: r.neurons.iter().map(|&i| i + off).collect(),
            ..r.clone()
        }));
        u.projections
            .extend(n.projections.iter().map(|p| ProjectionLayout {
                from: p.from.iter().map(|&i| i + pop_off).collect(),
                to: p.to.iter().map(|&i| i + pop_off).collect(),
                plasticity: p.plasticity,
                dopamine: p.dopamine.map(|d| DopamineParams {
                    source: d.source + pop_off,
                    ..d
                }),
            }));
        u.weight_records
            .extend(n.weight_records.iter().map(|w| WeightRecorder {
                projection: w.projection + proj_off,
                interval_steps: w.interval_steps,
            }));
        spans.push(InstanceSpan {
            neurons: off..off + n.n_neurons as u32,
            populations: pop_off..u.populations.len(),
            stimuli: stim_off..u.stimuli.len(),
            projections: proj_off..u.projections.len(),
            synapses: syn_off..u.synapses.len(),
            recorders: rec_off..u.recorders.len(),
            weight_records: wr_off..u.weight_records.len(),
        });
    }
    // Stable: changes at one step keep each instance's order.
    u.currents.sort_by_key(|c| c.step);
    Ok((u, spans))
}

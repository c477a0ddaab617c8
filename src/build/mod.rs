//! The host scheduler's build step: from a [`Description`] to flat arrays.
//!
//! Neurons get global ids in population order. Synapses are stored in CSR
//! rows grouped by source neuron. Every random choice is drawn from a
//! counter-based stream keyed by what it is for (see [`crate::rng`]), so the
//! result is the same whatever the number of threads.

mod batch;
mod connect;

pub use batch::{BatchError, InstanceSpan, batch, batch_key};

use crate::description::*;
use crate::models::ModelKind;
use crate::rng::{Purpose, Stream, stream_id};
use crate::time::round_to_steps;
use rayon::prelude::*;

/// A population laid out in the global neuron index space.
#[derive(Debug, Clone)]
pub struct PopulationLayout {
    /// Name.
    pub name: String,
    /// Model.
    pub model: ModelKind,
    /// First global neuron id.
    pub offset: u32,
    /// Number of neurons.
    pub size: u32,
    /// Parameters in [`ModelKind::params`] order.
    pub params: Vec<f64>,
    /// Initial state, one vector per state variable (structure of arrays).
    pub initial_state: Vec<Vec<f64>>,
}

impl PopulationLayout {
    /// A parameter by name.
    pub fn param(&self, name: &str) -> f64 {
        self.params[self
            .model
            .param_index(name)
            .expect("parameter of this model")]
    }
}

/// Synapses in CSR rows grouped by source neuron.
#[derive(Debug, Clone, Default)]
pub struct Synapses {
    /// `row_start[i]..row_start[i + 1]` are the synapses of source `i`.
    pub row_start: Vec<u64>,
    /// Target neuron (global id).
    pub target: Vec<u32>,
    /// Weight (mV, pA or nS by the target's model); its sign picks the channel.
    pub weight: Vec<f64>,
    /// Delay in steps (>= 1).
    pub delay: Vec<u16>,
    /// Index of the projection the synapse belongs to.
    pub projection: Vec<u16>,
}

impl Synapses {
    /// Number of synapses.
    pub fn len(&self) -> usize {
        self.target.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }
}

/// Which random numbers a Poisson stimulus draws: the count for target `t`
/// at stamp `s` is a pure function of `(seed, stream, t - entity_offset, s)`.
/// A network built alone has its own seed and offset 0; an instance inside
/// a batch keeps the numbers it draws alone (see [`batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoissonRng {
    /// Philox key.
    pub seed: u64,
    /// Stream id (`stream_id(Purpose::Poisson, description index)`).
    pub stream: u32,
    /// Subtracted from a target's global id to give its random entity.
    pub entity_offset: u32,
}

/// A stimulus ready for the engines.
#[derive(Debug, Clone)]
pub enum Stimulus {
    /// Independent Poisson trains.
    Poisson {
        /// Index of the stimulus in the network (`Engine::set_stimulus_rate`
        /// names it so): its index in the description for a network built
        /// alone.
        index: usize,
        /// Its random numbers.
        rng: PoissonRng,
        /// Target neurons (global ids).
        targets: Vec<u32>,
        /// Weight per target.
        weights: Vec<f64>,
        /// Delay per target, steps.
        delays: Vec<u16>,
        /// Mean spike count per step.
        lambda: f64,
        /// Emits at stamps `s` with `first_stamp <= s <= last_stamp`.
        first_stamp: u64,
        /// See `first_stamp`.
        last_stamp: u64,
    },
    /// Spikes at given stamps, already turned into deliveries.
    Deliveries(Vec<Delivery>),
}

/// One spike delivery: read by `target` during the update of step `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// Step whose update reads it.
    pub step: u64,
    /// Target neuron (global id).
    pub target: u32,
    /// Weight.
    pub weight: f64,
}

/// A change of a neuron's external current: from the update of step `step`
/// on, its device current changes by `delta` pA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurrentChange {
    /// First step whose update sees the change.
    pub step: u64,
    /// Target neuron (global id).
    pub target: u32,
    /// Change in pA.
    pub delta: f64,
}

/// A recording request in global terms.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Population index.
    pub population: usize,
    /// Global ids of recorded neurons.
    pub neurons: Vec<u32>,
    /// Whether spikes are recorded.
    pub spikes: bool,
    /// State variable indices to sample.
    pub state: Vec<usize>,
    /// Sampling interval in steps.
    pub interval_steps: u64,
}

/// A built network: everything the engines need, as flat arrays.
#[derive(Debug, Clone)]
pub struct Network {
    /// Step in ms.
    pub dt: f64,
    /// Seed.
    pub seed: u64,
    /// Populations in global id order.
    pub populations: Vec<PopulationLayout>,
    /// Total number of neurons.
    pub n_neurons: usize,
    /// Recurrent synapses.
    pub synapses: Synapses,
    /// One entry per description stimulus, in file order, so that a
    /// stimulus' position is its index (what `Engine::set_stimulus_rate`
    /// takes): current stimuli (DC, step current) are empty `Deliveries`
    /// here, their changes are in `currents`.
    pub stimuli: Vec<Stimulus>,
    /// Device current changes, sorted by step.
    pub currents: Vec<CurrentChange>,
    /// Longest delay in steps (recurrent or stimulus).
    pub max_delay: u64,
    /// What to record.
    pub recorders: Vec<Recorder>,
    /// Steps to simulate.
    pub steps: u64,
    /// The shortest delay of any connection (NEST's min_delay), steps.
    pub min_delay: u64,
    /// Projections, in description order.
    pub projections: Vec<ProjectionLayout>,
    /// Weight recordings.
    pub weight_records: Vec<WeightRecorder>,
}

/// A projection as the engines and recorders need it.
#[derive(Debug, Clone)]
pub struct ProjectionLayout {
    /// Source populations (their union, in order).
    pub from: Vec<usize>,
    /// Target populations (their union, in order).
    pub to: Vec<usize>,
    /// STDP, `None` for static synapses.
    pub plasticity: Option<StdpParams>,
    /// Dopamine-modulated STDP.
    pub dopamine: Option<DopamineParams>,
}

/// A weight recording in steps.
#[derive(Debug, Clone)]
pub struct WeightRecorder {
    /// Projection index.
    pub projection: usize,
    /// Snapshot interval in steps (`u64::MAX`: final weights only).
    pub interval_steps: u64,
}

impl Network {
    /// Index of a global neuron within the union of `pops` (a projection's
    /// `from` or `to`), or `None` when it is in none of them.
    pub fn union_index(&self, pops: &[usize], neuron: u32) -> Option<u32> {
        let mut base = 0;
        for &p in pops {
            let layout = &self.populations[p];
            if neuron >= layout.offset && neuron < layout.offset + layout.size {
                return Some(base + neuron - layout.offset);
            }
            base += layout.size;
        }
        None
    }

    /// Whether any projection is plastic.
    pub fn is_plastic(&self) -> bool {
        self.projections
            .iter()
            .any(|p| p.plasticity.is_some() || p.dopamine.is_some())
    }

    /// Whether any projection uses dopamine-modulated STDP.
    pub fn has_dopamine(&self) -> bool {
        self.projections.iter().any(|p| p.dopamine.is_some())
    }
}

impl Network {
    /// Population index of a global neuron id.
    pub fn population_of(&self, neuron: u32) -> usize {
        self.populations
            .partition_point(|p| p.offset + p.size <= neuron)
    }

    /// The global neuron ids of the population called `name`.
    pub fn population_range(&self, name: &str) -> Option<std::ops::Range<usize>> {
        self.populations
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.offset as usize..(p.offset + p.size) as usize)
    }

    /// The first Poisson stimulus whose targets are exactly `ranges`' neurons,
    /// in order: its index (for `Engine::set_stimulus_rate`) and its rate in
    /// Hz. Trial loops find the inputs they switch this way.
    pub fn poisson_stimulus_of(&self, ranges: &[std::ops::Range<usize>]) -> Option<(usize, f64)> {
        let want: Vec<u32> = ranges
            .iter()
            .flat_map(|r| r.clone().map(|i| i as u32))
            .collect();
        self.stimuli.iter().find_map(|s| match s {
            Stimulus::Poisson {
                index,
                targets,
                lambda,
                ..
            } if *targets == want => Some((*index, lambda / (self.dt * 1e-3))),
            _ => None,
        })
    }
}

/// A problem found while building (after validation passed).
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    /// A drawn delay came out below one step.
    #[error(
        "{what}: a drawn delay of {value} ms rounds to less than one step (dt = {dt} ms); bound the distribution below by dt"
    )]
    DelayTooShort {
        /// Which projection or stimulus.
        what: String,
        /// The drawn value.
        value: f64,
        /// The step.
        dt: f64,
    },
    /// A drawn delay came out longer than the engines can store.
    #[error(
        "{what}: a drawn delay of {value} ms is {steps} steps (dt = {dt} ms), more than the {max} steps supported"
    )]
    DelayTooLong {
        /// Which projection or stimulus.
        what: String,
        /// The drawn value.
        value: f64,
        /// It in steps.
        steps: u64,
        /// The longest delay in steps.
        max: u64,
        /// The step.
        dt: f64,
    },
    /// `fixed_total_number` without multapses asks for more distinct pairs
    /// than there are.
    #[error("{what}: {n} connections without multapses, but only {available} distinct pairs exist")]
    TooManyConnections {
        /// Which projection.
        what: String,
        /// Connections asked for.
        n: u64,
        /// Distinct pairs allowed.
        available: u64,
    },
    /// The network is too large for this machine's memory.
    #[error(
        "{what}: {synapses} synapses would need about {bytes_gib:.1} GiB, more than the {limit_gib:.1} GiB allowed"
    )]
    TooLarge {
        /// Which projection.
        what: String,
        /// Synapse count.
        synapses: u64,
        /// Estimated bytes in GiB.
        bytes_gib: f64,
        /// Limit in GiB.
        limit_gib: f64,
    },
}

/// A synapse as drawn: (source, target, weight, delay in steps, projection).
type DrawnSynapse = (u32, u32, f64, u16, u16);

/// Bytes one synapse takes in the CPU layout (target, weight, delay) plus
/// the transient pair list while building.
pub const BYTES_PER_SYNAPSE: u64 = 4 + 8 + 2 + 8;

/// Draws one value of a distribution.
pub fn draw(d: &Dist, s: &mut Stream) -> f64 {
    match *d {
        Dist::Constant(v) => v,
        Dist::Uniform { low, high } => low + (high - low) * s.uniform(),
        Dist::Normal { mean, std } => mean + std * s.normal(),
        Dist::NormalClipped {
            mean,
            std,
            min,
            max,
        } => loop {
            let v = mean + std * s.normal();
            if v >= min && v <= max {
                break v;
            }
        },
        Dist::Lognormal { mu, sigma } => (mu + sigma * s.normal()).exp(),
    }
}

fn delay_steps(d: &Dist, s: &mut Stream, dt: f64, what: &str) -> Result<u16, BuildError> {
    let v = draw(d, s);
    let steps = round_to_steps(v, dt);
    if steps < 1 {
        return Err(BuildError::DelayTooShort {
            what: what.to_string(),
            value: v,
            dt,
        });
    }
    u16::try_from(steps).map_err(|_| BuildError::DelayTooLong {
        what: what.to_string(),
        value: v,
        steps,
        max: u16::MAX as u64,
        dt,
    })
}

/// Builds a validated description.
pub fn build(desc: &Description) -> Result<Network, BuildError> {
    let dt = desc.network.dt;
    let seed = desc.network.seed;
    let mut populations = Vec::new();
    let mut offset = 0u32;
    for (pi, p) in desc.populations.iter().enumerate() {
        let defaults = p.model.default_state(&p.params);
        let initial_state = p
            .init
            .iter()
            .enumerate()
            .map(|(var, init)| match init {
                None => vec![defaults[var]; p.size],
                Some(Dist::Constant(v)) => vec![*v; p.size],
                Some(d) => (0..p.size)
                    .into_par_iter()
                    .map(|i| {
                        // Each state variable starts its own stretch of the neuron's stream.
                        let mut s = Stream::at(
                            seed,
                            stream_id(Purpose::Init, pi),
                            i as u32,
                            (var as u64) << 32,
                        );
                        draw(d, &mut s)
                    })
                    .collect(),
            })
            .collect();
        populations.push(PopulationLayout {
            name: p.name.clone(),
            model: p.model,
            offset,
            size: p.size as u32,
            params: p.params.clone(),
            initial_state,
        });
        offset += p.size as u32;
    }
    let n_neurons = offset as usize;
    let global = |sel: &NeuronSelection| -> Vec<u32> {
        let p = &populations[sel.population];
        match &sel.neurons {
            Some(n) => n.iter().map(|&i| p.offset + i).collect(),
            None => (p.offset..p.offset + p.size).collect(),
        }
    };

    let mut max_delay = 1u64;
    let mut pairs_all: Vec<DrawnSynapse> = Vec::new();
    for (k, proj) in desc.projections.iter().enumerate() {
        let what = format!("{}: projections[{k}]", desc.source);
        let sources: Vec<u32> = proj
            .from
            .iter()
            .flat_map(|&p| {
                global(&NeuronSelection {
                    population: p,
                    neurons: None,
                })
            })
            .collect();
        let targets: Vec<u32> = proj
            .to
            .iter()
            .flat_map(|&p| {
                global(&NeuronSelection {
                    population: p,
                    neurons: None,
                })
            })
            .collect();
        let expected = connect::expected_count(proj, sources.len() as u64, targets.len() as u64);
        let limit = memory_limit_bytes();
        let bytes = (expected + pairs_all.len() as u64) * BYTES_PER_SYNAPSE;
        if bytes > limit {
            return Err(BuildError::TooLarge {
                what,
                synapses: expected,
                bytes_gib: bytes as f64 / (1u64 << 30) as f64,
                limit_gib: limit as f64 / (1u64 << 30) as f64,
            });
        }
        if let ConnectRule::FixedTotalNumber { n } = proj.rule {
            let available = connect::distinct_pairs(&sources, &targets, proj.allow_autapses);
            if !proj.allow_multapses && n > available {
                // Drawing would never end.
                return Err(BuildError::TooManyConnections { what, n, available });
            }
        }
        let pairs = connect::connect(proj, &sources, &targets, seed, k);
        let ws = stream_id(Purpose::Weight, k);
        let ds = stream_id(Purpose::Delay, k);
        let drawn: Result<Vec<DrawnSynapse>, BuildError> = pairs
            .par_iter()
            .enumerate()
            .map(|(c, &(src, tgt))| {
                let mut w = Stream::at(seed, ws, (c as u64 >> 32) as u32, (c as u64) << 20);
                let mut d = Stream::at(seed, ds, (c as u64 >> 32) as u32, (c as u64) << 20);
                Ok((
                    src,
                    tgt,
                    draw(&proj.weight, &mut w),
                    delay_steps(&proj.delay, &mut d, dt, &what)?,
                    k as u16,
                ))
            })
            .collect();
        let drawn = drawn?;
        if let Some(m) = drawn.iter().map(|x| x.3 as u64).max() {
            max_delay = max_delay.max(m);
        }
        pairs_all.extend(drawn);
    }
    let synapses = to_csr(pairs_all, n_neurons);
    let projections = desc
        .projections
        .iter()
        .map(|p| ProjectionLayout {
            from: p.from.clone(),
            to: p.to.clone(),
            plasticity: p.plasticity,
            dopamine: p.dopamine,
        })
        .collect();
    let weight_records = desc
        .weight_records
        .iter()
        .map(|w| WeightRecorder {
            projection: w.projection,
            interval_steps: if w.interval.is_finite() {
                round_to_steps(w.interval, dt).max(1)
            } else {
                u64::MAX
            },
        })
        .collect();

    let steps = round_to_steps(desc.run.duration, dt);
    let mut stimuli = Vec::new();
    let mut currents = Vec::new();
    let mut stimulus_min_delay = u64::MAX;
    for (k, st) in desc.stimuli.iter().enumerate() {
        let what = format!("{}: stimuli[{k}]", desc.source);
        let targets: Vec<u32> = st.targets.iter().flat_map(&global).collect();
        let ss = stream_id(Purpose::StimulusSynapse, k);
        let mut weights = Vec::with_capacity(targets.len());
        let mut delays = Vec::with_capacity(targets.len());
        for (i, _) in targets.iter().enumerate() {
            let mut s = Stream::at(seed, ss, i as u32, 0);
            weights.push(draw(&st.weight, &mut s));
            let mut s = Stream::at(seed, ss, i as u32, 1 << 20);
            delays.push(delay_steps(&st.delay, &mut s, dt, &what)?);
        }
        if let Some(m) = delays.iter().max() {
            max_delay = max_delay.max(*m as u64);
        }
        if let Some(m) = delays.iter().min() {
            stimulus_min_delay = stimulus_min_delay.min(*m as u64);
        }
        // Spike devices emit at stamps s (the step ending at s dt) with
        // start < s dt <= stop; current devices send their value for stamps
        // with start <= s dt < stop (and s >= 1). Both as NEST's devices.
        let (first_stamp, last_stamp) = if st.kind.is_spiking() {
            (
                round_to_steps(st.start, dt) + 1,
                if st.stop.is_finite() {
                    round_to_steps(st.stop, dt)
                } else {
                    u64::MAX
                },
            )
        } else {
            (
                round_to_steps(st.start, dt).max(1),
                if st.stop.is_finite() {
                    round_to_steps(st.stop, dt).saturating_sub(1)
                } else {
                    u64::MAX
                },
            )
        };
        match &st.kind {
            StimulusKind::Poisson { rate } => stimuli.push(Stimulus::Poisson {
                index: k,
                rng: PoissonRng {
                    seed: desc.network.seed,
                    stream: stream_id(Purpose::Poisson, k),
                    entity_offset: 0,
                },
                targets,
                weights,
                delays,
                lambda: rate * dt * 1e-3,
                first_stamp,
                last_stamp,
            }),
            StimulusKind::SpikeTimes { per_neuron, shared } => {
                let mut deliveries = Vec::new();
                for (i, &t) in targets.iter().enumerate() {
                    let times = if *shared {
                        &per_neuron[0]
                    } else {
                        &per_neuron[i]
                    };
                    for &time in times {
                        let stamp = round_to_steps(time, dt);
                        if stamp < first_stamp || stamp > last_stamp {
                            continue;
                        }
                        deliveries.push(Delivery {
                            step: stamp - 1 + delays[i] as u64,
                            target: t,
                            weight: weights[i],
                        });
                    }
                }
                deliveries.sort_by_key(|d| d.step);
                stimuli.push(Stimulus::Deliveries(deliveries));
            }
            StimulusKind::Dc { amplitude } => {
                // A current stimulus keeps its place in `stimuli` (empty), so
                // that a stimulus' position is its index in the description.
                stimuli.push(Stimulus::Deliveries(Vec::new()));
                current_changes(
                    &mut currents,
                    &targets,
                    &delays,
                    &[(first_stamp, *amplitude)],
                    last_stamp,
                );
            }
            StimulusKind::StepCurrent { times, amplitudes } => {
                stimuli.push(Stimulus::Deliveries(Vec::new()));
                let schedule: Vec<(u64, f64)> = times
                    .iter()
                    .zip(amplitudes)
                    .map(|(&t, &a)| (round_to_steps(t, dt).max(first_stamp), a))
                    .collect();
                current_changes(&mut currents, &targets, &delays, &schedule, last_stamp);
            }
        }
    }
    currents.sort_by_key(|c| c.step);

    let recorders = desc
        .records
        .iter()
        .map(|r| Recorder {
            population: r.selection.population,
            neurons: global(&r.selection),
            spikes: r.spikes,
            state: r.state.clone(),
            interval_steps: round_to_steps(r.interval, dt).max(1),
        })
        .collect();

    // NEST's min_delay: the shortest delay of any connection, devices included.
    let mut min_delay = synapses
        .delay
        .iter()
        .copied()
        .min()
        .map_or(u64::MAX, |d| d as u64);
    for st in &stimuli {
        match st {
            Stimulus::Poisson { delays, .. } => {
                if let Some(&d) = delays.iter().min() {
                    min_delay = min_delay.min(d as u64);
                }
            }
            Stimulus::Deliveries(_) => {}
        }
    }
    min_delay = min_delay.min(stimulus_min_delay);
    for p in &desc.projections {
        if let Some(d) = &p.dopamine {
            min_delay = min_delay.min(round_to_steps(d.dopamine_delay, dt).max(1));
        }
    }
    if min_delay == u64::MAX {
        min_delay = 1;
    }
    Ok(Network {
        min_delay,
        dt,
        seed,
        populations,
        n_neurons,
        synapses,
        stimuli,
        currents,
        max_delay,
        recorders,
        steps,
        projections,
        weight_records,
    })
}

/// CSR by source, each row sorted by target (each of the CPU engine's
/// delivery blocks then owns one contiguous part of every row). A counting sort by
/// source keeps each row in projection, then draw, order before the stable
/// per-row sort, so multapses stay in a deterministic order.
fn to_csr(pairs: Vec<DrawnSynapse>, n_neurons: usize) -> Synapses {
    let mut row_start = vec![0u64; n_neurons + 1];
    for x in &pairs {
        row_start[x.0 as usize + 1] += 1;
    }
    for i in 0..n_neurons {
        row_start[i + 1] += row_start[i];
    }
    let mut cursor: Vec<u64> = row_start[..n_neurons].to_vec();
    let mut ordered: Vec<(u32, f64, u16, u16)> = vec![(0, 0.0, 0, 0); pairs.len()];
    for (src, tgt, w, d, p) in pairs {
        let c = &mut cursor[src as usize];
        ordered[*c as usize] = (tgt, w, d, p);
        *c += 1;
    }
    let mut rows: Vec<&mut [(u32, f64, u16, u16)]> = Vec::with_capacity(n_neurons);
    let mut rest = ordered.as_mut_slice();
    for i in 0..n_neurons {
        let (row, tail) = rest.split_at_mut((row_start[i + 1] - row_start[i]) as usize);
        rows.push(row);
        rest = tail;
    }
    rows.par_iter_mut().for_each(|row| row.sort_by_key(|x| x.0));
    Synapses {
        row_start,
        target: ordered.par_iter().map(|x| x.0).collect(),
        weight: ordered.par_iter().map(|x| x.1).collect(),
        delay: ordered.par_iter().map(|x| x.2).collect(),
        projection: ordered.par_iter().map(|x| x.3).collect(),
    }
}

/// Turns a device's amplitude schedule into per-neuron current changes.
///
/// A current device's value at stamp `s` (the step ending at `s dt`) reaches
/// the neuron through a connection of `d` steps and is used in the update of
/// step `s + d`: the device value of the step is latched at the end of the
/// step that receives it, as in NEST.
fn current_changes(
    out: &mut Vec<CurrentChange>,
    targets: &[u32],
    delays: &[u16],
    schedule: &[(u64, f64)],
    last_stamp: u64,
) {
    for (i, &t) in targets.iter().enumerate() {
        let d = delays[i] as u64;
        let mut level = 0.0;
        for &(stamp, amp) in schedule {
            if stamp > last_stamp {
                break;
            }
            if amp != level {
                out.push(CurrentChange {
                    step: stamp + d,
                    target: t,
                    delta: amp - level,
                });
                level = amp;
            }
        }
        if level != 0.0 && last_stamp != u64::MAX {
            out.push(CurrentChange {
                step: last_stamp + 1 + d,
                target: t,
                delta: -level,
            });
        }
    }
}

/// How much memory a build may take for synapses: 80 % of the machine's RAM,
/// or `RENSHAW_MAX_MEMORY_GIB`.
pub fn memory_limit_bytes() -> u64 {
    if let Some(g) = std::env::var("RENSHAW_MAX_MEMORY_GIB")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        return (g * (1u64 << 30) as f64) as u64;
    }
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(16 << 30);
    total / 10 * 8
}

//! The engine interface shared by the backends.
//!
//! An engine owns the state of a built [`Network`] and advances it by whole
//! steps. It hands back what the recorders asked for in [`Chunk`]s, so that a
//! backend can keep spikes on its device and return them in batches.

pub mod batch;
pub mod cpu;
pub mod gpu;
pub mod twin;

use crate::build::Network;

/// A spike: neuron `neuron` fired in the step that ends at `stamp * dt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Spike {
    /// Step count at the end of the step in which the threshold was crossed.
    pub stamp: u64,
    /// Global neuron id.
    pub neuron: u32,
}

/// Sampled state of one recorder at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index of the recorder in [`Network::recorders`].
    pub recorder: usize,
    /// Time of the sample in steps (state after the step ending there).
    pub stamp: u64,
    /// Values, variable-major: for each sampled variable, one per recorded neuron.
    pub values: Vec<f64>,
}

/// What one call of [`Engine::advance`] produced.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    /// Spikes of recorded neurons, ordered by stamp, then neuron.
    pub spikes: Vec<Spike>,
    /// Samples, ordered by stamp, then recorder.
    pub samples: Vec<Sample>,
}

/// A failure inside an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The backend could not be used.
    #[error("{0}")]
    Backend(String),
}

/// A simulation backend.
pub trait Engine {
    /// The backend's name and the device it runs on.
    fn describe(&self) -> String;
    /// The network being simulated.
    fn network(&self) -> &Network;
    /// Steps simulated so far.
    fn current_step(&self) -> u64;
    /// Advances by `steps` steps, appending recorded output to `out`.
    fn advance(&mut self, steps: u64, out: &mut Chunk) -> Result<(), EngineError>;
    /// Spike count of every neuron so far (recorded or not).
    fn spike_counts(&self) -> Vec<u64>;
    /// Current weight of every synapse, in `Network::synapses` order.
    fn synapse_weights(&self) -> Result<Vec<f64>, EngineError>;
    /// Switches the plasticity of one projection on or off. While off, its
    /// weights stay fixed but its traces keep running, so switching back on
    /// does not pair spikes across the pause as if it had not happened.
    fn set_plasticity(&mut self, projection: usize, enabled: bool) -> Result<(), EngineError>;
    /// Bytes of device memory the engine allocated for the network (its
    /// buffers' sizes added up), for engines that run on a device; `None`
    /// for host engines.
    fn device_memory_bytes(&self) -> Option<u64> {
        None
    }
    /// Adds `weight` (in the target model's weight unit, its sign choosing the
    /// channel, as a synapse's) to neuron `neuron`'s input read in the next
    /// step: a spike arriving from outside, for closed loops and protocols.
    fn inject_input(&mut self, neuron: u32, weight: f64) -> Result<(), EngineError> {
        let _ = (neuron, weight);
        Err(EngineError::Backend(format!(
            "{} cannot inject input at run time",
            self.describe()
        )))
    }
    /// Sets the rate (Hz) of Poisson stimulus `stimulus` (its index among the
    /// description's `[[stimuli]]`) from the next step on: afferents whose
    /// rate follows a body's state, cues switched on and off.
    fn set_stimulus_rate(&mut self, stimulus: usize, rate_hz: f64) -> Result<(), EngineError> {
        let _ = (stimulus, rate_hz);
        Err(EngineError::Backend(format!(
            "{} cannot change stimulus rates at run time",
            self.describe()
        )))
    }
    /// Weights of projection `projection`'s synapses, in the order of
    /// [`projection_synapses`] (`synapse_weights()` filtered to the projection).
    fn projection_weights(&self, projection: usize) -> Result<Vec<f64>, EngineError> {
        check_projection(self.network(), projection)?;
        let all = self.synapse_weights()?;
        Ok(projection_synapses(self.network(), projection)
            .into_iter()
            .map(|k| all[k])
            .collect())
    }
    /// Overwrites the weights of every synapse of projection `projection`, in
    /// `Network::synapses` order restricted to that projection (the order
    /// `synapse_weights()` lists them, filtered to the projection; see
    /// [`projection_synapses`]), from the next step on: spikes emitted from
    /// then on carry the new weights (spikes already on their way keep
    /// theirs), and `synapse_weights()` shows them at once. Traces and all
    /// other state are untouched: a plastic synapse keeps learning from the
    /// new weight (a `stdp_dopamine` synapse's change since its last update
    /// still adds to it at its next update). The weights must be finite and,
    /// for `stdp` projections, lie in [0, Wmax] ([Wmax, 0] for a negative
    /// Wmax), for `stdp_dopamine` in [Wmin, Wmax]; a static synapse keeps its
    /// sign (excitatory >= 0, inhibitory <= 0). See [`check_projection_weights`].
    fn set_projection_weights(
        &mut self,
        projection: usize,
        weights: &[f64],
    ) -> Result<(), EngineError> {
        let _ = (projection, weights);
        Err(EngineError::Backend(format!(
            "{} cannot set weights at run time",
            self.describe()
        )))
    }
    /// Silences (lesions) population `population` from the next step on, or
    /// restores it: a silenced neuron's state is frozen, the input that
    /// reaches it is discarded, and it emits no spikes.
    fn set_silenced(&mut self, population: usize, silenced: bool) -> Result<(), EngineError> {
        let _ = (population, silenced);
        Err(EngineError::Backend(format!(
            "{} cannot silence populations at run time",
            self.describe()
        )))
    }
}

/// Checks a run-time rate change and returns the stimulus' mean count per step.
pub fn check_rate_change(net: &Network, stimulus: usize, rate_hz: f64) -> Result<f64, EngineError> {
    if !(rate_hz >= 0.0 && rate_hz.is_finite()) {
        return Err(EngineError::Backend(format!(
            "a stimulus rate must be finite and >= 0 Hz, got {rate_hz}"
        )));
    }
    // A stimulus' index is its position (in a batch too): no search, which
    // a batch of many instances would pay at every exchange.
    let is_poisson = matches!(
        net.stimuli.get(stimulus),
        Some(crate::build::Stimulus::Poisson { index, .. }) if *index == stimulus
    );
    if !is_poisson {
        return Err(EngineError::Backend(format!(
            "stimulus {stimulus} is not a Poisson stimulus of this network (stimuli are counted from 0 in file order)"
        )));
    }
    Ok(rate_hz * net.dt * 1e-3)
}

/// Checks a run-time input for [`Engine::inject_input`].
pub fn check_injection(net: &Network, neuron: u32, weight: f64) -> Result<(), EngineError> {
    let n = net.n_neurons;
    if neuron as usize >= n {
        return Err(EngineError::Backend(format!(
            "no neuron {neuron}: the network has {n}"
        )));
    }
    if !weight.is_finite() {
        return Err(EngineError::Backend(format!(
            "input weight must be finite, got {weight}"
        )));
    }
    Ok(())
}

/// Checks a population index for [`Engine::set_silenced`].
pub fn check_population(net: &Network, population: usize) -> Result<(), EngineError> {
    if population >= net.populations.len() {
        return Err(EngineError::Backend(format!(
            "no population {population}: the network has {}",
            net.populations.len()
        )));
    }
    Ok(())
}

/// The error for switching plasticity of a projection that has none.
pub fn not_plastic(net: &Network, projection: usize) -> EngineError {
    if projection >= net.projections.len() {
        EngineError::Backend(format!(
            "no projection {projection}: the network has {}",
            net.projections.len()
        ))
    } else {
        EngineError::Backend(format!(
            "projection {projection} has static synapses; only plastic projections can be switched"
        ))
    }
}

/// Checks a projection index.
pub fn check_projection(net: &Network, projection: usize) -> Result<(), EngineError> {
    if projection >= net.projections.len() {
        return Err(EngineError::Backend(format!(
            "no projection {projection}: the network has {}",
            net.projections.len()
        )));
    }
    Ok(())
}

/// The synapses of projection `projection`: their indices in
/// `Network::synapses`, increasing (so sorted by source, then target: the
/// order in which weight recordings list them).
pub fn projection_synapses(net: &Network, projection: usize) -> Vec<usize> {
    net.synapses
        .projection
        .iter()
        .enumerate()
        .filter(|&(_, &p)| p as usize == projection)
        .map(|(k, _)| k)
        .collect()
}

/// Checks weights for [`Engine::set_projection_weights`] and returns the
/// projection's synapses ([`projection_synapses`]): one finite weight per
/// synapse, in [0, Wmax] (or [Wmax, 0]) for `stdp`, [Wmin, Wmax] for
/// `stdp_dopamine`, and of the synapse's sign for static synapses (the
/// channel it was built with: [0, inf) excitatory, (-inf, 0] inhibitory).
pub fn check_projection_weights(
    net: &Network,
    projection: usize,
    weights: &[f64],
) -> Result<Vec<usize>, EngineError> {
    check_projection(net, projection)?;
    let synapses = projection_synapses(net, projection);
    if weights.len() != synapses.len() {
        return Err(EngineError::Backend(format!(
            "projection {projection} has {} synapses, got {} weights",
            synapses.len(),
            weights.len()
        )));
    }
    let proj = &net.projections[projection];
    let bounds = match (&proj.dopamine, &proj.plasticity) {
        (Some(d), _) => Some((d.wmin, d.wmax, "stdp_dopamine: [Wmin, Wmax]")),
        (None, Some(s)) if s.wmax < 0.0 => Some((s.wmax, 0.0, "stdp: [Wmax, 0]")),
        (None, Some(s)) => Some((0.0, s.wmax, "stdp: [0, Wmax]")),
        (None, None) => None,
    };
    for (i, (&k, &w)) in synapses.iter().zip(weights).enumerate() {
        if !w.is_finite() {
            return Err(EngineError::Backend(format!(
                "projection {projection}: weight {i} is {w}; weights must be finite"
            )));
        }
        let allowed = match bounds {
            Some((lo, hi, rule)) => (w < lo || w > hi).then(|| format!("[{lo}, {hi}] ({rule})")),
            None if net.synapses.weight[k] >= 0.0 => (w < 0.0).then(|| {
                "[0, inf) (a static synapse keeps its sign; this one is excitatory)".into()
            }),
            None => (w > 0.0).then(|| {
                "(-inf, 0] (a static synapse keeps its sign; this one is inhibitory)".into()
            }),
        };
        if let Some(allowed) = allowed {
            return Err(EngineError::Backend(format!(
                "projection {projection}: weight {i} is {w}, outside the allowed range {allowed}"
            )));
        }
    }
    Ok(synapses)
}

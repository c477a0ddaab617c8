//! Neuron models: their parameters, state variables and NEST defaults.
//!
//! Each model declares itself here (names, units, defaults, constraints), so
//! that validation, documentation (`renshaw models`) and the engines read the
//! same table. The update rules live beside the engines: `engine::cpu::neuron_update`.

use serde::Serialize;

/// The neuron models renshaw implements, named after NEST's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Leaky integrate-and-fire with delta-shaped (voltage-jump) synapses.
    IafPscDelta,
    /// Leaky integrate-and-fire with exponential current synapses, exact integration.
    IafPscExp,
    /// Leaky integrate-and-fire with exponential conductance synapses, adaptive RKF45.
    IafCondExp,
}

/// One parameter of a model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParamSpec {
    /// NEST's name.
    pub name: &'static str,
    /// NEST's default value.
    pub default: f64,
    /// Unit, as NEST documents it.
    pub unit: &'static str,
    /// What it is.
    pub doc: &'static str,
}

/// One state variable of a model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StateSpec {
    /// NEST's recordable name.
    pub name: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// What it is.
    pub doc: &'static str,
}

const fn p(name: &'static str, default: f64, unit: &'static str, doc: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        default,
        unit,
        doc,
    }
}

const fn s(name: &'static str, unit: &'static str, doc: &'static str) -> StateSpec {
    StateSpec { name, unit, doc }
}

const PSC_DELTA_PARAMS: &[ParamSpec] = &[
    p("E_L", -70.0, "mV", "resting membrane potential"),
    p("C_m", 250.0, "pF", "membrane capacitance"),
    p("tau_m", 10.0, "ms", "membrane time constant"),
    p("t_ref", 2.0, "ms", "absolute refractory period"),
    p("V_th", -55.0, "mV", "spike threshold"),
    p("V_reset", -70.0, "mV", "reset potential"),
    p("I_e", 0.0, "pA", "constant external input current"),
    p(
        "V_min",
        f64::NEG_INFINITY,
        "mV",
        "lower bound of the membrane potential",
    ),
    p(
        "refractory_input",
        0.0,
        "bool",
        "1 (true): input arriving during refractoriness is added, decayed, when it ends",
    ),
    p(
        "tau_minus",
        20.0,
        "ms",
        "time constant of the postsynaptic STDP trace",
    ),
];
const PSC_DELTA_STATE: &[StateSpec] = &[s("V_m", "mV", "membrane potential")];

const PSC_EXP_PARAMS: &[ParamSpec] = &[
    p("E_L", -70.0, "mV", "resting membrane potential"),
    p("C_m", 250.0, "pF", "membrane capacitance"),
    p("tau_m", 10.0, "ms", "membrane time constant"),
    p(
        "tau_syn_ex",
        2.0,
        "ms",
        "excitatory synaptic current time constant",
    ),
    p(
        "tau_syn_in",
        2.0,
        "ms",
        "inhibitory synaptic current time constant",
    ),
    p("t_ref", 2.0, "ms", "absolute refractory period"),
    p("V_th", -55.0, "mV", "spike threshold"),
    p("V_reset", -70.0, "mV", "reset potential"),
    p("I_e", 0.0, "pA", "constant external input current"),
    p(
        "tau_minus",
        20.0,
        "ms",
        "time constant of the postsynaptic STDP trace",
    ),
];
const PSC_EXP_STATE: &[StateSpec] = &[
    s("V_m", "mV", "membrane potential"),
    s("I_syn_ex", "pA", "excitatory synaptic current"),
    s("I_syn_in", "pA", "inhibitory synaptic current (negative)"),
];

const COND_EXP_PARAMS: &[ParamSpec] = &[
    p("E_L", -70.0, "mV", "leak reversal potential"),
    p("C_m", 250.0, "pF", "membrane capacitance"),
    p("g_L", 16.6667, "nS", "leak conductance"),
    p("E_ex", 0.0, "mV", "excitatory reversal potential"),
    p("E_in", -85.0, "mV", "inhibitory reversal potential"),
    p(
        "tau_syn_ex",
        0.2,
        "ms",
        "excitatory conductance time constant",
    ),
    p(
        "tau_syn_in",
        2.0,
        "ms",
        "inhibitory conductance time constant",
    ),
    p("t_ref", 2.0, "ms", "absolute refractory period"),
    p("V_th", -55.0, "mV", "spike threshold"),
    p("V_reset", -60.0, "mV", "reset potential"),
    p("I_e", 0.0, "pA", "constant external input current"),
    p(
        "tau_minus",
        20.0,
        "ms",
        "time constant of the postsynaptic STDP trace",
    ),
];
const COND_EXP_STATE: &[StateSpec] = &[
    s("V_m", "mV", "membrane potential"),
    s("g_ex", "nS", "excitatory conductance"),
    s("g_in", "nS", "inhibitory conductance"),
];

impl ModelKind {
    /// Every model, in documentation order.
    pub const ALL: [ModelKind; 3] = [Self::IafPscDelta, Self::IafPscExp, Self::IafCondExp];

    /// NEST's name of the model.
    pub fn name(self) -> &'static str {
        match self {
            Self::IafPscDelta => "iaf_psc_delta",
            Self::IafPscExp => "iaf_psc_exp",
            Self::IafCondExp => "iaf_cond_exp",
        }
    }

    /// Looks a model up by NEST's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The model's parameters; a population's parameter vector uses this order.
    pub fn params(self) -> &'static [ParamSpec] {
        match self {
            Self::IafPscDelta => PSC_DELTA_PARAMS,
            Self::IafPscExp => PSC_EXP_PARAMS,
            Self::IafCondExp => COND_EXP_PARAMS,
        }
    }

    /// The model's state variables; the engines store them in this order.
    pub fn state(self) -> &'static [StateSpec] {
        match self {
            Self::IafPscDelta => PSC_DELTA_STATE,
            Self::IafPscExp => PSC_EXP_STATE,
            Self::IafCondExp => COND_EXP_STATE,
        }
    }

    /// Index of a parameter by name.
    pub fn param_index(self, name: &str) -> Option<usize> {
        self.params().iter().position(|p| p.name == name)
    }

    /// Index of a state variable by name.
    pub fn state_index(self, name: &str) -> Option<usize> {
        self.state().iter().position(|s| s.name == name)
    }

    /// NEST's defaults, in [`ModelKind::params`] order.
    pub fn default_params(self) -> Vec<f64> {
        self.params().iter().map(|p| p.default).collect()
    }

    /// Default initial state: `V_m = E_L`, synaptic variables zero.
    pub fn default_state(self, params: &[f64]) -> Vec<f64> {
        let mut state = vec![0.0; self.state().len()];
        state[0] = params[self.param_index("E_L").expect("every model has E_L")];
        state
    }

    /// Checks a full parameter vector; returns (parameter name, problem) pairs.
    pub fn check_params(self, params: &[f64]) -> Vec<(&'static str, String)> {
        let get = |name: &str| params[self.param_index(name).expect("known parameter")];
        let mut problems = Vec::new();
        let mut positive = |name: &'static str| {
            let v = get(name);
            if !(v > 0.0 && v.is_finite()) {
                problems.push((name, format!("must be a positive finite number, got {v}")));
            }
        };
        positive("C_m");
        positive("tau_minus");
        match self {
            Self::IafPscDelta => positive("tau_m"),
            Self::IafPscExp => {
                positive("tau_m");
                positive("tau_syn_ex");
                positive("tau_syn_in");
            }
            Self::IafCondExp => {
                positive("g_L");
                positive("tau_syn_ex");
                positive("tau_syn_in");
            }
        }
        let t_ref = get("t_ref");
        if !(t_ref >= 0.0 && t_ref.is_finite()) {
            problems.push(("t_ref", format!("must be >= 0, got {t_ref}")));
        }
        let (v_th, v_reset) = (get("V_th"), get("V_reset"));
        if v_reset >= v_th {
            problems.push((
                "V_reset",
                format!("must be below V_th ({v_th} mV), got {v_reset} mV"),
            ));
        }
        for spec in self.params() {
            let v = get(spec.name);
            if v.is_nan() || (v.is_infinite() && spec.name != "V_min") {
                problems.push((spec.name, format!("must be a finite number, got {v}")));
            }
        }
        if self == Self::IafPscDelta {
            if get("V_min") > v_reset {
                problems.push((
                    "V_min",
                    format!(
                        "must not exceed V_reset ({v_reset} mV), got {}",
                        get("V_min")
                    ),
                ));
            }
            let r = get("refractory_input");
            if r != 0.0 && r != 1.0 {
                problems.push((
                    "refractory_input",
                    format!("must be true or false, got {r}"),
                ));
            }
        }
        problems
    }

    /// Whether synaptic weights are conductances (nS) rather than currents or voltages.
    pub fn weight_unit(self) -> &'static str {
        match self {
            Self::IafPscDelta => "mV",
            Self::IafPscExp => "pA",
            Self::IafCondExp => "nS",
        }
    }
}

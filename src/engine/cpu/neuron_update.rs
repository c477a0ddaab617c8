//! Per-neuron update rules of the CPU engine, one per model, with NEST's
//! order of operations inside a step (see `docs/models.md`).
//!
//! Inputs arrive already summed per step: `ex` and `in_` are the excitatory
//! and inhibitory synaptic input read from the ring buffer slot of this step
//! (mV for `iaf_psc_delta`, pA for `iaf_psc_exp`, nS for `iaf_cond_exp`, the
//! inhibitory one negative for the first two and also negative, as NEST
//! stores conductance weights, for the last), and `i_stim` is the device
//! current latched for this step.

use crate::build::PopulationLayout;

/// A model's per-step update on the CPU.
pub trait NeuronModel {
    /// Per-neuron state.
    type State: Copy + Send + Sync;
    /// Per-population constants (propagators), computed once on the host.
    type Props: Send + Sync;
    /// The constants of a population.
    fn props(pop: &PopulationLayout, dt: f64) -> Self::Props;
    /// Neuron `i`'s initial state.
    fn init(pop: &PopulationLayout, i: usize) -> Self::State;
    /// Advances one step; returns whether the neuron spiked.
    fn update(p: &Self::Props, s: &mut Self::State, ex: f64, in_: f64, i_stim: f64) -> bool;
    /// State variable `var` (in [`crate::models::ModelKind::state`] order).
    fn get(p: &Self::Props, s: &Self::State, var: usize) -> f64;
}

/// Refractory period in steps: `t_ref` rounded to the nearest step.
pub fn refractory_steps(t_ref: f64, dt: f64) -> u32 {
    (t_ref / dt).round() as u32
}

/// `iaf_psc_delta`.
pub struct IafPscDelta;

/// Constants of `iaf_psc_delta`.
pub struct PscDeltaProps {
    e_l: f64,
    p33: f64,
    p30: f64,
    i_e: f64,
    theta: f64,
    v_reset: f64,
    v_min: f64,
    ref_steps: u32,
    /// `refr_decay[r]` = exp(-r dt / tau_m): the decay until the end of the
    /// refractory period of input that arrives with `r` steps left.
    refr_decay: Option<Vec<f64>>,
}

/// State of `iaf_psc_delta`; the membrane potential relative to `E_L`.
#[derive(Clone, Copy, Debug)]
pub struct PscDeltaState {
    y3: f64,
    refractory: u32,
    refr_input: f64,
}

impl NeuronModel for IafPscDelta {
    type State = PscDeltaState;
    type Props = PscDeltaProps;

    fn props(pop: &PopulationLayout, dt: f64) -> PscDeltaProps {
        let tau = pop.param("tau_m");
        let c = pop.param("C_m");
        let e_l = pop.param("E_L");
        let ref_steps = refractory_steps(pop.param("t_ref"), dt);
        PscDeltaProps {
            e_l,
            p33: (-dt / tau).exp(),
            p30: -tau / c * (-dt / tau).exp_m1(),
            i_e: pop.param("I_e"),
            theta: pop.param("V_th") - e_l,
            v_reset: pop.param("V_reset") - e_l,
            v_min: pop.param("V_min") - e_l,
            ref_steps,
            refr_decay: (pop.param("refractory_input") != 0.0).then(|| {
                (0..=ref_steps)
                    .map(|r| (-(r as f64) * dt / tau).exp())
                    .collect()
            }),
        }
    }

    fn init(pop: &PopulationLayout, i: usize) -> PscDeltaState {
        PscDeltaState {
            y3: pop.initial_state[0][i] - pop.param("E_L"),
            refractory: 0,
            refr_input: 0.0,
        }
    }

    #[inline]
    fn update(p: &PscDeltaProps, s: &mut PscDeltaState, ex: f64, in_: f64, i_stim: f64) -> bool {
        let input = ex + in_;
        if s.refractory == 0 {
            s.y3 = p.p30 * (i_stim + p.i_e) + p.p33 * s.y3 + input;
            if s.refr_input != 0.0 {
                s.y3 += s.refr_input;
                s.refr_input = 0.0;
            }
            if s.y3 < p.v_min {
                s.y3 = p.v_min;
            }
        } else {
            if let Some(decay) = &p.refr_decay {
                s.refr_input += input * decay[s.refractory as usize];
            }
            s.refractory -= 1;
        }
        if s.y3 >= p.theta {
            s.refractory = p.ref_steps;
            s.y3 = p.v_reset;
            return true;
        }
        false
    }

    fn get(p: &PscDeltaProps, s: &PscDeltaState, _var: usize) -> f64 {
        s.y3 + p.e_l
    }
}

/// `iaf_psc_exp`.
pub struct IafPscExp;

/// Constants of `iaf_psc_exp`.
pub struct PscExpProps {
    e_l: f64,
    p11_ex: f64,
    p11_in: f64,
    p21_ex: f64,
    p21_in: f64,
    p22: f64,
    p20: f64,
    i_e: f64,
    theta: f64,
    v_reset: f64,
    ref_steps: u32,
}

/// State of `iaf_psc_exp`; the membrane potential relative to `E_L`.
#[derive(Clone, Copy, Debug)]
pub struct PscExpState {
    v: f64,
    i_ex: f64,
    i_in: f64,
    refractory: u32,
}

/// The propagator from synaptic current to membrane potential over one step,
/// with the limit `tau_syn -> tau_m` handled as NEST does: where the exact
/// formula loses precision near the singularity, the singular form is used.
pub fn propagator_32(tau_syn: f64, tau_m: f64, c_m: f64, h: f64) -> f64 {
    let linear = 1.0 / (2.0 * c_m * tau_m * tau_m) * h * h * (tau_syn - tau_m) * (-h / tau_m).exp();
    let singular = h / c_m * (-h / tau_m).exp();
    let exact = -tau_m / (c_m * (1.0 - tau_m / tau_syn))
        * (-h / tau_syn).exp()
        * (h * (1.0 / tau_syn - 1.0 / tau_m)).exp_m1();
    let deviation = (exact - singular).abs();
    if tau_m == tau_syn || ((tau_m - tau_syn).abs() < 0.1 && deviation > 2.0 * linear.abs()) {
        singular
    } else {
        exact
    }
}

impl NeuronModel for IafPscExp {
    type State = PscExpState;
    type Props = PscExpProps;

    fn props(pop: &PopulationLayout, dt: f64) -> PscExpProps {
        let tau = pop.param("tau_m");
        let c = pop.param("C_m");
        let (tex, tin) = (pop.param("tau_syn_ex"), pop.param("tau_syn_in"));
        let e_l = pop.param("E_L");
        PscExpProps {
            e_l,
            p11_ex: (-dt / tex).exp(),
            p11_in: (-dt / tin).exp(),
            p21_ex: propagator_32(tex, tau, c, dt),
            p21_in: propagator_32(tin, tau, c, dt),
            p22: (-dt / tau).exp(),
            p20: -tau / c * (-dt / tau).exp_m1(),
            i_e: pop.param("I_e"),
            theta: pop.param("V_th") - e_l,
            v_reset: pop.param("V_reset") - e_l,
            ref_steps: refractory_steps(pop.param("t_ref"), dt),
        }
    }

    fn init(pop: &PopulationLayout, i: usize) -> PscExpState {
        PscExpState {
            v: pop.initial_state[0][i] - pop.param("E_L"),
            i_ex: pop.initial_state[1][i],
            i_in: pop.initial_state[2][i],
            refractory: 0,
        }
    }

    #[inline]
    fn update(p: &PscExpProps, s: &mut PscExpState, ex: f64, in_: f64, i_stim: f64) -> bool {
        if s.refractory == 0 {
            s.v = s.v * p.p22 + s.i_ex * p.p21_ex + s.i_in * p.p21_in + (p.i_e + i_stim) * p.p20;
        } else {
            s.refractory -= 1;
        }
        // Input of this step changes the currents only after V was
        // propagated: it acts on V from the next step on.
        s.i_ex = s.i_ex * p.p11_ex + ex;
        s.i_in = s.i_in * p.p11_in + in_;
        if s.v >= p.theta {
            s.refractory = p.ref_steps;
            s.v = p.v_reset;
            return true;
        }
        false
    }

    fn get(p: &PscExpProps, s: &PscExpState, var: usize) -> f64 {
        match var {
            0 => s.v + p.e_l,
            1 => s.i_ex,
            _ => s.i_in,
        }
    }
}

/// `iaf_cond_exp`.
pub struct IafCondExp;

/// Constants of `iaf_cond_exp`.
pub struct CondExpProps {
    e_l: f64,
    c_m: f64,
    g_l: f64,
    e_ex: f64,
    e_in: f64,
    tau_ex: f64,
    tau_in: f64,
    i_e: f64,
    v_th: f64,
    v_reset: f64,
    ref_steps: u32,
    dt: f64,
}

/// State of `iaf_cond_exp`, including the integrator's step size, which
/// carries over from step to step as in NEST.
#[derive(Clone, Copy, Debug)]
pub struct CondExpState {
    y: [f64; 3],
    refractory: u32,
    h: f64,
}

/// Absolute error tolerance of the adaptive integrator (NEST's GSL setting).
pub const COND_EXP_EPS_ABS: f64 = 1e-3;

impl CondExpProps {
    #[inline]
    fn rhs(&self, y: &[f64; 3], i_stim: f64) -> [f64; 3] {
        let i_syn_ex = y[1] * (y[0] - self.e_ex);
        let i_syn_in = y[2] * (y[0] - self.e_in);
        let i_leak = self.g_l * (y[0] - self.e_l);
        [
            (-i_leak + i_stim + self.i_e - i_syn_ex - i_syn_in) / self.c_m,
            -y[1] / self.tau_ex,
            -y[2] / self.tau_in,
        ]
    }

    /// One Runge-Kutta-Fehlberg 4(5) step: the fifth-order solution and the
    /// error estimate (difference to the fourth-order one).
    #[inline]
    fn rkf45(&self, y: &[f64; 3], h: f64, i_stim: f64) -> ([f64; 3], [f64; 3]) {
        let add = |base: &[f64; 3], terms: &[(f64, &[f64; 3])]| {
            let mut out = *base;
            for (c, k) in terms {
                for j in 0..3 {
                    out[j] += h * c * k[j];
                }
            }
            out
        };
        let k1 = self.rhs(y, i_stim);
        let k2 = self.rhs(&add(y, &[(1.0 / 4.0, &k1)]), i_stim);
        let k3 = self.rhs(&add(y, &[(3.0 / 32.0, &k1), (9.0 / 32.0, &k2)]), i_stim);
        let k4 = self.rhs(
            &add(
                y,
                &[
                    (1932.0 / 2197.0, &k1),
                    (-7200.0 / 2197.0, &k2),
                    (7296.0 / 2197.0, &k3),
                ],
            ),
            i_stim,
        );
        let k5 = self.rhs(
            &add(
                y,
                &[
                    (439.0 / 216.0, &k1),
                    (-8.0, &k2),
                    (3680.0 / 513.0, &k3),
                    (-845.0 / 4104.0, &k4),
                ],
            ),
            i_stim,
        );
        let k6 = self.rhs(
            &add(
                y,
                &[
                    (-8.0 / 27.0, &k1),
                    (2.0, &k2),
                    (-3544.0 / 2565.0, &k3),
                    (1859.0 / 4104.0, &k4),
                    (-11.0 / 40.0, &k5),
                ],
            ),
            i_stim,
        );
        let y5 = add(
            y,
            &[
                (16.0 / 135.0, &k1),
                (6656.0 / 12825.0, &k3),
                (28561.0 / 56430.0, &k4),
                (-9.0 / 50.0, &k5),
                (2.0 / 55.0, &k6),
            ],
        );
        let mut err = [0.0; 3];
        for j in 0..3 {
            err[j] = h
                * (1.0 / 360.0 * k1[j] - 128.0 / 4275.0 * k3[j] - 2197.0 / 75240.0 * k4[j]
                    + 1.0 / 50.0 * k5[j]
                    + 2.0 / 55.0 * k6[j]);
        }
        (y5, err)
    }

    /// Integrates over one simulation step with adaptive sub-steps; the step
    /// size control is GSL's standard one (safety 0.9, shrink at most 5x,
    /// grow at most 5x, order 5), which NEST uses.
    fn integrate(&self, s: &mut CondExpState, i_stim: f64) {
        let mut t = 0.0;
        while t < self.dt {
            let mut h = s.h.min(self.dt - t);
            let final_step = h >= self.dt - t;
            loop {
                let (y_new, err) = self.rkf45(&s.y, h, i_stim);
                let rmax = err
                    .iter()
                    .map(|e| e.abs() / COND_EXP_EPS_ABS)
                    .fold(0.0, f64::max);
                if rmax > 1.1 {
                    let r = (0.9 / rmax.powf(1.0 / 5.0)).max(0.2);
                    h *= r;
                    continue;
                }
                s.y = y_new;
                t = if final_step && h >= self.dt - t {
                    self.dt
                } else {
                    t + h
                };
                if rmax < 0.5 {
                    let r = (0.9 / rmax.powf(1.0 / 6.0)).clamp(1.0, 5.0);
                    h *= r;
                }
                s.h = h;
                break;
            }
        }
    }
}

impl NeuronModel for IafCondExp {
    type State = CondExpState;
    type Props = CondExpProps;

    fn props(pop: &PopulationLayout, dt: f64) -> CondExpProps {
        CondExpProps {
            e_l: pop.param("E_L"),
            c_m: pop.param("C_m"),
            g_l: pop.param("g_L"),
            e_ex: pop.param("E_ex"),
            e_in: pop.param("E_in"),
            tau_ex: pop.param("tau_syn_ex"),
            tau_in: pop.param("tau_syn_in"),
            i_e: pop.param("I_e"),
            v_th: pop.param("V_th"),
            v_reset: pop.param("V_reset"),
            ref_steps: refractory_steps(pop.param("t_ref"), dt),
            dt,
        }
    }

    fn init(pop: &PopulationLayout, i: usize) -> CondExpState {
        CondExpState {
            y: [
                pop.initial_state[0][i],
                pop.initial_state[1][i],
                pop.initial_state[2][i],
            ],
            refractory: 0,
            h: pop_dt_hint(pop),
        }
    }

    #[inline]
    fn update(p: &CondExpProps, s: &mut CondExpState, ex: f64, in_: f64, i_stim: f64) -> bool {
        if s.h <= 0.0 {
            s.h = p.dt;
        }
        p.integrate(s, i_stim);
        let mut spiked = false;
        if s.refractory > 0 {
            s.refractory -= 1;
            s.y[0] = p.v_reset;
        } else if s.y[0] >= p.v_th {
            s.refractory = p.ref_steps;
            s.y[0] = p.v_reset;
            spiked = true;
        }
        s.y[1] += ex;
        // Inhibitory weights are negative; the conductance is positive.
        s.y[2] -= in_;
        spiked
    }

    fn get(_p: &CondExpProps, s: &CondExpState, var: usize) -> f64 {
        s.y[var]
    }
}

/// The integrator starts with a step of one simulation step (set on the
/// first update, when `dt` is known).
fn pop_dt_hint(_pop: &PopulationLayout) -> f64 {
    0.0
}

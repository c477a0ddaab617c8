//! A planar point-mass arm for reaching experiments (EXPERIMENTS.md §2, the
//! savings task): the hand is a point mass on a plane, pulled by muscles
//! spread evenly around it, with viscous damping and an optional curl force
//! field proportional to the hand's velocity (as in MotorNet's and Shadmehr
//! & Mussa-Ivaldi's curl fields). The reaching task has 8 targets 10 cm from
//! the start, and [`lateral_error`] is the measure the savings criteria use.
//!
//! This is the mechanics and the task geometry. Putting the arm in closed
//! loop needs the body interface ([`crate::closed_loop::Body`]) generalised
//! from the hindlimb's two muscles and foot height to N muscle pools and
//! named signals; that is not done yet.
//!
//! Units: metres, seconds, kilograms, newtons; rates in Hz.

use glam::DVec2;

/// Integration substep, s.
const SUBSTEP_S: f64 = 0.000_25;

/// Parameters of a [`PointMassArm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmParams {
    /// Mass of the hand, kg.
    pub mass: f64,
    /// Viscous damping, N·s/m.
    pub damping: f64,
    /// Number of muscles, evenly spread: muscle `i` pulls along the angle
    /// `2 pi i / muscles` (0 = +x).
    pub muscles: usize,
    /// Force of a fully active muscle, N.
    pub max_force: f64,
    /// Pool rate at which a muscle's drive saturates, Hz per neuron.
    pub saturation_rate: f64,
    /// Time constant of muscle activation, s.
    pub activation_tau: f64,
    /// Curl field gain, N·s/m: the field adds `curl * (v.y, -v.x)`
    /// (clockwise for a positive gain); 0 switches it off.
    pub curl: f64,
}

impl Default for ArmParams {
    fn default() -> Self {
        Self {
            mass: 1.0,
            damping: 10.0,
            muscles: 4,
            max_force: 10.0,
            saturation_rate: 40.0,
            activation_tau: 0.02,
            curl: 0.0,
        }
    }
}

/// What can be wrong with arm parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("arm parameter `{name}` = {value}: {allowed}")]
pub struct ArmParamError {
    /// The parameter.
    pub name: &'static str,
    /// Its value.
    pub value: f64,
    /// What is allowed.
    pub allowed: &'static str,
}

impl ArmParams {
    /// Checks every parameter.
    pub fn check(&self) -> Result<(), ArmParamError> {
        let positive = [
            ("mass", self.mass),
            ("max_force", self.max_force),
            ("saturation_rate", self.saturation_rate),
            ("activation_tau", self.activation_tau),
        ];
        for (name, value) in positive {
            if !(value > 0.0 && value.is_finite()) {
                return Err(ArmParamError {
                    name,
                    value,
                    allowed: "must be a finite number > 0",
                });
            }
        }
        if !(self.damping >= 0.0 && self.damping.is_finite()) {
            return Err(ArmParamError {
                name: "damping",
                value: self.damping,
                allowed: "must be a finite number >= 0",
            });
        }
        if !self.curl.is_finite() {
            return Err(ArmParamError {
                name: "curl",
                value: self.curl,
                allowed: "must be finite",
            });
        }
        if self.muscles < 2 {
            return Err(ArmParamError {
                name: "muscles",
                value: self.muscles as f64,
                allowed: "at least 2 (muscles pull in evenly spread directions)",
            });
        }
        Ok(())
    }
}

/// The hand on its plane.
#[derive(Debug, Clone)]
pub struct PointMassArm {
    p: ArmParams,
    directions: Vec<DVec2>,
    position: DVec2,
    velocity: DVec2,
    activation: Vec<f64>,
}

impl PointMassArm {
    /// An arm at rest at the origin, muscles inactive.
    pub fn new(p: ArmParams) -> Result<Self, ArmParamError> {
        p.check()?;
        let directions = (0..p.muscles)
            .map(|i| DVec2::from_angle(std::f64::consts::TAU * i as f64 / p.muscles as f64))
            .collect();
        Ok(Self {
            p,
            directions,
            position: DVec2::ZERO,
            velocity: DVec2::ZERO,
            activation: vec![0.0; p.muscles],
        })
    }

    /// Back to rest at the origin.
    pub fn reset(&mut self) {
        self.position = DVec2::ZERO;
        self.velocity = DVec2::ZERO;
        self.activation.fill(0.0);
    }

    /// Switches the curl field (gain in N·s/m; 0 = off): the protocol's
    /// field and washout phases.
    pub fn set_curl(&mut self, curl: f64) {
        self.p.curl = curl;
    }

    /// Hand position, m.
    pub fn position(&self) -> DVec2 {
        self.position
    }

    /// Hand velocity, m/s.
    pub fn velocity(&self) -> DVec2 {
        self.velocity
    }

    /// Muscle activations, 0..1.
    pub fn activation(&self) -> &[f64] {
        &self.activation
    }

    /// The force of the curl field at velocity `v`.
    pub fn curl_force(&self, v: DVec2) -> DVec2 {
        self.p.curl * DVec2::new(v.y, -v.x)
    }

    /// Advances `dt_s` seconds with each muscle pool firing at `rates_hz`
    /// (Hz per neuron, one per muscle).
    pub fn step(&mut self, rates_hz: &[f64], dt_s: f64) {
        assert_eq!(rates_hz.len(), self.p.muscles, "one pool rate per muscle");
        let p = self.p;
        let mut left = dt_s;
        while left > 1e-12 {
            let h = left.min(SUBSTEP_S);
            left -= h;
            // Activation relaxes towards the saturating drive (exactly, over h).
            let relax = 1.0 - (-h / p.activation_tau).exp();
            for (a, &r) in self.activation.iter_mut().zip(rates_hz) {
                let drive = (r / p.saturation_rate).clamp(0.0, 1.0);
                *a += (drive - *a) * relax;
            }
            let muscle: DVec2 = self
                .directions
                .iter()
                .zip(&self.activation)
                .map(|(&d, &a)| d * (a * p.max_force))
                .sum();
            // Damping and the curl field are linear in the velocity: as a
            // complex number z, m dz/dt = mu m z + f with mu = -(b + i k)/m.
            // Integrated exactly over the substep (the field does no work,
            // so a coasting hand keeps its speed to rounding):
            // z(h) = e^(mu h) z0 + (e^(mu h) - 1) / mu * f / m.
            let mu = DVec2::new(-p.damping, -p.curl) / p.mass;
            let e = DVec2::from_angle(mu.y * h) * (mu.x * h).exp();
            let gain = if mu == DVec2::ZERO {
                DVec2::new(h, 0.0)
            } else {
                // (e - 1) / mu, complex division.
                (e - DVec2::X).rotate(DVec2::new(mu.x, -mu.y)) / mu.length_squared()
            };
            let v0 = self.velocity;
            self.velocity = e.rotate(v0) + gain.rotate(muscle / p.mass);
            self.position += (v0 + self.velocity) * (0.5 * h);
        }
    }
}

/// The reaching targets: `count` points evenly spread on a circle of
/// `radius` m around the start, the first along +x.
pub fn targets(count: usize, radius: f64) -> Vec<DVec2> {
    (0..count)
        .map(|i| DVec2::from_angle(std::f64::consts::TAU * i as f64 / count as f64) * radius)
        .collect()
}

/// The 8 targets 10 cm away of the savings task.
pub fn savings_targets() -> Vec<DVec2> {
    targets(8, 0.1)
}

/// Lateral error of a reach: the largest distance of the hand's path from
/// the straight line from `start` to `target`, signed (positive to the left
/// of the direction of the reach). 0 for a straight reach.
pub fn lateral_error(path: &[DVec2], start: DVec2, target: DVec2) -> f64 {
    let axis = target - start;
    let len = axis.length();
    if len == 0.0 {
        return 0.0;
    }
    let unit = axis / len;
    path.iter()
        .map(|&p| unit.perp_dot(p - start))
        .fold(
            0.0,
            |worst: f64, d| if d.abs() > worst.abs() { d } else { worst },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(p: ArmParams) -> PointMassArm {
        PointMassArm::new(p).unwrap()
    }

    #[test]
    fn one_full_muscle_against_damping_follows_the_exponential() {
        // Muscle 0 pulls along +x with max_force once its activation is 1:
        // start with it saturated (activation tau tiny) and compare with
        // v(t) = F/b (1 - exp(-b t / m)).
        let p = ArmParams {
            activation_tau: 1e-9,
            ..Default::default()
        };
        let mut a = arm(p);
        let mut rates = vec![0.0; 4];
        rates[0] = 1000.0;
        let t = 0.2;
        for _ in 0..200 {
            a.step(&rates, t / 200.0);
        }
        let tau = p.mass / p.damping;
        let v = p.max_force / p.damping * (1.0 - (-t / tau).exp());
        let x = p.max_force / p.damping * (t - tau * (1.0 - (-t / tau).exp()));
        assert!(
            (a.velocity().x - v).abs() < 1e-3 * v,
            "{} vs {v}",
            a.velocity().x
        );
        assert!(
            (a.position().x - x).abs() < 2e-3 * x,
            "{} vs {x}",
            a.position().x
        );
        assert!(a.position().y.abs() < 1e-12);
    }

    #[test]
    fn opposite_muscles_cancel_and_activation_follows_its_time_constant() {
        let p = ArmParams::default();
        let mut a = arm(p);
        // Muscles 0 and 2 pull along +x and -x.
        a.step(&[20.0, 0.0, 20.0, 0.0], p.activation_tau);
        assert!(a.position().length() < 1e-12);
        let expected = 0.5 * (1.0 - (-1.0f64).exp());
        assert!(
            (a.activation()[0] - expected).abs() < 1e-9,
            "{}",
            a.activation()[0]
        );
        assert_eq!(a.activation()[1], 0.0);
    }

    #[test]
    fn the_curl_field_pushes_sideways_and_does_no_work() {
        let p = ArmParams {
            damping: 0.0,
            curl: 13.0,
            ..Default::default()
        };
        let a = arm(p);
        let v = DVec2::new(0.3, -0.2);
        assert!(a.curl_force(v).dot(v).abs() < 1e-15);
        // A hand coasting in the field keeps its speed and turns clockwise.
        let mut a = arm(p);
        a.velocity = DVec2::new(0.5, 0.0);
        for _ in 0..100 {
            a.step(&[0.0; 4], 0.001);
        }
        let speed = a.velocity().length();
        assert!((speed - 0.5).abs() < 1e-12, "{speed}");
        assert!(
            a.velocity().y < 0.0 && a.position().y < 0.0,
            "{:?}",
            a.position()
        );
        // Without the field it goes straight.
        let mut a = arm(ArmParams { curl: 0.0, ..p });
        a.velocity = DVec2::new(0.5, 0.0);
        a.step(&[0.0; 4], 0.1);
        assert!(a.position().y.abs() < 1e-15);
        assert!((a.position().x - 0.05).abs() < 1e-12);
    }

    #[test]
    fn eight_targets_ten_centimetres_away() {
        let t = savings_targets();
        assert_eq!(t.len(), 8);
        for (i, p) in t.iter().enumerate() {
            assert!((p.length() - 0.1).abs() < 1e-15);
            let angle = p.y.atan2(p.x).rem_euclid(std::f64::consts::TAU);
            assert!((angle - std::f64::consts::FRAC_PI_4 * i as f64).abs() < 1e-12);
        }
    }

    #[test]
    fn lateral_error_is_the_largest_signed_deviation() {
        let start = DVec2::ZERO;
        let target = DVec2::new(0.1, 0.0);
        let straight: Vec<DVec2> = (0..=10).map(|i| DVec2::new(0.01 * i as f64, 0.0)).collect();
        assert_eq!(lateral_error(&straight, start, target), 0.0);
        let bowed: Vec<DVec2> = (0..=10)
            .map(|i| {
                let s = i as f64 / 10.0;
                DVec2::new(0.1 * s, -0.02 * (std::f64::consts::PI * s).sin())
            })
            .collect();
        assert!((lateral_error(&bowed, start, target) + 0.02).abs() < 1e-12);
        // Rotating the reach rotates nothing in the measure.
        let rot = DVec2::from_angle(1.0);
        let rotated: Vec<DVec2> = bowed.iter().map(|&p| rot.rotate(p)).collect();
        let e = lateral_error(&rotated, start, rot.rotate(target));
        assert!((e + 0.02).abs() < 1e-12, "{e}");
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = PointMassArm::new(ArmParams {
            muscles: 1,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.name, "muscles");
        let e = PointMassArm::new(ArmParams {
            mass: 0.0,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("mass") && e.to_string().contains("> 0"),
            "{e}"
        );
    }
}

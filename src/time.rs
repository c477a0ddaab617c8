//! The step grid: how times and delays in ms map to integer steps.
//!
//! Times given in a description (spike times, switch times, durations,
//! intervals) must lie on the grid of `dt`, as NEST requires. Delays are
//! rounded to the nearest step (halves away from zero) and must come to at
//! least one step.

/// The longest delay the engines support, in steps (ring buffers are sized by
/// the longest delay actually present).
pub const MAX_DELAY_STEPS: u64 = u16::MAX as u64;

/// Whether `t` ms is (to within rounding error) an integer multiple of `dt`.
pub fn is_on_grid(t: f64, dt: f64) -> bool {
    let k = round_to_steps(t.abs(), dt) as f64;
    (t.abs() - k * dt).abs() <= 1e-9 * t.abs().max(1.0)
}

/// `t` ms in steps, rounded to the nearest step, halves up; computed as
/// NEST does, `floor(t * (1 / dt) + 0.5)`, so that e.g. 0.15 ms at
/// dt = 0.1 ms is 2 steps in both. Negative times give 0.
pub fn round_to_steps(t: f64, dt: f64) -> u64 {
    let k = (t * (1.0 / dt) + 0.5).floor();
    if k <= 0.0 { 0 } else { k as u64 }
}

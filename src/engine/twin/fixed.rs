//! Twin of `shaders/shared/fixed.wgsl`.

use crate::engine::gpu::layout::StepUniform;

/// floor(w * 2^32) as (low, high) words.
#[inline]
pub fn to_fixed(w: f32) -> (u32, u32) {
    let f = w.floor();
    let hi = f as i32;
    let lo = ((w - f) * 4_294_967_296.0f32) as u32;
    (lo, hi as u32)
}

/// Adds a fixed-point value to the cell whose low word is `ring[word]`.
#[inline]
pub fn ring_add(ring: &mut [u32], word: usize, v: (u32, u32)) {
    let old = ring[word];
    ring[word] = old.wrapping_add(v.0);
    let carry = u32::from(old > u32::MAX - v.0);
    ring[word + 1] = ring[word + 1].wrapping_add(v.1.wrapping_add(carry));
}

/// Reads a cell and clears it.
#[inline]
pub fn ring_take(ring: &mut [u32], word: usize) -> f32 {
    let lo = std::mem::take(&mut ring[word]);
    let hi = std::mem::take(&mut ring[word + 1]);
    fixed_to_f32(lo, hi)
}

/// The value of a (low, high) pair as f32.
#[inline]
pub fn fixed_to_f32(lo: u32, hi: u32) -> f32 {
    let frac = lo as f32 * 2.328_306_4e-10_f32;
    hi as i32 as f32 + frac
}

/// Word index of (slot, neuron, channel).
#[inline]
pub fn ring_word(su: &StepUniform, slot: u32, neuron: u32, channel: u32) -> usize {
    (((slot * su.n_neurons + neuron) * 2 + channel) * 2) as usize
}

/// Adds `w` to `target`'s input in ring slot `slot`.
#[inline]
pub fn deliver_to_slot(ring: &mut [u32], su: &StepUniform, target: u32, slot: u32, w: f32) {
    let channel = u32::from(w < 0.0);
    ring_add(ring, ring_word(su, slot, target, channel), to_fixed(w));
}

/// Adds `w` to `target`'s input due `delay` steps after this one.
#[inline]
pub fn deliver(ring: &mut [u32], su: &StepUniform, target: u32, delay: u32, w: f32) {
    deliver_to_slot(ring, su, target, (su.slot + delay) % su.ring_len, w);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_sums_are_exact_and_order_free() {
        let mut ring = vec![0u32; 2];
        let ws = [0.1f32, -0.5, 87.8, -1234.25, 3.0e-3, 0.1];
        for &w in &ws {
            ring_add(&mut ring, 0, to_fixed(w));
        }
        let forward = (ring[0], ring[1]);
        let mut ring2 = vec![0u32; 2];
        for &w in ws.iter().rev() {
            ring_add(&mut ring2, 0, to_fixed(w));
        }
        assert_eq!(forward, (ring2[0], ring2[1]));
        let exact: f64 = ws.iter().map(|&w| w as f64).sum();
        let got = ring_take(&mut ring, 0) as f64;
        assert!(
            (got - exact).abs() < 1e-4 * exact.abs().max(1.0),
            "{got} vs {exact}"
        );
        assert_eq!(ring, vec![0, 0]);
    }
}

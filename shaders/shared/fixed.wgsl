// 64-bit fixed-point synaptic input (32 fractional bits) from 32-bit atomics.
// Integer addition is associative, so the sum does not depend on the order
// in which threads add. Twin: src/engine/twin/fixed.rs.

// The weight as two's complement (low, high) words of floor(w * 2^32).
fn to_fixed(w: f32) -> vec2<u32> {
    let f = floor(w);
    let hi = i32(f);
    let lo = u32((w - f) * 4294967296.0);
    return vec2<u32>(lo, bitcast<u32>(hi));
}

// Adds a fixed-point value to the cell whose low word is ring[word].
fn ring_add(word: u32, v: vec2<u32>) {
    let old = atomicAdd(&ring[word], v.x);
    // Unsigned overflow of the low half carries into the high half.
    let carry = select(0u, 1u, old > 0xffffffffu - v.x);
    atomicAdd(&ring[word + 1u], v.y + carry);
}

// Reads a cell and clears it.
fn ring_take(word: u32) -> f32 {
    let lo = atomicExchange(&ring[word], 0u);
    let hi = atomicExchange(&ring[word + 1u], 0u);
    return fixed_to_f32(lo, hi);
}

fn fixed_to_f32(lo: u32, hi: u32) -> f32 {
    let frac = f32(lo) * 2.3283064365386963e-10;
    return f32(bitcast<i32>(hi)) + frac;
}

// Word index of (slot, neuron, channel) with channel 0 excitatory, 1 inhibitory.
fn ring_word(slot: u32, neuron: u32, channel: u32) -> u32 {
    return ((slot * su.n_neurons + neuron) * 2u + channel) * 2u;
}

// Adds weight w to neuron `dst`'s input in ring slot `slot`.
fn deliver_to_slot(dst: u32, slot: u32, w: f32) {
    let channel = select(0u, 1u, w < 0.0);
    ring_add(ring_word(slot, dst, channel), to_fixed(w));
}

// Adds weight w to neuron `dst`'s input due `delay` steps after this one.
fn deliver(dst: u32, delay: u32, w: f32) {
    deliver_to_slot(dst, (su.slot + delay) % su.ring_len, w);
}

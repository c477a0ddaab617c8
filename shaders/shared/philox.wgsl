// Philox4x32-10 and the Poisson draw; twins: src/rng.rs (philox4x32_10,
// poisson_f32). The same (seed, stream, entity, counter) gives the same
// words on every backend.

fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let p0 = a_lo * b_lo;
    let p1 = a_lo * b_hi;
    let p2 = a_hi * b_lo;
    let p3 = a_hi * b_hi;
    let mid = (p0 >> 16u) + (p1 & 0xffffu) + (p2 & 0xffffu);
    let hi = p3 + (p1 >> 16u) + (p2 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox(ctr_in: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var ctr = ctr_in;
    var key = key_in;
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) {
            key = key + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mulhilo(0xD2511F53u, ctr.x);
        let p1 = mulhilo(0xCD9E8D57u, ctr.z);
        ctr = vec4<u32>(p1.x ^ ctr.y ^ key.x, p1.y, p0.x ^ ctr.w ^ key.y, p0.y);
    }
    return ctr;
}

// A uniform f32 in [0, 1) from the top 24 bits of a word.
fn u01_f32(x: u32) -> f32 {
    return f32(x >> 8u) * 5.9604644775390625e-8;
}

// One inversion draw of mean `mean` (exp(-mean) given) from uniform u.
fn poisson_inversion(u: f32, mean: f32, exp_minus_mean: f32) -> u32 {
    var p = exp_minus_mean;
    var cdf = p;
    var k = 0u;
    while (u > cdf && k < 63u) {
        k = k + 1u;
        p = p * mean;
        p = p * inv_k[k];
        cdf = cdf + p;
    }
    return k;
}

// Poisson count of one target at one stamp; one word of the stream per piece.
fn poisson_count(stim: PoissonStim, dst: u32) -> u32 {
    var ctr = vec4<u32>(su.pctr_lo, su.pctr_hi, dst - stim.entity_offset, stim.stream);
    let key = vec2<u32>(stim.seed_lo, stim.seed_hi);
    var words = philox(ctr, key);
    var used = 0u;
    var k = 0u;
    let n = stim.pieces + select(0u, 1u, stim.rest > 0.0);
    for (var piece = 0u; piece < n; piece++) {
        if (used == 4u) {
            ctr.x = ctr.x + 1u;
            words = philox(ctr, key);
            used = 0u;
        }
        let u = u01_f32(words[used]);
        used = used + 1u;
        if (piece < stim.pieces) {
            k = k + poisson_inversion(u, 16.0, stim.exp_piece);
        } else {
            k = k + poisson_inversion(u, stim.rest, stim.exp_rest);
        }
    }
    return k;
}

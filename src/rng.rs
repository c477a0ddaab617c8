//! Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
//!
//! Every random number renshaw draws is a pure function of
//! `(seed, stream, entity, counter)`, so results do not depend on thread
//! scheduling or on the backend: the GPU kernels compute the same function
//! (`shaders/shared/philox.wgsl` will hold its twin).

/// Purposes of random streams; the top byte of a stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Purpose {
    /// Initial state of a population's neurons.
    Init = 1,
    /// Which pairs a projection connects.
    Connect = 2,
    /// Weights of a projection's synapses.
    Weight = 3,
    /// Delays of a projection's synapses.
    Delay = 4,
    /// Weights and delays of a stimulus' connections.
    StimulusSynapse = 5,
    /// Poisson spike counts.
    Poisson = 6,
    /// Weight noise of a protocol's gap between sessions.
    GapNoise = 7,
    /// Random torque of a closed-loop body.
    BodyNoise = 8,
    /// Trial draws of an experiment's trial loop (which cue comes).
    Trial = 9,
}

/// A stream id: purpose in the top byte, the object's index below.
pub fn stream_id(purpose: Purpose, index: usize) -> u32 {
    ((purpose as u32) << 24) | (index as u32 & 0x00FF_FFFF)
}

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block: 4 random words from a 4-word counter and 2-word key.
#[inline]
pub fn philox4x32_10(mut ctr: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for round in 0..10 {
        if round > 0 {
            key[0] = key[0].wrapping_add(W0);
            key[1] = key[1].wrapping_add(W1);
        }
        let p0 = (M0 as u64) * (ctr[0] as u64);
        let p1 = (M1 as u64) * (ctr[2] as u64);
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        ctr = [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0];
    }
    ctr
}

/// Lanes of [`philox4x32_10_lanes`].
pub const LANES: usize = 8;

/// Word 0 of the blocks of [`LANES`] entities that share seed, stream and
/// counter: the same values as `block(seed, stream, entity[i], counter)[0]`,
/// computed lane by lane in arrays so that the compiler can use vector
/// multiplies (one Philox block per draw is most of a Poisson draw's cost).
#[inline(always)]
pub fn first_words_lanes(
    seed: u64,
    stream: u32,
    entity: &[u32; LANES],
    counter: u64,
) -> [u32; LANES] {
    let mut c0 = [counter as u32; LANES];
    let mut c1 = [(counter >> 32) as u32; LANES];
    let mut c2 = *entity;
    let mut c3 = [stream; LANES];
    let mut key = [seed as u32, (seed >> 32) as u32];
    for round in 0..10 {
        if round > 0 {
            key[0] = key[0].wrapping_add(W0);
            key[1] = key[1].wrapping_add(W1);
        }
        for i in 0..LANES {
            let p0 = (M0 as u64) * (c0[i] as u64);
            let p1 = (M1 as u64) * (c2[i] as u64);
            let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
            let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
            let n0 = hi1 ^ c1[i] ^ key[0];
            let n2 = hi0 ^ c3[i] ^ key[1];
            c0[i] = n0;
            c1[i] = lo1;
            c2[i] = n2;
            c3[i] = lo0;
        }
    }
    c0
}

/// The block for `(seed, stream, entity, counter)`.
#[inline]
pub fn block(seed: u64, stream: u32, entity: u32, counter: u64) -> [u32; 4] {
    philox4x32_10(
        [counter as u32, (counter >> 32) as u32, entity, stream],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// A uniform double in [0, 1) from two words (53 random bits).
#[inline]
pub fn u01(a: u32, b: u32) -> f64 {
    let bits = ((a as u64) << 21) ^ (b as u64 >> 11);
    (bits & ((1u64 << 53) - 1)) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A sequential reader of one `(seed, stream, entity)` stream.
#[derive(Debug, Clone)]
pub struct Stream {
    seed: u64,
    stream: u32,
    entity: u32,
    counter: u64,
    buf: [u32; 4],
    used: usize,
}

impl Stream {
    /// Opens a stream at counter 0.
    pub fn new(seed: u64, stream: u32, entity: u32) -> Self {
        Self::at(seed, stream, entity, 0)
    }

    /// Opens a stream at a given block counter.
    pub fn at(seed: u64, stream: u32, entity: u32, counter: u64) -> Self {
        Self {
            seed,
            stream,
            entity,
            counter,
            buf: [0; 4],
            used: 4,
        }
    }

    /// The next 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            self.buf = block(self.seed, self.stream, self.entity, self.counter);
            self.counter += 1;
            self.used = 0;
        }
        let v = self.buf[self.used];
        self.used += 1;
        v
    }

    /// A uniform double in [0, 1).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        let a = self.next_u32();
        let b = self.next_u32();
        u01(a, b)
    }

    /// A uniform integer in [0, n) (multiply-shift; bias below 2^-32 n).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        let r = ((self.next_u32() as u64) << 32) | self.next_u32() as u64;
        ((r as u128 * n as u128) >> 64) as u64
    }

    /// A standard normal deviate (Box–Muller, one of the pair).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Precomputed constants of a Poisson deviate with mean `lambda`, drawn by
/// inversion in pieces of mean at most [`POISSON_PIECE`] so that `exp(-mean)`
/// never underflows. The host computes the exponentials once, so the
/// per-step draw needs no transcendental function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoissonParams {
    /// Number of whole pieces of mean `POISSON_PIECE`.
    pub pieces: u32,
    /// Mean of the last, partial piece.
    pub rest: f64,
    /// exp(-rest).
    pub exp_rest: f64,
    /// exp(-POISSON_PIECE).
    pub exp_piece: f64,
}

impl PoissonParams {
    /// The constants for mean `lambda` >= 0.
    pub fn new(lambda: f64) -> Self {
        let pieces = (lambda / POISSON_PIECE).floor();
        let rest = lambda - pieces * POISSON_PIECE;
        Self {
            pieces: pieces as u32,
            rest,
            exp_rest: (-rest).exp(),
            exp_piece: (-POISSON_PIECE).exp(),
        }
    }
}

/// A uniform f32 in [0, 1) from the top 24 bits of a word (exact on every backend).
#[inline]
pub fn u01_f32(x: u32) -> f32 {
    (x >> 8) as f32 * 5.960_464_5e-8_f32
}

/// One inversion draw, in f32 with multiplications only, so that every
/// backend computes the same count (twin of `poisson_inversion` in
/// `shaders/shared/philox.wgsl`).
#[inline]
fn poisson_inversion_f32(u: f32, mean: f32, exp_minus_mean: f32, inv_k: &[f32]) -> u32 {
    let mut p = exp_minus_mean;
    let mut cdf = p;
    let mut k = 0u32;
    // Beyond k = 63 the remaining mass of a Poisson of mean <= 16 is below 1e-18.
    while u > cdf && k < 63 {
        k += 1;
        p *= mean;
        p *= inv_k[k as usize];
        cdf += p;
    }
    k
}

/// The Poisson count of one target at one stamp: a pure function of the
/// seed, the stream, the target and the stamp. Block counter `stamp << 8`,
/// one word per piece. Twin of `poisson_count` in `shaders/shared/philox.wgsl`.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the WGSL function's inputs one to one"
)]
#[inline]
pub fn poisson_f32(
    seed: u64,
    stream: u32,
    target: u32,
    stamp: u64,
    pieces: u32,
    rest: f32,
    exp_rest: f32,
    exp_piece: f32,
    inv_k: &[f32],
) -> u32 {
    let mut counter = stamp << 8;
    let mut words = block(seed, stream, target, counter);
    let mut used = 0;
    let mut k = 0;
    let n = pieces + u32::from(rest > 0.0);
    for piece in 0..n {
        if used == 4 {
            counter += 1;
            words = block(seed, stream, target, counter);
            used = 0;
        }
        let u = u01_f32(words[used]);
        used += 1;
        k += if piece < pieces {
            poisson_inversion_f32(u, POISSON_PIECE as f32, exp_piece, inv_k)
        } else {
            poisson_inversion_f32(u, rest, exp_rest, inv_k)
        };
    }
    k
}

/// [`poisson_f32`] by table look-up: the same counts, computed faster.
///
/// The inversion loop stops at the first `k` whose cumulative probability
/// reaches `u`; with the cumulative probabilities computed once, by the same
/// f32 operations in the same order, that `k` is the number of entries below
/// `u` (the cumulative sums never decrease), which a fixed-length,
/// branch-free count finds without the loop's unpredictable exit.
#[derive(Debug, Clone)]
pub struct PoissonSampler {
    pieces: u32,
    has_rest: bool,
    /// Cumulative probabilities of a piece of mean [`POISSON_PIECE`] and of
    /// the rest, entries 0..63 as the loop computes them, padded with +inf.
    cdf_piece: [f32; 64],
    cdf_rest: [f32; 64],
    /// How many entries of each table can lie below some uniform, rounded up
    /// to a multiple of 8: the entries after them are >= the largest
    /// uniform [`u01_f32`] gives, so they never count.
    len_piece: usize,
    len_rest: usize,
}

impl PoissonSampler {
    /// The tables for `params`.
    pub fn new(params: &PoissonParams, inv_k: &[f32]) -> Self {
        // A closed loop rebuilds its afferents' samplers at every exchange,
        // so the tables stop at the first entry no uniform can exceed, and
        // the table of whole pieces is built only when there are pieces.
        let largest_u = u01_f32(u32::MAX);
        let table = |mean: f32, exp_minus_mean: f32| {
            let mut cdf = [f32::INFINITY; 64];
            let mut p = exp_minus_mean;
            let mut c = p;
            let mut used = 63;
            for k in 0..63 {
                if k > 0 {
                    p *= mean;
                    p *= inv_k[k];
                    c += p;
                }
                if c >= largest_u {
                    // This entry and those after it change no count: +inf
                    // lets the count stop at a multiple of 8.
                    used = k;
                    break;
                }
                cdf[k] = c;
            }
            let len = (used + 1).next_multiple_of(8).min(64);
            (cdf, len)
        };
        let (cdf_piece, len_piece) = if params.pieces > 0 {
            table(POISSON_PIECE as f32, params.exp_piece as f32)
        } else {
            ([f32::INFINITY; 64], 8)
        };
        let (cdf_rest, len_rest) = table(params.rest as f32, params.exp_rest as f32);
        Self {
            pieces: params.pieces,
            has_rest: params.rest > 0.0,
            cdf_piece,
            cdf_rest,
            len_piece,
            len_rest,
        }
    }

    #[inline(always)]
    fn count(cdf: &[f32; 64], len: usize, u: f32) -> u32 {
        // Entry 63 is +inf, so at most 63 count: the loop's cap.
        let mut k = 0u32;
        for chunk in cdf[..len].chunks_exact(8) {
            let mut lanes = [0u32; 8];
            for (lane, &c) in lanes.iter_mut().zip(chunk) {
                *lane = u32::from(u > c);
            }
            k += lanes.iter().sum::<u32>();
        }
        k
    }

    /// Whether one uniform makes a draw (a mean below [`POISSON_PIECE`]), so
    /// that [`Self::draw_lanes`] applies.
    pub fn single_word(&self) -> bool {
        self.pieces == 0
    }

    /// [`Self::draw`] for [`LANES`] targets at once; only for
    /// [`Self::single_word`] samplers.
    #[inline]
    pub fn draw_lanes(
        &self,
        seed: u64,
        stream: u32,
        targets: &[u32; LANES],
        stamp: u64,
    ) -> [u32; LANES] {
        debug_assert!(self.single_word());
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { self.draw_lanes_avx2(seed, stream, targets, stamp) };
            }
        }
        self.draw_lanes_portable(seed, stream, targets, stamp)
    }

    /// [`Self::draw_lanes_portable`] compiled for AVX2: its 4-lane 32x32->64
    /// multiplies halve the cost of the Philox blocks (with SSE2 alone the
    /// shuffles eat the gain) and its 8-lane compares do the counts.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn draw_lanes_avx2(
        &self,
        seed: u64,
        stream: u32,
        targets: &[u32; LANES],
        stamp: u64,
    ) -> [u32; LANES] {
        self.draw_lanes_portable(seed, stream, targets, stamp)
    }

    #[inline(always)]
    fn draw_lanes_portable(
        &self,
        seed: u64,
        stream: u32,
        targets: &[u32; LANES],
        stamp: u64,
    ) -> [u32; LANES] {
        let words = first_words_lanes(seed, stream, targets, stamp << 8);
        let mut k = [0u32; LANES];
        if self.has_rest {
            for (k, &w) in k.iter_mut().zip(&words) {
                *k = Self::count(&self.cdf_rest, self.len_rest, u01_f32(w));
            }
        }
        k
    }

    /// The count [`poisson_f32`] returns for the same inputs.
    #[inline]
    pub fn draw(&self, seed: u64, stream: u32, target: u32, stamp: u64) -> u32 {
        let mut counter = stamp << 8;
        let mut words = block(seed, stream, target, counter);
        if self.pieces == 0 {
            return if self.has_rest {
                Self::count(&self.cdf_rest, self.len_rest, u01_f32(words[0]))
            } else {
                0
            };
        }
        let mut used = 0;
        let mut k = 0;
        for piece in 0..self.pieces + u32::from(self.has_rest) {
            if used == 4 {
                counter += 1;
                words = block(seed, stream, target, counter);
                used = 0;
            }
            let u = u01_f32(words[used]);
            used += 1;
            k += if piece < self.pieces {
                Self::count(&self.cdf_piece, self.len_piece, u)
            } else {
                Self::count(&self.cdf_rest, self.len_rest, u)
            };
        }
        k
    }
}

/// The table of 1/k that [`poisson_f32`] multiplies by (index 0 unused).
pub fn inv_k_table() -> Vec<f32> {
    (0..64)
        .map(|k| if k == 0 { 0.0 } else { 1.0 / k as f32 })
        .collect()
}

/// The largest mean drawn by one inversion in [`poisson`].
pub const POISSON_PIECE: f64 = 16.0;

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors of Random123's philox4x32-10.
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn uniform_and_normal_moments() {
        let mut s = Stream::new(7, 1, 2);
        let n = 200_000;
        let (mut m, mut v) = (0.0, 0.0);
        for _ in 0..n {
            let x = s.normal();
            m += x;
            v += x * x;
        }
        m /= n as f64;
        v = v / n as f64 - m * m;
        assert!(m.abs() < 0.01, "mean {m}");
        assert!((v - 1.0).abs() < 0.02, "var {v}");
        let u: f64 = (0..n).map(|_| s.uniform()).sum::<f64>() / n as f64;
        assert!((u - 0.5).abs() < 0.005);
    }

    #[test]
    fn the_table_sampler_gives_the_loops_counts() {
        let inv_k = inv_k_table();
        for &lambda in &[
            0.0, 1e-4, 0.05, 0.8, 1.28, 2.0, 2.32, 7.5, 15.999, 16.0, 17.3, 40.0, 100.0,
        ] {
            let params = PoissonParams::new(lambda);
            let sampler = PoissonSampler::new(&params, &inv_k);
            for target in 0..200u32 {
                for stamp in 0..200u64 {
                    let expected = poisson_f32(
                        9,
                        77,
                        target,
                        stamp,
                        params.pieces,
                        params.rest as f32,
                        params.exp_rest as f32,
                        params.exp_piece as f32,
                        &inv_k,
                    );
                    assert_eq!(
                        sampler.draw(9, 77, target, stamp),
                        expected,
                        "lambda {lambda}"
                    );
                }
            }
            if sampler.single_word() {
                for base in (0..200u32).step_by(LANES) {
                    let targets: [u32; LANES] = std::array::from_fn(|i| base * 7 + i as u32 * 13);
                    let lanes = sampler.draw_lanes(9, 77, &targets, 5);
                    for i in 0..LANES {
                        assert_eq!(lanes[i], sampler.draw(9, 77, targets[i], 5));
                    }
                }
            }
            // Uniforms exactly at the cumulative probabilities, and the
            // extremes, where `>` against `>=` would show.
            let cdf = sampler.cdf_rest;
            let mut probes: Vec<f32> = cdf.iter().copied().filter(|c| c.is_finite()).collect();
            probes.extend([0.0, u01_f32(u32::MAX)]);
            for u in probes {
                let looped =
                    poisson_inversion_f32(u, params.rest as f32, params.exp_rest as f32, &inv_k);
                assert_eq!(
                    PoissonSampler::count(&cdf, sampler.len_rest, u),
                    looped,
                    "lambda {lambda}, u {u}"
                );
            }
        }
    }

    #[test]
    fn poisson_mean_and_variance() {
        let inv_k = inv_k_table();
        for lambda in [0.3, 2.0, 16.0, 32.0, 40.0] {
            let p = PoissonParams::new(lambda);
            let n = 100_000u64;
            let xs: Vec<f64> = (0..n)
                .map(|stamp| {
                    poisson_f32(
                        1,
                        2,
                        3,
                        stamp,
                        p.pieces,
                        p.rest as f32,
                        p.exp_rest as f32,
                        p.exp_piece as f32,
                        &inv_k,
                    ) as f64
                })
                .collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            assert!(
                (m - lambda).abs() < 0.02 * lambda.max(1.0),
                "lambda {lambda}: mean {m}"
            );
            assert!(
                (v - lambda).abs() < 0.05 * lambda.max(1.0),
                "lambda {lambda}: var {v}"
            );
        }
    }
}

//! Connection rules with NEST's semantics.
//!
//! Each rule draws from streams keyed by the projection and by the target
//! (or source) neuron it is filling, so rows can be drawn in parallel and
//! the result does not depend on the number of threads.

use crate::description::{ConnectRule, ProjectionSpec};
use crate::rng::{Purpose, Stream, stream_id};
use rayon::prelude::*;
use std::collections::HashSet;

/// Expected number of connections, for the memory estimate.
pub fn expected_count(p: &ProjectionSpec, n_src: u64, n_tgt: u64) -> u64 {
    match p.rule {
        ConnectRule::AllToAll => n_src * n_tgt,
        ConnectRule::OneToOne => n_tgt,
        ConnectRule::FixedProbability { p } => ((n_src * n_tgt) as f64 * p) as u64,
        ConnectRule::FixedIndegree { indegree } => indegree * n_tgt,
        ConnectRule::FixedOutdegree { outdegree } => outdegree * n_src,
        ConnectRule::FixedTotalNumber { n } => n,
    }
}

/// Number of distinct (source, target) pairs, less the autapses when they
/// are not allowed.
pub fn distinct_pairs(sources: &[u32], targets: &[u32], autapses: bool) -> u64 {
    let dedup = |x: &[u32]| {
        let mut v = x.to_vec();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (s, t) = (dedup(sources), dedup(targets));
    let self_pairs = if autapses {
        0
    } else {
        s.iter().filter(|x| t.binary_search(x).is_ok()).count() as u64
    };
    s.len() as u64 * t.len() as u64 - self_pairs
}

/// Draws the (source, target) pairs of projection number `index`.
pub fn connect(
    p: &ProjectionSpec,
    sources: &[u32],
    targets: &[u32],
    seed: u64,
    index: usize,
) -> Vec<(u32, u32)> {
    let stream = stream_id(Purpose::Connect, index);
    let autapses = p.allow_autapses;
    match p.rule {
        ConnectRule::AllToAll => targets
            .par_iter()
            .flat_map_iter(|&t| {
                sources
                    .iter()
                    .filter(move |&&s| autapses || s != t)
                    .map(move |&s| (s, t))
            })
            .collect(),
        ConnectRule::OneToOne => sources
            .iter()
            .zip(targets)
            .filter(|(s, t)| autapses || s != t)
            .map(|(&s, &t)| (s, t))
            .collect(),
        ConnectRule::FixedProbability { p: prob } => targets
            .par_iter()
            .enumerate()
            .flat_map_iter(|(ti, &t)| {
                let mut rng = Stream::new(seed, stream, ti as u32);
                let mut row = Vec::new();
                for &s in sources {
                    // One draw per candidate pair, autapse or not, so that
                    // switching autapses off removes exactly those pairs.
                    let hit = rng.uniform() < prob;
                    if hit && (autapses || s != t) {
                        row.push((s, t));
                    }
                }
                row.into_iter()
            })
            .collect(),
        ConnectRule::FixedIndegree { indegree } => targets
            .par_iter()
            .enumerate()
            .flat_map_iter(|(ti, &t)| {
                let mut rng = Stream::new(seed, stream, ti as u32);
                draw_k(
                    &mut rng,
                    sources,
                    indegree as usize,
                    if autapses { None } else { Some(t) },
                    p.allow_multapses,
                )
                .into_iter()
                .map(move |s| (s, t))
            })
            .collect(),
        ConnectRule::FixedOutdegree { outdegree } => sources
            .par_iter()
            .enumerate()
            .flat_map_iter(|(si, &s)| {
                let mut rng = Stream::new(seed, stream, si as u32);
                draw_k(
                    &mut rng,
                    targets,
                    outdegree as usize,
                    if autapses { None } else { Some(s) },
                    p.allow_multapses,
                )
                .into_iter()
                .map(move |t| (s, t))
            })
            .collect(),
        ConnectRule::FixedTotalNumber { n } => {
            let mut rng = Stream::new(seed, stream, 0);
            let (ns, nt) = (sources.len() as u64, targets.len() as u64);
            let mut out = Vec::with_capacity(n as usize);
            let mut seen = HashSet::new();
            while (out.len() as u64) < n {
                let s = sources[rng.below(ns) as usize];
                let t = targets[rng.below(nt) as usize];
                if !autapses && s == t {
                    continue;
                }
                if !p.allow_multapses && !seen.insert((s, t)) {
                    continue;
                }
                out.push((s, t));
            }
            out
        }
    }
}

/// Draws `k` of `pool`, never `exclude`, with or without repetition.
fn draw_k(
    rng: &mut Stream,
    pool: &[u32],
    k: usize,
    exclude: Option<u32>,
    multapses: bool,
) -> Vec<u32> {
    let n = pool.len() as u64;
    let mut out = Vec::with_capacity(k);
    if multapses {
        while out.len() < k {
            let c = pool[rng.below(n) as usize];
            if Some(c) != exclude {
                out.push(c);
            }
        }
        return out;
    }
    let available = pool.iter().filter(|&&c| Some(c) != exclude).count();
    if k * 2 > available {
        // Dense: a partial Fisher-Yates shuffle of the candidates.
        let mut cand: Vec<u32> = pool
            .iter()
            .copied()
            .filter(|&c| Some(c) != exclude)
            .collect();
        for i in 0..k {
            let j = i + rng.below((cand.len() - i) as u64) as usize;
            cand.swap(i, j);
        }
        cand.truncate(k);
        return cand;
    }
    let mut seen = HashSet::with_capacity(k);
    while out.len() < k {
        let c = pool[rng.below(n) as usize];
        if Some(c) != exclude && seen.insert(c) {
            out.push(c);
        }
    }
    out
}

//! Connection rules, weights and delays with NEST's semantics, checked on the
//! built network's CSR synapse arrays; and the builder's determinism.

use renshaw::build::{Network, build};
use renshaw::description::{Description, Format, parse_str};
use std::collections::{HashMap, HashSet};

fn describe(text: &str) -> Description {
    parse_str(text, Format::Toml, "connectivity-test").unwrap_or_else(|e| panic!("{e}"))
}

fn net(text: &str) -> Network {
    build(&describe(text)).unwrap_or_else(|e| panic!("{e}"))
}

/// One synapse read back from the CSR arrays.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Syn {
    source: u32,
    target: u32,
    weight: f64,
    delay: u16,
}

fn synapses(net: &Network) -> Vec<Syn> {
    let s = &net.synapses;
    assert_eq!(
        s.row_start.len(),
        net.n_neurons + 1,
        "one CSR row per neuron"
    );
    assert_eq!(s.row_start[0], 0);
    assert_eq!(*s.row_start.last().unwrap() as usize, s.len());
    assert_eq!(s.weight.len(), s.len());
    assert_eq!(s.delay.len(), s.len());
    let mut out = Vec::with_capacity(s.len());
    for src in 0..net.n_neurons {
        let (a, b) = (s.row_start[src] as usize, s.row_start[src + 1] as usize);
        assert!(a <= b, "row_start must not decrease");
        for k in a..b {
            assert!(
                (s.target[k] as usize) < net.n_neurons,
                "target out of range"
            );
            assert!(s.delay[k] >= 1, "delay below one step");
            out.push(Syn {
                source: src as u32,
                target: s.target[k],
                weight: s.weight[k],
                delay: s.delay[k],
            });
        }
    }
    out
}

fn pop_range(net: &Network, name: &str) -> std::ops::Range<u32> {
    let p = net
        .populations
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no population {name}"));
    p.offset..p.offset + p.size
}

fn indegrees(net: &Network, syns: &[Syn]) -> Vec<usize> {
    let mut d = vec![0; net.n_neurons];
    for s in syns {
        d[s.target as usize] += 1;
    }
    d
}

fn outdegrees(net: &Network, syns: &[Syn]) -> Vec<usize> {
    let mut d = vec![0; net.n_neurons];
    for s in syns {
        d[s.source as usize] += 1;
    }
    d
}

fn assert_no_multapses(syns: &[Syn]) {
    let mut seen = HashSet::new();
    for s in syns {
        assert!(
            seen.insert((s.source, s.target)),
            "pair {} -> {} connected twice",
            s.source,
            s.target
        );
    }
}

fn assert_no_autapses(syns: &[Syn]) {
    for s in syns {
        assert_ne!(s.source, s.target, "autapse on neuron {}", s.source);
    }
}

/// Two populations A (`na`) and B (`nb`) and one projection.
fn two_pops(na: usize, nb: usize, from: &str, to: &str, connect: &str, synapse: &str) -> String {
    format!(
        r#"
[network]
dt = 0.1
seed = 42

[populations.A]
model = "iaf_psc_delta"
size = {na}

[populations.B]
model = "iaf_psc_delta"
size = {nb}

[[projections]]
from = {from}
to = {to}
connect = {connect}
synapse = {synapse}

[run]
duration = 1.0
"#
    )
}

const SYN: &str = "{ weight = 1.0, delay = 1.0 }";

#[test]
fn all_to_all_connects_every_pair_once() {
    let n = net(&two_pops(
        5,
        7,
        "\"A\"",
        "\"B\"",
        "{ rule = \"all_to_all\" }",
        SYN,
    ));
    let syns = synapses(&n);
    assert_eq!(syns.len(), 35);
    let pairs: HashSet<(u32, u32)> = syns.iter().map(|s| (s.source, s.target)).collect();
    let expected: HashSet<(u32, u32)> = pop_range(&n, "A")
        .flat_map(|s| pop_range(&n, "B").map(move |t| (s, t)))
        .collect();
    assert_eq!(pairs, expected);
    assert!(syns.iter().all(|s| s.weight == 1.0 && s.delay == 10));
}

#[test]
fn all_to_all_within_a_population_with_and_without_autapses() {
    // NEST's default allows autapses.
    let n = net(&two_pops(
        6,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"all_to_all\" }",
        SYN,
    ));
    let syns = synapses(&n);
    assert_eq!(syns.len(), 36);
    assert_no_multapses(&syns);
    assert_eq!(syns.iter().filter(|s| s.source == s.target).count(), 6);

    let n = net(&two_pops(
        6,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"all_to_all\", allow_autapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    assert_eq!(syns.len(), 30);
    assert_no_multapses(&syns);
    assert_no_autapses(&syns);
}

#[test]
fn one_to_one_pairs_are_exact() {
    let n = net(&two_pops(
        9,
        9,
        "\"A\"",
        "\"B\"",
        "{ rule = \"one_to_one\" }",
        SYN,
    ));
    let syns = synapses(&n);
    let mut pairs: Vec<(u32, u32)> = syns.iter().map(|s| (s.source, s.target)).collect();
    pairs.sort();
    let expected: Vec<(u32, u32)> = (0..9).map(|i| (i, 9 + i)).collect();
    assert_eq!(pairs, expected);

    // Within one population: each neuron onto itself, which NEST skips when
    // autapses are not allowed.
    let n = net(&two_pops(
        4,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"one_to_one\" }",
        SYN,
    ));
    let pairs: Vec<(u32, u32)> = synapses(&n).iter().map(|s| (s.source, s.target)).collect();
    assert_eq!(pairs, vec![(0, 0), (1, 1), (2, 2), (3, 3)]);
    let n = net(&two_pops(
        4,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"one_to_one\", allow_autapses = false }",
        SYN,
    ));
    assert!(synapses(&n).is_empty());
}

#[test]
fn fixed_indegree_exact_without_autapses_or_multapses() {
    let n = net(&two_pops(
        100,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"fixed_indegree\", indegree = 20, allow_autapses = false, allow_multapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    assert_eq!(syns.len(), 100 * 20);
    let ind = indegrees(&n, &syns);
    for i in pop_range(&n, "A") {
        assert_eq!(ind[i as usize], 20, "indegree of neuron {i}");
    }
    assert_eq!(
        ind[pop_range(&n, "B").start as usize],
        0,
        "B is not a target"
    );
    assert_no_autapses(&syns);
    assert_no_multapses(&syns);
}

#[test]
fn fixed_indegree_dense_draw_without_multapses() {
    // 45 of 49 available sources: the partial shuffle path.
    let n = net(&two_pops(
        50,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"fixed_indegree\", indegree = 45, allow_autapses = false, allow_multapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    let ind = indegrees(&n, &syns);
    assert!(pop_range(&n, "A").all(|i| ind[i as usize] == 45));
    assert_no_autapses(&syns);
    assert_no_multapses(&syns);

    // Every available source, exactly once.
    let n = net(&two_pops(
        30,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"fixed_indegree\", indegree = 29, allow_autapses = false, allow_multapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    assert_eq!(syns.len(), 30 * 29);
    assert_no_autapses(&syns);
    assert_no_multapses(&syns);
}

#[test]
fn fixed_indegree_with_multapses_may_exceed_the_source_count() {
    let n = net(&two_pops(
        10,
        20,
        "\"A\"",
        "\"B\"",
        "{ rule = \"fixed_indegree\", indegree = 30, allow_multapses = true }",
        SYN,
    ));
    let syns = synapses(&n);
    let ind = indegrees(&n, &syns);
    assert!(pop_range(&n, "B").all(|i| ind[i as usize] == 30));
    assert!(
        syns.iter()
            .all(|s| pop_range(&n, "A").contains(&s.source)
                && pop_range(&n, "B").contains(&s.target))
    );
    // 30 draws from 10 sources must repeat some pair.
    let distinct: HashSet<(u32, u32)> = syns.iter().map(|s| (s.source, s.target)).collect();
    assert!(distinct.len() < syns.len());
}

#[test]
fn fixed_indegree_sources_are_uniform() {
    // 2000 targets x 10 draws over 50 sources: 400 per source expected.
    let n = net(&two_pops(
        50,
        2000,
        "\"A\"",
        "\"B\"",
        "{ rule = \"fixed_indegree\", indegree = 10, allow_multapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    let out = outdegrees(&n, &syns);
    let counts: Vec<f64> = pop_range(&n, "A").map(|i| out[i as usize] as f64).collect();
    let expected = 2000.0 * 10.0 / 50.0;
    let chi2: f64 = counts
        .iter()
        .map(|c| (c - expected).powi(2) / expected)
        .sum();
    // 49 degrees of freedom: mean 49, sd ~ 9.9. Drawing without replacement
    // within a row only lowers the spread.
    assert!(
        chi2 < 49.0 + 6.0 * 98f64.sqrt(),
        "chi-square {chi2} over 49 dof: sources not uniform ({counts:?})"
    );
    assert!(chi2 > 5.0, "chi-square {chi2}: suspiciously even");
}

#[test]
fn fixed_outdegree_exact() {
    let n = net(&two_pops(
        200,
        300,
        "\"A\"",
        "\"B\"",
        "{ rule = \"fixed_outdegree\", outdegree = 15, allow_multapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    let out = outdegrees(&n, &syns);
    assert!(pop_range(&n, "A").all(|i| out[i as usize] == 15));
    assert!(pop_range(&n, "B").all(|i| out[i as usize] == 0));
    assert!(syns.iter().all(|s| pop_range(&n, "B").contains(&s.target)));
    assert_no_multapses(&syns);
    // Targets roughly uniform: 3000 draws over 300 targets.
    let ind = indegrees(&n, &syns);
    let expected = 10.0;
    let chi2: f64 = pop_range(&n, "B")
        .map(|i| (ind[i as usize] as f64 - expected).powi(2) / expected)
        .sum();
    assert!(
        chi2 < 299.0 + 6.0 * 598f64.sqrt(),
        "chi-square {chi2} over 299 dof"
    );

    let n = net(&two_pops(
        40,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"fixed_outdegree\", outdegree = 39, allow_autapses = false, allow_multapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    let out = outdegrees(&n, &syns);
    assert!(pop_range(&n, "A").all(|i| out[i as usize] == 39));
    assert_no_autapses(&syns);
    assert_no_multapses(&syns);
}

#[test]
fn fixed_total_number_exact() {
    let n = net(&two_pops(
        30,
        40,
        "\"A\"",
        "\"B\"",
        "{ rule = \"fixed_total_number\", n = 2000 }",
        SYN,
    ));
    let syns = synapses(&n);
    assert_eq!(syns.len(), 2000);
    assert!(
        syns.iter()
            .all(|s| pop_range(&n, "A").contains(&s.source)
                && pop_range(&n, "B").contains(&s.target))
    );

    let n = net(&two_pops(
        30,
        40,
        "\"A\"",
        "\"B\"",
        "{ rule = \"fixed_total_number\", n = 1000, allow_multapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    assert_eq!(syns.len(), 1000);
    assert_no_multapses(&syns);

    let n = net(&two_pops(
        30,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"fixed_total_number\", n = 500, allow_autapses = false, allow_multapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    assert_eq!(syns.len(), 500);
    assert_no_autapses(&syns);
    assert_no_multapses(&syns);
}

#[test]
fn fixed_total_number_that_cannot_be_met_is_an_error_not_a_hang() {
    // 30 x 30 pairs of which 30 are autapses: 900 distinct non-autapse pairs
    // do not exist. Run on a thread so that a hang shows up as a failure.
    let text = two_pops(
        30,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"fixed_total_number\", n = 900, allow_autapses = false, allow_multapses = false }",
        SYN,
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = parse_str(&text, Format::Toml, "impossible")
            .map(|d| build(&d).map(|n| n.synapses.len()));
        let _ = tx.send(format!("{result:?}"));
    });
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("building an impossible fixed_total_number hangs instead of failing");
    assert!(
        result.starts_with("Err") || result.starts_with("Ok(Err"),
        "impossible request accepted: {result}"
    );
}

#[test]
fn pairwise_bernoulli_is_nests_name_for_fixed_probability() {
    let with = |rule: &str| {
        synapses(&net(&two_pops(
            50,
            60,
            "\"A\"",
            "\"B\"",
            &format!("{{ rule = \"{rule}\", p = 0.3 }}"),
            SYN,
        )))
    };
    let (nest, ours) = (with("pairwise_bernoulli"), with("fixed_probability"));
    assert!(!nest.is_empty());
    assert_eq!(nest, ours, "the same rule, the same draws");
}

#[test]
fn fixed_probability_count_is_binomial() {
    let n = net(&two_pops(
        200,
        300,
        "\"A\"",
        "\"B\"",
        "{ rule = \"fixed_probability\", p = 0.1 }",
        SYN,
    ));
    let syns = synapses(&n);
    let (trials, p): (f64, f64) = (200.0 * 300.0, 0.1);
    let (mean, sd) = (trials * p, (trials * p * (1.0 - p)).sqrt());
    let got = syns.len() as f64;
    assert!(
        (got - mean).abs() < 5.0 * sd,
        "{got} synapses, expected {mean} +- {sd}"
    );
    assert_no_multapses(&syns);

    let n = net(&two_pops(
        300,
        1,
        "\"A\"",
        "\"A\"",
        "{ rule = \"fixed_probability\", p = 0.2, allow_autapses = false }",
        SYN,
    ));
    let syns = synapses(&n);
    let (trials, p): (f64, f64) = (300.0 * 299.0, 0.2);
    let (mean, sd) = (trials * p, (trials * p * (1.0 - p)).sqrt());
    let got = syns.len() as f64;
    assert!(
        (got - mean).abs() < 5.0 * sd,
        "{got} synapses, expected {mean} +- {sd}"
    );
    assert_no_autapses(&syns);
    assert_no_multapses(&syns);

    for (p, expected) in [("0.0", 0), ("1.0", 300 * 300)] {
        let n = net(&two_pops(
            300,
            1,
            "\"A\"",
            "\"A\"",
            &format!("{{ rule = \"fixed_probability\", p = {p} }}"),
            SYN,
        ));
        assert_eq!(n.synapses.len(), expected, "p = {p}");
    }
}

#[test]
fn target_list_is_the_union() {
    let text = r#"
[network]
seed = 3

[populations.E]
model = "iaf_psc_delta"
size = 80

[populations.I]
model = "iaf_psc_exp"
size = 20

[populations.X]
model = "iaf_psc_delta"
size = 5

[[projections]]
from = "E"
to = ["E", "I"]
connect = { rule = "fixed_indegree", indegree = 10, allow_autapses = false, allow_multapses = false }
synapse = { weight = 0.5, delay = 1.5 }

[[projections]]
from = ["E", "I"]
to = "X"
connect = { rule = "all_to_all" }
synapse = { weight = -0.25, delay = 0.5 }

[run]
duration = 1.0
"#;
    let n = net(text);
    let syns = synapses(&n);
    let (e, i, x) = (pop_range(&n, "E"), pop_range(&n, "I"), pop_range(&n, "X"));
    let first: Vec<Syn> = syns.iter().copied().filter(|s| s.weight == 0.5).collect();
    let ind = indegrees(&n, &first);
    for t in e.clone().chain(i.clone()) {
        assert_eq!(ind[t as usize], 10, "indegree of neuron {t} from E");
    }
    assert!(x.clone().all(|t| ind[t as usize] == 0));
    assert!(first.iter().all(|s| e.contains(&s.source) && s.delay == 15));
    assert_no_autapses(&first);
    assert_no_multapses(&first);

    // Sources as a list: all 100 of E and I onto each of X.
    let second: Vec<Syn> = syns.iter().copied().filter(|s| s.weight == -0.25).collect();
    assert_eq!(second.len(), 100 * 5);
    let ind = indegrees(&n, &second);
    assert!(x.clone().all(|t| ind[t as usize] == 100));
    assert!(second.iter().all(|s| s.delay == 5));
    assert_eq!(syns.len(), first.len() + second.len());
}

/// A projection A (100) -> B (100), fixed_indegree 100 with multapses, so
/// 10000 synapses, with the given weight and delay.
fn drawn(weight: &str, delay: &str) -> Vec<Syn> {
    let n = net(&two_pops(
        100,
        100,
        "\"A\"",
        "\"B\"",
        "{ rule = \"fixed_indegree\", indegree = 100 }",
        &format!("{{ weight = {weight}, delay = {delay} }}"),
    ));
    let s = synapses(&n);
    assert_eq!(s.len(), 10_000);
    s
}

fn mean_sd(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = xs.collect();
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    (m, var.sqrt())
}

#[test]
fn uniform_weights_and_delays() {
    let syns = drawn("{ uniform = [0.5, 1.5] }", "{ uniform = [0.1, 2.0] }");
    assert!(syns.iter().all(|s| (0.5..1.5).contains(&s.weight)));
    let (m, sd) = mean_sd(syns.iter().map(|s| s.weight));
    // sd of the mean: (1/sqrt 12) / 100 = 0.0029.
    assert!((m - 1.0).abs() < 0.015, "mean weight {m}");
    assert!((sd - 1.0 / 12f64.sqrt()).abs() < 0.01, "sd {sd}");
    // Delays 0.1..2.0 ms are 1..20 steps; every value occurs. The end
    // values have half the mass of the inner ones (rounding to nearest).
    let mut counts = HashMap::new();
    for s in &syns {
        assert!((1..=20).contains(&s.delay), "delay {} steps", s.delay);
        *counts.entry(s.delay).or_insert(0usize) += 1;
    }
    assert_eq!(counts.len(), 20, "{counts:?}");
    let inner = 10_000.0 / 19.0;
    for d in 2..=19u16 {
        let c = counts[&d] as f64;
        assert!(
            (c - inner).abs() < 5.0 * inner.sqrt(),
            "{c} delays of {d} steps, expected ~{inner}"
        );
    }
    assert!((counts[&1] as f64 - inner / 2.0).abs() < 5.0 * (inner / 2.0).sqrt());
    assert!((counts[&20] as f64 - inner / 2.0).abs() < 5.0 * (inner / 2.0).sqrt());
    let (dm, _) = mean_sd(syns.iter().map(|s| s.delay as f64 * 0.1));
    assert!((dm - 1.05).abs() < 0.02, "mean delay {dm} ms");
}

#[test]
fn normal_and_normal_clipped_weights() {
    let syns = drawn("{ normal = { mean = 2.0, std = 0.5 } }", "1.0");
    let (m, sd) = mean_sd(syns.iter().map(|s| s.weight));
    assert!((m - 2.0).abs() < 0.025, "mean {m}");
    assert!((sd - 0.5).abs() < 0.025, "sd {sd}");

    let syns = drawn(
        "{ normal_clipped = { mean = 1.0, std = 1.0, min = 0.5, max = 2.0 } }",
        "{ normal_clipped = { mean = 1.0, std = 0.5, min = 0.5, max = 1.5 } }",
    );
    assert!(
        syns.iter().all(|s| (0.5..=2.0).contains(&s.weight)),
        "clipped weight outside [0.5, 2]"
    );
    assert!(
        syns.iter().all(|s| (5..=15).contains(&s.delay)),
        "clipped delay outside [5, 15] steps"
    );
    // Redrawing (not clamping): no pile-up at the bounds.
    assert!(
        syns.iter()
            .filter(|s| s.weight == 0.5 || s.weight == 2.0)
            .count()
            == 0
    );
    // Mean of N(1, 1) truncated to [0.5, 2]: 1 + (phi(-0.5) - phi(1)) / (Phi(1) - Phi(-0.5)).
    let (phi_a, phi_b) = (0.352_065_326_764_299_5, 0.241_970_724_519_143_37);
    let mass = 0.841_344_746_068_542_9 - 0.308_537_538_725_986_9;
    let expected = 1.0 + (phi_a - phi_b) / mass;
    let (m, _) = mean_sd(syns.iter().map(|s| s.weight));
    assert!(
        (m - expected).abs() < 0.02,
        "clipped mean {m}, expected {expected}"
    );
}

#[test]
fn lognormal_weights_are_positive() {
    let syns = drawn("{ lognormal = { mu = 0.0, sigma = 0.5 } }", "1.0");
    assert!(syns.iter().all(|s| s.weight > 0.0));
    let (m, _) = mean_sd(syns.iter().map(|s| s.weight.ln()));
    assert!(m.abs() < 0.025, "mean of ln w {m}");
    let (m, _) = mean_sd(syns.iter().map(|s| s.weight));
    let expected = (0.5f64 * 0.5 / 2.0).exp();
    assert!((m - expected).abs() < 0.03, "mean {m}, expected {expected}");
}

#[test]
fn negative_weights_stay_negative() {
    let syns = drawn("-2.5", "1.0");
    assert!(syns.iter().all(|s| s.weight == -2.5));
    let syns = drawn("{ uniform = [-3.0, -1.0] }", "1.0");
    assert!(syns.iter().all(|s| (-3.0..-1.0).contains(&s.weight)));
    let (m, _) = mean_sd(syns.iter().map(|s| s.weight));
    assert!((m + 2.0).abs() < 0.03, "mean {m}");
}

#[test]
fn delays_round_as_nest() {
    // NEST: steps = floor(d / dt + 0.5); 0.15 ms at dt = 0.1 is 2 steps.
    for (delay, steps) in [
        ("0.15", 2u16),
        ("0.14", 1),
        ("0.1", 1),
        ("0.25", 3),
        ("1.0", 10),
        ("1.04", 10),
        ("1.05", 11),
    ] {
        let n = net(&two_pops(
            3,
            3,
            "\"A\"",
            "\"B\"",
            "{ rule = \"all_to_all\" }",
            &format!("{{ weight = 1.0, delay = {delay} }}"),
        ));
        let syns = synapses(&n);
        assert_eq!(syns.len(), 9);
        assert!(
            syns.iter().all(|s| s.delay == steps),
            "delay {delay} ms: {:?} steps, NEST gives {steps}",
            syns[0].delay
        );
        assert_eq!(n.max_delay, steps as u64);
    }
}

#[test]
fn a_delay_below_one_step_is_refused() {
    let text = two_pops(
        3,
        3,
        "\"A\"",
        "\"B\"",
        "{ rule = \"all_to_all\" }",
        "{ weight = 1.0, delay = 0.04 }",
    );
    assert!(
        parse_str(&text, Format::Toml, "short").is_err(),
        "delay of 0.04 ms at dt 0.1 accepted"
    );
}

#[test]
fn the_longest_accepted_delay_is_kept() {
    // Delays are stored in 16 bits: 65535 steps must come out of the build
    // unchanged, and anything longer must be refused (by validation or by
    // the build), never wrapped around.
    let text = |steps: u64| {
        two_pops(
            1,
            1,
            "\"A\"",
            "\"B\"",
            "{ rule = \"all_to_all\" }",
            &format!("{{ weight = 1.0, delay = {steps}.0 }}"),
        )
        .replace("dt = 0.1", "dt = 1.0")
    };
    let n = net(&text(65_535));
    assert_eq!(synapses(&n)[0].delay, u16::MAX);
    assert_eq!(n.max_delay, 65_535);
    for steps in [65_536u64, 65_537, 100_000] {
        if let Ok(desc) = parse_str(&text(steps), Format::Toml, "long") {
            match build(&desc) {
                Ok(n) => panic!(
                    "a delay of {steps} steps was stored as {} steps",
                    n.synapses.delay[0]
                ),
                Err(e) => assert!(e.to_string().contains("steps"), "{e}"),
            }
        }
    }
}

/// A network that uses every random choice of the builder.
fn random_network(seed: u64) -> String {
    format!(
        r#"
[network]
dt = 0.1
seed = {seed}

[populations.E]
model = "iaf_psc_delta"
size = 400
init = {{ V_m = {{ uniform = [-70.0, -55.0] }} }}

[populations.I]
model = "iaf_psc_exp"
size = 100
init = {{ V_m = {{ normal = {{ mean = -65.0, std = 3.0 }} }}, I_syn_ex = {{ uniform = [0.0, 5.0] }} }}

[[projections]]
from = "E"
to = ["E", "I"]
connect = {{ rule = "fixed_indegree", indegree = 40, allow_autapses = false, allow_multapses = false }}
synapse = {{ weight = {{ uniform = [0.05, 0.15] }}, delay = {{ uniform = [0.5, 3.0] }} }}

[[projections]]
from = "I"
to = ["E", "I"]
connect = {{ rule = "fixed_probability", p = 0.1 }}
synapse = {{ weight = {{ normal_clipped = {{ mean = -0.5, std = 0.2, max = 0.0 }} }}, delay = {{ normal_clipped = {{ mean = 1.5, std = 0.5, min = 0.1, max = 4.0 }} }} }}

[[projections]]
from = "E"
to = "I"
connect = {{ rule = "fixed_outdegree", outdegree = 7 }}
synapse = {{ weight = {{ lognormal = {{ mu = -1.0, sigma = 0.3 }} }}, delay = 2.0 }}

[[projections]]
from = "I"
to = "E"
connect = {{ rule = "fixed_total_number", n = 3000 }}
synapse = {{ weight = {{ normal = {{ mean = -0.3, std = 0.05 }} }}, delay = 1.0 }}

[run]
duration = 1.0
"#
    )
}

/// Synapse arrays and initial state as bits.
type Fingerprint = (Vec<u64>, Vec<u32>, Vec<u64>, Vec<u16>, Vec<Vec<Vec<u64>>>);

fn fingerprint(n: &Network) -> Fingerprint {
    (
        n.synapses.row_start.clone(),
        n.synapses.target.clone(),
        n.synapses.weight.iter().map(|w| w.to_bits()).collect(),
        n.synapses.delay.clone(),
        n.populations
            .iter()
            .map(|p| {
                p.initial_state
                    .iter()
                    .map(|v| v.iter().map(|x| x.to_bits()).collect())
                    .collect()
            })
            .collect(),
    )
}

#[test]
fn same_seed_same_network_different_seed_different_network() {
    let desc = describe(&random_network(7));
    let a = build(&desc).unwrap();
    let b = build(&desc).unwrap();
    assert!(a.synapses.len() > 20_000);
    assert_eq!(fingerprint(&a), fingerprint(&b));
    // Parsing again gives the same too.
    assert_eq!(fingerprint(&a), fingerprint(&net(&random_network(7))));

    let c = net(&random_network(8));
    let (fa, fc) = (fingerprint(&a), fingerprint(&c));
    assert_ne!(fa.1, fc.1, "targets do not depend on the seed");
    assert_ne!(fa.2, fc.2, "weights do not depend on the seed");
    assert_ne!(fa.3, fc.3, "delays do not depend on the seed");
    assert_ne!(fa.4, fc.4, "initial state does not depend on the seed");
}

#[test]
fn build_does_not_depend_on_the_number_of_threads() {
    let desc = describe(&random_network(11));
    let pool = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
    };
    let one = pool(1).install(|| build(&desc)).unwrap();
    let two = pool(2).install(|| build(&desc)).unwrap();
    let four = pool(4).install(|| build(&desc)).unwrap();
    assert_eq!(fingerprint(&one), fingerprint(&two));
    assert_eq!(fingerprint(&one), fingerprint(&four));
}

#[test]
fn several_projections_add_up() {
    let n = net(&random_network(5));
    let syns = synapses(&n);
    let (e, i) = (pop_range(&n, "E"), pop_range(&n, "I"));
    // Deterministic counts: indegree 40 onto 500, outdegree 7 from 400, 3000.
    let fixed = 500 * 40 + 400 * 7 + 3000;
    let (mean, sd) = (100.0 * 500.0 * 0.1, (100.0f64 * 500.0 * 0.1 * 0.9).sqrt());
    let random = syns.len() as f64 - fixed as f64;
    assert!(
        (random - mean).abs() < 5.0 * sd,
        "{random} fixed_probability synapses, expected {mean} +- {sd}"
    );
    // Sources of E are excitatory, of I inhibitory, whatever the distribution.
    assert!(syns.iter().all(|s| if e.contains(&s.source) {
        s.weight > 0.0
    } else {
        i.contains(&s.source) && s.weight < 0.0
    }));
    // Every E and I neuron gets at least its 40 fixed_indegree inputs from E.
    let from_e = indegrees(
        &n,
        &syns
            .iter()
            .copied()
            .filter(|s| e.contains(&s.source))
            .collect::<Vec<_>>(),
    );
    assert!(e.clone().chain(i.clone()).all(|t| from_e[t as usize] >= 40));
    assert!(
        e.clone().all(|t| from_e[t as usize] == 40),
        "E gets input from E only through fixed_indegree"
    );
    assert_eq!(
        n.max_delay,
        syns.iter().map(|s| s.delay as u64).max().unwrap()
    );
}

//! Helpers shared by the tests: comparisons with NEST reference data
//! (tests/reference/*/data/*.json) and the GPU-adapter check.

#![allow(dead_code, reason = "each test binary uses the helpers it needs")]

use renshaw::description::{self, Description};
use renshaw::simulation::RunOutput;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `tests/reference/<dir>`.
pub fn reference_dir(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(dir)
}

/// A case's description and NEST's data for it.
pub fn load_case(dir: &str, name: &str) -> (Description, Value) {
    let root = reference_dir(dir);
    let desc = description::load(&root.join(format!("cases/{name}.toml")))
        .unwrap_or_else(|e| panic!("{e}"));
    let data = std::fs::read_to_string(root.join(format!("data/{name}.json"))).unwrap();
    (desc, serde_json::from_str(&data).unwrap())
}

/// The case names in `tests/reference/<dir>/cases`, sorted.
pub fn case_names(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(reference_dir(dir).join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts that every population's spikes in `reference["spikes"]` equal
/// the run's, as (stamp, local neuron) pairs.
pub fn assert_spikes_match(name: &str, reference: &Value, out: &RunOutput) {
    assert_spike_list_matches(name, reference, &out.network, &out.spikes);
}

/// As [`assert_spikes_match`], for spikes an engine returned.
pub fn assert_spike_list_matches(
    name: &str,
    reference: &Value,
    net: &renshaw::build::Network,
    spikes_got: &[renshaw::engine::Spike],
) {
    for (pop_name, spikes) in reference["spikes"].as_object().unwrap() {
        let pop = net
            .populations
            .iter()
            .find(|p| &p.name == pop_name)
            .unwrap();
        let mut expected: Vec<(u64, u32)> = spikes["times"]
            .as_array()
            .unwrap()
            .iter()
            .zip(spikes["senders"].as_array().unwrap())
            .map(|(t, s)| {
                (
                    (t.as_f64().unwrap() / net.dt).round() as u64,
                    s.as_u64().unwrap() as u32,
                )
            })
            .collect();
        let mut got: Vec<(u64, u32)> = spikes_got
            .iter()
            .filter(|s| s.neuron >= pop.offset && s.neuron < pop.offset + pop.size)
            .map(|s| (s.stamp, s.neuron - pop.offset))
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(
            got, expected,
            "{name}: spikes of {pop_name} differ from NEST (stamp, neuron)"
        );
    }
}

/// Compares every recorded weight snapshot with NEST's; returns the largest
/// relative difference and panics beyond `tolerance`.
pub fn assert_weights_match(name: &str, reference: &Value, out: &RunOutput, tolerance: f64) -> f64 {
    assert_weights_within(name, reference, out, |_| 1e-3, tolerance).0
}

/// As [`assert_weights_match`], the difference relative to the larger of
/// NEST's weight and `floor(projection)`; returns the largest difference and
/// the number of weights compared.
pub fn assert_weights_within(
    name: &str,
    reference: &Value,
    out: &RunOutput,
    floor: impl Fn(usize) -> f64,
    tolerance: f64,
) -> (f64, usize) {
    let mut worst = 0.0f64;
    let mut compared = 0;
    for (proj, series) in reference["weights"].as_object().unwrap() {
        let proj: usize = proj.parse().unwrap();
        let ours = out
            .weights
            .iter()
            .find(|w| w.projection == proj)
            .unwrap_or_else(|| panic!("{name}: projection {proj} not recorded"));
        let indices = |key: &str| -> Vec<u32> {
            series[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect()
        };
        let (sources, targets) = (indices("sources"), indices("targets"));
        assert_eq!(
            ours.sources, sources,
            "{name}: synapse sources (sorted by source, target)"
        );
        assert_eq!(ours.targets, targets, "{name}: synapse targets");
        // NEST's snapshots include the end of the run; ours put it in final_weights.
        let mut rows: Vec<(f64, Vec<f64>)> = ours
            .times
            .iter()
            .copied()
            .zip(ours.values.iter().cloned())
            .collect();
        rows.push((out.summary.duration_ms, ours.final_weights.clone()));
        for (t, row) in series["times"]
            .as_array()
            .unwrap()
            .iter()
            .zip(series["values"].as_array().unwrap())
        {
            let t = t.as_f64().unwrap();
            let (_, mine) = rows
                .iter()
                .find(|(s, _)| (s - t).abs() < 1e-9)
                .unwrap_or_else(|| panic!("{name}: no snapshot at {t} ms"));
            for (i, (a, b)) in mine.iter().zip(row.as_array().unwrap()).enumerate() {
                let b = b.as_f64().unwrap();
                let rel = (a - b).abs() / b.abs().max(floor(proj));
                worst = worst.max(rel);
                assert!(
                    rel <= tolerance,
                    "{name}: weight of synapse {i} ({} -> {}) at {t} ms: renshaw {a}, NEST {b} (relative {rel:.2e} > {tolerance:e})",
                    sources[i],
                    targets[i]
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 0, "{name}: no weights compared");
    (worst, compared)
}

/// Whether a GPU adapter is there for `test`. CI installs Mesa's lavapipe
/// and sets CI=true: there, a missing adapter fails the test. Elsewhere the
/// test says that it skipped and returns `false`.
pub fn gpu_available(test: &str) -> bool {
    match renshaw::engine::gpu::best_adapter() {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: CI=true but no usable GPU adapter ({e}); .ci/run installs mesa-vulkan-drivers so that GPU tests run"
                );
            }
            eprintln!("SKIPPED {test}: no GPU adapter ({e})");
            false
        }
    }
}

//! Dopamine-modulated STDP (NEST's stdp_dopamine_synapse) on the CPU engine
//! against NEST 3.10 (tests/reference/dopamine/): imposed pre, post and
//! dopamine spike trains, weights recorded at an interval and at the end,
//! The issue asks for 1e-4 relative; renshaw agrees to 1.2e-13, so the
//! bound is 1e-10.

use renshaw::description;
use renshaw::simulation::{Backend, RunOptions, run_description};
use serde_json::Value;
use std::path::Path;

fn check_case(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/dopamine");
    let desc = description::load(&root.join(format!("cases/{name}.toml")))
        .unwrap_or_else(|e| panic!("{e}"));
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(format!("data/{name}.json"))).unwrap(),
    )
    .unwrap();
    let opts = RunOptions {
        backend: Backend::Cpu,
        threads: Some(2),
        ..Default::default()
    };
    let out = run_description(&desc, &opts, 0.0).unwrap();
    let net = &out.network;

    // The imposed spikes happen as in NEST.
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
        let mut got: Vec<(u64, u32)> = out
            .spikes
            .iter()
            .filter(|s| s.neuron >= pop.offset && s.neuron < pop.offset + pop.size)
            .map(|s| (s.stamp, s.neuron - pop.offset))
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{name}: spikes of {pop_name}");
    }

    let mut compared = 0;
    for (proj, series) in reference["weights"].as_object().unwrap() {
        let proj: usize = proj.parse().unwrap();
        let ours = out
            .weights
            .iter()
            .find(|w| w.projection == proj)
            .unwrap_or_else(|| panic!("{name}: projection {proj} not recorded"));
        let sources: Vec<u32> = series["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let targets: Vec<u32> = series["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            ours.sources, sources,
            "{name}: synapse sources (sorted by source, target)"
        );
        assert_eq!(ours.targets, targets, "{name}: synapse targets");
        let times = series["times"].as_array().unwrap();
        let values = series["values"].as_array().unwrap();
        // NEST's snapshots include the end of the run; ours put it in final_weights.
        let mut rows: Vec<(f64, Vec<f64>)> = ours
            .times
            .iter()
            .copied()
            .zip(ours.values.iter().cloned())
            .collect();
        rows.push((out.summary.duration_ms, ours.final_weights.clone()));
        let mut worst = 0.0f64;
        for (t, row) in times.iter().zip(values) {
            let t = t.as_f64().unwrap();
            let (_, mine) = rows
                .iter()
                .find(|(s, _)| (s - t).abs() < 1e-9)
                .unwrap_or_else(|| panic!("{name}: no snapshot at {t} ms"));
            for (i, (a, b)) in mine.iter().zip(row.as_array().unwrap()).enumerate() {
                let b = b.as_f64().unwrap();
                let rel = (a - b).abs() / b.abs().max(1e-3);
                worst = worst.max(rel);
                assert!(
                    rel <= 1e-10,
                    "{name}: weight of synapse {i} ({} -> {}) at {t} ms: renshaw {a}, NEST {b}",
                    sources[i],
                    targets[i]
                );
                compared += 1;
            }
        }
        eprintln!(
            "{name}: projection {proj}: largest relative weight difference to NEST {worst:.2e}"
        );
    }
    assert!(compared > 0, "{name}: no weights compared");
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_case(stringify!($name));
            }
        )*
        #[test]
        fn every_case_file_has_a_test() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/dopamine/cases");
            let mut files: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let mut listed = vec![$(stringify!($name).to_string()),*];
            listed.sort();
            assert_eq!(files, listed);
        }
    };
}

cases!(
    clip,
    no_dopamine,
    pairs,
    quirks,
    random,
    random_b,
    random_md2
);

//! The examples in examples/ run as written and give the answers their
//! comments state.

use renshaw::description;
use renshaw::simulation::{Backend, RunOptions, run_description};
use std::path::Path;

fn example(name: &str) -> description::Description {
    description::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// NEST 3.10: first spike at 59.3 ms, 16 spikes in 1 s, on every backend.
#[test]
fn single_neuron_fires_as_in_nest() {
    let desc = example("single_neuron.toml");
    let mut backends = vec![Backend::Cpu];
    match renshaw::engine::gpu::best_adapter() {
        Ok(_) => backends.push(Backend::Gpu),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but no GPU adapter: {e}")
        }
        Err(e) => eprintln!("SKIPPED the GPU half of single_neuron_fires_as_in_nest: {e}"),
    }
    for backend in backends {
        let out = run_description(
            &desc,
            &RunOptions {
                backend,
                ..Default::default()
            },
            0.0,
        )
        .unwrap();
        let times = out.spike_times("n", 0);
        assert_eq!(times.len(), 16, "{backend:?}: {times:?}");
        assert!(
            (times[0] - 59.3).abs() < 1e-9,
            "{backend:?}: first spike at {}",
            times[0]
        );
    }
}

/// Every shipped example validates.
#[test]
fn every_example_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("toml" | "json")
        ) {
            description::load(&p).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2);
}

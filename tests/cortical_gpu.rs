//! The three cortical benchmark networks give the same statistics on the GPU
//! as on the CPU engine: Brunel (reduced), Vogels–Abbott CUBA, and the
//! Potjans–Diesmann microcircuit at small scale. The networks are chaotic
//! and the GPU steps in f32, so spike trains part ways after a few hundred
//! milliseconds; what must agree is what the field compares simulators on:
//! per-population rates and CV of ISI over the analysis window.
//!
//! Needs a wgpu adapter: CI (CI=true, lavapipe) fails without one;
//! elsewhere the test says that it skipped.

use renshaw::description::{Override, load_with};
use renshaw::simulation::{Backend, RunOptions, Summary, run_description};
use std::path::Path;

mod common;
use common::gpu_available;

fn run(file: &str, set: &[&str], backend: Backend) -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let overrides: Vec<Override> = set.iter().map(|s| s.parse().unwrap()).collect();
    let desc = load_with(&path, &overrides).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        backend,
        threads: Some(2),
        keep_in_memory: false,
        ..Default::default()
    };
    run_description(&desc, &opts, 0.0)
        .unwrap_or_else(|e| panic!("{file} on {backend:?}: {e}"))
        .summary
}

/// Rates within `rate_rel` (relative, or 0.3 Hz for slow populations) and
/// CV of ISI within `cv_abs`, population by population.
fn assert_same_statistics(name: &str, cpu: &Summary, gpu: &Summary, rate_rel: f64, cv_abs: f64) {
    assert_eq!(cpu.neurons, gpu.neurons);
    assert_eq!(cpu.synapses, gpu.synapses);
    for (pop, c) in &cpu.populations {
        let g = &gpu.populations[pop];
        let (rc, rg) = (c.rate_hz, g.rate_hz);
        eprintln!(
            "{name} {pop}: rate CPU {rc:.3} GPU {rg:.3} Hz; CV ISI CPU {:?} GPU {:?}",
            c.cv_isi, g.cv_isi
        );
        assert!(rc > 0.0, "{name} {pop}: silent on the CPU");
        assert!(
            (rc - rg).abs() <= (rate_rel * rc).max(0.3),
            "{name} {pop}: rate CPU {rc} vs GPU {rg}"
        );
        if let (Some(a), Some(b)) = (c.cv_isi, g.cv_isi) {
            assert!(
                (a - b).abs() <= cv_abs,
                "{name} {pop}: CV ISI CPU {a} vs GPU {b}"
            );
        }
    }
}

#[test]
fn brunel_cuba_and_pd14_statistics_agree_between_cpu_and_gpu() {
    if !gpu_available("brunel_cuba_and_pd14_statistics_agree_between_cpu_and_gpu") {
        return;
    }
    // Brunel model A at a fifth of the size, in-degrees and weights scaled
    // so that the mean recurrent input stays that of the full network.
    let brunel = [
        "populations.E.size=2000",
        "populations.I.size=500",
        "projections[0].connect.indegree=200",
        "projections[0].synapse.weight=0.5",
        "projections[1].connect.indegree=50",
        "projections[1].synapse.weight=-2.5",
        "run.duration=500",
    ];
    let cpu = run("examples/brunel.toml", &brunel, Backend::Cpu);
    let gpu = run("examples/brunel.toml", &brunel, Backend::Gpu);
    assert_same_statistics("brunel", &cpu, &gpu, 0.05, 0.05);

    let cuba = ["run.duration=1000"];
    let cpu = run("examples/cuba.toml", &cuba, Backend::Cpu);
    let gpu = run("examples/cuba.toml", &cuba, Backend::Gpu);
    assert_same_statistics("cuba", &cpu, &gpu, 0.1, 0.05);

    // 1,544 neurons with the full in-degrees (6 million synapses), 300 ms
    // after a 200 ms warm-up.
    let pd14 = ["scale=0.02", "t_presim=200", "t_sim=300"];
    let cpu = run("examples/pd14.toml", &pd14, Backend::Cpu);
    let gpu = run("examples/pd14.toml", &pd14, Backend::Gpu);
    assert_same_statistics("pd14", &cpu, &gpu, 0.2, 0.1);
}

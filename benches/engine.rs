//! Engine benchmarks: the fixed cost of a step on a small network and the
//! Brunel (2000) network, on the CPU engine and, when an adapter exists, on
//! the GPU. See benches/README.md.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use renshaw::build::{Network, build};
use renshaw::description::{Format, load, parse_str};
use renshaw::engine::cpu::CpuEngine;
use renshaw::engine::gpu::GpuEngine;
use renshaw::engine::{Chunk, Engine};
use std::path::Path;
use std::sync::Arc;

fn small_network() -> Arc<Network> {
    let text = r#"
[network]
dt = 0.1
seed = 1
[populations.E]
model = "iaf_psc_delta"
size = 800
params = { C_m = 1.0, tau_m = 20.0, t_ref = 2.0, E_L = 0.0, V_reset = 10.0, V_th = 20.0 }
init = { V_m = { uniform = [10.0, 20.0] } }
[populations.I]
like = "E"
size = 200
[[stimuli]]
kind = "poisson"
rate = 2000.0
targets = ["E", "I"]
synapse = { weight = 0.707, delay = 1.5 }
[[projections]]
from = "E"
to = ["E", "I"]
connect = { rule = "fixed_indegree", indegree = 80 }
synapse = { weight = 0.707, delay = 1.5 }
[[projections]]
from = "I"
to = ["E", "I"]
connect = { rule = "fixed_indegree", indegree = 20 }
synapse = { weight = -3.535, delay = 1.5 }
[run]
duration = 1000.0
"#;
    Arc::new(build(&parse_str(text, Format::Toml, "small").unwrap()).unwrap())
}

fn engines(net: &Arc<Network>) -> Vec<(String, Box<dyn Engine>)> {
    let mut out: Vec<(String, Box<dyn Engine>)> = vec![(
        "cpu".into(),
        Box::new(CpuEngine::new(Arc::clone(net), None).unwrap()),
    )];
    match GpuEngine::new(Arc::clone(net)) {
        Ok(g) => {
            eprintln!("GPU adapter: {}", g.describe());
            out.push(("gpu".into(), Box::new(g)));
        }
        Err(e) => eprintln!("no GPU benchmark: {e}"),
    }
    out
}

/// Wall time of 100 steps of a 1,000-neuron E/I network: the fixed cost of a step.
fn step_cost(c: &mut Criterion) {
    let net = small_network();
    let mut group = c.benchmark_group("step_cost_1000_neurons");
    group.throughput(Throughput::Elements(100));
    for (name, mut engine) in engines(&net) {
        let mut warm = Chunk::default();
        engine.advance(1000, &mut warm).unwrap();
        group.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter(|| {
                let mut out = Chunk::default();
                engine.advance(100, &mut out).unwrap();
                out.spikes.len()
            })
        });
    }
    group.finish();
}

/// Wall time of 100 ms (1,000 steps, after 100 ms of warm-up) of an
/// example, on every backend; throughput in steps.
fn bench_example_100ms(c: &mut Criterion, group_name: &str, example: &str) {
    let desc = load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(example),
    )
    .unwrap();
    let net = Arc::new(build(&desc).unwrap());
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(1000));
    for (name, mut engine) in engines(&net) {
        let mut warm = Chunk::default();
        engine.advance(1000, &mut warm).unwrap();
        group.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter(|| {
                let mut out = Chunk::default();
                engine.advance(1000, &mut out).unwrap();
                out.spikes.len()
            })
        });
    }
    group.finish();
}

/// The Brunel network: 12,500 neurons, 15.6 million synapses.
fn brunel_100ms(c: &mut Criterion) {
    bench_example_100ms(c, "brunel_100ms", "brunel.toml");
}

/// Brunel with STDP on its 8 million E -> E synapses; against `brunel_100ms`
/// it gives the share of time spent in plasticity.
fn brunel_stdp_100ms(c: &mut Criterion) {
    bench_example_100ms(c, "brunel_stdp_100ms", "brunel_stdp.toml");
}

criterion_group!(benches, step_cost, brunel_100ms, brunel_stdp_100ms);
criterion_main!(benches);

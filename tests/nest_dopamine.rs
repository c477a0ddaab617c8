//! Dopamine-modulated STDP (NEST's stdp_dopamine_synapse) on the CPU engine
//! against NEST 3.10 (tests/reference/dopamine/): imposed pre, post and
//! dopamine spike trains, weights recorded at an interval and at the end.
//! The issue asks for 1e-4 relative; renshaw agrees to 1.2e-13, so the
//! bound is 1e-10. Also the GPU kernels' CPU twin (f32; needs no GPU).

mod common;

use renshaw::simulation::{Backend, RunOptions, run_description};

fn check_case(name: &str) {
    let (desc, reference) = common::load_case("dopamine", name);
    let out = run_description(
        &desc,
        &RunOptions {
            backend: Backend::Cpu,
            threads: Some(2),
            ..Default::default()
        },
        0.0,
    )
    .unwrap();
    common::assert_spikes_match(name, &reference, &out);
    let worst = common::assert_weights_match(name, &reference, &out, 1e-10);
    eprintln!("{name}: largest relative weight difference to NEST {worst:.2e}");
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
            let mut listed = vec![$(stringify!($name).to_string()),*];
            listed.sort();
            assert_eq!(common::case_names("dopamine"), listed);
        }
    };
}

cases!(
    clip,
    negative_b,
    no_dopamine,
    pairs,
    quirks,
    random,
    random_b,
    random_md2
);

/// The CPU twin of the GPU kernels (f32, the device layout; runs without a
/// GPU) on every case: NEST's spikes and weights. The twin keeps each weight
/// in 64-bit fixed point and decays its f32 traces lazily (docs/gpu.md); it
/// agrees with NEST to 4.3e-7 (relative to max(|w|, max(|Wmin|, |Wmax|) /
/// 10)), the bound is 1e-5. tests/gpu.rs checks the GPU against NEST and
/// this twin.
#[test]
fn gpu_twin_matches_nest() {
    use renshaw::engine::twin::TwinEngine;
    use renshaw::engine::{Chunk, Engine};
    use std::sync::Arc;
    let mut worst = 0.0f64;
    for name in common::case_names("dopamine") {
        let (desc, reference) = common::load_case("dopamine", &name);
        let net = Arc::new(renshaw::build::build(&desc).unwrap());
        let mut twin = TwinEngine::new(Arc::clone(&net), u64::MAX).unwrap();
        // Advance to every snapshot time of any projection, keeping the weights.
        let mut stamps: Vec<u64> = reference["weights"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|s| s["times"].as_array().unwrap().clone())
            .map(|t| (t.as_f64().unwrap() / net.dt).round() as u64)
            .collect();
        stamps.sort_unstable();
        stamps.dedup();
        let (mut done, mut out, mut snaps) = (0, Chunk::default(), Vec::new());
        for &s in &stamps {
            twin.advance(s - done, &mut out).unwrap();
            done = s;
            snaps.push((s, twin.synapse_weights().unwrap()));
        }
        common::assert_spike_list_matches(&name, &reference, &net, &out.spikes);
        for (proj, series) in reference["weights"].as_object().unwrap() {
            let proj: usize = proj.parse().unwrap();
            let d = net.projections[proj].dopamine.unwrap();
            let floor = 0.1 * d.wmax.abs().max(d.wmin.abs());
            let r = net
                .weight_records
                .iter()
                .position(|w| w.projection == proj)
                .unwrap();
            let order = renshaw::output::weights::WeightSeries::new(&net, r, None)
                .unwrap()
                .synapses;
            for (t, row) in series["times"]
                .as_array()
                .unwrap()
                .iter()
                .zip(series["values"].as_array().unwrap())
            {
                let stamp = (t.as_f64().unwrap() / net.dt).round() as u64;
                let (_, w) = snaps.iter().find(|(s, _)| *s == stamp).unwrap();
                for (i, b) in row.as_array().unwrap().iter().enumerate() {
                    let b = b.as_f64().unwrap();
                    let a = w[order[i]];
                    let rel = (a - b).abs() / b.abs().max(floor);
                    worst = worst.max(rel);
                    assert!(
                        rel <= 1e-5,
                        "{name}: synapse {i} at {t} ms: twin {a}, NEST {b} ({rel:.2e})"
                    );
                }
            }
        }
    }
    eprintln!("GPU twin vs NEST, all dopamine cases: <= {worst:.2e}");
}

//! Vogels & Abbott CUBA (examples/cuba.toml) on the CPU engine against NEST
//! 3.10 on the same network (tests/reference/cuba/cuba_nest.json, five
//! seeds): rates within three standard deviations across NEST's seeds (at
//! least 5 %), CV of ISI within 0.05.

use renshaw::description::load;
use renshaw::simulation::{Backend, RunOptions, run_description};
use serde_json::Value;
use std::path::Path;

#[test]
fn cuba_rate_and_cv_match_nest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let desc = load(&root.join("examples/cuba.toml")).unwrap();
    let nest: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/reference/cuba/cuba_nest.json")).unwrap(),
    )
    .unwrap();
    let opts = RunOptions {
        backend: Backend::Cpu,
        keep_in_memory: false,
        ..Default::default()
    };
    let out = run_description(&desc, &opts, 0.0).unwrap();
    for pop in ["E", "I"] {
        let ours = &out.summary.populations[pop];
        let rate = nest["mean"][pop]["rate_hz"].as_f64().unwrap();
        let rate_sd = nest["spread"][pop]["rate_hz"]["std"].as_f64().unwrap();
        let cv = nest["mean"][pop]["cv_isi"].as_f64().unwrap();
        let our_cv = ours.cv_isi.unwrap();
        eprintln!(
            "{pop}: renshaw {:.3} Hz, CV {our_cv:.3}; NEST {rate:.3} +- {rate_sd:.3} Hz, CV {cv:.3}",
            ours.rate_hz
        );
        assert!(
            (ours.rate_hz - rate).abs() <= (3.0 * rate_sd).max(0.05 * rate),
            "{pop}: rate {} vs NEST {rate} +- {rate_sd}",
            ours.rate_hz
        );
        assert!(
            (our_cv - cv).abs() <= 0.05,
            "{pop}: CV ISI {our_cv} vs NEST {cv}"
        );
    }
}

//! Dopamine-modulated STDP (NEST's stdp_dopamine_synapse) on the CPU engine
//! against NEST 3.10 (tests/reference/dopamine/): imposed pre, post and
//! dopamine spike trains, weights recorded at an interval and at the end.
//! The issue asks for 1e-4 relative; renshaw agrees to 1.2e-13, so the
//! bound is 1e-10.

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

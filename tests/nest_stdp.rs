//! Pair STDP on the CPU engine against NEST 3.10 (tests/reference/stdp/):
//! imposed pre and post spike trains, weights recorded at an interval and
//! at the end. The issue asks for 1e-4 relative; renshaw agrees to 1e-12
//! (measured: at most 6e-15), so that is the bound.

mod common;

use renshaw::simulation::{Backend, RunOptions, run_description};

fn check_case(name: &str) {
    let (desc, reference) = common::load_case("stdp", name);
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
    let worst = common::assert_weights_match(name, &reference, &out, 1e-12);
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
            assert_eq!(common::case_names("stdp"), listed);
        }
    };
}

cases!(
    all_to_all_mult,
    clip,
    inhibitory,
    nn_symm_add,
    nn_symm_mult,
    pairs_add,
    pairs_mult,
    patterns_nn_symm,
    patterns_stdp,
    poisson_add,
    poisson_delay25,
    poisson_guetig,
    poisson_mult,
);

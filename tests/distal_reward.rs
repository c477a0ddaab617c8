//! The distal-reward example (Izhikevich 2007, Fig. 1; examples/distal_reward.rs)
//! shortened to its first simulated minutes: the rewarded synapse, starting
//! at 0, grows while the mean of the other 79,999 plastic synapses does not.
//! Seeded and deterministic (the example's seed, 2007).

#[allow(dead_code)]
#[path = "../examples/distal_reward.rs"]
mod distal_reward;

use renshaw::description::{Override, load_with};
use std::path::Path;

#[test]
fn rewarded_synapse_grows_and_the_others_do_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let set: Override = "run.duration=180000".parse().unwrap();
    let desc = load_with(&root.join("examples/distal_reward.toml"), &[set]).unwrap();
    let out = distal_reward::run(&desc, distal_reward::Loop::default(), None, false);
    let first = &out.rows[0];
    let last = out.last();
    eprintln!(
        "after {} s: rewarded synapse {:.3} mV ({} pairings, {} rewards), others' mean {:.3} -> {:.3}, p99 {:.3}; rates E {:.2} Hz, I {:.2} Hz",
        last.t_s,
        last.w,
        last.pairings,
        last.rewards,
        first.mean,
        last.mean,
        last.p99,
        out.rate_e,
        out.rate_i
    );
    // TODO thresholds from the reported run.
    assert_eq!(first.w, 0.0);
    assert!(last.rewards >= 1);
    assert!(last.w >= 0.4, "rewarded synapse {}", last.w);
    assert!(
        last.mean <= first.mean,
        "others' mean {} -> {}",
        first.mean,
        last.mean
    );
}

//! Bodies and protocols: `[bodies.NAME]` and `[[phases]]` as a user writes
//! them, run through `run_description` on the CPU engine and on the GPU
//! (lavapipe in CI). A small circuit: flexor and extensor motoneuron pools
//! driven by Poisson input, afferents that follow the limb, a cue that
//! drives the flexor pool; a second copy of it is yoked.

use renshaw::closed_loop::{Body, BodyState, MotorDrive, ProtocolSummary, criterion};
use renshaw::description::{Format, parse_str, parse_str_with};
use renshaw::output::npy::read_f64;
use renshaw::simulation::{
    Backend, RunOptions, RunOutput, run_description, run_description_with_bodies,
};
use std::sync::Mutex;

mod common;

static GPU: Mutex<()> = Mutex::new(());

const LIMB: &str = r#"
[parameters]
session = 3000.0

[network]
dt = 1.0
seed = 3

[templates.limb.populations.MN_F]
model = "iaf_psc_exp"
size = 20
params = { C_m = 200.0, tau_m = 8.0, E_L = -65.0, V_th = -50.0, V_reset = -65.0, t_ref = 5.0, tau_syn_ex = 2.0, tau_syn_in = 5.0 }

[templates.limb.populations.MN_E]
like = "MN_F"
size = 20

[templates.limb.populations.II_F]
model = "iaf_psc_delta"
size = 10
params = { C_m = 1.0, tau_m = 1.0, E_L = 0.0, V_reset = 0.0, V_th = 1.0, t_ref = 1.0 }

[templates.limb.populations.cue]
like = "II_F"
size = 10

[templates.limb.populations.RC]
like = "MN_F"
size = 10

[[templates.limb.stimuli]]
kind = "poisson"
rate = 3000.0
targets = ["MN_F", "MN_E"]
synapse = { weight = 60.0, delay = 1.0 }

[[templates.limb.projections]]
from = "cue"
to = "MN_F"
connect = { rule = "all_to_all" }
synapse = { weight = 400.0, delay = 1.0 }

[[templates.limb.projections]]
from = "II_F"
to = "MN_E"
connect = { rule = "all_to_all" }
synapse = { rule = "stdp", weight = 20.0, delay = 1.0, lambda = 0.05, Wmax = 100.0 }

[[templates.limb.projections]]
from = "MN_F"
to = "RC"
connect = { rule = "all_to_all" }
synapse = { weight = 300.0, delay = 1.0 }

[templates.limb.bodies.limb]
model = "hindlimb"
interval = 1.0
params = { torque_noise = 0.1 }
flexor = "MN_F"
extensor = "MN_E"
afferents = [
  { population = "II_F", signal = "flexor", base_rate = 5.0, length_gain = 60.0, synapse = { weight = 2.0, delay = 1.0 } },
]
cue = { population = "cue", threshold = 4.0, rate = 400.0, duration = 30.0, min_interval = 200.0, synapse = { weight = 2.0, delay = 1.0 } }

[instances.master]
template = "limb"

[instances.yoked]
template = "limb"
"#;

const DAY: &str = r#"
[[phases]]
name = "day1"
duration = "${session}"
cues = { master_limb = "contingent", yoked_limb = "master_limb" }
"#;

fn run(text: &str, backend: Backend, dir: Option<&std::path::Path>) -> RunOutput {
    let desc = parse_str(text, Format::Toml, "limb.toml").unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        backend,
        threads: Some(1),
        out_dir: dir.map(|d| d.to_path_buf()),
        keep_in_memory: true,
        ..RunOptions::default()
    };
    run_description(&desc, &opts, 0.0).unwrap_or_else(|e| panic!("{e}"))
}

fn protocol(out: &RunOutput) -> &ProtocolSummary {
    out.summary
        .protocol
        .as_ref()
        .expect("bodies give a protocol summary")
}

#[test]
fn master_cues_follow_its_foot_and_the_yoked_gets_the_same_moments() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&format!("{LIMB}{DAY}"), Backend::Cpu, Some(tmp.path()));
    let p = protocol(&out);
    let read = |f: &str| read_f64(&tmp.path().join(f)).unwrap().1;
    let heights = read("bodies/master_limb_height.npy");
    let cues = read("bodies/master_limb_cue_times.npy");
    let yoked_cues = read("bodies/yoked_limb_cue_times.npy");
    assert_eq!(heights.len(), 3000, "one height per exchange");
    assert!(cues.len() >= 3, "a hanging limb gets cues: {cues:?}");
    assert_eq!(cues, yoked_cues, "yoked cues are the master's moments");
    for w in cues.windows(2) {
        assert!(w[1] - w[0] >= 200.0 - 1e-9, "min_interval respected: {w:?}");
    }
    for &t in &cues {
        // Exchange k ends at (k + 1) ms: the cue at t follows the height measured at t.
        let h = heights[t as usize - 1];
        assert!(
            h < 4.0,
            "a contingent cue at {t} ms with the foot at {h} mm"
        );
    }
    // A cue lifts the foot: within 150 ms of some cue the foot passes the threshold.
    assert!(
        cues.iter()
            .any(|&t| heights[t as usize..(t as usize + 150).min(3000)]
                .iter()
                .any(|&h| h > 4.0)),
        "no cue lifted the foot above the threshold"
    );
    let day1 = &p.phases[0];
    let master = &day1.bodies[0].1;
    assert_eq!(master.cues, cues.len());
    let below = heights.iter().filter(|&&h| h < 4.0).count() as f64 / 30.0;
    assert!((master.below_threshold_percent - below).abs() < 1e-9);
    assert_eq!(
        master.cues_to_criterion,
        criterion(&cues, 3000.0).map(|c| c.0)
    );
    assert_eq!(day1.bodies[1].1.cue_mode, "yoked to master_limb");
}

#[test]
fn a_run_is_deterministic() {
    let text = format!("{LIMB}{DAY}");
    let a = run(&text, Backend::Cpu, None);
    let b = run(&text, Backend::Cpu, None);
    let ja = serde_json::to_string(protocol(&a)).unwrap();
    let jb = serde_json::to_string(protocol(&b)).unwrap();
    assert_eq!(ja, jb);
}

#[test]
fn lesions_plasticity_switches_and_an_overnight_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{LIMB}{}",
        r#"
[[record_weights]]
projection = 1
interval = 500.0

[[phases]]
name = "learn"
duration = 1000.0
cues = { master_limb = "contingent", yoked_limb = "off" }

[[phases]]
name = "frozen, Renshaw silenced"
duration = 1000.0
plasticity = false
silence = ["master_RC", "yoked_RC"]

[[phases]]
name = "night"
duration = 0.0
reset_bodies = true
gap = { weight_decay = 0.25 }

[[phases]]
name = "day2"
duration = 1000.0
plasticity = false

[[record]]
population = "master_RC"
spikes = true
"#
    );
    let out = run(&text, Backend::Cpu, Some(tmp.path()));
    let p = protocol(&out);
    assert_eq!(p.phases.len(), 4);
    assert_eq!(p.phases[0].bodies[1].1.cues, 0, "cues off");
    assert!(p.phases[0].bodies[0].1.cues > 0);
    // Weight snapshots every 500 ms (taken before a phase change at the
    // same time). A change computed at a spike just before the switch still
    // lands at the spike's arrival, so compare 1500 with 2000 ms: no change
    // while plasticity is off. The night moves every weight a quarter of
    // the way back to its initial 20, and day 2 (frozen) keeps that.
    let w = &out.weights[0];
    assert_eq!(w.times, vec![500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0]);
    let snaps = &w.values;
    assert!(
        snaps[0].iter().any(|&x| x != 20.0),
        "the first phase learned"
    );
    assert_eq!(
        snaps[2], snaps[3],
        "plasticity off leaves the weights alone"
    );
    assert_eq!(
        snaps[4], snaps[5],
        "plasticity off leaves the weights alone"
    );
    for (after, before) in snaps[4].iter().zip(&snaps[3]) {
        let expected = 20.0 + 0.75 * (before - 20.0);
        assert!((after - expected).abs() < 1e-9, "{after} != {expected}");
    }
    // Renshaw cells are silent while silenced, and fire before and after.
    let rc = |lo: f64, hi: f64| {
        (0..10)
            .map(|i| {
                out.spike_times("master_RC", i)
                    .iter()
                    .filter(|&&t| t > lo && t <= hi)
                    .count()
            })
            .sum::<usize>()
    };
    assert!(rc(0.0, 1000.0) > 0, "RC fires when not silenced");
    assert_eq!(rc(1001.0, 2000.0), 0, "silenced RC fires");
    // The night reset the limb: the first height of day 2 is from a hanging limb.
    let heights = read_f64(&tmp.path().join("bodies/master_limb_height.npy"))
        .unwrap()
        .1;
    assert!(heights[2000] < 1.0, "reset to hanging: {}", heights[2000]);
    assert_eq!(p.phases[2].duration_ms, 0.0);
}

#[test]
fn description_errors_name_the_key_and_what_is_allowed() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "interval = 1.0",
            "interval = 0.5",
            "bodies.master_limb.interval: the body exchange interval must be at least one step (dt = 1 ms), got 0.5 ms",
        ),
        (
            "threshold = 4.0",
            "threshold = 25.0",
            "a cue threshold of 25 mm is outside the limb's range: the foot moves between 0 mm (hanging) and 20.000 mm (fully flexed)",
        ),
    ];
    for (from, to, expected) in cases {
        let text = format!("{LIMB}{DAY}").replacen(from, to, 1);
        let e = parse_str(&text, Format::Toml, "limb.toml").unwrap_err();
        let all = e.to_string();
        assert!(all.contains(expected), "expected `{expected}` in:\n{all}");
        assert!(
            all.contains("limb.toml:"),
            "the file and line are named:\n{all}"
        );
    }
    let text = format!("{LIMB}{DAY}silence = [\"master_RX\"]\n");
    let e = parse_str(&text, Format::Toml, "limb.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("phases[0].silence[0]: no population named `master_RX`")
            && e.contains("master_RC"),
        "{e}"
    );
    let text = format!("{LIMB}{DAY}").replace(
        "yoked_limb = \"master_limb\"",
        "yoked_limb = \"master_lim\"",
    );
    let e = parse_str(&text, Format::Toml, "limb.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown cue mode `master_lim`") && e.contains("master_limb"),
        "{e}"
    );
    // A `--set` that breaks the threshold is reported against the `--set`.
    let e = parse_str_with(
        &format!("{LIMB}{DAY}"),
        Format::Toml,
        "limb.toml",
        &["bodies.x=1".parse().unwrap()],
    );
    assert!(e.is_err());
}

#[test]
fn the_closed_loop_runs_the_same_on_the_gpu() {
    if !common::gpu_available("the_closed_loop_runs_the_same_on_the_gpu") {
        return;
    }
    let _g = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let text = format!("{LIMB}{DAY}").replace("session = 3000.0", "session = 1000.0");
    let cpu = run(&text, Backend::Cpu, None);
    let gpu = run(&text, Backend::Gpu, None);
    let (c, g) = (&protocol(&cpu).phases[0], &protocol(&gpu).phases[0]);
    for ((name, mc), (_, mg)) in c.bodies.iter().zip(&g.bodies) {
        // The same spikes give the same limb; f32 against f64 state may
        // move a spike late in the run, so allow a small difference.
        assert!(
            (mc.below_threshold_percent - mg.below_threshold_percent).abs() <= 5.0,
            "{name}: cpu {} % vs gpu {} %",
            mc.below_threshold_percent,
            mg.below_threshold_percent
        );
        assert!(
            (mc.cues as i64 - mg.cues as i64).abs() <= 1,
            "{name}: {} vs {}",
            mc.cues,
            mg.cues
        );
    }
}

/// A tool's own body: a foot that goes up and down on a timetable (above
/// the threshold during the first 100 ms of every 400), whatever the motor
/// pools do.
struct Timetable {
    t_ms: f64,
}

impl Body for Timetable {
    fn reset(&mut self) {
        self.t_ms = 0.0;
    }
    fn step(&mut self, _drive: MotorDrive, dt_ms: f64) {
        self.t_ms += dt_ms;
    }
    fn state(&self) -> BodyState {
        let up = self.t_ms % 400.0 < 100.0;
        BodyState {
            height: if up { 10.0 } else { 1.0 },
            ..BodyState::default()
        }
    }
}

#[test]
fn a_tool_puts_its_own_body_in_the_loop() {
    let text = format!("{LIMB}{DAY}").replace("session = 3000.0", "session = 2000.0");
    let desc = parse_str(&text, Format::Toml, "limb.toml").unwrap();
    let opts = RunOptions {
        backend: Backend::Cpu,
        threads: Some(1),
        ..RunOptions::default()
    };
    let out = run_description_with_bodies(
        &desc,
        &opts,
        0.0,
        vec![("master_limb".into(), Box::new(Timetable { t_ms: 0.0 }))],
    )
    .unwrap();
    let m = &protocol(&out).phases[0].bodies[0].1;
    // Below the threshold 3/4 of the time; a cue at 100 ms of every cycle
    // (the first exchange below) and again 200 ms later (min_interval).
    assert!(
        (m.below_threshold_percent - 75.0).abs() < 0.2,
        "{}",
        m.below_threshold_percent
    );
    assert_eq!(m.cues, 2 * 5, "two cues per 400 ms cycle");
    let err = run_description_with_bodies(
        &desc,
        &opts,
        0.0,
        vec![("nobody".into(), Box::new(Timetable { t_ms: 0.0 }))],
    )
    .unwrap_err();
    assert!(err.to_string().contains("no body named `nobody`"), "{err}");
}

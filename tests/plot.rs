//! `renshaw plot`: a small run drawn to PNG, decoded and checked for what a
//! reader needs (the size asked for, several colours, the populations'
//! colours where spikes are), and the errors; and the body figure of the
//! closed-loop experiments (foot heights and cue rasters).

use renshaw::description::{Format, parse_str};
use renshaw::output::plot::{PlotError, plot_run};
use renshaw::output::plot_body::{BodyTrace, plot_body_traces};
use renshaw::simulation::{Backend, RunOptions, run_description};
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

const NETWORK: &str = r#"
[network]
dt = 0.1
seed = 3

[populations.E]
model = "iaf_psc_delta"
size = 80
params = { tau_m = 20.0, t_ref = 2.0, E_L = 0.0, V_reset = 10.0, V_th = 20.0 }
init = { V_m = { uniform = [0.0, 20.0] } }

[populations.I]
like = "E"
size = 20

[[stimuli]]
kind = "poisson"
rate = 18000.0
targets = ["E", "I"]
synapse = { weight = 0.1, delay = 1.5 }

[[projections]]
from = "E"
to = ["E", "I"]
connect = { rule = "fixed_indegree", indegree = 20 }
synapse = { weight = 0.1, delay = 1.5 }

[[record]]
population = "E"

[[record]]
population = "I"
neurons = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]

[[record]]
population = "I"
neurons = [5, 6, 7, 8, 9, 10, 11]

[run]
duration = 300.0
warmup = 50.0
"#;

fn run(dir: &Path) {
    let desc = parse_str(NETWORK, Format::Toml, "plot.toml").unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        backend: Backend::Cpu,
        out_dir: Some(dir.to_path_buf()),
        keep_in_memory: false,
        ..Default::default()
    };
    run_description(&desc, &opts, 0.0).unwrap_or_else(|e| panic!("{e}"));
}

/// Decodes a PNG into (width, height, RGB pixels).
fn decode(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: PNG signature",
        path.display()
    );
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    let pixels = image.pixels().map(|p| p.0).collect();
    (image.width(), image.height(), pixels)
}

#[test]
fn plots_a_run_into_readable_pngs() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (tmp.path().join("run"), tmp.path().join("pictures"));
    run(&dir);
    let files = plot_run(&dir, &out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(files.raster, out.join("raster.png"));
    assert_eq!(files.rates, out.join("rates.png"));

    let (w, h, raster) = decode(&files.raster);
    assert_eq!((w, h), (1600, 1000));
    let colours: HashSet<[u8; 3]> = raster.iter().copied().collect();
    assert!(colours.len() > 20, "{} colours", colours.len());
    // Spikes in E's colour (first in the palette) and I's (second), the
    // warmup's grey, and text (antialiased dark pixels).
    let count = |c: [u8; 3]| raster.iter().filter(|&&p| p == c).count();
    assert!(count([31, 119, 180]) > 1000, "E's spikes");
    assert!(count([255, 127, 14]) > 100, "I's spikes");
    assert!(count([225, 225, 225]) > 10_000, "the warmup's shading");
    assert!(
        raster.iter().filter(|p| p.iter().all(|&v| v < 80)).count() > 500,
        "text and axes"
    );

    let (w, h, rates) = decode(&files.rates);
    assert_eq!((w, h), (1120, 470), "two panels side by side");
    let colours: HashSet<[u8; 3]> = rates.iter().copied().collect();
    assert!(colours.len() > 20, "{} colours", colours.len());

    // Nothing but the pictures was written into the other directory.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["raster.png", "rates.png"]);
}

#[test]
fn plot_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let e = plot_run(&missing, tmp.path()).unwrap_err();
    assert!(e.to_string().contains("no such directory"), "{e}");

    // A run that records no spikes has nothing to draw.
    let quiet = tmp.path().join("quiet");
    let unrecorded = NETWORK.split("[[record]]").next().unwrap();
    let text = format!("{unrecorded}[run]\nduration = 10.0\n");
    let desc = parse_str(&text, Format::Toml, "quiet.toml").unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions {
        backend: Backend::Cpu,
        out_dir: Some(quiet.clone()),
        keep_in_memory: false,
        ..Default::default()
    };
    run_description(&desc, &opts, 0.0).unwrap();
    let e = plot_run(&quiet, &quiet).unwrap_err();
    assert!(matches!(e, PlotError::NothingToPlot(_)), "{e}");

    // A spike file removed after the run.
    let dir = tmp.path().join("run");
    run(&dir);
    std::fs::remove_file(dir.join("E_spike_times.npy")).unwrap();
    let e = plot_run(&dir, &dir).unwrap_err();
    assert!(e.to_string().contains("E_spike_times.npy"), "{e}");
}

#[test]
fn cli_plot_writes_into_the_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    run(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_renshaw"))
        .arg("plot")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("raster.png").is_file() && dir.join("rates.png").is_file());
    let out = Command::new(env!("CARGO_BIN_EXE_renshaw"))
        .arg("plot")
        .arg(tmp.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such directory"));
}

/// A foot that swings with `period_ms` between 2 and 18 mm, 10 minutes at
/// 1 ms, and a cue at the bottom of each swing, where it dips below 4 mm.
fn swinging_foot(label: &str, period_ms: f64) -> BodyTrace {
    let interval_ms = 1.0;
    let heights: Vec<f64> = (0..600_000)
        .map(|k| {
            let t = (k + 1) as f64 * interval_ms;
            10.0 - 8.0 * (2.0 * std::f64::consts::PI * t / period_ms).cos()
        })
        .collect();
    let cue_times_ms = (1..)
        .map(|n| n as f64 * period_ms)
        .take_while(|&t| t <= 600_000.0)
        .collect();
    BodyTrace {
        label: label.into(),
        interval_ms,
        heights,
        threshold: 4.0,
        cue_times_ms,
    }
}

#[test]
fn body_figure_draws_stacked_panels() {
    let tmp = tempfile::tempdir().unwrap();
    // The directory does not exist yet: it is created.
    let path = tmp.path().join("figures").join("body.png");
    let traces = [
        swinging_foot("master (control, seed 1)", 7000.0),
        swinging_foot("yoked (control, seed 1)", 11_000.0),
    ];
    plot_body_traces(&path, "spinal conditioning: master vs yoked", &traces)
        .unwrap_or_else(|e| panic!("{e}"));

    let (w, h, pixels) = decode(&path);
    assert_eq!((w, h), (1400, 50 + 2 * 260 + 20));
    let colours: HashSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(colours.len() > 20, "{} colours", colours.len());
    // Each trace in its palette colour, and black cue ticks and text.
    let count = |c: [u8; 3]| pixels.iter().filter(|&&p| p == c).count();
    assert!(count([31, 119, 180]) > 2000, "the master's line");
    assert!(count([255, 127, 14]) > 2000, "the yoked line");
    assert!(count([0, 0, 0]) > 1000, "cue ticks");

    // A short trace (fewer samples than pixels) draws too, over a file
    // that exists.
    let short = BodyTrace {
        label: "short".into(),
        interval_ms: 10.0,
        heights: vec![5.0, 3.0, 5.0],
        threshold: 4.0,
        cue_times_ms: vec![20.0],
    };
    plot_body_traces(&path, "short", &[short]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decode(&path).0, 1400);
}

#[test]
fn body_figure_rejects_what_it_cannot_draw() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("body.png");
    let good = BodyTrace {
        label: "master".into(),
        interval_ms: 1.0,
        heights: vec![5.0, 3.0, 5.0],
        threshold: 4.0,
        cue_times_ms: vec![2.0],
    };
    let fails = |traces: &[BodyTrace], says: &str| {
        let e = plot_body_traces(&path, "t", traces).unwrap_err();
        assert!(matches!(e, PlotError::BadData { .. }), "{e}");
        assert!(e.to_string().contains(says), "{e}");
    };
    fails(&[], "no traces");
    let empty = BodyTrace {
        heights: vec![],
        ..good.clone()
    };
    fails(
        &[good.clone(), empty],
        "trace 1 (\"master\"): no foot-height samples",
    );
    let mut nan = good.clone();
    nan.heights[1] = f64::NAN;
    fails(&[nan], "foot height of sample 1 is NaN");
    let mut inf = good.clone();
    inf.heights[2] = f64::INFINITY;
    fails(&[inf], "sample 2 is inf");
    fails(
        &[BodyTrace {
            threshold: f64::NAN,
            ..good.clone()
        }],
        "threshold is NaN",
    );
    fails(
        &[BodyTrace {
            cue_times_ms: vec![1.0, f64::NEG_INFINITY],
            ..good.clone()
        }],
        "cue onset 1 is -inf",
    );
    fails(
        &[BodyTrace {
            interval_ms: 0.0,
            ..good.clone()
        }],
        "interval_ms is 0",
    );
    assert!(!path.exists(), "nothing is written on an error");
}

//! `renshaw plot`: a small run drawn to PNG, decoded and checked for what a
//! reader needs (the size asked for, several colours, the populations'
//! colours where spikes are), and the errors.

use renshaw::description::{Format, parse_str};
use renshaw::output::plot::{PlotError, plot_run};
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

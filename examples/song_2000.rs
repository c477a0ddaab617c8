//! Song, Miller & Abbott (2000): runs examples/song_2000.toml (optionally
//! shortened: `cargo run --release --example song_2000 -- 20000` for 20 s)
//! and prints the weight histogram and the fractions at both bounds.

use renshaw::description::load;
use renshaw::simulation::{Backend, RunOptions, run_description};
use std::path::Path;

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/song_2000.toml");
    let mut desc = load(&path).unwrap_or_else(|e| panic!("{e}"));
    if let Some(ms) = std::env::args().nth(1) {
        desc.run.duration = ms.parse().expect("duration in ms");
    }
    let opts = RunOptions {
        backend: Backend::Cpu,
        out_dir: Some("runs/song_2000".into()),
        progress: true,
        ..Default::default()
    };
    let out = run_description(&desc, &opts, 0.0).unwrap_or_else(|e| panic!("{e}"));
    let w = &out.weights[0].final_weights;
    let wmax = 0.1;
    let low = w.iter().filter(|&&x| x < 0.05 * wmax).count() as f64 / w.len() as f64;
    let high = w.iter().filter(|&&x| x > 0.95 * wmax).count() as f64 / w.len() as f64;
    println!(
        "after {} s: output rate {:.1} Hz",
        desc.run.duration / 1000.0,
        out.summary.populations["Neuron"].rate_hz
    );
    println!("weight histogram (20 bins of Wmax/20):");
    let mut bins = [0usize; 20];
    for &x in w {
        bins[((x / wmax * 20.0) as usize).min(19)] += 1;
    }
    for (i, b) in bins.iter().enumerate() {
        println!(
            "{:4.2}-{:4.2} {:5} {}",
            i as f64 / 20.0,
            (i + 1) as f64 / 20.0,
            b,
            "#".repeat(b / 5)
        );
    }
    println!(
        "below 0.05 Wmax: {:.1} %   above 0.95 Wmax: {:.1} %   (Brian2 reference after 100 s: about 15 % and 12 %)",
        100.0 * low,
        100.0 * high
    );
}

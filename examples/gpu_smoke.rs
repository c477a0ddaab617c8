//! Runs a description on the GPU and on the CPU twin of the kernels and
//! compares their spikes: `cargo run --release --example gpu_smoke -- FILE`.
use renshaw::build::build;
use renshaw::description;
use renshaw::engine::gpu::GpuEngine;
use renshaw::engine::twin::TwinEngine;
use renshaw::engine::{Chunk, Engine};
use std::sync::Arc;

fn main() {
    let path = std::env::args().nth(1).expect("usage: gpu_smoke FILE");
    let desc = description::load(std::path::Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    let net = Arc::new(build(&desc).unwrap());
    let mut gpu = GpuEngine::new(Arc::clone(&net)).unwrap_or_else(|e| panic!("{e}"));
    println!("{}", gpu.describe());
    let mut twin = TwinEngine::new(Arc::clone(&net), u64::MAX).unwrap();
    let (mut a, mut b) = (Chunk::default(), Chunk::default());
    let t = std::time::Instant::now();
    gpu.advance(net.steps, &mut a).unwrap();
    println!("gpu {:.3} s", t.elapsed().as_secs_f64());
    twin.advance(net.steps, &mut b).unwrap();
    println!(
        "gpu spikes {} twin spikes {} equal {}",
        a.spikes.len(),
        b.spikes.len(),
        a.spikes == b.spikes
    );
}

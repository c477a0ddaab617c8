//! Running a description end to end: build, simulate in chunks, stream the
//! recordings to disk, and write `summary.json`.

use crate::build::{BuildError, Network, build};
use crate::closed_loop::{Body, ClosedLoop, ClosedLoopError, ProtocolSummary};
use crate::description::{self, Description, DescriptionErrors};
use crate::engine::batch::{BatchLayout, InstanceView, ReadCache};
use crate::engine::cpu::CpuEngine;
use crate::engine::gpu::GpuEngine;
use crate::engine::{Chunk, Engine, EngineError, Sample, Spike};
use crate::output::analysis::{self, TrainCollector};
use crate::output::npy::write_array;
use crate::output::stats::{
    CORRELATION_BIN_MS, CORRELATION_MAX_NEURONS, PopulationStatistics, Window, mean,
};
use crate::output::weights::WeightSeries;
use crate::output::{RecordingWriter, recorder_stem};
use crate::time::round_to_steps;
use rayon::prelude::*;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Which engine to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Backend {
    /// The GPU when one is usable, else the CPU engine (and say so).
    #[default]
    Auto,
    /// The multithreaded CPU engine.
    Cpu,
    /// A GPU adapter through wgpu.
    Gpu,
}

impl Backend {
    /// How many runs to have going at once on this backend: one per core
    /// on the CPU (each run single-threaded), one on a GPU (it is shared).
    pub fn default_parallel(self) -> usize {
        match self {
            Backend::Cpu => std::thread::available_parallelism().map_or(1, |n| n.get()),
            _ => 1,
        }
    }
}

/// Calls `f` on every job, `workers` at a time on scoped threads, taking
/// the jobs in `order` (indices into `jobs`, each once: longest first keeps
/// the workers busy to the end); the results come back in `jobs` order.
pub fn run_in_parallel<J: Sync, R: Send>(
    jobs: &[J],
    order: &[usize],
    workers: usize,
    f: impl Fn(&J) -> R + Sync,
) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&j) = order.get(k) else { break };
                    let r = f(&jobs[j]);
                    *slots[j].lock().expect("no worker panics holding it") = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("no worker panics holding it")
                .expect("every job is in `order`")
        })
        .collect()
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Backend.
    pub backend: Backend,
    /// CPU threads (`None`: all cores).
    pub threads: Option<usize>,
    /// Directory for `.npy` files and `summary.json` (`None`: keep results in memory only).
    pub out_dir: Option<PathBuf>,
    /// Steps per engine call (how often output reaches the disk).
    pub chunk_steps: u64,
    /// Keep recorded spikes and samples in memory (for embedding and tests).
    pub keep_in_memory: bool,
    /// Print progress to stderr.
    pub progress: bool,
}

impl RunOptions {
    /// One run among many that go at once (experiments, sweeps): one CPU
    /// thread, nothing kept in memory, no progress lines, output (if any)
    /// to `out_dir` in chunks of 10,000 steps.
    pub fn one_of_many(backend: Backend, out_dir: Option<PathBuf>) -> Self {
        Self {
            backend,
            threads: Some(1),
            out_dir,
            chunk_steps: 10_000,
            keep_in_memory: false,
            progress: false,
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            threads: None,
            out_dir: None,
            chunk_steps: 1000,
            keep_in_memory: true,
            progress: false,
        }
    }
}

/// Everything that can go wrong in a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The description is invalid.
    #[error("{0}")]
    Description(#[from] DescriptionErrors),
    /// The network could not be built.
    #[error("{0}")]
    Build(#[from] BuildError),
    /// The engine failed.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The warmup leaves no analysis window (a description changed after
    /// validation; the validator rejects this).
    #[error(
        "{file}: run.warmup ({warmup_ms} ms) must be a finite time shorter than run.duration ({duration_ms} ms)"
    )]
    NoAnalysisWindow {
        /// The description file.
        file: String,
        /// The warmup.
        warmup_ms: f64,
        /// The duration.
        duration_ms: f64,
    },
    /// The closed loop failed.
    #[error("{0}")]
    ClosedLoop(#[from] ClosedLoopError),
    /// Instances could not be stepped together (see [`run_batch`]).
    #[error("batched run: {0}")]
    Batch(String),
    /// Output could not be written.
    #[error("cannot write output to {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Per-population results in `summary.json`. The statistics cover the
/// analysis window (after `warmup_ms`); see docs/analysis.md.
#[derive(Debug, Clone, Serialize)]
pub struct PopulationSummary {
    /// Model name.
    pub model: &'static str,
    /// Number of neurons.
    pub size: u32,
    /// Spikes of all its neurons over the whole run, warmup included.
    pub spikes: u64,
    /// Mean rate over all its neurons in the analysis window, Hz (from the
    /// engine's spike counters, recorded or not).
    pub rate_hz: f64,
    /// Neurons `rate_hz` is the mean of: all of them.
    pub rate_neurons: u32,
    /// Neurons with a spike recorder: the ones the distributions in
    /// `statistics/` and the CV and correlation below come from.
    pub spike_recorded_neurons: usize,
    /// Mean CV of ISI over its spike-recorded neurons with >= 3 spikes in the window.
    pub cv_isi: Option<f64>,
    /// Neurons `cv_isi` is the mean of.
    pub cv_isi_neurons: usize,
    /// Mean pairwise correlation coefficient of spike counts in bins of
    /// `correlation_bin_ms` over up to `correlation_max_neurons` evenly
    /// spaced spike-recorded neurons; pairs with a neuron that is silent in
    /// the window are left out.
    pub correlation: Option<f64>,
    /// Neurons of the correlation subset that spiked (whose pairs count).
    pub correlation_neurons: usize,
    /// Pairs `correlation` is the mean of.
    pub correlation_pairs: usize,
}

/// A spike recorder's files in `summary.json` (relative to the output directory).
#[derive(Debug, Clone, Serialize)]
pub struct SpikeRecording {
    /// Population recorded.
    pub population: String,
    /// Local indices of the recorded neurons (uint32).
    pub neurons: String,
    /// Spike times, ms (float64).
    pub spike_times: String,
    /// Local index of each spike's neuron (uint32).
    pub spike_senders: String,
}

/// Timings in `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    /// Validation and parsing, s.
    pub parse_s: f64,
    /// Building the network, s.
    pub build_s: f64,
    /// Simulation loop including output, s.
    pub simulate_s: f64,
    /// Wall time per simulated time.
    pub real_time_factor: f64,
}

/// The content of `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// renshaw's version.
    pub renshaw_version: &'static str,
    /// The description file.
    pub description: String,
    /// Backend that ran it.
    pub backend: String,
    /// Step, ms.
    pub dt: f64,
    /// Seed.
    pub seed: u64,
    /// `[parameters]` as used (after `--set`).
    pub parameters: BTreeMap<String, f64>,
    /// Simulated time, ms.
    pub duration_ms: f64,
    /// Start of the analysis window, ms: statistics use the spikes after it.
    pub warmup_ms: f64,
    /// Width of the bins of the spike-count correlations, ms.
    pub correlation_bin_ms: f64,
    /// Most neurons per population in the correlations.
    pub correlation_max_neurons: usize,
    /// Neurons.
    pub neurons: usize,
    /// Recurrent synapses.
    pub synapses: usize,
    /// Per population, by name.
    pub populations: BTreeMap<String, PopulationSummary>,
    /// Timings.
    pub timings: Timings,
    /// Spike recorders and their files (none when nothing is written to disk).
    pub spike_recordings: Vec<SpikeRecording>,
    /// Files written (relative to the output directory).
    pub files: Vec<String>,
    /// Bodies and phases: the closed loop's measures (absent without bodies or phases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<ProtocolSummary>,
}

/// Writes each body's foot heights and cue times under `bodies/`; returns
/// the file names relative to `dir`.
fn write_body_traces(dir: &Path, cl: &ClosedLoop, dt: f64) -> Result<Vec<String>, RunError> {
    let sub = dir.join(BODIES_DIR);
    std::fs::create_dir_all(&sub).map_err(|source| RunError::Io {
        path: sub.clone(),
        source,
    })?;
    let mut files = Vec::new();
    for (name, trace) in cl.traces() {
        let heights = format!("{BODIES_DIR}/{name}_height.npy");
        let cues = format!("{BODIES_DIR}/{name}_cue_times.npy");
        let cue_ms: Vec<f64> = trace.cue_steps.iter().map(|&s| s as f64 * dt).collect();
        for (file, result) in [
            (&heights, write_array(&dir.join(&heights), &trace.heights)),
            (&cues, write_array(&dir.join(&cues), &cue_ms)),
        ] {
            result.map_err(|source| RunError::Io {
                path: dir.join(file),
                source,
            })?;
        }
        files.push(heights);
        files.push(cues);
    }
    Ok(files)
}

/// Subdirectory of a run directory with the bodies' traces.
pub const BODIES_DIR: &str = "bodies";

/// What a run returns.
#[derive(Debug)]
pub struct RunOutput {
    /// The summary (also in `summary.json` when writing to disk).
    pub summary: Summary,
    /// Recorded spikes, if kept in memory.
    pub spikes: Vec<Spike>,
    /// Recorded samples, if kept in memory.
    pub samples: Vec<Sample>,
    /// The built network.
    pub network: Arc<Network>,
    /// Recorded weights, one series per `[[record_weights]]`.
    pub weights: Vec<WeightSeries>,
    /// Statistics of every population with spike-recorded neurons, by name
    /// (what `statistics/` holds).
    pub statistics: BTreeMap<String, PopulationStatistics>,
}

impl RunOutput {
    /// Recorded spike times (ms) of one population's neuron (local index).
    pub fn spike_times(&self, population: &str, neuron: u32) -> Vec<f64> {
        let p = self
            .network
            .populations
            .iter()
            .find(|p| p.name == population)
            .expect("population exists");
        let g = p.offset + neuron;
        self.spikes
            .iter()
            .filter(|s| s.neuron == g)
            .map(|s| s.stamp as f64 * self.network.dt)
            .collect()
    }
}

/// Loads, builds and runs a description file.
pub fn run_file(path: &Path, opts: &RunOptions) -> Result<RunOutput, RunError> {
    run_file_with(path, &[], opts)
}

/// Loads a description file, applies `--set` overrides, builds and runs it.
pub fn run_file_with(
    path: &Path,
    overrides: &[description::Override],
    opts: &RunOptions,
) -> Result<RunOutput, RunError> {
    let t0 = Instant::now();
    let desc = description::load_with(path, overrides)?;
    run_description(&desc, opts, t0.elapsed().as_secs_f64())
}

/// Picks the engine for a backend choice.
///
/// `Auto` takes a hardware GPU when wgpu finds one that can run the network,
/// and otherwise the CPU engine (a software adapter such as lavapipe is
/// slower than the CPU engine, so `Auto` does not pick it); it says which
/// when `opts.progress` is set. `Gpu` takes the best adapter, software ones
/// included, and fails with the reason when there is none.
pub fn make_engine(
    net: Arc<Network>,
    opts: &RunOptions,
) -> Result<Box<dyn Engine + Send>, RunError> {
    match opts.backend {
        Backend::Cpu => Ok(Box::new(CpuEngine::new(net, opts.threads)?)),
        Backend::Gpu => Ok(Box::new(gpu_engine(net)?)),
        Backend::Auto => {
            let hardware = crate::engine::gpu::best_adapter()
                .map(|a| a.get_info())
                .ok()
                .filter(|i| i.device_type != wgpu::DeviceType::Cpu);
            let reason = match hardware {
                Some(info) => match GpuEngine::new(Arc::clone(&net)) {
                    Ok(engine) => return Ok(Box::new(engine)),
                    Err(e) => format!("GPU `{}` cannot run this network ({e})", info.name),
                },
                None => "no hardware GPU adapter found".to_string(),
            };
            if opts.progress {
                eprintln!("renshaw: {reason}; running on the CPU engine");
            }
            Ok(Box::new(CpuEngine::new(net, opts.threads)?))
        }
    }
}

/// The GPU engine on the best adapter, or why the network cannot run there.
pub fn gpu_engine(net: Arc<Network>) -> Result<GpuEngine, RunError> {
    Ok(GpuEngine::new(net)?)
}

/// Builds and runs a validated description.
pub fn run_description(
    desc: &Description,
    opts: &RunOptions,
    parse_s: f64,
) -> Result<RunOutput, RunError> {
    run_description_with_bodies(desc, opts, parse_s, Vec::new())
}

/// Like [`run_description`], with some of the description's bodies replaced
/// by a tool's own (by body name): how another program puts its model of a
/// limb, an arm or a robot in the loop. Each keeps the description's motor
/// pools, afferents, cue and exchange interval.
pub fn run_description_with_bodies(
    desc: &Description,
    opts: &RunOptions,
    parse_s: f64,
    bodies: Vec<(String, Box<dyn Body>)>,
) -> Result<RunOutput, RunError> {
    check_window(desc)?;
    let t_build = Instant::now();
    let net = Arc::new(build(desc)?);
    let build_s = t_build.elapsed().as_secs_f64();
    let engine = make_engine(Arc::clone(&net), opts)?;
    run_built(desc, net, engine, build_s, opts, parse_s, bodies)
}

/// Runs many descriptions as batches: instances that share dt, duration and
/// minimum delay are stepped together by one engine over their union (see
/// [`crate::engine::batch`]), at most `batch` at once, each with its own
/// output (`out_dirs[i]`, or none), closed loop and summary. Every instance
/// gives exactly the spikes it gives alone. `opts.out_dir` is ignored;
/// `opts.threads` is the union engine's.
pub fn run_batch(
    descs: &[Description],
    out_dirs: &[Option<PathBuf>],
    opts: &RunOptions,
    batch: usize,
) -> Vec<Result<RunOutput, RunError>> {
    assert_eq!(
        descs.len(),
        out_dirs.len(),
        "one output directory (or None) per description"
    );
    let mut results: Vec<Option<Result<RunOutput, RunError>>> =
        descs.iter().map(|_| None).collect();
    // Build everything first (in parallel): the batch key needs the network.
    let t_build = Instant::now();
    let built: Vec<Result<Arc<Network>, RunError>> = descs
        .par_iter()
        .map(|d| {
            check_window(d)?;
            Ok(Arc::new(build(d)?))
        })
        .collect();
    let build_s = t_build.elapsed().as_secs_f64() / descs.len().max(1) as f64;
    let mut groups: BTreeMap<(u64, u64, u64), Vec<usize>> = BTreeMap::new();
    let mut networks: Vec<Option<Arc<Network>>> = Vec::with_capacity(descs.len());
    for (i, b) in built.into_iter().enumerate() {
        match b {
            Ok(net) => {
                groups
                    .entry(crate::build::batch_key(&net))
                    .or_default()
                    .push(i);
                networks.push(Some(net));
            }
            Err(e) => {
                results[i] = Some(Err(e));
                networks.push(None);
            }
        }
    }
    // Batches of at most `batch`; one whose engine cannot be made (a GPU
    // adapter's buffer limits) is split in halves and tried again, so the
    // batches end up sized to the device.
    let mut queue: Vec<Vec<usize>> = groups
        .values()
        .flat_map(|members| members.chunks(batch.max(1)).map(<[usize]>::to_vec))
        .rev()
        .collect();
    while let Some(chunk) = queue.pop() {
        let nets: Vec<Arc<Network>> = chunk
            .iter()
            .map(|&i| Arc::clone(networks[i].as_ref().expect("built")))
            .collect();
        let refs: Vec<&Network> = nets.iter().map(|n| n.as_ref()).collect();
        let union = crate::build::batch(&refs)
            .map_err(|e| RunError::Batch(e.to_string()))
            .and_then(|(union, spans)| {
                let layout = BatchLayout::new(&union, spans);
                Ok((make_engine(Arc::new(union), opts)?, layout))
            });
        let (engine, layout) = match union {
            Ok(e) => e,
            Err(e) if chunk.len() > 1 => {
                if opts.progress {
                    eprintln!(
                        "renshaw: a batch of {} instances cannot run ({e}); trying halves",
                        chunk.len()
                    );
                }
                let (a, b) = chunk.split_at(chunk.len() / 2);
                queue.push(b.to_vec());
                queue.push(a.to_vec());
                continue;
            }
            Err(e) => {
                results[chunk[0]] = Some(Err(e));
                continue;
            }
        };
        let outputs = drive_batch(
            descs, out_dirs, opts, build_s, &chunk, &nets, engine, &layout,
        );
        for (&i, r) in chunk.iter().zip(outputs) {
            results[i] = Some(r);
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every description ran or failed"))
        .collect()
}

/// Runs the instances `members` (indices into `descs`) of one union on its
/// `engine`: each instance's run loop on its [`InstanceView`], the union
/// advanced by the smallest number of steps any instance still needs.
#[expect(clippy::too_many_arguments, reason = "the batch's parts, passed apart")]
fn drive_batch(
    descs: &[Description],
    out_dirs: &[Option<PathBuf>],
    opts: &RunOptions,
    build_s: f64,
    members: &[usize],
    nets: &[Arc<Network>],
    mut engine: Box<dyn Engine + Send>,
    layout: &BatchLayout,
) -> Vec<Result<RunOutput, RunError>> {
    let describe = format!(
        "{} (batch of {} instances)",
        engine.describe(),
        members.len()
    );
    let cache = RefCell::new(ReadCache::default());
    let instance_opts: Vec<RunOptions> = members
        .iter()
        .map(|&i| RunOptions {
            out_dir: out_dirs[i].clone(),
            progress: false,
            ..opts.clone()
        })
        .collect();
    let mut outcome: Vec<Option<Result<RunOutput, RunError>>> =
        members.iter().map(|_| None).collect();
    let mut runs: Vec<Option<RunLoop<'_>>> = Vec::with_capacity(members.len());
    for (k, &i) in members.iter().enumerate() {
        let mut view = instance_view(engine.as_mut(), layout, nets, k, &cache, &describe);
        match RunLoop::new(
            &descs[i],
            Arc::clone(&nets[k]),
            build_s,
            &instance_opts[k],
            0.0,
            Vec::new(),
            &mut view,
        ) {
            Ok(run) => runs.push(Some(run)),
            Err(e) => {
                outcome[k] = Some(Err(e));
                runs.push(None);
            }
        }
    }
    // Steps each instance asked for, and how many of them are still to come.
    let mut asked: Vec<u64> = runs
        .iter()
        .map(|r| {
            r.as_ref()
                .map_or(0, |r| if r.finished() { 0 } else { r.next_steps() })
        })
        .collect();
    let mut left = asked.clone();
    let mut gathered: Vec<Chunk> = vec![Chunk::default(); members.len()];
    while let Some(steps) = left.iter().copied().filter(|&l| l > 0).min() {
        let mut chunk = Chunk::default();
        let result = engine.advance(steps, &mut chunk);
        let failure = result.as_ref().err().map(|e| e.to_string());
        for (k, part) in layout.split(chunk).into_iter().enumerate() {
            if left[k] == 0 {
                continue;
            }
            gathered[k].spikes.extend(part.spikes);
            gathered[k].samples.extend(part.samples);
            left[k] -= steps;
            if left[k] > 0 && failure.is_none() {
                continue;
            }
            let run = runs[k].as_mut().expect("a running instance");
            let mut view = instance_view(engine.as_mut(), layout, nets, k, &cache, &describe);
            let result = match &failure {
                Some(e) => Err(EngineError::Backend(e.clone())),
                None => Ok(()),
            };
            let n = asked[k] - left[k];
            let step = run.after_advance(n, std::mem::take(&mut gathered[k]), result, &mut view);
            match step {
                Ok(()) if !run.finished() => {
                    asked[k] = run.next_steps();
                    left[k] = asked[k];
                }
                Ok(()) => left[k] = 0,
                Err(e) => {
                    outcome[k] = Some(Err(e));
                    runs[k] = None;
                    left[k] = 0;
                }
            }
        }
    }
    for (k, run) in runs.into_iter().enumerate() {
        if let Some(run) = run {
            let mut view = instance_view(engine.as_mut(), layout, nets, k, &cache, &describe);
            outcome[k] = Some(run.finish(&mut view));
        }
    }
    outcome
        .into_iter()
        .map(|o| o.expect("every instance finished or failed"))
        .collect()
}

/// Instance `k`'s view of the batch's engine.
fn instance_view<'a>(
    union: &'a mut (dyn Engine + Send),
    layout: &'a BatchLayout,
    nets: &'a [Arc<Network>],
    k: usize,
    cache: &'a RefCell<ReadCache>,
    describe: &'a str,
) -> InstanceView<'a> {
    InstanceView {
        union,
        span: &layout.spans[k],
        net: &nets[k],
        cache,
        describe,
    }
}

fn check_window(desc: &Description) -> Result<(), RunError> {
    let dt = desc.network.dt;
    if !desc.run.warmup.is_finite()
        || round_to_steps(desc.run.warmup, dt) >= round_to_steps(desc.run.duration, dt)
    {
        return Err(RunError::NoAnalysisWindow {
            file: desc.source.clone(),
            warmup_ms: desc.run.warmup,
            duration_ms: desc.run.duration,
        });
    }
    Ok(())
}

/// The run loop and output of a built network on a ready engine.
fn run_built(
    desc: &Description,
    net: Arc<Network>,
    mut engine: Box<dyn Engine + Send>,
    build_s: f64,
    opts: &RunOptions,
    parse_s: f64,
    bodies: Vec<(String, Box<dyn Body>)>,
) -> Result<RunOutput, RunError> {
    let mut run = RunLoop::new(desc, net, build_s, opts, parse_s, bodies, engine.as_mut())?;
    while !run.finished() {
        let n = run.next_steps();
        let mut chunk = Chunk::default();
        let result = engine.advance(n, &mut chunk);
        run.after_advance(n, chunk, result, engine.as_mut())?;
    }
    run.finish(engine.as_mut())
}

/// One run between its engine calls: what the run loop keeps, and what it
/// does before and after each advance. [`run_built`] drives one;
/// [`run_batch`] drives many over one union engine.
struct RunLoop<'d> {
    desc: &'d Description,
    net: Arc<Network>,
    opts: RunOptions,
    parse_s: f64,
    build_s: f64,
    writer: Option<RecordingWriter>,
    t_sim: Instant,
    kept: Chunk,
    window: Window,
    trains: TrainCollector,
    /// The engine's spike counters when the window opens.
    counts_at_warmup: Option<Vec<u64>>,
    interactive: bool,
    weight_series: Vec<WeightSeries>,
    closed_loop: Option<ClosedLoop>,
    /// Output not yet on disk: closed loops stop every exchange interval,
    /// output still reaches the disk in chunks of about `chunk_steps`.
    pending: Chunk,
    written_to: u64,
    done: u64,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RunError + use<> {
    let path = path.to_path_buf();
    move |source| RunError::Io {
        path: path.clone(),
        source,
    }
}

impl<'d> RunLoop<'d> {
    fn new(
        desc: &'d Description,
        net: Arc<Network>,
        build_s: f64,
        opts: &RunOptions,
        parse_s: f64,
        bodies: Vec<(String, Box<dyn Body>)>,
        engine: &mut dyn Engine,
    ) -> Result<Self, RunError> {
        let writer = match &opts.out_dir {
            Some(dir) => Some(RecordingWriter::create(&net, dir).map_err(io_err(dir))?),
            None => None,
        };
        let window = Window {
            start_step: round_to_steps(desc.run.warmup, net.dt),
            end_step: net.steps,
            dt: net.dt,
        };
        let dir = opts.out_dir.as_deref();
        let weight_series = (0..net.weight_records.len())
            .map(|r| WeightSeries::new(&net, r, dir))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RunError::Io {
                path: dir.map(Path::to_path_buf).unwrap_or_default(),
                source: e,
            })?;
        let mut closed_loop = ClosedLoop::new(desc, &net);
        for (name, body) in bodies {
            closed_loop = match closed_loop {
                Some(cl) => Some(cl.with_body(&name, body)?),
                None => return Err(ClosedLoopError::UnknownBody(name).into()),
            };
        }
        if let Some(cl) = closed_loop.as_mut() {
            cl.at(engine, 0)?;
        }
        Ok(Self {
            desc,
            trains: TrainCollector::new(&net, window),
            counts_at_warmup: (window.start_step == 0).then(|| vec![0; net.n_neurons]),
            net,
            opts: opts.clone(),
            parse_s,
            build_s,
            writer,
            t_sim: Instant::now(),
            kept: Chunk::default(),
            window,
            interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            weight_series,
            closed_loop,
            pending: Chunk::default(),
            written_to: 0,
            done: 0,
        })
    }

    fn finished(&self) -> bool {
        self.done >= self.net.steps
    }

    /// Steps of the next advance: to the next weight snapshot, the start of
    /// the analysis window, the closed loop's next event, or `chunk_steps`.
    fn next_steps(&self) -> u64 {
        let done = self.done;
        // Chunks end at weight snapshots, so that snapshots fall on their steps.
        let next_snapshot = self
            .weight_series
            .iter()
            .filter(|w| w.interval_steps != u64::MAX)
            .map(|w| (done / w.interval_steps + 1) * w.interval_steps)
            .min()
            .unwrap_or(u64::MAX);
        // A chunk also ends where the analysis window opens, to read the counters there.
        let next_stop = if done < self.window.start_step {
            next_snapshot.min(self.window.start_step)
        } else {
            next_snapshot
        };
        let next_stop = match &self.closed_loop {
            Some(cl) => next_stop.min(cl.next_event(done)),
            None => next_stop,
        };
        self.opts
            .chunk_steps
            .max(1)
            .min(self.net.steps - done)
            .min(next_stop - done)
    }

    /// Takes the output of an advance by `n` steps (and its result), then
    /// reads counters and weights and lets the closed loop act.
    fn after_advance(
        &mut self,
        n: u64,
        chunk: Chunk,
        result: Result<(), EngineError>,
        engine: &mut dyn Engine,
    ) -> Result<(), RunError> {
        let net = Arc::clone(&self.net);
        let dir = self.opts.out_dir.clone();
        self.trains.add(&chunk.spikes);
        if self.writer.is_some() {
            self.pending.spikes.extend_from_slice(&chunk.spikes);
            self.pending.samples.extend(chunk.samples.iter().cloned());
        }
        if self.opts.keep_in_memory {
            self.kept.spikes.extend_from_slice(&chunk.spikes);
            self.kept.samples.extend(chunk.samples);
        }
        self.done += n;
        let done = self.done;
        // Whatever was simulated reaches the disk before an error is reported.
        if let (Some(w), Some(dir)) = (self.writer.as_mut(), &dir) {
            if result.is_err()
                || done - self.written_to >= self.opts.chunk_steps.max(1)
                || done == net.steps
            {
                w.write(&self.pending).map_err(io_err(dir))?;
                self.pending = Chunk::default();
                self.written_to = done;
            }
        }
        result?;
        if done == self.window.start_step {
            self.counts_at_warmup = Some(engine.spike_counts());
        }
        if self
            .weight_series
            .iter()
            .any(|w| w.interval_steps != u64::MAX && done.is_multiple_of(w.interval_steps))
        {
            let all = engine.synapse_weights()?;
            for w in self
                .weight_series
                .iter_mut()
                .filter(|w| w.interval_steps != u64::MAX && done.is_multiple_of(w.interval_steps))
            {
                w.snapshot(&all, done as f64 * net.dt, self.opts.keep_in_memory)
                    .map_err(|e| RunError::Io {
                        path: dir.clone().unwrap_or_default(),
                        source: e,
                    })?;
            }
        }
        // The closed loop acts after the snapshots, so that weights recorded
        // at a phase boundary are the phase's last, before a gap changes them.
        if let Some(cl) = self.closed_loop.as_mut() {
            if cl.next_event(done - 1) == done {
                cl.at(engine, done)?;
            }
        }
        if self.opts.progress && self.interactive {
            eprint!(
                "\rsimulated {:.1} / {:.1} ms",
                done as f64 * net.dt,
                net.steps as f64 * net.dt
            );
        }
        Ok(())
    }

    /// Final weights, statistics, files and the summary.
    fn finish(self, engine: &mut dyn Engine) -> Result<RunOutput, RunError> {
        let Self {
            desc,
            net,
            opts,
            parse_s,
            build_s,
            writer,
            t_sim,
            kept,
            window,
            trains,
            counts_at_warmup,
            interactive,
            mut weight_series,
            closed_loop,
            ..
        } = self;
        let mut writer = writer;
        let opts = &opts;
        let dir = opts.out_dir.as_deref();
        if opts.progress && interactive {
            eprintln!();
        }
        if !weight_series.is_empty() {
            let all = engine.synapse_weights()?;
            for w in &mut weight_series {
                w.finish(&all, dir).map_err(|e| RunError::Io {
                    path: dir.map(Path::to_path_buf).unwrap_or_default(),
                    source: e,
                })?;
            }
        }
        let simulate_s = t_sim.elapsed().as_secs_f64();
        let duration_ms = net.steps as f64 * net.dt;
        let counts = engine.spike_counts();
        let counts_at_warmup = counts_at_warmup.expect("the loop stops at the warmup");
        let mut populations = BTreeMap::new();
        let mut statistics = BTreeMap::new();
        let mut statistics_files = Vec::new();
        for (pi, p) in net.populations.iter().enumerate() {
            let range = p.offset as usize..(p.offset + p.size) as usize;
            let stats = trains.statistics(pi);
            let unrecorded = PopulationStatistics::default();
            let s = stats.as_ref().unwrap_or(&unrecorded);
            populations.insert(
                p.name.clone(),
                PopulationSummary {
                    model: p.model.name(),
                    size: p.size,
                    spikes: counts[range.clone()].iter().sum(),
                    rate_hz: analysis::window_rate_hz(
                        &counts_at_warmup[range.clone()],
                        &counts[range],
                        &window,
                    ),
                    rate_neurons: p.size,
                    spike_recorded_neurons: trains.recorded_neurons(pi),
                    cv_isi: mean(&s.cv_isi),
                    cv_isi_neurons: s.cv_isi.len(),
                    correlation: s.correlations.mean(),
                    correlation_neurons: s.correlations.neurons,
                    correlation_pairs: s.correlations.coefficients.len(),
                },
            );
            if let Some(stats) = stats {
                if let Some(dir) = dir {
                    let names = analysis::write_distributions(dir, &p.name, &stats)
                        .map_err(io_err(&dir.join(analysis::STATISTICS_DIR)))?;
                    statistics_files.extend(names);
                }
                statistics.insert(p.name.clone(), stats);
            }
        }
        let spike_recordings = net
            .recorders
            .iter()
            .enumerate()
            .filter(|(_, r)| r.spikes && writer.is_some())
            .map(|(i, r)| {
                let stem = recorder_stem(&net, i);
                SpikeRecording {
                    population: net.populations[r.population].name.clone(),
                    neurons: format!("{stem}_neurons.npy"),
                    spike_times: format!("{stem}_spike_times.npy"),
                    spike_senders: format!("{stem}_spike_senders.npy"),
                }
            })
            .collect();
        let mut files: Vec<String> = writer
            .as_ref()
            .map(|w| {
                w.files()
                    .iter()
                    .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let protocol = match closed_loop {
            Some(cl) => {
                let mut summary = cl.summary();
                if let Some(dir) = dir {
                    summary.files = write_body_traces(dir, &cl, net.dt)?;
                    files.extend(summary.files.iter().cloned());
                }
                Some(summary)
            }
            None => None,
        };
        if writer.is_some() {
            files.extend(weight_series.iter().flat_map(|w| w.file_names()));
            files.extend(statistics_files);
            files.push("summary.json".into());
        }
        let summary = Summary {
            renshaw_version: env!("CARGO_PKG_VERSION"),
            description: desc.source.clone(),
            backend: engine.describe(),
            dt: net.dt,
            seed: net.seed,
            parameters: desc.parameters.iter().cloned().collect(),
            duration_ms,
            warmup_ms: window.start_step as f64 * net.dt,
            correlation_bin_ms: CORRELATION_BIN_MS,
            correlation_max_neurons: CORRELATION_MAX_NEURONS,
            neurons: net.n_neurons,
            synapses: net.synapses.len(),
            populations,
            spike_recordings,
            timings: Timings {
                parse_s,
                build_s,
                simulate_s,
                real_time_factor: simulate_s / (duration_ms * 1e-3),
            },
            files,
            protocol,
        };
        if let (Some(w), Some(dir)) = (writer.as_mut(), &opts.out_dir) {
            w.flush().map_err(io_err(dir))?;
            let path = dir.join("summary.json");
            let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
            std::fs::write(&path, json + "\n").map_err(io_err(&path))?;
        }
        Ok(RunOutput {
            summary,
            spikes: kept.spikes,
            samples: kept.samples,
            network: net,
            weights: weight_series,
            statistics,
        })
    }
}

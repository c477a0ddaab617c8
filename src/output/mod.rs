//! Outputs of a run: streamed `.npy` recordings and `summary.json`.

pub mod analysis;
pub mod compare;
pub mod npy;
pub mod plot;
pub mod plot_body;
pub mod plot_context;
pub mod plot_savings;
pub mod plot_sequence;
pub mod plot_sweep;
pub mod run_dir;
pub mod stats;
pub mod weights;

use crate::build::Network;
use crate::engine::Chunk;
use npy::NpyWriter;
use std::path::{Path, PathBuf};

struct SpikeFiles {
    times: NpyWriter<f64>,
    senders: NpyWriter<u32>,
    /// Global id -> local index, for recorded neurons of this recorder.
    offset: u32,
    recorded: Vec<bool>,
}

struct StateFiles {
    times: NpyWriter<f64>,
    vars: Vec<NpyWriter<f64>>,
    n: usize,
}

/// Streams recorder output to `.npy` files in a directory.
pub struct RecordingWriter {
    dt: f64,
    spikes: Vec<Option<SpikeFiles>>,
    states: Vec<Option<StateFiles>>,
    files: Vec<PathBuf>,
}

/// File name stem of recorder `i`: the population's name, made unique when
/// several recorders watch one population.
pub fn recorder_stem(net: &Network, i: usize) -> String {
    let pop = net.recorders[i].population;
    let name = &net.populations[pop].name;
    let shared = net.recorders.iter().filter(|r| r.population == pop).count() > 1;
    if shared {
        format!("{name}_rec{i}")
    } else {
        name.clone()
    }
}

impl RecordingWriter {
    /// Creates the files of every recorder in `dir`.
    pub fn create(net: &Network, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut files = Vec::new();
        let mut spikes = Vec::new();
        let mut states = Vec::new();
        for (i, r) in net.recorders.iter().enumerate() {
            let stem = recorder_stem(net, i);
            let pop = &net.populations[r.population];
            let neurons: Vec<u32> = r.neurons.iter().map(|g| g - pop.offset).collect();
            let p = dir.join(format!("{stem}_neurons.npy"));
            npy::write_array(&p, &neurons)?;
            files.push(p);
            if r.spikes {
                let tp = dir.join(format!("{stem}_spike_times.npy"));
                let sp = dir.join(format!("{stem}_spike_senders.npy"));
                let mut recorded = vec![false; pop.size as usize];
                for &n in &neurons {
                    recorded[n as usize] = true;
                }
                spikes.push(Some(SpikeFiles {
                    times: NpyWriter::create(&tp, &[])?,
                    senders: NpyWriter::create(&sp, &[])?,
                    offset: pop.offset,
                    recorded,
                }));
                files.push(tp);
                files.push(sp);
            } else {
                spikes.push(None);
            }
            if r.state.is_empty() {
                states.push(None);
            } else {
                let tp = dir.join(format!("{stem}_sample_times.npy"));
                let mut vars = Vec::new();
                for &v in &r.state {
                    let vp = dir.join(format!("{stem}_{}.npy", pop.model.state()[v].name));
                    vars.push(NpyWriter::create(&vp, &[neurons.len()])?);
                    files.push(vp);
                }
                states.push(Some(StateFiles {
                    times: NpyWriter::create(&tp, &[])?,
                    vars,
                    n: neurons.len(),
                }));
                files.push(tp);
            }
        }
        Ok(Self {
            dt: net.dt,
            spikes,
            states,
            files,
        })
    }

    /// Every file written.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Appends a chunk and updates the headers, so the files stay readable.
    pub fn write(&mut self, chunk: &Chunk) -> std::io::Result<()> {
        for f in self.spikes.iter_mut().flatten() {
            let end = f.offset + f.recorded.len() as u32;
            let mine: Vec<_> = chunk
                .spikes
                .iter()
                .filter(|s| {
                    s.neuron >= f.offset
                        && s.neuron < end
                        && f.recorded[(s.neuron - f.offset) as usize]
                })
                .collect();
            let times: Vec<f64> = mine.iter().map(|s| s.stamp as f64 * self.dt).collect();
            let senders: Vec<u32> = mine.iter().map(|s| s.neuron - f.offset).collect();
            f.times.append(&times)?;
            f.senders.append(&senders)?;
        }
        for sample in &chunk.samples {
            if let Some(f) = self.states[sample.recorder].as_mut() {
                f.times.append(&[sample.stamp as f64 * self.dt])?;
                for (v, w) in f.vars.iter_mut().enumerate() {
                    w.append(&sample.values[v * f.n..(v + 1) * f.n])?;
                }
            }
        }
        Ok(())
    }

    /// Flushes every file.
    pub fn flush(&mut self) -> std::io::Result<()> {
        for f in self.spikes.iter_mut().flatten() {
            f.times.flush()?;
            f.senders.flush()?;
        }
        for f in self.states.iter_mut().flatten() {
            f.times.flush()?;
            for v in &mut f.vars {
                v.flush()?;
            }
        }
        Ok(())
    }
}

//! Weight recording: snapshots of a projection's weights at an interval and
//! its final weights, as `.npy` with the synapses' source and target indices.

use super::npy::{self, NpyWriter};
use crate::build::Network;
use std::path::Path;

/// Snapshots of one projection's weights.
#[derive(Debug)]
pub struct WeightSeries {
    /// Projection index.
    pub projection: usize,
    /// Synapse indices (in `Network::synapses`), sorted by (source, target).
    pub synapses: Vec<usize>,
    /// Source of each synapse: index within the projection's `from` populations.
    pub sources: Vec<u32>,
    /// Target of each synapse: index within the projection's `to` populations.
    pub targets: Vec<u32>,
    /// Snapshot times, ms.
    pub times: Vec<f64>,
    /// One row of weights per snapshot (kept only when in memory).
    pub values: Vec<Vec<f64>>,
    /// Weights at the end of the run.
    pub final_weights: Vec<f64>,
    /// Snapshot interval in steps (`u64::MAX`: final only).
    pub interval_steps: u64,
    writer: Option<NpyWriter<f64>>,
    times_writer: Option<NpyWriter<f64>>,
}

impl WeightSeries {
    /// Prepares recorder `r` of `net`; writes the index files when `dir` is given.
    pub fn new(net: &Network, r: usize, dir: Option<&Path>) -> std::io::Result<Self> {
        let rec = &net.weight_records[r];
        let p = rec.projection;
        let proj = &net.projections[p];
        let syn = &net.synapses;
        let mut synapses = Vec::new();
        let mut sources = Vec::new();
        let mut targets = Vec::new();
        for src in 0..net.n_neurons {
            for k in syn.row_start[src] as usize..syn.row_start[src + 1] as usize {
                if syn.projection[k] as usize == p {
                    synapses.push(k);
                    sources.push(
                        net.union_index(&proj.from, src as u32)
                            .expect("source of its projection"),
                    );
                    targets.push(
                        net.union_index(&proj.to, syn.target[k])
                            .expect("target of its projection"),
                    );
                }
            }
        }
        let (writer, times_writer) = match dir {
            Some(dir) => {
                let stem = format!("weights_p{p}");
                npy::write_array(&dir.join(format!("{stem}_sources.npy")), &sources)?;
                npy::write_array(&dir.join(format!("{stem}_targets.npy")), &targets)?;
                if rec.interval_steps == u64::MAX {
                    (None, None)
                } else {
                    (
                        Some(NpyWriter::create(
                            &dir.join(format!("{stem}.npy")),
                            &[synapses.len()],
                        )?),
                        Some(NpyWriter::create(
                            &dir.join(format!("{stem}_times.npy")),
                            &[],
                        )?),
                    )
                }
            }
            None => (None, None),
        };
        Ok(Self {
            projection: p,
            synapses,
            sources,
            targets,
            times: Vec::new(),
            values: Vec::new(),
            final_weights: Vec::new(),
            interval_steps: rec.interval_steps,
            writer,
            times_writer,
        })
    }

    /// The files this series writes, relative to the output directory.
    pub fn file_names(&self) -> Vec<String> {
        let stem = format!("weights_p{}", self.projection);
        let mut f = vec![
            format!("{stem}_sources.npy"),
            format!("{stem}_targets.npy"),
            format!("{stem}_final.npy"),
        ];
        if self.interval_steps != u64::MAX {
            f.push(format!("{stem}.npy"));
            f.push(format!("{stem}_times.npy"));
        }
        f
    }

    /// Takes a snapshot from all synapse weights at time `t_ms`.
    pub fn snapshot(&mut self, all: &[f64], t_ms: f64, keep: bool) -> std::io::Result<()> {
        let row: Vec<f64> = self.synapses.iter().map(|&k| all[k]).collect();
        if let (Some(w), Some(t)) = (self.writer.as_mut(), self.times_writer.as_mut()) {
            w.append(&row)?;
            t.append(&[t_ms])?;
            w.flush()?;
            t.flush()?;
        }
        self.times.push(t_ms);
        if keep {
            self.values.push(row);
        }
        Ok(())
    }

    /// Records the final weights.
    pub fn finish(&mut self, all: &[f64], dir: Option<&Path>) -> std::io::Result<()> {
        self.final_weights = self.synapses.iter().map(|&k| all[k]).collect();
        if let Some(dir) = dir {
            npy::write_array(
                &dir.join(format!("weights_p{}_final.npy", self.projection)),
                &self.final_weights,
            )?;
        }
        Ok(())
    }
}

//! The statistics of a run: collects the spikes of spike-recorded neurons
//! inside the analysis window while the run goes on, computes each
//! population's statistics ([`stats`]) at the end, and writes the per-neuron
//! distributions to `statistics/` for `renshaw compare`.

use super::npy;
use super::stats::{PopulationStatistics, Window};
use crate::build::Network;
use crate::engine::Spike;
use std::path::Path;

/// Subdirectory of the run directory that holds the distributions.
pub const STATISTICS_DIR: &str = "statistics";

/// The distributions written per population, as (file suffix, meaning).
pub const DISTRIBUTION_FILES: [(&str, &str); 3] = [
    (
        "rates",
        "rate of every spike-recorded neuron in the window, Hz",
    ),
    (
        "cv_isi",
        "CV of ISI of every spike-recorded neuron with >= 3 spikes in the window",
    ),
    (
        "correlations",
        "spike-count correlation coefficient of every pair of the correlation subset",
    ),
];

/// Path of a population's distribution file, relative to the run directory.
pub fn distribution_file(population: &str, suffix: &str) -> String {
    format!("{STATISTICS_DIR}/{population}_{suffix}.npy")
}

/// Marks a neuron that no spike recorder watches.
const NOT_RECORDED: u32 = u32::MAX;

/// Spike trains of the spike-recorded neurons, inside the analysis window.
pub struct TrainCollector {
    window: Window,
    /// Global id -> index into `trains`, or [`NOT_RECORDED`].
    slot_of: Vec<u32>,
    /// One time-ordered train per spike-recorded neuron, in global id order.
    trains: Vec<Vec<u64>>,
    /// Per population, the range of its neurons' slots in `trains`.
    slots_by_population: Vec<std::ops::Range<usize>>,
}

impl TrainCollector {
    /// Prepares a train for every neuron of every spike recorder (a neuron
    /// that several recorders watch counts once).
    pub fn new(net: &Network, window: Window) -> Self {
        let mut recorded = vec![false; net.n_neurons];
        for r in net.recorders.iter().filter(|r| r.spikes) {
            for &g in &r.neurons {
                recorded[g as usize] = true;
            }
        }
        let mut slot_of = vec![NOT_RECORDED; net.n_neurons];
        let mut next = 0usize;
        let mut slots_by_population = Vec::with_capacity(net.populations.len());
        for p in &net.populations {
            let first = next;
            for g in p.offset as usize..(p.offset + p.size) as usize {
                if recorded[g] {
                    slot_of[g] = next as u32;
                    next += 1;
                }
            }
            slots_by_population.push(first..next);
        }
        Self {
            window,
            slot_of,
            trains: vec![Vec::new(); next],
            slots_by_population,
        }
    }

    /// The analysis window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Keeps the spikes of a chunk (ordered by stamp) that fall in the window.
    pub fn add(&mut self, spikes: &[Spike]) {
        for s in spikes.iter().filter(|s| self.window.contains(s.stamp)) {
            let slot = self.slot_of[s.neuron as usize];
            if slot != NOT_RECORDED {
                self.trains[slot as usize].push(s.stamp);
            }
        }
    }

    /// Number of spike-recorded neurons of a population.
    pub fn recorded_neurons(&self, population: usize) -> usize {
        self.slots_by_population[population].len()
    }

    /// Statistics of a population's spike-recorded neurons (in local index
    /// order), `None` when none of its neurons is spike-recorded.
    pub fn statistics(&self, population: usize) -> Option<PopulationStatistics> {
        let slots = self.slots_by_population[population].clone();
        (!slots.is_empty()).then(|| PopulationStatistics::new(&self.trains[slots], &self.window))
    }
}

/// Writes a population's distributions into `dir/statistics/`; returns the
/// file names relative to `dir`.
pub fn write_distributions(
    dir: &Path,
    population: &str,
    statistics: &PopulationStatistics,
) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir.join(STATISTICS_DIR))?;
    let arrays: [&[f64]; 3] = [
        &statistics.rates_hz,
        &statistics.cv_isi,
        &statistics.correlations.coefficients,
    ];
    let mut names = Vec::new();
    for ((suffix, _), values) in DISTRIBUTION_FILES.iter().zip(arrays) {
        let name = distribution_file(population, suffix);
        npy::write_array(&dir.join(&name), values)?;
        names.push(name);
    }
    Ok(names)
}

/// Mean rate in the window of every neuron of a population, from the
/// engine's spike counters read at the window's start and end.
pub fn window_rate_hz(counts_at_start: &[u64], counts_at_end: &[u64], window: &Window) -> f64 {
    let spikes: u64 = counts_at_end
        .iter()
        .zip(counts_at_start)
        .map(|(end, start)| end - start)
        .sum();
    spikes as f64 / counts_at_end.len() as f64 / (window.duration_ms() * 1e-3)
}

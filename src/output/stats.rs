//! Spike statistics over an analysis window: firing rates, the coefficient
//! of variation of inter-spike intervals, and pairwise correlations of
//! binned spike counts (the measures van Albada et al. 2018 use to compare
//! implementations of the Potjans & Diesmann model).
//!
//! Spike trains are given as stamps (the step count at the end of the step
//! in which the neuron fired, as [`crate::engine::Spike::stamp`]), in time
//! order, so that the window's edges are exact integers.

use rayon::prelude::*;

/// Width of the bins in which spikes are counted for correlations, ms.
pub const CORRELATION_BIN_MS: f64 = 2.0;

/// At most this many spike-recorded neurons per population enter the
/// correlations (van Albada et al. 2018 use 200).
pub const CORRELATION_MAX_NEURONS: usize = 200;

/// The steps whose spikes the statistics use: `start_step..end_step`.
///
/// A spike is stamped with the end of its step, so the window holds the
/// stamps `s` with `start_step < s <= end_step`: times in (start, end], as
/// a NEST recorder with `start` and `stop`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// First step of the window (the warmup, in steps).
    pub start_step: u64,
    /// Step after the last one (the run's length in steps).
    pub end_step: u64,
    /// Step, ms.
    pub dt: f64,
}

impl Window {
    /// Whether a spike stamp lies in the window.
    pub fn contains(&self, stamp: u64) -> bool {
        stamp > self.start_step && stamp <= self.end_step
    }

    /// Length in ms.
    pub fn duration_ms(&self) -> f64 {
        self.end_step.saturating_sub(self.start_step) as f64 * self.dt
    }

    /// The part of a time-ordered train inside the window.
    pub fn slice<'t>(&self, stamps: &'t [u64]) -> &'t [u64] {
        let first = stamps.partition_point(|&s| s <= self.start_step);
        let end = stamps.partition_point(|&s| s <= self.end_step);
        &stamps[first..end.max(first)]
    }

    /// Number of whole bins of `bin_ms` in the window; a shorter bin left
    /// at the end would hold fewer spikes on average, so it is dropped.
    pub fn whole_bins(&self, bin_ms: f64) -> usize {
        // The tolerance absorbs rounding in `steps * dt` (e.g. 20 * 0.1).
        (self.duration_ms() / bin_ms + 1e-9).floor() as usize
    }

    /// Index of the bin of `bin_ms` that holds a stamp inside the window.
    fn bin_of(&self, stamp: u64, bin_ms: f64) -> usize {
        let offset_ms = (stamp - 1 - self.start_step) as f64 * self.dt;
        (offset_ms / bin_ms + 1e-9).floor() as usize
    }
}

/// Firing rate of each train inside the window, Hz.
pub fn rates_hz(trains: &[Vec<u64>], window: &Window) -> Vec<f64> {
    let seconds = window.duration_ms() * 1e-3;
    trains
        .iter()
        .map(|t| window.slice(t).len() as f64 / seconds)
        .collect()
}

/// CV of the inter-spike intervals of one spike train (any time unit),
/// `None` below three spikes (two intervals). The standard deviation is
/// the population one (divided by the number of intervals).
pub fn cv_isi(times: &[f64]) -> Option<f64> {
    if times.len() < 3 {
        return None;
    }
    let n = (times.len() - 1) as f64;
    let mean = times.windows(2).map(|w| w[1] - w[0]).sum::<f64>() / n;
    let var = times
        .windows(2)
        .map(|w| (w[1] - w[0] - mean).powi(2))
        .sum::<f64>()
        / n;
    Some(var.sqrt() / mean)
}

/// CV of ISI of every train with at least three spikes inside the window,
/// in train order (trains with fewer are left out).
pub fn cvs_isi(trains: &[Vec<u64>], window: &Window) -> Vec<f64> {
    trains
        .iter()
        .filter_map(|t| {
            let steps: Vec<f64> = window.slice(t).iter().map(|&s| s as f64).collect();
            cv_isi(&steps)
        })
        .collect()
}

/// Mean over neurons of the CV of their inter-spike intervals, counting only
/// neurons with at least three spikes (two intervals); `None` if there are none.
pub fn mean_cv_isi(spike_times_per_neuron: &[Vec<f64>]) -> Option<f64> {
    let cvs: Vec<f64> = spike_times_per_neuron
        .iter()
        .filter_map(|t| cv_isi(t))
        .collect();
    mean(&cvs)
}

/// The arithmetic mean, `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Pairwise correlation coefficients of binned spike counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Correlations {
    /// Pearson's r of every pair (i < j, in train order) whose two count
    /// series both vary; a pair with a neuron silent in the window (or, in
    /// principle, with the same count in every bin) has no coefficient and
    /// is left out.
    pub coefficients: Vec<f64>,
    /// Trains whose counts vary: the neurons the coefficients come from.
    pub neurons: usize,
}

impl Correlations {
    /// Mean coefficient, `None` without pairs.
    pub fn mean(&self) -> Option<f64> {
        mean(&self.coefficients)
    }
}

/// One train's spike counts: the bins that hold spikes, with their counts,
/// and the sums that the coefficients need.
struct BinnedTrain {
    bins: Vec<(u32, u64)>,
    sum: u64,
    sum_of_squares: u64,
}

impl BinnedTrain {
    fn new(stamps: &[u64], window: &Window, bin_ms: f64, n_bins: usize) -> Self {
        let mut bins: Vec<(u32, u64)> = Vec::new();
        for &s in window.slice(stamps) {
            let b = window.bin_of(s, bin_ms);
            if b >= n_bins {
                break; // the partial bin at the end
            }
            match bins.last_mut() {
                Some((last, c)) if *last as usize == b => *c += 1,
                _ => bins.push((b as u32, 1)),
            }
        }
        let sum = bins.iter().map(|&(_, c)| c).sum();
        let sum_of_squares = bins.iter().map(|&(_, c)| c * c).sum();
        Self {
            bins,
            sum,
            sum_of_squares,
        }
    }

    /// n Σx² − (Σx)², which is n² times the variance of the counts over
    /// n bins: exact in integers.
    fn scaled_variance(&self, n_bins: usize) -> i128 {
        n_bins as i128 * self.sum_of_squares as i128 - (self.sum as i128).pow(2)
    }
}

/// Pearson correlation coefficients of the spike counts of every pair of
/// trains, counted in bins of `bin_ms` from the window's start.
///
/// With n bins, counts x and y, r = (n Σxy − Σx Σy) / sqrt((n Σx² − (Σx)²)
/// (n Σy² − (Σy)²)); the sums are integers, so everything but the final
/// division is exact and a rate far below one spike per bin loses nothing
/// to cancellation. Σxy runs over the bins where the second train has
/// spikes, against the first train's counts laid out densely: the cost is
/// n_trains² × spikes per train, bounded by n_trains² × bins, in parallel
/// over the first train.
pub fn spike_count_correlations(trains: &[&[u64]], window: &Window, bin_ms: f64) -> Correlations {
    let n_bins = window.whole_bins(bin_ms);
    if n_bins < 2 {
        return Correlations::default();
    }
    let binned: Vec<BinnedTrain> = trains
        .iter()
        .map(|t| BinnedTrain::new(t, window, bin_ms, n_bins))
        .filter(|b| b.scaled_variance(n_bins) > 0)
        .collect();
    let rows: Vec<Vec<f64>> = (0..binned.len())
        .into_par_iter()
        .map(|i| {
            let a = &binned[i];
            let mut dense = vec![0u64; n_bins];
            for &(b, c) in &a.bins {
                dense[b as usize] = c;
            }
            let var_a = a.scaled_variance(n_bins) as f64;
            binned[i + 1..]
                .iter()
                .map(|b| {
                    let sum_ab: u64 = b.bins.iter().map(|&(k, c)| dense[k as usize] * c).sum();
                    let cov = n_bins as i128 * sum_ab as i128 - a.sum as i128 * b.sum as i128;
                    cov as f64 / (var_a * b.scaled_variance(n_bins) as f64).sqrt()
                })
                .collect()
        })
        .collect();
    Correlations {
        coefficients: rows.into_iter().flatten().collect(),
        neurons: binned.len(),
    }
}

/// `count` indices spread evenly over `0..n` (all of them when `n <= count`),
/// in increasing order: a subset that does not depend on activity and does
/// not favour one end of the population.
pub fn evenly_spaced(n: usize, count: usize) -> Vec<usize> {
    if n <= count {
        return (0..n).collect();
    }
    (0..count).map(|k| k * n / count).collect()
}

/// The statistics of one population's spike-recorded neurons.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PopulationStatistics {
    /// Rate of every recorded neuron in the window, Hz, in train order.
    pub rates_hz: Vec<f64>,
    /// CV of ISI of every recorded neuron with at least three spikes in the window.
    pub cv_isi: Vec<f64>,
    /// Pairwise correlations over [`evenly_spaced`] recorded neurons (at most
    /// [`CORRELATION_MAX_NEURONS`]), in bins of [`CORRELATION_BIN_MS`].
    pub correlations: Correlations,
    /// Neurons the correlations were drawn from (before silent ones are left out).
    pub correlation_candidates: usize,
}

impl PopulationStatistics {
    /// Computes everything from one time-ordered train per recorded neuron.
    pub fn new(trains: &[Vec<u64>], window: &Window) -> Self {
        let subset: Vec<&[u64]> = evenly_spaced(trains.len(), CORRELATION_MAX_NEURONS)
            .into_iter()
            .map(|i| trains[i].as_slice())
            .collect();
        Self {
            rates_hz: rates_hz(trains, window),
            cv_isi: cvs_isi(trains, window),
            correlations: spike_count_correlations(&subset, window, CORRELATION_BIN_MS),
            correlation_candidates: subset.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    const DT: f64 = 0.1;

    fn window(start_ms: f64, end_ms: f64) -> Window {
        Window {
            start_step: (start_ms / DT).round() as u64,
            end_step: (end_ms / DT).round() as u64,
            dt: DT,
        }
    }

    /// Bernoulli spikes with probability `rate * dt` per step, independent
    /// per `entity`.
    fn poisson_train(rate_hz: f64, steps: u64, entity: u32) -> Vec<u64> {
        let mut rng = Stream::new(42, 7, entity);
        let p = rate_hz * DT * 1e-3;
        (1..=steps).filter(|_| rng.uniform() < p).collect()
    }

    #[test]
    fn regular_train_has_zero_cv_and_alternating_has_known_cv() {
        let regular = vec![(1..20).map(|i| i as f64 * 10.0).collect::<Vec<_>>()];
        assert!(mean_cv_isi(&regular).unwrap().abs() < 1e-12);
        // Intervals alternate 5 and 15: mean 10, std 5, CV 0.5.
        let mut t = vec![0.0];
        for i in 0..100 {
            let last = *t.last().unwrap();
            t.push(last + if i % 2 == 0 { 5.0 } else { 15.0 });
        }
        assert!((mean_cv_isi(&[t]).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(mean_cv_isi(&[vec![1.0, 2.0]]), None);
    }

    #[test]
    fn window_holds_stamps_after_its_start_up_to_its_end() {
        let w = window(10.0, 20.0); // steps 100..200
        assert!(!w.contains(100)); // fired in the step ending at 10 ms: warmup
        assert!(w.contains(101));
        assert!(w.contains(200));
        assert!(!w.contains(201));
        assert_eq!(w.slice(&[5, 100, 101, 150, 200, 201]), &[101, 150, 200]);
        assert_eq!(w.slice(&[1, 2]), &[] as &[u64]);
        assert!((w.duration_ms() - 10.0).abs() < 1e-12);
        assert_eq!(w.whole_bins(2.0), 5);
        assert_eq!(w.whole_bins(3.0), 3);
    }

    #[test]
    fn rates_count_only_the_window() {
        // 10 spikes during a 100 ms warmup, then 5 in the 500 ms window.
        let warm: Vec<u64> = (1..=10).map(|i| i * 100).collect();
        let late: Vec<u64> = (1..=5).map(|i| 1000 + i * 1000).collect();
        let train: Vec<u64> = warm.iter().chain(&late).copied().collect();
        let w = window(100.0, 600.0);
        let r = rates_hz(&[train.clone(), vec![]], &w);
        assert!((r[0] - 10.0).abs() < 1e-9, "{r:?}"); // 5 spikes / 0.5 s
        assert_eq!(r[1], 0.0);
        // Without warmup the same train has 15 spikes in 600 ms.
        let r = rates_hz(&[train], &window(0.0, 600.0));
        assert!((r[0] - 25.0).abs() < 1e-9);
    }

    #[test]
    fn cv_leaves_out_warmup_spikes() {
        // Irregular during the warmup, regular (every 10 ms) after it.
        let mut train = vec![3, 4, 50, 51, 52, 400];
        train.extend((1..=20).map(|i| 1000 + i * 100));
        let cvs = cvs_isi(&[train.clone(), vec![1100, 1200]], &window(100.0, 3100.0));
        assert_eq!(cvs.len(), 1, "the two-spike train has no CV");
        assert!(cvs[0].abs() < 1e-12, "{cvs:?}");
        assert!(cvs_isi(&[train], &window(0.0, 3100.0))[0] > 0.5);
    }

    #[test]
    fn identical_trains_correlate_fully() {
        let a = poisson_train(20.0, 10_000, 1);
        let c = spike_count_correlations(&[&a, &a, &a], &window(0.0, 1000.0), 2.0);
        assert_eq!(c.neurons, 3);
        assert_eq!(c.coefficients.len(), 3);
        for r in &c.coefficients {
            assert!((r - 1.0).abs() < 1e-12, "{r}");
        }
    }

    #[test]
    fn alternating_bins_are_anticorrelated() {
        // a fires in even 2 ms bins, b in odd ones: b's counts are 1 - a's.
        let a: Vec<u64> = (0..50).map(|k| 40 * k + 5).collect();
        let b: Vec<u64> = (0..50).map(|k| 40 * k + 25).collect();
        let c = spike_count_correlations(&[&a, &b], &window(0.0, 200.0), 2.0);
        assert_eq!(c.coefficients.len(), 1);
        assert!((c.coefficients[0] + 1.0).abs() < 1e-12, "{c:?}");
        // Half-overlapping trains: a and a-or-b share a's spikes.
        let mut ab: Vec<u64> = a.iter().chain(&b).copied().collect();
        ab.sort_unstable();
        let c = spike_count_correlations(&[&a, &ab], &window(0.0, 200.0), 2.0);
        // ab fires in every bin: its counts do not vary, so no pair.
        assert_eq!((c.neurons, c.coefficients.len()), (1, 0));
    }

    #[test]
    fn known_coefficient_by_hand() {
        // Counts in four 2 ms bins: x = [2, 0, 1, 1], y = [1, 0, 0, 1].
        // n Σxy − Σx Σy = 4·3 − 4·2 = 4; n Σx² − (Σx)² = 4·6 − 16 = 8;
        // n Σy² − (Σy)² = 4·2 − 4 = 4; r = 4 / sqrt(32) = 0.7071.
        let x = [3, 7, 45, 61];
        let y = [12, 80];
        let c = spike_count_correlations(&[&x, &y], &window(0.0, 8.0), 2.0);
        assert!((c.coefficients[0] - 0.5f64.sqrt()).abs() < 1e-12, "{c:?}");
    }

    #[test]
    fn silent_neurons_are_left_out_of_the_pairs() {
        let a = poisson_train(20.0, 10_000, 1);
        let b = poisson_train(20.0, 10_000, 2);
        let silent_in_window = vec![1, 2, 3]; // spikes only before the window
        let c =
            spike_count_correlations(&[&a, &[], &b, &silent_in_window], &window(1.0, 1000.0), 2.0);
        assert_eq!((c.neurons, c.coefficients.len()), (2, 1));
    }

    #[test]
    fn warmup_spikes_do_not_enter_correlations() {
        // Identical bursts during the warmup, independent trains after it.
        let burst: Vec<u64> = (1..=100).map(|i| i * 10).collect();
        let a: Vec<u64> = burst
            .iter()
            .copied()
            .chain(
                poisson_train(20.0, 100_000, 1)
                    .into_iter()
                    .filter(|&s| s > 1000),
            )
            .collect();
        let b: Vec<u64> = burst
            .iter()
            .copied()
            .chain(
                poisson_train(20.0, 100_000, 2)
                    .into_iter()
                    .filter(|&s| s > 1000),
            )
            .collect();
        let with = spike_count_correlations(&[&a, &b], &window(0.0, 10_000.0), 2.0);
        let without = spike_count_correlations(&[&a, &b], &window(100.0, 10_000.0), 2.0);
        // 4950 bins: independent trains give |r| of order 1/sqrt(4950) = 0.014.
        assert!(without.coefficients[0].abs() < 0.06, "{without:?}");
        assert!(with.coefficients[0] > 0.1, "{with:?}");
    }

    #[test]
    fn independent_poisson_trains_are_uncorrelated_within_sampling_error() {
        // 50 independent 10 Hz trains over 20 s: 10^4 bins of 2 ms. For
        // independent trains r is approximately normal with mean 0 and
        // standard deviation 1/sqrt(bins) = 0.01; the 1225 coefficients are
        // pairwise uncorrelated, so their mean has standard deviation
        // 0.01 / sqrt(1225) = 2.9e-4.
        let steps = 200_000;
        let trains: Vec<Vec<u64>> = (0..50).map(|e| poisson_train(10.0, steps, e)).collect();
        let refs: Vec<&[u64]> = trains.iter().map(Vec::as_slice).collect();
        let c = spike_count_correlations(&refs, &window(0.0, 20_000.0), 2.0);
        assert_eq!((c.neurons, c.coefficients.len()), (50, 1225));
        let sd_expected = 1.0 / 10_000f64.sqrt();
        let m = c.mean().unwrap();
        assert!(m.abs() < 5.0 * sd_expected / 1225f64.sqrt(), "mean {m}");
        let sd = (c.coefficients.iter().map(|r| (r - m).powi(2)).sum::<f64>() / 1225.0).sqrt();
        // The sample standard deviation of 1225 values is within 10 % of
        // the true one with overwhelming probability (its relative error
        // has sd 1/sqrt(2 * 1225) = 2 %).
        assert!((sd / sd_expected - 1.0).abs() < 0.1, "sd {sd}");
        let max = c.coefficients.iter().fold(0.0f64, |m, r| m.max(r.abs()));
        assert!(max < 5.0 * sd_expected, "max |r| {max}");
    }

    #[test]
    fn evenly_spaced_subsets() {
        assert_eq!(evenly_spaced(3, 5), [0, 1, 2]);
        assert_eq!(evenly_spaced(10, 5), [0, 2, 4, 6, 8]);
        let s = evenly_spaced(1001, 200);
        assert_eq!(s.len(), 200);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert!(*s.last().unwrap() >= 995);
    }

    #[test]
    fn population_statistics_use_the_subset_for_correlations() {
        let trains: Vec<Vec<u64>> = (0..250).map(|e| poisson_train(10.0, 20_000, e)).collect();
        let s = PopulationStatistics::new(&trains, &window(0.0, 2000.0));
        assert_eq!(s.rates_hz.len(), 250);
        assert_eq!(s.correlation_candidates, CORRELATION_MAX_NEURONS);
        let n = s.correlations.neurons;
        assert_eq!(s.correlations.coefficients.len(), n * (n - 1) / 2);
        assert!(s.cv_isi.len() > 240);
        // Poisson trains have CV near 1 (20 spikes each: a loose bound).
        let cv = mean(&s.cv_isi).unwrap();
        assert!((cv - 1.0).abs() < 0.1, "{cv}");
    }
}

//! Spike statistics: rates and the coefficient of variation of inter-spike intervals.

/// Mean over neurons of the CV of their inter-spike intervals, counting only
/// neurons with at least three spikes (two intervals); `None` if there are none.
pub fn mean_cv_isi(spike_times_per_neuron: &[Vec<f64>]) -> Option<f64> {
    let cvs: Vec<f64> = spike_times_per_neuron
        .iter()
        .filter(|t| t.len() >= 3)
        .map(|t| {
            let isi: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
            let m = isi.iter().sum::<f64>() / isi.len() as f64;
            let v = isi.iter().map(|x| (x - m).powi(2)).sum::<f64>() / isi.len() as f64;
            v.sqrt() / m
        })
        .collect();
    (!cvs.is_empty()).then(|| cvs.iter().sum::<f64>() / cvs.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! `renshaw plot`: a spike raster of every spike-recorded population and a
//! histogram of per-neuron rates per population, drawn to PNG with
//! plotters' bitmap backend. Text uses a font compiled into the binary
//! (Ubuntu Light, shipped by the `epaint_default_fonts` crate), so no
//! system font library is needed.

use super::analysis::distribution_file;
use super::run_dir::{RunDirError, read_summary, read_values};
use super::stats::evenly_spaced;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The raster shows at most this many neurons (rows), spread over the
/// populations in proportion to their recorded neurons: more rows than the
/// picture has pixels would only blur it, and drawing time grows with them.
pub const MAX_RASTER_NEURONS: usize = 2000;

/// Font family name under which the embedded font is registered.
const FONT: &str = "sans-serif";

/// One colour per population (Tableau 10), repeated past ten.
pub(super) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// What can go wrong plotting a run.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The run directory or one of its files cannot be read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The run recorded no spikes.
    #[error(
        "{0}: lists no spike recordings (no [[record]] with spikes, or a run by a renshaw without `spike_recordings`); nothing to plot"
    )]
    NothingToPlot(PathBuf),
    /// The output directory cannot be created.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The data handed to a drawing function cannot be drawn (nothing to
    /// draw, an empty trace, a value that is not a finite number).
    #[error("cannot plot {path}: {message}")]
    BadData {
        /// The picture that was asked for.
        path: PathBuf,
        /// What is wrong with the data.
        message: String,
    },
    /// Drawing or writing a picture failed.
    #[error("cannot draw {path}: {message}")]
    Draw {
        /// The picture.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
struct SummaryFile {
    description: String,
    seed: u64,
    duration_ms: f64,
    #[serde(default)]
    warmup_ms: f64,
    #[serde(default)]
    spike_recordings: Vec<SpikeRecordingFile>,
    populations: BTreeMap<String, PopulationFile>,
}

#[derive(Debug, Deserialize)]
struct SpikeRecordingFile {
    population: String,
    neurons: String,
    spike_times: String,
    spike_senders: String,
}

#[derive(Debug, Deserialize)]
struct PopulationFile {
    #[serde(default)]
    spike_recorded_neurons: usize,
}

/// The pictures written.
#[derive(Debug, Clone)]
pub struct PlotFiles {
    /// The spike raster.
    pub raster: PathBuf,
    /// The rate histograms.
    pub rates: PathBuf,
}

/// A population's rows in the raster.
struct RasterPopulation {
    name: String,
    /// Neurons with a spike recorder.
    recorded: usize,
    /// Number of rows shown.
    rows: usize,
    /// (time in ms, row within the population) of the shown neurons' spikes.
    spikes: Vec<(f64, u32)>,
}

/// Draws `raster.png` and `rates.png` of the run in `run_dir` into `out_dir`.
pub fn plot_run(run_dir: &Path, out_dir: &Path) -> Result<PlotFiles, PlotError> {
    let summary: SummaryFile = read_summary(run_dir)?;
    if summary.spike_recordings.is_empty() {
        return Err(PlotError::NothingToPlot(run_dir.join("summary.json")));
    }
    let populations = read_raster(run_dir, &summary)?;
    std::fs::create_dir_all(out_dir).map_err(|source| PlotError::Create {
        path: out_dir.to_path_buf(),
        source,
    })?;
    register_font();
    let files = PlotFiles {
        raster: out_dir.join("raster.png"),
        rates: out_dir.join("rates.png"),
    };
    let draw_error = |path: &Path| {
        let path = path.to_path_buf();
        move |e: String| PlotError::Draw {
            path,
            message: e.to_string(),
        }
    };
    draw_raster(&files.raster, &summary, &populations).map_err(draw_error(&files.raster))?;
    let mut rates = Vec::new();
    for (i, p) in populations.iter().enumerate() {
        if summary
            .populations
            .get(&p.name)
            .is_some_and(|s| s.spike_recorded_neurons > 0)
        {
            let values = read_values(&run_dir.join(distribution_file(&p.name, "rates")))?;
            // The population's colour in the raster.
            rates.push((p.name.as_str(), values, PALETTE[i % PALETTE.len()]));
        }
    }
    draw_rates(&files.rates, &summary, &rates).map_err(draw_error(&files.rates))?;
    Ok(files)
}

pub(super) fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .unwrap_or_else(|_| unreachable!("the embedded font is a valid TrueType font"));
    });
}

/// Reads every spike recording, grouped by population in the order the
/// recorders appear, and picks the rows to show.
fn read_raster(dir: &Path, summary: &SummaryFile) -> Result<Vec<RasterPopulation>, PlotError> {
    // Per population: its recorders, in order of first appearance.
    let mut groups: Vec<(&str, Vec<&SpikeRecordingFile>)> = Vec::new();
    for r in &summary.spike_recordings {
        match groups.iter_mut().find(|(name, _)| *name == r.population) {
            Some((_, list)) => list.push(r),
            None => groups.push((&r.population, vec![r])),
        }
    }
    let mut recorded: Vec<Vec<u32>> = Vec::with_capacity(groups.len());
    for (_, recorders) in &groups {
        let mut neurons = Vec::new();
        for r in recorders {
            neurons.extend(
                read_values(&dir.join(&r.neurons))?
                    .iter()
                    .map(|&n| n as u32),
            );
        }
        neurons.sort_unstable();
        neurons.dedup();
        recorded.push(neurons);
    }
    let total: usize = recorded.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(groups.len());
    for ((name, recorders), neurons) in groups.iter().zip(&recorded) {
        let budget = if total <= MAX_RASTER_NEURONS {
            neurons.len()
        } else {
            (neurons.len() * MAX_RASTER_NEURONS / total).max(1)
        };
        let shown: Vec<u32> = evenly_spaced(neurons.len(), budget)
            .into_iter()
            .map(|i| neurons[i])
            .collect();
        let size = shown.last().map_or(0, |&n| n as usize + 1);
        let mut row_of = vec![u32::MAX; size];
        for (row, &n) in shown.iter().enumerate() {
            row_of[n as usize] = row as u32;
        }
        let mut spikes = Vec::new();
        for r in recorders {
            let times = read_values(&dir.join(&r.spike_times))?;
            let senders = read_values(&dir.join(&r.spike_senders))?;
            for (&t, &s) in times.iter().zip(&senders) {
                if let Some(&row) = row_of.get(s as usize).filter(|&&row| row != u32::MAX) {
                    spikes.push((t, row));
                }
            }
        }
        if recorders.len() > 1 {
            // Two recorders watching one neuron both hold its spikes.
            spikes.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(a.0.total_cmp(&b.0)));
            spikes.dedup();
        }
        out.push(RasterPopulation {
            name: name.to_string(),
            recorded: neurons.len(),
            rows: shown.len(),
            spikes,
        });
    }
    Ok(out)
}

pub(super) fn text(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

fn draw_raster(
    path: &Path,
    summary: &SummaryFile,
    populations: &[RasterPopulation],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, (1600, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let total_rows: usize = populations.iter().map(|p| p.rows).sum::<usize>().max(1);
    let shown: usize = populations.iter().map(|p| p.rows).sum();
    let recorded: usize = populations.iter().map(|p| p.recorded).sum();
    let subset = if shown < recorded {
        format!("{shown} of {recorded} recorded neurons")
    } else {
        format!("{recorded} recorded neurons")
    };
    let warmup = if summary.warmup_ms > 0.0 {
        format!(" (grey: the {} ms warmup)", summary.warmup_ms)
    } else {
        String::new()
    };
    let caption = format!(
        "{} (seed {}): spikes of {subset}{warmup}",
        summary.description, summary.seed
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, text(26.0))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(150)
        .build_cartesian_2d(0.0..summary.duration_ms, 0.0..total_rows as f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        // Only the labelled time lines: the light ones would stripe the spikes.
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.15))
        .y_labels(0)
        .x_label_formatter(&|v| format!("{v}"))
        .x_desc("time (ms)")
        .label_style(text(18.0))
        .axis_desc_style(text(20.0))
        .draw()
        .map_err(|e| err(&e))?;
    if summary.warmup_ms > 0.0 {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, 0.0), (summary.warmup_ms, total_rows as f64)],
                RGBColor(225, 225, 225).filled(),
            )))
            .map_err(|e| err(&e))?;
    }
    // A spike is a tick one pixel wide and most of a row high.
    let (x0, _) = chart.backend_coord(&(0.0, 0.0));
    let (x1, _) = chart.backend_coord(&(summary.duration_ms, 0.0));
    let ms_per_pixel = summary.duration_ms / (x1 - x0).max(1) as f64;
    let mut top = total_rows as f64;
    for (i, p) in populations.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let rows = p.rows as f64;
        chart
            .draw_series(p.spikes.iter().map(|&(t, row)| {
                let y = top - row as f64 - 1.0;
                Rectangle::new([(t - ms_per_pixel, y + 0.1), (t, y + 0.9)], colour.filled())
            }))
            .map_err(|e| err(&e))?;
        let bottom = top - rows;
        if i + 1 < populations.len() {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    [(0.0, bottom), (summary.duration_ms, bottom)],
                    BLACK.mix(0.4),
                )))
                .map_err(|e| err(&e))?;
        }
        let (_, y) = chart.backend_coord(&(0.0, (top + bottom) / 2.0));
        let label = if p.rows < p.recorded {
            format!("{} ({} of {})", p.name, p.rows, p.recorded)
        } else {
            format!("{} ({})", p.name, p.recorded)
        };
        root.draw(&Text::new(label, (20, y - 12), text(22.0).color(&colour)))
            .map_err(|e| err(&e))?;
        top = bottom;
    }
    root.present().map_err(|e| err(&e))
}

/// Most bins of a rate histogram.
const RATE_BINS: usize = 30;

/// A histogram of per-neuron rates.
#[derive(Debug, PartialEq)]
struct RateHistogram {
    /// Left edge of the first bin, Hz.
    lower: f64,
    /// Bin width, Hz.
    width: f64,
    /// Neurons per bin.
    counts: Vec<u32>,
}

/// Bins rates that are spike counts divided by the window: multiples of
/// `quantum_hz` (1 / window). Each bin spans a whole number of quanta,
/// centred between them, so that no bin is empty only because no count
/// falls in it (a comb of gaps); at most `max_bins` bins cover the data.
fn rate_histogram(values: &[f64], quantum_hz: f64, max_bins: usize) -> RateHistogram {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (min, max) = if min <= max { (min, max) } else { (0.0, 0.0) };
    let q = if quantum_hz > 0.0 && quantum_hz.is_finite() {
        quantum_hz
    } else {
        ((max - min) / max_bins as f64).max(1e-9)
    };
    let quanta = ((max - min) / q).round() as usize + 1;
    let per_bin = quanta.div_ceil(max_bins.max(1));
    let bins = quanta.div_ceil(per_bin);
    let lower = (min / q).round() * q - q / 2.0;
    let width = per_bin as f64 * q;
    let mut counts = vec![0u32; bins];
    for &v in values {
        counts[(((v - lower) / width).max(0.0) as usize).min(bins - 1)] += 1;
    }
    RateHistogram {
        lower,
        width,
        counts,
    }
}

fn draw_rates(
    path: &Path,
    summary: &SummaryFile,
    rates: &[(&str, Vec<f64>, RGBColor)],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let columns = rates.len().clamp(1, 3);
    let rows = rates.len().div_ceil(columns).max(1);
    let root = BitMapBackend::new(path, (560 * columns as u32, 420 * rows as u32 + 50))
        .into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let title = format!(
        "{} (seed {}): rates over ({}, {}] ms",
        summary.description, summary.seed, summary.warmup_ms, summary.duration_ms
    );
    let root = root.titled(&title, text(24.0)).map_err(|e| err(&e))?;
    let panels: Vec<DrawingArea<_, Shift>> = root.split_evenly((rows, columns));
    for ((name, values, colour), panel) in rates.iter().zip(&panels) {
        let colour = *colour;
        let quantum_hz = 1e3 / (summary.duration_ms - summary.warmup_ms);
        let h = rate_histogram(values, quantum_hz, RATE_BINS);
        let (lower, width) = (h.lower, h.width);
        let upper = lower + width * h.counts.len() as f64;
        let highest = h.counts.iter().copied().max().unwrap_or(0).max(1);
        let top = highest + (highest / 10).max(1);
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{name}: mean {mean:.2} Hz, {} neurons", values.len()),
                text(20.0).color(&colour),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(lower..upper, 0..top)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|v| format!("{v}"))
            .x_desc("rate (Hz)")
            .y_desc("neurons")
            .label_style(text(15.0))
            .axis_desc_style(text(16.0))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(
                h.counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(b, &c)| {
                        let x = lower + b as f64 * width;
                        Rectangle::new([(x, 0), (x + width, c)], colour.mix(0.8).filled())
                    }),
            )
            .map_err(|e| err(&e))?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                [(mean, 0), (mean, top)],
                BLACK.stroke_width(2),
            )))
            .map_err(|e| err(&e))?;
    }
    if rates.is_empty() {
        root.draw(&Text::new(
            "no population has spike-recorded neurons",
            (40, 40),
            text(20.0),
        ))
        .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_bins_hold_whole_quanta() {
        // A 2 s window: rates are multiples of 0.5 Hz.
        let q = 0.5;
        let h = rate_histogram(&[0.0, 0.5, 0.5, 1.0, 2.5], q, 30);
        assert_eq!(h.lower, -0.25);
        assert_eq!(h.width, 0.5);
        assert_eq!(h.counts, [1, 2, 1, 0, 0, 1]);
        // 101 quanta into at most 30 bins: 4 quanta per bin, 26 bins.
        let values: Vec<f64> = (0..=100).map(|k| 10.0 + k as f64 * q).collect();
        let h = rate_histogram(&values, q, 30);
        assert_eq!((h.width, h.counts.len()), (2.0, 26));
        assert_eq!(h.lower, 9.75);
        assert_eq!(h.counts.iter().sum::<u32>(), 101);
        assert!(h.counts[..25].iter().all(|&c| c == 4), "{:?}", h.counts);
        assert_eq!(h.counts[25], 1);
    }

    /// A recorder made by hand: population, neurons, spikes as (time, sender).
    type HandRecorder<'a> = (&'a str, Vec<u32>, Vec<(f64, u32)>);

    /// A run directory with the given recorders.
    fn run_dir(recorders: &[HandRecorder<'_>]) -> tempfile::TempDir {
        use crate::output::npy::write_array;
        let tmp = tempfile::tempdir().unwrap();
        let mut listed = Vec::new();
        for (i, (population, neurons, spikes)) in recorders.iter().enumerate() {
            let stem = format!("{population}_rec{i}");
            let file = |what: &str| format!("{stem}_{what}.npy");
            write_array(&tmp.path().join(file("neurons")), neurons).unwrap();
            let times: Vec<f64> = spikes.iter().map(|s| s.0).collect();
            let senders: Vec<u32> = spikes.iter().map(|s| s.1).collect();
            write_array(&tmp.path().join(file("spike_times")), &times).unwrap();
            write_array(&tmp.path().join(file("spike_senders")), &senders).unwrap();
            listed.push(serde_json::json!({
                "population": population,
                "neurons": file("neurons"),
                "spike_times": file("spike_times"),
                "spike_senders": file("spike_senders"),
            }));
        }
        let summary = serde_json::json!({
            "description": "hand.toml", "seed": 1, "duration_ms": 100.0,
            "spike_recordings": listed, "populations": {}
        });
        std::fs::write(tmp.path().join("summary.json"), summary.to_string()).unwrap();
        tmp
    }

    fn raster(dir: &Path) -> Vec<RasterPopulation> {
        let summary: SummaryFile = read_summary(dir).unwrap();
        read_raster(dir, &summary).unwrap()
    }

    #[test]
    fn recorders_of_one_population_merge_without_double_spikes() {
        // Neuron 2 is watched by both recorders of P: its spike at 5 ms is
        // in both files and must be drawn once.
        let tmp = run_dir(&[
            ("P", vec![0, 1, 2], vec![(1.0, 0), (5.0, 2), (7.0, 1)]),
            ("Q", vec![0], vec![(2.0, 0)]),
            ("P", vec![2, 4], vec![(5.0, 2), (6.0, 4)]),
        ]);
        let r = raster(tmp.path());
        let names: Vec<&str> = r.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["P", "Q"]);
        assert_eq!((r[0].recorded, r[0].rows), (4, 4));
        // Rows are the recorded neurons 0, 1, 2, 4 in order.
        let mut spikes = r[0].spikes.clone();
        spikes.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(spikes, [(1.0, 0), (5.0, 2), (6.0, 3), (7.0, 1)]);
        assert_eq!(r[1].spikes, [(2.0, 0)]);
    }

    #[test]
    fn large_recordings_are_subsampled_in_proportion() {
        let big: Vec<u32> = (0..3000).collect();
        let small: Vec<u32> = (0..1000).collect();
        // One spike per neuron.
        let spikes = |n: &[u32]| n.iter().map(|&i| (1.0 + i as f64 * 0.01, i)).collect();
        let tmp = run_dir(&[
            ("Big", big.clone(), spikes(&big)),
            ("Small", small.clone(), spikes(&small)),
        ]);
        let r = raster(tmp.path());
        assert_eq!((r[0].recorded, r[0].rows), (3000, 1500));
        assert_eq!((r[1].recorded, r[1].rows), (1000, 500));
        assert_eq!(r[0].rows + r[1].rows, MAX_RASTER_NEURONS);
        // Only the shown neurons' spikes are kept, one per row.
        assert_eq!(r[0].spikes.len(), 1500);
        let mut rows: Vec<u32> = r[0].spikes.iter().map(|s| s.1).collect();
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows.len(), 1500);
    }

    #[test]
    fn rate_bins_of_equal_or_no_rates() {
        let h = rate_histogram(&[3.0, 3.0], 1.0, 30);
        assert_eq!((h.lower, h.width, h.counts.clone()), (2.5, 1.0, vec![2]));
        let h = rate_histogram(&[], 1.0, 30);
        assert_eq!(h.counts, [0]);
    }
}

//! A figure of the closed-loop body experiments (spinal conditioning of the
//! hindlimb): the foot height of each limb over time (master and yoked,
//! say), its cue threshold, and under it a raster of the cue onsets, drawn
//! to PNG with plotters' bitmap backend and the embedded font of
//! [`super::plot`].
//!
//! A trace can hold hundreds of thousands of samples (10 minutes at 1 ms);
//! it is drawn as a min/max envelope per pixel column, so a drop of a
//! single sample stays visible and drawing time does not grow with it.

use super::plot::{PALETTE, PlotError, register_font, text};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One limb's trace for the figure.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyTrace {
    /// What the panel shows, e.g. "master (control, seed 1)".
    pub label: String,
    /// Sample `k` is the foot height at time `(k + 1) * interval_ms`.
    pub interval_ms: f64,
    /// Foot height, in the body's units (mm).
    pub heights: Vec<f64>,
    /// Cue threshold height (mm): a cue may come while the foot is below it.
    pub threshold: f64,
    /// Cue onsets (ms).
    pub cue_times_ms: Vec<f64>,
}

/// Width of the picture, pixels.
const WIDTH: u32 = 1400;
/// Height of one panel (foot height and cue raster), pixels.
const PANEL_HEIGHT: u32 = 260;
/// Height of the cue raster under each panel's foot height, pixels.
const RASTER_HEIGHT: u32 = 62;
/// Room for the title, pixels.
const TITLE_HEIGHT: u32 = 50;
/// Width of the y labels, the same in every chart so their time axes line up.
const Y_LABEL_WIDTH: u32 = 90;
/// A minute narrower than this many pixels gets no share written over it.
const MIN_SHARE_LABEL_PX: f64 = 38.0;

const MS_PER_MINUTE: f64 = 60_000.0;

/// Draws the traces as stacked panels, one per trace, sharing the time axis
/// (minutes): the foot height as a line, the threshold as a dashed
/// horizontal line, the share of time below threshold written faintly over
/// each minute (where a minute is wide enough for it) and over the whole
/// trace in the panel's caption, and under each panel a cue raster (a tick
/// per cue onset). `title` goes on top. The picture is 1400 pixels wide and
/// 260 high per panel; `path`'s directory is created if missing.
///
/// No traces, a trace without samples, a non-positive interval or a value
/// that is not a finite number give [`PlotError::BadData`].
pub fn plot_body_traces(path: &Path, title: &str, traces: &[BodyTrace]) -> Result<(), PlotError> {
    let bad = |message: String| PlotError::BadData {
        path: path.to_path_buf(),
        message,
    };
    let total_ms = check_traces(traces).map_err(bad)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PlotError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    register_font();
    draw(path, title, traces, total_ms).map_err(|message| PlotError::Draw {
        path: path.to_path_buf(),
        message,
    })
}

/// Checks that the traces can be drawn; returns the time axis' end (ms),
/// the end of the longest trace.
fn check_traces(traces: &[BodyTrace]) -> Result<f64, String> {
    if traces.is_empty() {
        return Err("no traces to draw".into());
    }
    let mut total_ms: f64 = 0.0;
    for (i, t) in traces.iter().enumerate() {
        let name = format!("trace {i} ({:?})", t.label);
        if !(t.interval_ms.is_finite() && t.interval_ms > 0.0) {
            return Err(format!(
                "{name}: interval_ms is {}, not a positive finite number",
                t.interval_ms
            ));
        }
        if t.heights.is_empty() {
            return Err(format!("{name}: no foot-height samples"));
        }
        if let Some(k) = t.heights.iter().position(|h| !h.is_finite()) {
            return Err(format!(
                "{name}: foot height of sample {k} is {}",
                t.heights[k]
            ));
        }
        if !t.threshold.is_finite() {
            return Err(format!("{name}: threshold is {}", t.threshold));
        }
        if let Some(k) = t.cue_times_ms.iter().position(|c| !c.is_finite()) {
            return Err(format!("{name}: cue onset {k} is {}", t.cue_times_ms[k]));
        }
        let end = t.heights.len() as f64 * t.interval_ms;
        if !end.is_finite() {
            return Err(format!(
                "{name}: {} samples at {} ms do not end at a finite time",
                t.heights.len(),
                t.interval_ms
            ));
        }
        total_ms = total_ms.max(end);
    }
    Ok(total_ms)
}

/// The points (time in ms, height) of a line that shows `heights` (sample
/// `k` at `(k + 1) * interval_ms`) on `columns` pixel columns spanning
/// `(0, total_ms]`. Short traces keep every sample; longer ones keep, per
/// column, its lowest and highest sample (in the order they occur) at the
/// column's centre, so the line keeps every excursion however brief.
fn envelope(heights: &[f64], interval_ms: f64, total_ms: f64, columns: usize) -> Vec<(f64, f64)> {
    let columns = columns.max(1);
    if heights.len() <= 2 * columns {
        return heights
            .iter()
            .enumerate()
            .map(|(k, &h)| ((k + 1) as f64 * interval_ms, h))
            .collect();
    }
    let width_ms = total_ms / columns as f64;
    let column_of = |k: usize| {
        let t = (k + 1) as f64 * interval_ms;
        // Column c spans (c * width, (c + 1) * width].
        ((t / width_ms).ceil() as usize)
            .saturating_sub(1)
            .min(columns - 1)
    };
    let mut out = Vec::with_capacity(2 * columns);
    let mut k = 0;
    while k < heights.len() {
        let c = column_of(k);
        let centre = (c as f64 + 0.5) * width_ms;
        let (mut lo, mut hi) = (k, k);
        k += 1;
        while k < heights.len() && column_of(k) == c {
            if heights[k] < heights[lo] {
                lo = k;
            }
            if heights[k] > heights[hi] {
                hi = k;
            }
            k += 1;
        }
        let (first, second) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push((centre, heights[first]));
        if second != first {
            out.push((centre, heights[second]));
        }
    }
    out
}

/// Per minute of the trace ((m, m + 1] minutes, the last one possibly
/// partial), the share of its samples below `threshold`, with the minute's
/// end (ms).
fn minute_shares(heights: &[f64], interval_ms: f64, threshold: f64) -> Vec<(f64, f64)> {
    let mut below: Vec<(usize, usize)> = Vec::new();
    for (k, &h) in heights.iter().enumerate() {
        let t = (k + 1) as f64 * interval_ms;
        let m = ((t / MS_PER_MINUTE).ceil() as usize).saturating_sub(1);
        if below.len() <= m {
            below.resize(m + 1, (0, 0));
        }
        below[m].1 += 1;
        if h < threshold {
            below[m].0 += 1;
        }
    }
    let end = heights.len() as f64 * interval_ms;
    below
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(m, &(b, n))| {
            let minute_end = ((m + 1) as f64 * MS_PER_MINUTE).min(end);
            (minute_end, b as f64 / n as f64)
        })
        .collect()
}

fn draw(path: &Path, title: &str, traces: &[BodyTrace], total_ms: f64) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let height = TITLE_HEIGHT + PANEL_HEIGHT * traces.len() as u32 + 20;
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, rest) = root.split_vertically(TITLE_HEIGHT);
    top.draw(&Text::new(
        title.to_string(),
        (WIDTH as i32 / 2, TITLE_HEIGHT as i32 / 2),
        text(26.0).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .map_err(|e| err(&e))?;
    let total_min = total_ms / MS_PER_MINUTE;
    let mut area = rest;
    for (i, trace) in traces.iter().enumerate() {
        let (panel, below) = area.split_vertically(PANEL_HEIGHT);
        let last = i + 1 == traces.len();
        draw_panel(&panel, trace, PALETTE[i % PALETTE.len()], total_min, last)?;
        area = below;
    }
    root.present().map_err(|e| err(&e))
}

fn draw_panel(
    panel: &DrawingArea<BitMapBackend<'_>, Shift>,
    trace: &BodyTrace,
    colour: RGBColor,
    total_min: f64,
    last: bool,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let (upper, lower) = panel.split_vertically(PANEL_HEIGHT - RASTER_HEIGHT);
    let h = &trace.heights;
    let below = h.iter().filter(|&&v| v < trace.threshold).count() as f64 / h.len() as f64;
    let caption = format!(
        "{}: below threshold {:.1}% of the time (per minute in grey), {} cues",
        trace.label,
        100.0 * below,
        trace.cue_times_ms.len()
    );
    let lo = h.iter().copied().fold(trace.threshold, f64::min);
    let hi = h.iter().copied().fold(trace.threshold, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    // Room on top for the shares written over each minute.
    let (y0, y1) = (lo - 0.06 * span, hi + 0.22 * span);
    let mut chart = ChartBuilder::on(&upper)
        .caption(caption, text(19.0).color(&colour))
        .margin_top(6)
        .margin_left(10)
        .margin_right(25)
        .x_label_area_size(0)
        .y_label_area_size(Y_LABEL_WIDTH)
        .build_cartesian_2d(0.0..total_min, y0..y1)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .y_labels(5)
        .y_label_formatter(&|v| format!("{}", (v * 100.0).round() / 100.0))
        .y_desc("foot height (mm)")
        .label_style(text(15.0))
        .axis_desc_style(text(16.0))
        .draw()
        .map_err(|e| err(&e))?;
    let (columns, _) = chart.plotting_area().dim_in_pixel();
    let total_ms = total_min * MS_PER_MINUTE;
    let line = envelope(h, trace.interval_ms, total_ms, columns as usize);
    chart
        .draw_series(std::iter::once(PathElement::new(
            line.into_iter()
                .map(|(t, v)| (t / MS_PER_MINUTE, v))
                .collect::<Vec<_>>(),
            colour.stroke_width(1),
        )))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(std::iter::once(DashedPathElement::new(
            [(0.0, trace.threshold), (total_min, trace.threshold)],
            8,
            6,
            BLACK.mix(0.7).stroke_width(2),
        )))
        .map_err(|e| err(&e))?;
    // The share below threshold per minute, faint, over minutes wide enough.
    let px_per_minute = columns as f64 / total_min.max(f64::MIN_POSITIVE);
    let mut start = 0.0;
    for (end, share) in minute_shares(h, trace.interval_ms, trace.threshold) {
        let width_px = (end - start) / MS_PER_MINUTE * px_per_minute;
        if width_px >= MIN_SHARE_LABEL_PX {
            let x = (start + end) / 2.0 / MS_PER_MINUTE;
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x, y1))
                        + Text::new(
                            format!("{:.0}%", 100.0 * share),
                            (0, 3),
                            text(13.0)
                                .color(&BLACK.mix(0.45))
                                .pos(Pos::new(HPos::Center, VPos::Top)),
                        ),
                ))
                .map_err(|e| err(&e))?;
        }
        start = end;
    }
    // The cue raster, on the same time axis.
    let mut raster = ChartBuilder::on(&lower)
        .margin_left(10)
        .margin_right(25)
        .margin_bottom(4)
        .x_label_area_size(if last { 44 } else { 24 })
        .y_label_area_size(Y_LABEL_WIDTH)
        .build_cartesian_2d(0.0..total_min, 0.0..1.0)
        .map_err(|e| err(&e))?;
    let mut mesh = raster.configure_mesh();
    mesh.disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .y_labels(0)
        .y_desc("cues")
        .x_label_formatter(&|v| format!("{}", (v * 100.0).round() / 100.0))
        .label_style(text(15.0))
        .axis_desc_style(text(16.0));
    if last {
        mesh.x_desc("time (min)");
    }
    mesh.draw().map_err(|e| err(&e))?;
    raster
        .draw_series(
            trace
                .cue_times_ms
                .iter()
                .filter(|&&c| (0.0..=total_ms).contains(&c))
                .map(|&c| {
                    let x = c / MS_PER_MINUTE;
                    PathElement::new([(x, 0.15), (x, 0.85)], BLACK.stroke_width(1))
                }),
        )
        .map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keeps_a_one_sample_drop() {
        let mut h = vec![5.0; 100_000];
        h[54_321] = -3.0;
        h[77_777] = 9.0;
        let e = envelope(&h, 1.0, 100_000.0, 1000);
        assert!(e.len() <= 2000, "{}", e.len());
        assert!(e.iter().any(|&(_, v)| v == -3.0));
        assert!(e.iter().any(|&(_, v)| v == 9.0));
        // The drop sits in the column of its time, 54,322 ms.
        let (t, _) = e.iter().find(|p| p.1 == -3.0).unwrap();
        assert!((t - 54_350.0).abs() < 1e-6, "{t}");
        // Times never go backwards.
        assert!(e.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn envelope_of_a_short_trace_is_the_trace() {
        let e = envelope(&[1.0, 2.0, 3.0], 0.5, 1.5, 1000);
        assert_eq!(e, [(0.5, 1.0), (1.0, 2.0), (1.5, 3.0)]);
    }

    #[test]
    fn shares_per_minute() {
        // 2.5 minutes at 100 ms: below threshold in the first minute only,
        // half of the second, none of the partial third.
        let h: Vec<f64> = (0..1500).map(|k| if k < 900 { 0.0 } else { 2.0 }).collect();
        let s = minute_shares(&h, 100.0, 1.0);
        assert_eq!(s, [(60_000.0, 1.0), (120_000.0, 0.5), (150_000.0, 0.0)]);
    }
}

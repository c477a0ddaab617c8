//! A sweep's figure: one measure against one swept parameter, every
//! instance as a dot and the mean (± SD) over the instances that share a
//! value as a line.

use super::plot::{PALETTE, register_font, text};
use plotters::prelude::*;
use std::path::Path;

/// One instance's (parameter, measure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotPoint {
    /// The swept value.
    pub x: f64,
    /// The measure.
    pub y: f64,
}

/// Mean and standard deviation of `y` for each distinct `x`, in x order
/// (non-finite values left out).
pub fn mean_by_x(points: &[PlotPoint]) -> Vec<(f64, f64, f64, usize)> {
    let mut sorted: Vec<PlotPoint> = points
        .iter()
        .copied()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    sorted.sort_by(|a, b| a.x.total_cmp(&b.x));
    let mut out = Vec::new();
    for group in sorted.chunk_by(|a, b| a.x == b.x) {
        let n = group.len() as f64;
        let mean = group.iter().map(|p| p.y).sum::<f64>() / n;
        let var = group.iter().map(|p| (p.y - mean).powi(2)).sum::<f64>() / n;
        out.push((group[0].x, mean, var.sqrt(), group.len()));
    }
    out
}

/// Draws `points` to a PNG at `path`. `pooled`: the x values are labels
/// (seeds), so the mean ± SD is taken over all points and drawn flat
/// instead of per x value.
pub fn plot_measure(
    path: &Path,
    title: &str,
    x_name: &str,
    y_name: &str,
    points: &[PlotPoint],
    pooled: bool,
) -> Result<(), String> {
    let mut stats = mean_by_x(points);
    if pooled && !stats.is_empty() {
        let all: Vec<PlotPoint> = points
            .iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite())
            .map(|p| PlotPoint { x: 0.0, y: p.y })
            .collect();
        let (_, mean, sd, n) = mean_by_x(&all)[0];
        let (lo, hi) = (stats[0].0, stats[stats.len() - 1].0);
        stats = vec![(lo, mean, sd, n), (hi, mean, sd, n)];
    }
    if stats.is_empty() {
        return Err(format!(
            "cannot plot {}: no instance has a finite {y_name}",
            path.display()
        ));
    }
    register_font();
    let err = |e: &dyn std::fmt::Display| format!("cannot plot {}: {e}", path.display());
    let finite: Vec<&PlotPoint> = points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in &finite {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x);
        y0 = y0.min(p.y);
        y1 = y1.max(p.y);
    }
    for &(_, m, sd, _) in &stats {
        y0 = y0.min(m - sd);
        y1 = y1.max(m + sd);
    }
    let pad = |lo: f64, hi: f64| {
        let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
        (lo - 0.06 * span, hi + 0.06 * span)
    };
    let (x0, x1) = pad(x0, x1);
    let (y0, y1) = pad(y0, y1);
    let root = BitMapBackend::new(path, (1000, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, text(22.0))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_desc(x_name)
        .y_desc(y_name)
        .label_style(text(15.0))
        .axis_desc_style(text(17.0))
        .draw()
        .map_err(|e| err(&e))?;
    let dots = PALETTE[0].mix(0.45);
    chart
        .draw_series(
            finite
                .iter()
                .map(|p| Circle::new((p.x, p.y), 4, dots.filled())),
        )
        .map_err(|e| err(&e))?;
    let line = PALETTE[1];
    if pooled {
        for sign in [-1.0, 1.0] {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    stats
                        .iter()
                        .map(|&(x, m, sd, _)| (x, m + sign * sd))
                        .collect::<Vec<_>>(),
                    line.mix(0.6).stroke_width(1),
                )))
                .map_err(|e| err(&e))?;
        }
    } else {
        chart
            .draw_series(stats.iter().map(|&(x, m, sd, _)| {
                PathElement::new(vec![(x, m - sd), (x, m + sd)], line.stroke_width(2))
            }))
            .map_err(|e| err(&e))?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            stats.iter().map(|&(x, m, _, _)| (x, m)).collect::<Vec<_>>(),
            line.stroke_width(3),
        )))
        .map_err(|e| err(&e))?
        .label(if pooled {
            "mean ± SD over all"
        } else {
            "mean ± SD"
        })
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line.stroke_width(3)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(text(15.0))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_group_by_value() {
        let pts = [
            PlotPoint { x: 2.0, y: 1.0 },
            PlotPoint { x: 1.0, y: 4.0 },
            PlotPoint { x: 2.0, y: 3.0 },
            PlotPoint {
                x: 1.0,
                y: f64::NAN,
            },
        ];
        let s = mean_by_x(&pts);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], (1.0, 4.0, 0.0, 1));
        assert_eq!(s[1], (2.0, 2.0, 1.0, 2));
    }
}

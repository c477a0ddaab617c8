//! The context-memory figure: learning curves (fraction correct over the
//! last 20 trials, per seed, block boundaries marked, blocks coloured by
//! context) and the coding-direction cosines per seed.

use super::plot::{PALETTE, register_font, text};
use crate::context::ExperimentResult;
use plotters::prelude::*;
use std::path::Path;

/// Trials of the moving average of the learning curves.
const SMOOTH: usize = 20;

/// Learning-curve panels at most (one per seed).
const MAX_PANELS: usize = 6;

type Chart<'a> = ChartContext<
    'a,
    BitMapBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A seed's learning curve, one segment per block coloured by its context,
/// with a tick at each block switch.
fn draw_curve(chart: &mut Chart<'_>, s: &crate::context::SeedResult) -> Result<(), String> {
    let mut points = Vec::with_capacity(s.trials.len());
    let mut sum = 0usize;
    for (i, t) in s.trials.iter().enumerate() {
        sum += usize::from(t.correct);
        if i >= SMOOTH {
            sum -= usize::from(s.trials[i - SMOOTH].correct);
        }
        let n = (i + 1).min(SMOOTH);
        points.push((i as f64 + 1.0, sum as f64 / n as f64, t.context));
    }
    let mut start = 0;
    while start < points.len() {
        let block = s.trials[start].block;
        let end = s.trials[start..]
            .iter()
            .position(|t| t.block != block)
            .map_or(points.len(), |k| start + k);
        let colour = PALETTE[usize::from(points[start].2 == 2)];
        chart
            .draw_series(std::iter::once(PathElement::new(
                points[start..end]
                    .iter()
                    .map(|&(x, y, _)| (x, y))
                    .collect::<Vec<_>>(),
                colour.stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
        if end < points.len() {
            let x = end as f64 + 0.5;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, 1.05)],
                    BLACK.mix(0.35).stroke_width(1),
                )))
                .map_err(|e| e.to_string())?;
        }
        start = end;
    }
    Ok(())
}

/// Draws `figure.png`.
pub fn plot_context(path: &Path, result: &ExperimentResult) -> Result<(), String> {
    register_font();
    let err = |e: &dyn std::fmt::Display| format!("cannot plot {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1400, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(1000);
    let longest = result
        .seeds
        .iter()
        .map(|s| s.trials.len())
        .max()
        .unwrap_or(1)
        .max(1);
    // One panel per seed (seeds beyond MAX_PANELS share the last one).
    let panels = result.seeds.len().clamp(1, MAX_PANELS);
    let (title, body) = left.split_vertically(40);
    title
        .titled(
            "Context switching: fraction correct over the last 20 trials, per seed",
            text(22.0),
        )
        .map_err(|e| err(&e))?;
    let areas = body.split_evenly((panels, 1));
    let criterion = result.protocol.criterion;
    for (k, area) in areas.iter().enumerate() {
        let last = k + 1 == panels;
        let seeds: Vec<_> = if last {
            result.seeds.iter().skip(k).collect()
        } else {
            result.seeds.iter().skip(k).take(1).collect()
        };
        let mut chart = ChartBuilder::on(area)
            .margin_left(20)
            .margin_right(20)
            .margin_top(4)
            .x_label_area_size(if last { 45 } else { 0 })
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..longest as f64, 0f64..1.05f64)
            .map_err(|e| err(&e))?;
        let name = seeds
            .iter()
            .map(|s| s.seed.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.12))
            .x_desc(if last { "trial" } else { "" })
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_labels(3)
            .y_desc(format!("seed {name}"))
            .label_style(text(13.0))
            .axis_desc_style(text(15.0))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, criterion), (longest as f64, criterion)],
                BLACK.mix(0.4).stroke_width(1),
            )))
            .map_err(|e| err(&e))?;
        for s in seeds {
            draw_curve(&mut chart, s).map_err(|e| err(&e))?;
        }
        if k == 0 {
            for (c, label) in ["context 1", "context 2"].iter().enumerate() {
                let colour = PALETTE[c];
                chart
                    .draw_series(std::iter::once(PathElement::new(vec![], colour)))
                    .map_err(|e| err(&e))?
                    .label(*label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font(text(13.0))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(|e| err(&e))?;
        }
    }

    let labels = ["cos(1,2)", "cos(1,1')", "cos(2,2')"];
    let mut cos_chart = ChartBuilder::on(&right)
        .caption("Coding directions", text(22.0))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..2.5f64, -1.05f64..1.05f64)
        .map_err(|e| err(&e))?;
    cos_chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_labels(3)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && (0.0..3.0).contains(&i) {
                labels[i as usize].to_string()
            } else {
                String::new()
            }
        })
        .y_desc("cosine")
        .label_style(text(15.0))
        .axis_desc_style(text(17.0))
        .draw()
        .map_err(|e| err(&e))?;
    let limits = [
        (0.0, result.thresholds.orthogonal_below),
        (1.0, result.thresholds.stable_above),
        (2.0, result.thresholds.stable_above),
    ];
    cos_chart
        .draw_series(limits.iter().map(|&(x, y)| {
            PathElement::new(
                vec![(x - 0.35, y), (x + 0.35, y)],
                BLACK.mix(0.5).stroke_width(1),
            )
        }))
        .map_err(|e| err(&e))?;
    let n = result.seeds.len().max(1);
    for (i, s) in result.seeds.iter().enumerate() {
        let jitter = (i as f64 + 0.5) / n as f64 * 0.5 - 0.25;
        let values = [
            s.cos_between_contexts,
            s.cos_within_context1,
            s.cos_within_context2,
        ];
        cos_chart
            .draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(k, &v)| Circle::new((k as f64 + jitter, v), 5, PALETTE[2].filled())),
            )
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

//! The savings figure: the error of every cycle through the phases (mean
//! over seeds, each seed faint), the two exposures and the biased second
//! exposures overlaid, and the first seed's hand paths at the start and end
//! of the first exposure and at the start of washout.

use super::plot::{PALETTE, register_font, text};
use crate::savings::{ExperimentResult, Phase, SeedResult, TARGETS};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::path::Path;

/// A polyline as a one-element series (the crate is built without
/// `line_series`).
fn line<S: Into<ShapeStyle>>(
    points: impl Iterator<Item = (f64, f64)>,
    style: S,
) -> std::iter::Once<PathElement<(f64, f64)>> {
    std::iter::once(PathElement::new(points.collect::<Vec<_>>(), style))
}

fn errors(s: &SeedResult, phase: Phase) -> &[f64] {
    s.cycle_error_m
        .iter()
        .find(|(q, _)| *q == phase)
        .map_or(&[], |(_, e)| e.as_slice())
}

/// Mean over seeds, cycle by cycle, over the seeds that have the cycle.
fn mean_curve(result: &ExperimentResult, phase: Phase) -> Vec<f64> {
    let longest = result
        .seeds
        .iter()
        .map(|s| errors(s, phase).len())
        .max()
        .unwrap_or(0);
    (0..longest)
        .map(|c| {
            let v: Vec<f64> = result
                .seeds
                .iter()
                .filter_map(|s| errors(s, phase).get(c).copied())
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        })
        .collect()
}

/// Draws `figure.png`.
pub fn figure(result: &ExperimentResult, path: &Path) -> Result<(), String> {
    register_font();
    let err = |e: &dyn std::fmt::Display| format!("cannot plot {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1500, 950)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(950);
    let (top, bottom) = left.split_vertically(475);
    let mm = 1e3;
    let peak = result
        .seeds
        .iter()
        .flat_map(|s| s.cycle_error_m.iter().flat_map(|(_, e)| e.iter()))
        .fold(0.0f64, |a, &b| a.max(b))
        * mm
        * 1.1;
    let peak = if peak > 0.0 { peak } else { 1.0 };

    // Through the phases.
    let schedule = [
        (Phase::Baseline, "baseline"),
        (Phase::Field1, "field"),
        (Phase::Washout, "washout"),
        (Phase::Field2, "field again"),
    ];
    let longest = |q: Phase| {
        result
            .seeds
            .iter()
            .map(|s| errors(s, q).len())
            .max()
            .unwrap_or(0)
    };
    let total: usize = schedule.iter().map(|(q, _)| longest(*q)).sum();
    let mut chart = ChartBuilder::on(&top)
        .caption("Mean |lateral error| per cycle of 8 reaches", text(20.0))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..total.max(1) as f64, 0f64..peak)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.1))
        .x_desc("cycle")
        .y_desc("error, mm")
        .label_style(text(12.0))
        .axis_desc_style(text(14.0))
        .draw()
        .map_err(|e| err(&e))?;
    let mut start = 0usize;
    for (k, (q, label)) in schedule.iter().enumerate() {
        let len = longest(*q);
        if matches!(q, Phase::Field1 | Phase::Field2) {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(start as f64, 0.0), ((start + len) as f64, peak)],
                    PALETTE[3].mix(0.08).filled(),
                )))
                .map_err(|e| err(&e))?;
        }
        chart
            .draw_series(std::iter::once(Text::new(
                label.to_string(),
                (start as f64 + 0.3, peak * 0.97),
                text(13.0),
            )))
            .map_err(|e| err(&e))?;
        for s in &result.seeds {
            let e = errors(s, *q);
            chart
                .draw_series(line(
                    e.iter()
                        .enumerate()
                        .map(|(c, &v)| ((start + c) as f64 + 0.5, v * mm)),
                    PALETTE[k % PALETTE.len()].mix(0.25),
                ))
                .map_err(|e| err(&e))?;
        }
        let mean = mean_curve(result, *q);
        chart
            .draw_series(line(
                mean.iter()
                    .enumerate()
                    .map(|(c, &v)| ((start + c) as f64 + 0.5, v * mm)),
                PALETTE[k % PALETTE.len()].stroke_width(3),
            ))
            .map_err(|e| err(&e))?;
        start += len;
    }

    // The exposures overlaid.
    let exposures = [
        (Phase::Field1, "first exposure"),
        (Phase::Field2, "second exposure"),
        (Phase::Field2Along, "second, bias along the shift"),
        (Phase::Field2Against, "second, bias against"),
    ];
    let cycles = exposures
        .iter()
        .map(|(q, _)| longest(*q))
        .max()
        .unwrap_or(1);
    let mut chart = ChartBuilder::on(&bottom)
        .caption("The exposures overlaid (mean over seeds)", text(20.0))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..cycles.max(1) as f64, 0f64..peak)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.1))
        .x_desc("cycle of the exposure")
        .y_desc("error, mm")
        .label_style(text(12.0))
        .axis_desc_style(text(14.0))
        .draw()
        .map_err(|e| err(&e))?;
    for (k, (q, label)) in exposures.iter().enumerate() {
        let colour = PALETTE[(k + 1) % PALETTE.len()];
        let mean = mean_curve(result, *q);
        chart
            .draw_series(line(
                mean.iter()
                    .enumerate()
                    .map(|(c, &v)| (c as f64 + 0.5, v * mm)),
                colour.stroke_width(3),
            ))
            .map_err(|e| err(&e))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(3)));
    }
    let half = result
        .seeds
        .iter()
        .map(|s| s.reference_error_m)
        .sum::<f64>()
        / result.seeds.len().max(1) as f64
        * 0.5
        * mm;
    chart
        .draw_series(std::iter::once(DashedPathElement::new(
            [(0.0, half), (cycles as f64, half)],
            6,
            4,
            BLACK.mix(0.5),
        )))
        .map_err(|e| err(&e))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font(text(13.0))
        .draw()
        .map_err(|e| err(&e))?;

    // Hand paths of the first seed.
    if let Some(first) = result.seeds.first() {
        let sets = [
            (Phase::Field1, false, "field, first cycle"),
            (Phase::Field1, true, "field, last cycle"),
            (Phase::Washout, false, "washout, first cycle"),
        ];
        let areas = right.split_evenly((sets.len(), 1));
        for (area, (q, last, label)) in areas.iter().zip(sets) {
            let of_phase: Vec<_> = first.trials.iter().filter(|t| t.phase == q).collect();
            let chosen = if last {
                &of_phase[of_phase.len().saturating_sub(TARGETS)..]
            } else {
                &of_phase[..of_phase.len().min(TARGETS)]
            };
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("Hand paths, seed {}: {label}", first.seed),
                    text(16.0),
                )
                .margin(10)
                .x_label_area_size(25)
                .y_label_area_size(40)
                .build_cartesian_2d(-150f64..150f64, -150f64..150f64)
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.08))
                .label_style(text(11.0))
                .draw()
                .map_err(|e| err(&e))?;
            chart
                .draw_series(
                    crate::arm::savings_targets().into_iter().map(|t| {
                        Circle::new((t.x * mm, t.y * mm), 6, BLACK.mix(0.4).stroke_width(2))
                    }),
                )
                .map_err(|e| err(&e))?;
            for t in chosen {
                chart
                    .draw_series(line(
                        t.path.iter().map(|p| (p[0] * mm, p[1] * mm)),
                        PALETTE[t.target % PALETTE.len()].stroke_width(2),
                    ))
                    .map_err(|e| err(&e))?;
            }
        }
    }
    root.present().map_err(|e| err(&e))
}

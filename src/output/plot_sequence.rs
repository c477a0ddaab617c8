//! The sequence figure: rasters of example cue tests of the first seed
//! (one row per cluster), and the completion of each sequence at each stage
//! of the protocol, one dot per seed.

use super::plot::{PALETTE, register_font, text};
use crate::sequence::{ExperimentResult, SeedResult};
use plotters::prelude::*;
use std::path::Path;

/// A stage of the protocol: its label and where its completion is.
type Stage = (&'static str, fn(&SeedResult) -> f64);

/// Draws `figure.png`.
pub fn figure(result: &ExperimentResult, path: &Path) -> Result<(), String> {
    register_font();
    let err = |e: &dyn std::fmt::Display| format!("cannot plot {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1400, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(800);
    let clusters = result.protocol.clusters.len().max(1);
    if let Some(first) = result.seeds.first() {
        let (title, body) = left.split_vertically(40);
        title
            .titled(
                &format!("Cue tests, seed {} (one row per cluster)", first.seed),
                text(22.0),
            )
            .map_err(|e| err(&e))?;
        let panels = first.rasters.len().max(1);
        let areas = body.split_evenly((panels, 1));
        for (k, (area, (label, spikes))) in areas.iter().zip(&first.rasters).enumerate() {
            let last = k + 1 == panels;
            let mut chart = ChartBuilder::on(area)
                .margin_left(20)
                .margin_right(20)
                .margin_top(18)
                .x_label_area_size(if last { 40 } else { 0 })
                .y_label_area_size(50)
                .caption(label.as_str(), text(15.0))
                .build_cartesian_2d(
                    0f64..result.protocol.test_ms,
                    -0.5f64..clusters as f64 - 0.5,
                )
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.1))
                .x_desc(if last { "ms from cue" } else { "" })
                .y_labels(clusters.min(8))
                .y_label_formatter(&|y| format!("c{y:.0}"))
                .label_style(text(12.0))
                .axis_desc_style(text(14.0))
                .draw()
                .map_err(|e| err(&e))?;
            let a = &result.protocol.sequence_a;
            chart
                .draw_series(spikes.iter().map(|&(t, y)| {
                    let c = y.round() as usize;
                    let colour = if a.contains(&c) {
                        PALETTE[0]
                    } else {
                        PALETTE[1]
                    };
                    Rectangle::new([(t, y), (t + 0.8, y + 0.02)], colour.filled())
                }))
                .map_err(|e| err(&e))?;
        }
    }
    let stages: [Stage; 9] = [
        ("A", |s| s.completion_a),
        ("no reward", |s| s.completion_no_reward),
        ("chance", |s| s.completion_control),
        ("C", |s| s.completion_c),
        ("A|B", |s| s.completion_a_after_b),
        ("B", |s| s.completion_b),
        ("A|sleep", |s| s.completion_a_after_sleep),
        ("B|sleep", |s| s.completion_b_after_sleep),
        ("A|gap", |s| s.completion_a_after_gap),
    ];
    let mut chart = ChartBuilder::on(&right)
        .caption("Completion from the cue", text(22.0))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..stages.len() as f64 - 0.5, 0f64..1.05f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_labels(stages.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < stages.len() {
                stages[i as usize].0.to_string()
            } else {
                String::new()
            }
        })
        .x_desc("A|B: A after learning B; |sleep: after sleep; |gap: after the gap")
        .y_desc("fraction of cue tests completed")
        .label_style(text(13.0))
        .axis_desc_style(text(15.0))
        .draw()
        .map_err(|e| err(&e))?;
    let n = result.seeds.len().max(1);
    for (k, (_, f)) in stages.iter().enumerate() {
        let mean = result.seeds.iter().map(f).sum::<f64>() / n as f64;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(k as f64 - 0.35, 0.0), (k as f64 + 0.35, mean)],
                PALETTE[0].mix(0.3).filled(),
            )))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(result.seeds.iter().enumerate().map(|(i, s)| {
                let jitter = (i as f64 + 0.5) / n as f64 * 0.5 - 0.25;
                Circle::new((k as f64 + jitter, f(s)), 4, PALETTE[2].filled())
            }))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

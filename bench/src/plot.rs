//! `--plot FILE.svg`: the latency distributions as CDFs (log-scaled latency), one panel
//! per kind of run and one line per implementation, drawn with plotters' SVG backend (no system libraries, no fonts needed).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Series;

/// Draws every non-empty series into `path` (SVG).
///
/// # Errors
///
/// A message when the file cannot be written, or asks for another format.
pub(crate) fn plot(path: &Path, series: &[Series]) -> Result<(), String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ext != "svg" {
        return Err(format!(
            "--plot {}: only SVG is supported (PNG would need a TrueType font and system \
             libraries); write FILE.svg and convert it if needed (e.g. `rsvg-convert -o x.png x.svg`)",
            path.display()
        ));
    }
    let series: Vec<&Series> = series.iter().filter(|s| !s.points.is_empty()).collect();
    if series.is_empty() {
        return Err("--plot: no latency samples to draw".into());
    }
    // one panel per group, one colour per label (the same in every panel)
    let mut groups: Vec<&str> = Vec::new();
    let mut labels: Vec<&str> = Vec::new();
    for s in &series {
        if !groups.contains(&s.group.as_str()) {
            groups.push(&s.group);
        }
        if !labels.contains(&color_key(&s.label)) {
            labels.push(color_key(&s.label));
        }
    }
    let cols = groups.len().min(2);
    let rows = groups.len().div_ceil(cols);
    let (w, h) = (720u32, 430u32);
    let root = SVGBackend::new(path, (w * cols as u32, h * rows as u32 + 40)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("--plot {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(
            "sio-bench: latency CDF, send stamp → client receipt (ms, log scale)",
            ("sans-serif", 22),
        )
        .map_err(|e| err(&e))?;
    let panels = root.split_evenly((rows, cols));
    for (group, area) in groups.iter().zip(panels.iter()) {
        let members: Vec<&&Series> = series.iter().filter(|s| s.group == *group).collect();
        draw_panel(area, group, &members, &labels).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The implementation a line belongs to (`rust` of `rust→rust`, `rust×2`), so that each
/// implementation keeps its colour in every panel.
fn color_key(label: &str) -> &str {
    label.split(['→', '×', '+']).next().unwrap_or(label)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_panel(
    area: &Area<'_>,
    title: &str,
    series: &[&&Series],
    labels: &[&str],
) -> Result<(), Box<dyn std::error::Error>> {
    let positive = |x: f64| x.max(0.001);
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for s in series {
        for &(x, _) in &s.points {
            lo = lo.min(positive(x));
            hi = hi.max(positive(x));
        }
    }
    let lo = (lo * 0.8).max(0.001);
    let hi = (hi * 1.25).max(lo * 10.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms)")
        .y_desc("fraction ≤ x")
        .x_label_formatter(&|x| {
            if *x >= 1.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.2}")
            }
        })
        .draw()?;
    for s in series {
        let k = labels
            .iter()
            .position(|l| *l == color_key(&s.label))
            .unwrap_or(0);
        let color = Palette99::pick(k).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|&(x, y)| (positive(x), y)),
                color.stroke_width(2),
            ))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

//! The dashboard's charts, as inline SVG (no script, no font, no network): a line chart of values
//! over runs with markers where the key changed and a threshold line, grouped bars, and a timeline
//! of jobs. Every mark carries its value (`data-value`) and a tooltip (`<title>`).

use std::fmt::Write as _;

use super::escape;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 240.0;
/// Room for the axis labels.
const LEFT: f64 = 72.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;
const COLORS: [&str; 12] = [
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563", "#65a30d", "#9f1239",
    "#1e3a8a", "#a16207",
];

/// A series of a line chart: a name and its points (x as a run's position, y, tooltip).
pub(crate) struct Series {
    pub name: String,
    pub points: Vec<(usize, f64, String)>,
}

/// A vertical marker at a run's position (a key change), with its label.
pub(crate) struct Marker {
    pub at: usize,
    pub label: String,
}

/// A line chart of `series` over `runs` positions, y from 0 to `max` (`format` writes a y value).
pub fn lines(
    id: &str,
    series: &[Series],
    runs: usize,
    max: f64,
    format: &dyn Fn(f64) -> String,
    markers: &[Marker],
    threshold: Option<(f64, &str)>,
) -> String {
    let max = if max > 0.0 { max } else { 1.0 };
    let x = |i: usize| LEFT + (WIDTH - LEFT - 12.0) * (i as f64 + 0.5) / runs.max(1) as f64;
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / max);
    let mut svg = frame(id, &format!("{} series over {runs} runs", series.len()));
    axis(&mut svg, max, format, &y);
    for marker in markers {
        let at = x(marker.at) - (WIDTH - LEFT - 12.0) / runs.max(1) as f64 / 2.0;
        let _ = write!(
            svg,
            r#"<g class="marker"><line x1="{at:.1}" x2="{at:.1}" y1="{TOP}" y2="{:.1}"/><text x="{:.1}" y="{:.1}">{}</text><title>{}</title></g>"#,
            HEIGHT - BOTTOM,
            at + 3.0,
            TOP + 10.0,
            escape(&marker.label),
            escape(&marker.label)
        );
    }
    if let Some((value, label)) = threshold {
        let _ = write!(
            svg,
            r#"<g class="threshold"><line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            WIDTH - 12.0,
            y(value),
            y(value),
            WIDTH - 14.0,
            y(value) - 4.0,
            escape(label)
        );
    }
    for (n, s) in series.iter().enumerate() {
        let color = COLORS[n % COLORS.len()];
        let path: Vec<String> = s.points.iter().map(|(i, v, _)| format!("{:.1},{:.1}", x(*i), y(*v))).collect();
        let _ = write!(
            svg,
            r#"<g class="series" data-series="{}"><polyline points="{}" stroke="{color}"/>"#,
            escape(&s.name),
            path.join(" ")
        );
        for (i, v, tip) in &s.points {
            let _ = write!(
                svg,
                r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}" data-value="{v}"><title>{}</title></circle>"#,
                x(*i),
                y(*v),
                escape(tip)
            );
        }
        svg.push_str("</g>");
    }
    svg + "</svg>" + &legend(series.iter().map(|s| s.name.as_str()))
}

/// Grouped bars: for each category (a run), one bar per series; y from 0 to the largest value.
pub(crate) fn bars(
    id: &str,
    categories: &[String],
    series: &[&str],
    values: &[Vec<f64>],
    format: &dyn Fn(f64) -> String,
) -> String {
    let max = values.iter().flatten().copied().fold(0.0, f64::max).max(1.0);
    let slot = (WIDTH - LEFT - 12.0) / categories.len().max(1) as f64;
    let bar = (slot * 0.8 / series.len().max(1) as f64).max(1.0);
    let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / max);
    let mut svg = frame(id, &format!("{} series over {} runs", series.len(), categories.len()));
    axis(&mut svg, max, format, &y);
    for (c, (category, row)) in categories.iter().zip(values).enumerate() {
        // Each group is named under it when the names fit.
        if categories.len() <= 12 {
            let fits = (slot / 6.5) as usize;
            let name: String = category.chars().take(fits.max(3)).collect();
            let _ = write!(
                svg,
                r#"<text class="category" x="{:.1}" y="{:.1}">{}</text>"#,
                LEFT + slot * (c as f64 + 0.5),
                HEIGHT - 10.0,
                escape(&name)
            );
        }
        for (s, value) in row.iter().enumerate() {
            let left = LEFT + slot * c as f64 + slot * 0.1 + bar * s as f64;
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{left:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" fill="{}" data-value="{value}"><title>{}: {}: {}</title></rect>"#,
                y(*value),
                (HEIGHT - BOTTOM - y(*value)).max(0.0),
                COLORS[s % COLORS.len()],
                escape(category),
                escape(series[s]),
                format(*value)
            );
        }
    }
    svg + "</svg>" + &legend(series.iter().copied())
}

/// One bar of a timeline: a name, its start and length in seconds, whether it is on the
/// critical path, and whether it failed.
pub(crate) struct Span {
    pub name: String,
    pub start: f64,
    pub seconds: f64,
    pub critical: bool,
    pub failed: bool,
}

/// Jobs on a time axis, one row each, the critical path drawn bold.
pub fn timeline(id: &str, spans: &[Span]) -> String {
    let end = spans.iter().map(|s| s.start + s.seconds).fold(1.0, f64::max);
    let row = 22.0;
    let height = TOP + row * spans.len() as f64 + BOTTOM;
    let label = 190.0;
    let x = |t: f64| label + (WIDTH - label - 12.0) * t / end;
    let mut svg = format!(
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{} jobs over {end:.0} s">"#,
        spans.len()
    );
    for (i, span) in spans.iter().enumerate() {
        let top = TOP + row * i as f64;
        let class = match (span.critical, span.failed) {
            (_, true) => "span failed",
            (true, _) => "span critical",
            _ => "span",
        };
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{:.1}">{}</text><rect class="{class}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" data-value="{}"><title>{}: {:.1} s from {:.1} s{}</title></rect>"#,
            label - 6.0,
            top + 15.0,
            escape(&span.name),
            x(span.start),
            top + 3.0,
            (x(span.start + span.seconds) - x(span.start)).max(1.0),
            row - 6.0,
            span.seconds,
            escape(&span.name),
            span.seconds,
            span.start,
            if span.critical { ", on the critical path" } else { "" }
        );
    }
    for tick in 0..=4 {
        let t = end * f64::from(tick) / 4.0;
        let _ = write!(svg, r#"<text class="tick" x="{:.1}" y="{:.1}">{t:.0} s</text>"#, x(t), height - 8.0);
    }
    svg + "</svg>"
}

fn frame(id: &str, label: &str) -> String {
    format!(r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"#, escape(label))
}

/// The y axis: gridlines and labels at 0, a quarter, … the maximum.
fn axis(svg: &mut String, max: f64, format: &dyn Fn(f64) -> String, y: &dyn Fn(f64) -> f64) {
    for tick in 0..=4 {
        let v = max * f64::from(tick) / 4.0;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><text class="tick" x="{:.1}" y="{:.1}">{}</text>"#,
            WIDTH - 12.0,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            escape(&format(v))
        );
    }
}

fn legend<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = names
        .enumerate()
        .map(|(n, name)| {
            format!(r#"<li><span style="background:{}"></span>{}</li>"#, COLORS[n % COLORS.len()], escape(name))
        })
        .collect();
    format!(r#"<ul class="legend">{}</ul>"#, items.join(""))
}

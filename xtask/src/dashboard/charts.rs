//! The dashboard's charts, as inline SVG (no script, no font, no network): a line chart of values
//! over runs with markers where the key changed and a threshold line, grouped bars, and a timeline
//! of jobs. Every mark carries its value (`data-value`) and a tooltip (`<title>`).

use std::{collections::BTreeMap, fmt::Write as _};

use super::{date, escape};
use crate::{
    alerts::job_name,
    record::{render::bytes, Pipeline, Record},
};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 240.0;
/// Room for the axis labels.
const LEFT: f64 = 72.0;
const RIGHT: f64 = WIDTH - 12.0;
const BOTTOM: f64 = 28.0;
/// The x axis.
const AXIS: f64 = HEIGHT - BOTTOM;
const TOP: f64 = 12.0;
const COLORS: [&str; 12] = [
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563", "#65a30d", "#9f1239",
    "#1e3a8a", "#a16207",
];

/// A line chart of one value (`value`, written by `format`) of each job's `runs`, a series per
/// job: from 0 to 1 with a threshold line, else from 0 to a tenth over the largest value; a
/// marker (a key change) before each run position of `markers`, labelled.
pub fn lines(
    id: &str,
    runs: &[&Record],
    markers: &[(usize, String)],
    value: &dyn Fn(&Record) -> Option<f64>,
    format: &dyn Fn(f64) -> String,
    threshold: Option<(f64, &str)>,
) -> String {
    // Each job's points: x as a run's position, y, tooltip (escaped).
    let mut series: BTreeMap<String, Vec<(usize, f64, String)>> = BTreeMap::new();
    for (i, record) in runs.iter().enumerate() {
        let Some(v) = value(record) else { continue };
        let job = job_name(record);
        let tip = escape(&format!("{job}: {} ({}, {})", format(v), date(record.started_ms), record.id));
        series.entry(job).or_default().push((i, v, tip));
    }
    let max = match threshold {
        Some(_) => 1.0,
        None => series.values().flatten().map(|p| p.1).fold(0.0, f64::max) * 1.1,
    };
    let slot = (RIGHT - LEFT) / runs.len().max(1) as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let (mut svg, y) = frame(id, &format!("{} series over {} runs", series.len(), runs.len()), max, format);
    for (at, label) in markers {
        // A long label (a lock file update moves many crates) is cut on the chart, whole in its title.
        let shown: String = match label.chars().count() > 60 {
            true => label.chars().take(59).chain(['…']).collect(),
            false => label.clone(),
        };
        let (at, shown, label) = (LEFT + slot * *at as f64, escape(&shown), escape(label));
        let _ = write!(
            svg,
            r#"<g class="marker"><line x1="{at:.1}" x2="{at:.1}" y1="{TOP}" y2="{AXIS}"/><text x="{at:.1}" y="{TOP}" dx="3" dy="10">{shown}</text><title>{label}</title></g>"#
        );
    }
    if let Some((value, label)) = threshold {
        let (at, label) = (y(value), escape(label));
        let _ = write!(
            svg,
            r#"<g class="threshold"><line x1="{LEFT}" x2="{RIGHT}" y1="{at:.1}" y2="{at:.1}"/><text x="{RIGHT}" y="{at:.1}" dx="-2" dy="-4">{label}</text></g>"#
        );
    }
    for (n, (name, points)) in series.iter().enumerate() {
        let color = COLORS[n % COLORS.len()];
        let path: Vec<String> = points.iter().map(|(i, v, _)| format!("{:.1},{:.1}", x(*i), y(*v))).collect();
        let _ = write!(
            svg,
            r#"<g class="series" data-series="{}"><polyline points="{}" stroke="{color}"/>"#,
            escape(name),
            path.join(" ")
        );
        for (i, v, tip) in points {
            let _ = write!(
                svg,
                r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}" data-value="{v}"><title>{tip}</title></circle>"#,
                x(*i),
                y(*v)
            );
        }
        svg.push_str("</g>");
    }
    svg + "</svg>" + &legend(series.keys().map(String::as_str))
}

/// Grouped bars of bytes: for each category (a run), one bar per series; y from 0 to the largest.
pub(crate) fn bars(id: &str, categories: &[String], series: &[&str], values: &[Vec<f64>]) -> String {
    let format = |b: f64| bytes(b as u64);
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    let slot = (RIGHT - LEFT) / categories.len().max(1) as f64;
    let bar = (slot * 0.8 / series.len().max(1) as f64).max(1.0);
    let (mut svg, y) = frame(id, &format!("{} series over {} runs", series.len(), categories.len()), max, &format);
    for (c, (category, row)) in categories.iter().zip(values).enumerate() {
        // Each group is named under it when the names fit.
        if categories.len() <= 12 {
            let name: String = category.chars().take(((slot / 6.5) as usize).max(3)).collect();
            let at = LEFT + slot * (c as f64 + 0.5);
            let _ = write!(svg, r#"<text class="category" x="{at:.1}" y="{}">{}</text>"#, HEIGHT - 10.0, escape(&name));
        }
        for (s, value) in row.iter().enumerate() {
            let left = LEFT + slot * c as f64 + slot * 0.1 + bar * s as f64;
            let (top, color) = (y(*value), COLORS[s % COLORS.len()]);
            let title = escape(&format!("{category}: {}: {}", series[s], format(*value)));
            let _ = write!(
                svg,
                r#"<rect class="bar" x="{left:.1}" y="{top:.1}" width="{bar:.1}" height="{:.1}" fill="{color}" data-value="{value}"><title>{title}</title></rect>"#,
                (AXIS - top).max(0.0)
            );
        }
    }
    svg + "</svg>" + &legend(series.iter().copied())
}

/// A pipeline's jobs that ran on a time axis, one row each, the critical path drawn bold.
pub fn timeline(id: &str, pipeline: &Pipeline) -> String {
    let critical: Vec<&str> = pipeline.critical_path().iter().map(|j| j.name.as_str()).collect();
    let jobs: Vec<_> = pipeline.jobs.iter().filter(|j| j.result != "skipped").collect();
    let end = jobs.iter().map(|j| j.start_seconds + j.seconds).fold(1.0, f64::max);
    let (row, label) = (22.0, 190.0);
    let height = TOP + row * jobs.len() as f64 + BOTTOM;
    let x = |t: f64| label + (RIGHT - label) * t / end;
    let mut svg = format!(
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{} jobs over {end:.0} s">"#,
        jobs.len()
    );
    for (i, job) in jobs.iter().enumerate() {
        let (top, name, on_path) = (TOP + row * i as f64, escape(&job.name), critical.contains(&job.name.as_str()));
        let class = match (on_path, job.result == "failure") {
            (_, true) => "span failed",
            (true, _) => "span critical",
            _ => "span",
        };
        let (start, s) = (job.start_seconds, job.seconds);
        let note = if on_path { ", on the critical path" } else { "" };
        let (left, width) = (x(start), (x(start + s) - x(start)).max(1.0));
        let _ = write!(
            svg,
            r#"<text class="label" x="{label}" y="{top:.1}" dx="-6" dy="15">{name}</text><rect class="{class}" x="{left:.1}" y="{:.1}" width="{width:.1}" height="{:.1}" data-value="{s}"><title>{name}: {s:.1} s from {start:.1} s{note}</title></rect>"#,
            top + 3.0,
            row - 6.0
        );
    }
    for tick in 0..=4 {
        let t = end * f64::from(tick) / 4.0;
        let _ = write!(svg, r#"<text class="tick" x="{:.1}" y="{height:.0}" dy="-8">{t:.0} s</text>"#, x(t));
    }
    svg + "</svg>"
}

/// A chart's frame and its y axis from 0 to `max` (gridlines and labels at 0, a quarter, … the
/// maximum), and where a value goes on it.
fn frame(id: &str, label: &str, max: f64, format: &dyn Fn(f64) -> String) -> (String, impl Fn(f64) -> f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let y = move |v: f64| TOP + (AXIS - TOP) * (1.0 - v / max);
    let mut svg = format!(
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"#,
        escape(label)
    );
    for tick in 0..=4 {
        let v = max * f64::from(tick) / 4.0;
        let (at, label) = (y(v), escape(&format(v)));
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{RIGHT}" y1="{at:.1}" y2="{at:.1}"/><text class="tick" x="{LEFT}" y="{at:.1}" dx="-6" dy="4">{label}</text>"#
        );
    }
    (svg, y)
}

fn legend<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let items = names.enumerate().map(|(n, name)| {
        format!(r#"<li><span style="background:{}"></span>{}</li>"#, COLORS[n % COLORS.len()], escape(name))
    });
    format!(r#"<ul class="legend">{}</ul>"#, items.collect::<String>())
}

//! The page: its frame (inline CSS), the header, the alerts, and each section, a chart beside the
//! table of the same values.

use std::fmt::Write as _;

use super::{
    charts::{self, Marker, Series, Span},
    escape, Facts,
};
use crate::{
    alerts,
    keys::what_changed,
    record::{render, Record},
};

/// The runs the charts show: the newest.
const SHOWN: usize = 100;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}\
main{max-width:1100px;margin:0 auto;padding:16px 24px}h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb}\
.meta{color:#4b5563}.alerts{background:#fef2f2;border:1px solid #fca5a5;border-radius:6px;padding:8px 16px}.alerts li{margin:4px 0}\
.ok{background:#f0fdf4;border:1px solid #86efac;border-radius:6px;padding:8px 16px}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #e5e7eb;padding:3px 8px;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
th{background:#f3f4f6}svg.chart{width:100%;max-width:760px;background:#fff;border:1px solid #e5e7eb;border-radius:6px}\
svg polyline{fill:none;stroke-width:2}svg .grid{stroke:#e5e7eb}svg text{font-size:11px;fill:#374151}svg .tick{text-anchor:end}\
svg .marker line{stroke:#9333ea;stroke-dasharray:4 3}svg .marker text{fill:#9333ea}svg .threshold line{stroke:#dc2626;stroke-dasharray:6 3}\
svg .threshold text{fill:#dc2626;text-anchor:end}svg .category{text-anchor:middle}svg .label{text-anchor:end}svg .span{fill:#93c5fd}svg .span.critical{fill:#2563eb}svg .span.failed{fill:#dc2626}\
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:12px;font-size:12px}ul.legend span{display:inline-block;width:10px;height:10px;margin-right:4px}";

pub fn render(facts: &Facts) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>Cache dashboard: {}</title><style>{STYLE}</style></head><body><main>\
         <h1>What the cache does</h1><p class=\"meta\">{} · {} run(s) in the history · generated {}</p>",
        escape(&facts.cache),
        escape(&facts.cache),
        facts.records.len(),
        date(facts.generated_ms)
    );
    html += &alerts_section(facts);
    // The jobs' own runs: a pipeline's record is the pipeline section's.
    let jobs: Vec<&Record> = shown(facts).into_iter().filter(|r| r.pipeline.is_none()).collect();
    html += &super::sections::jobs(facts, &jobs, &markers(&jobs));
    html += &super::sections::transfers(&shown(facts));
    html += &super::sections::pipeline(facts);
    html += &super::sections::cache(facts);
    html += &super::sections::verify(facts);
    if !facts.problems.is_empty() {
        html += "<h2>What could not be read</h2><ul>";
        for problem in &facts.problems {
            let _ = write!(html, "<li>{}</li>", escape(problem));
        }
        html += "</ul>";
    }
    html + "</main></body></html>\n"
}

/// The runs the charts show, oldest first.
fn shown(facts: &Facts) -> Vec<&Record> {
    let skip = facts.records.len().saturating_sub(SHOWN);
    facts.records.iter().skip(skip).collect()
}

/// Where the deps key changed from one run to the next, and what changed.
pub fn markers(runs: &[&Record]) -> Vec<Marker> {
    let mut markers = Vec::new();
    for (i, pair) in runs.windows(2).enumerate() {
        if let (Some(old), Some(new)) = (&pair[0].deps_key, &pair[1].deps_key) {
            if old != new {
                markers.push(Marker { at: i + 1, label: what_changed(old, new) });
            }
        }
    }
    markers
}

/// Degraded jobs and regressed pull requests, or a line saying there are none.
fn alerts_section(facts: &Facts) -> String {
    let found = facts.alerts();
    if found.is_empty() {
        return format!(
            "<h2>Alerts</h2><p class=\"ok\" id=\"alerts\">None: every job's latest run could fetch at least {:.0} % of the deps layer, and no pull request got slower against a cold run.</p>",
            facts.min_hit_rate * 100.0
        );
    }
    let mut html = String::from("<h2>Alerts</h2><ul class=\"alerts\" id=\"alerts\">");
    for alert in found {
        let _ = write!(
            html,
            "<li class=\"alert {}\" data-record=\"{}\">{}</li>",
            alert.kind,
            escape(&alert.record),
            escape(&alert.message)
        );
    }
    html + "</ul>"
}

/// A line chart of one value of each job's runs.
pub(crate) fn job_chart(
    id: &str,
    runs: &[&Record],
    markers: &[Marker],
    value: &dyn Fn(&Record) -> Option<f64>,
    format: &dyn Fn(f64) -> String,
    threshold: Option<(f64, &str)>,
    max: Option<f64>,
) -> String {
    let mut series: std::collections::BTreeMap<String, Series> = std::collections::BTreeMap::new();
    for (i, record) in runs.iter().enumerate() {
        let Some(v) = value(record) else { continue };
        let job = alerts::job_name(record);
        let tip = format!("{job}: {} ({}, {})", format(v), date(record.started_ms), record.id);
        series.entry(job.clone()).or_insert_with(|| Series { name: job, points: Vec::new() }).points.push((i, v, tip));
    }
    let series: Vec<Series> = series.into_values().collect();
    let top = max.unwrap_or_else(|| series.iter().flat_map(|s| &s.points).map(|p| p.1).fold(0.0, f64::max) * 1.1);
    charts::lines(id, &series, runs.len(), top, format, markers, threshold)
}

/// The latest pipeline's jobs as spans, the critical path marked.
pub fn spans(pipeline: &crate::record::Pipeline) -> Vec<Span> {
    let critical: Vec<&str> = pipeline.critical_path().iter().map(|j| j.name.as_str()).collect();
    pipeline
        .jobs
        .iter()
        .filter(|j| j.result != "skipped")
        .map(|j| Span {
            name: j.name.clone(),
            start: j.start_seconds,
            seconds: j.seconds,
            critical: critical.contains(&j.name.as_str()),
            failed: j.result == "failure",
        })
        .collect()
}

/// `2026-12-03 08:12 UTC`.
pub fn date(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

/// Bytes as people read them, of a chart's value.
pub fn bytes(b: f64) -> String {
    render::bytes(b as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(1_796_288_803_209), "2026-12-03 09:06 UTC");
        assert_eq!(date(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}

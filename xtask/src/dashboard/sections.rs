//! The page's sections, each a chart (where people would rather look than read) and the table of
//! its values.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{
    charts::{self, Marker},
    escape,
    page::{bytes, date, job_chart, spans},
    Facts,
};
use crate::{
    alerts,
    record::{Record, Target},
};

/// Each job's hit rate and duration over the runs, key changes marked, and its latest run.
pub fn jobs(facts: &Facts, runs: &[&Record], markers: &[Marker]) -> String {
    let percent = |v: f64| format!("{:.0} %", v * 100.0);
    let seconds = |v: f64| if v < 10.0 { format!("{v:.1} s") } else { format!("{v:.0} s") };
    let threshold = format!("min-hit-rate {:.2}", facts.min_hit_rate);
    let mut html = String::from("<h2>Hit rate per job</h2><p class=\"meta\">What a fresh runner of each run could fetch from the cache before it built (by path count, the seed's measure); the dashed lines mark where the deps key changed.</p>");
    html += &job_chart(
        "hit-rates",
        runs,
        markers,
        &|r| r.rates.as_ref().map(|r| r.hit_rate),
        &percent,
        Some((facts.min_hit_rate, &threshold)),
        Some(1.0),
    );
    html += "<h2>Duration per job</h2>";
    html += &job_chart("durations", runs, markers, &|r| Some(r.seconds), &seconds, None, None);
    html += "<table id=\"jobs\"><tr><th>job</th><th>runs</th><th>latest</th><th>result</th><th>hit rate</th><th>by bytes</th><th>deps layer</th><th>duration</th><th>key</th></tr>";
    for (job, records) in facts.by_job() {
        let last = records.last().expect("a job has a run");
        let rates = last.rates.as_ref();
        let _ = write!(
            html,
            "<tr data-job=\"{}\"><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1} s</td><td><code>{}</code></td></tr>",
            escape(&job),
            escape(&job),
            records.len(),
            date(last.started_ms),
            if last.ok() { "ok" } else { "failed" },
            rates.map_or("-".into(), |r| format!("{:.2}", r.hit_rate)),
            rates.and_then(|r| r.byte_hit_rate).map_or("-".into(), |r| format!("{r:.2}")),
            rates.map_or("-".into(), |r| format!("{:.2}", r.deps_hit_rate)),
            last.seconds,
            escape(last.deps_key.as_deref().unwrap_or("-"))
        );
    }
    html + "</table>"
}

/// The bytes each run pushed to and fetched from the cache.
pub(crate) fn transfers(runs: &[&Record]) -> String {
    let moved: Vec<&&Record> =
        runs.iter().filter(|r| r.pushed.nar_bytes.saturating_add(r.fetched.nar_bytes) > 0).collect();
    let mut html = String::from("<h2>Bytes pushed and fetched per run</h2>");
    if moved.is_empty() {
        return html + "<p>No run moved a byte yet.</p>";
    }
    let categories: Vec<String> =
        moved.iter().map(|r| format!("{} ({})", alerts::job_name(r), date(r.started_ms))).collect();
    let values: Vec<Vec<f64>> =
        moved.iter().map(|r| vec![r.pushed.nar_bytes as f64, r.fetched.nar_bytes as f64]).collect();
    html += &charts::bars("transfers", &categories, &["pushed", "fetched"], &values, &bytes);
    html += "<table id=\"transfer-table\"><tr><th>run</th><th>job</th><th>pushed paths</th><th>pushed</th><th>stored in the cache</th><th>fetched paths</th><th>fetched</th></tr>";
    for r in moved.iter().rev().take(30) {
        let _ = write!(
            html,
            "<tr data-record=\"{}\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&r.id),
            date(r.started_ms),
            escape(&alerts::job_name(r)),
            r.pushed.paths,
            bytes(r.pushed.nar_bytes as f64),
            r.pushed.file_bytes.map_or("-".into(), |b| bytes(b as f64)),
            r.fetched.paths,
            bytes(r.fetched.nar_bytes as f64)
        );
    }
    html + "</table>"
}

/// The latest pipeline: its jobs on a timeline, the critical path drawn bold.
pub fn pipeline(facts: &Facts) -> String {
    let mut html = String::from("<h2>The latest pipeline</h2>");
    let Some((record, pipeline)) = facts.records.iter().rev().find_map(|r| Some((r, r.pipeline.as_ref()?))) else {
        return html + "<p>No pipeline run is in the history yet (<code>cargo xtask ci</code> records one).</p>";
    };
    let _ = write!(
        html,
        "<p class=\"meta\">{} on {}, {}: {:.1} s on parallel runners (the critical path, in dark blue), {:.1} s of jobs in all; {:.1} s as GitHub would bill it, {} job level(s) on the critical path.</p>",
        escape(&pipeline.workflow),
        escape(&pipeline.event),
        date(record.started_ms),
        pipeline.critical_path_seconds,
        pipeline.sum_seconds,
        pipeline.github_seconds,
        pipeline.levels
    );
    html += &charts::timeline("pipeline", &spans(pipeline));
    html += "<table id=\"pipeline-jobs\"><tr><th>job</th><th>result</th><th>start</th><th>time</th><th>cargo xtask start</th><th>built</th></tr>";
    for job in &pipeline.jobs {
        let built = crate::numbers::total(job.tasks.iter().map(|t| t.built));
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{:.1} s</td><td class=\"n\">{:.1} s</td><td class=\"n\">{}</td><td class=\"n\">{built}</td></tr>",
            escape(&job.name),
            escape(&job.result),
            job.start_seconds,
            job.seconds,
            job.xtask_start_seconds.map_or("-".into(), |s| format!("{s:.1} s"))
        );
    }
    html + "</table>"
}

/// The cache: each target's size by key and layer, the keys in use and pinned, what gc would
/// delete, the largest paths.
pub fn cache(facts: &Facts) -> String {
    let mut html = String::from("<h2>The cache by key and layer</h2><p class=\"meta\">What a fresh runner fetches of each target (its closure, NAR bytes), as the latest run of each key saw it after its push.</p>");
    // By key and target: the latest view of each.
    let mut sizes: BTreeMap<(&str, &str), &Target> = BTreeMap::new();
    for target in facts.records.iter().flat_map(|r| &r.targets) {
        sizes.insert((&target.key, &target.name), target);
    }
    let view = |t: &Target| t.after.clone().or_else(|| t.before.clone()).unwrap_or_default();
    let latest: Vec<&Target> = sizes.values().rev().take(20).copied().collect();
    let categories: Vec<String> = latest.iter().map(|t| t.name.clone()).collect();
    let values: Vec<Vec<f64>> = latest.iter().map(|t| vec![view(t).cached_bytes as f64]).collect();
    if !latest.is_empty() {
        html += &charts::bars("sizes", &categories, &["NAR bytes"], &values, &bytes);
    }
    html += "<table id=\"sizes\"><tr><th>key</th><th>layer</th><th>target</th><th>paths</th><th>NAR bytes</th></tr>";
    for t in &latest {
        let v = view(t);
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&t.key),
            escape(&t.layer),
            escape(&t.name),
            v.paths,
            bytes(v.cached_bytes as f64)
        );
    }
    html += "</table>";
    let pinned: Vec<String> = facts
        .records
        .iter()
        .filter(|r| r.steps.iter().any(|s| s.kind == "pin" && s.ok))
        .flat_map(|r| r.targets.iter().filter(|t| t.built_here).map(|t| t.key.clone()))
        .collect();
    if !pinned.is_empty() {
        html += "<h2>Pinned in Cachix</h2><ul id=\"pins\">";
        for key in pinned.iter().rev().take(20) {
            let _ = write!(html, "<li><code>{}</code></li>", escape(key));
        }
        html += "</ul>";
    }
    let Some(owned) = &facts.owned else {
        return html + "<p>The cache cannot be listed (Cachix): sizes come from the runs' records.</p>";
    };
    let _ = write!(html, "<h2>Keys in use</h2><p class=\"meta\">{} paths, {} stored.</p><table id=\"keys\"><tr><th>deps key</th><th>last used</th><th>paths</th><th>stored</th><th>gc --keep {}</th></tr>", owned.paths, bytes(owned.file_bytes as f64), owned.keep);
    for key in &owned.keys {
        let kept = if owned.gc.kept_keys.contains(&key.key) { "kept" } else { "deleted" };
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{kept}</td></tr>",
            escape(&key.key),
            date(key.updated_ms),
            key.paths,
            bytes(key.file_bytes as f64)
        );
    }
    let _ = write!(
        html,
        "</table><p id=\"gc\"><code>cargo xtask gc --keep {}</code> would delete {} path(s), {}, of {} key(s).</p>",
        owned.keep,
        owned.gc.delete.len(),
        bytes(owned.gc.bytes as f64),
        owned.gc.dropped_keys.len()
    );
    html += "<h2>The largest paths</h2><table id=\"largest\"><tr><th>path</th><th>NAR</th><th>stored</th></tr>";
    for (path, nar, file) in &owned.largest {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(path),
            bytes(*nar as f64),
            bytes(*file as f64)
        );
    }
    html + "</table>"
}

/// The last `verify`: what it checked and found.
pub fn verify(facts: &Facts) -> String {
    let mut html = String::from("<h2>The last verify</h2>");
    let Some((record, verified)) = facts.records.iter().rev().find_map(|r| Some((r, r.verify.as_ref()?))) else {
        return html + "<p id=\"verify\">No <code>cargo xtask verify</code> is in the history yet.</p>";
    };
    let _ = write!(
        html,
        "<p id=\"verify\">{}: {} narinfo(s) checked, {} problem(s), {} repaired, {} not repaired.</p>",
        date(record.started_ms),
        verified.checked,
        verified.problems.len(),
        verified.repaired.len(),
        verified.unrepaired.len()
    );
    if !verified.problems.is_empty() {
        html += "<table id=\"verify-problems\"><tr><th>path</th><th>problem</th></tr>";
        for f in &verified.problems {
            let _ = write!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(f.path.as_deref().unwrap_or(&f.file)),
                escape(&f.problem)
            );
        }
        html += "</table>";
    }
    html
}

//! The page: its frame (inline CSS), the header, the alerts, and each section, a chart (where
//! people would rather look than read) beside the table of the same values.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{charts, date, escape, Facts};
use crate::{
    alerts::job_name,
    cache::signing_key::key_name,
    explain,
    keys::what_changed,
    record::{render::bytes, Explanation, Record, Rotated, Target},
};

/// The runs the charts show: the newest.
const SHOWN: usize = 100;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}\
main{max-width:1100px;margin:0 auto;padding:16px 24px}h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb}\
.meta{color:#4b5563}.alerts,.ok{border-radius:6px;padding:8px 16px}.alerts{background:#fef2f2;border:1px solid #fca5a5}.alerts li{margin:4px 0}\
.ok{background:#f0fdf4;border:1px solid #86efac}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #e5e7eb;padding:3px 8px;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
th{background:#f3f4f6}svg.chart{width:100%;max-width:760px;background:#fff;border:1px solid #e5e7eb;border-radius:6px}\
svg polyline{fill:none;stroke-width:2}svg .grid{stroke:#e5e7eb}svg text{font-size:11px;fill:#374151}svg .tick{text-anchor:end}\
svg .marker line{stroke:#9333ea;stroke-dasharray:4 3}svg .marker text{fill:#9333ea}svg .threshold line{stroke:#dc2626;stroke-dasharray:6 3}\
svg .threshold text{fill:#dc2626;text-anchor:end}svg .category{text-anchor:middle}svg .label{text-anchor:end}svg .span{fill:#93c5fd}svg .span.critical{fill:#2563eb}svg .span.failed{fill:#dc2626}\
ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:12px;font-size:12px}ul.legend span{display:inline-block;width:10px;height:10px;margin-right:4px}";

impl Facts {
    /// The page.
    pub fn render(&self) -> String {
        let label = escape(&self.cache);
        let mut html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <title>Cache dashboard: {label}</title><style>{STYLE}</style></head><body><main>\
             <h1>What the cache does</h1><p class=\"meta\">{label} · {} run(s) in the history · generated {}</p>",
            self.records.len(),
            date(self.generated_ms)
        );
        let shown = &self.records[self.records.len().saturating_sub(SHOWN)..];
        html += &[
            alerts(self),
            jobs(self, shown),
            transfers(shown),
            pipeline(self),
            cache(self),
            verify(self),
            signing(self),
        ]
        .concat();
        let problems: String = self.problems.iter().map(|p| format!("<li>{}</li>", escape(p))).collect();
        if !problems.is_empty() {
            html += &format!("<h2>What could not be read</h2><ul>{problems}</ul>");
        }
        html + "</main></body></html>\n"
    }
}

/// Degraded jobs and regressed pull requests, or a line saying there are none.
fn alerts(facts: &Facts) -> String {
    let found = facts.alerts();
    if found.is_empty() {
        return format!(
            "<h2>Alerts</h2><p class=\"ok\" id=\"alerts\">None: every job's latest run could fetch at least {:.0} % of the deps layer, and no pull request got slower against a cold run.</p>",
            facts.min_hit_rate * 100.0
        );
    }
    let mut html = String::from("<h2>Alerts</h2><ul class=\"alerts\" id=\"alerts\">");
    for (kind, record, message) in found {
        let (record, message) = (escape(&record), escape(&message));
        let _ = write!(html, "<li class=\"alert {kind}\" data-record=\"{record}\">{message}</li>");
    }
    html + "</ul>"
}

/// Each job's hit rate and duration over the shown runs (a pipeline's record is the pipeline
/// section's), key changes marked, and its latest run.
fn jobs(facts: &Facts, shown: &[Record]) -> String {
    let runs: Vec<&Record> = shown.iter().filter(|r| r.pipeline.is_none()).collect();
    // Where the deps key changed from one run to the next, and what changed: the crates bumped
    // and the inputs moved, when both runs kept the lock files' entries.
    let markers: Vec<(usize, String)> = (1..runs.len())
        .filter_map(|i| {
            let (old, new) = (runs[i - 1].deps_key.as_ref()?, runs[i].deps_key.as_ref()?);
            if old == new {
                return None;
            }
            let moved = match (&runs[i - 1].basis, &runs[i].basis) {
                (Some(was), Some(now)) => explain::key_moved(was, now).iter().map(|c| c.said()).collect(),
                _ => Vec::new(),
            };
            Some((i, if moved.is_empty() { what_changed(old, new) } else { moved.join("; ") }))
        })
        .collect();
    let percent = |v: f64| format!("{:.0} %", v * 100.0);
    let seconds = |v: f64| if v < 10.0 { format!("{v:.1} s") } else { format!("{v:.0} s") };
    let threshold = format!("min-hit-rate {:.2}", facts.min_hit_rate);
    let mut html = String::from("<h2>Hit rate per job</h2><p class=\"meta\">What a fresh runner of each run could fetch from the cache before it built (by path count, the seed's measure); the dashed lines mark where the deps key changed.</p>");
    let rates = |r: &Record| r.rates.as_ref().map(|r| r.hit_rate);
    html += &charts::lines("hit-rates", &runs, &markers, &rates, &percent, Some((facts.min_hit_rate, &threshold)));
    html += "<h2>Duration per job</h2>";
    html += &charts::lines("durations", &runs, &markers, &|r| Some(r.seconds), &seconds, None);
    html += "<table id=\"jobs\"><tr><th>job</th><th>runs</th><th>latest</th><th>result</th><th>hit rate</th><th>by bytes</th><th>deps layer</th><th>duration</th><th>key</th><th>why it built</th></tr>";
    // Each job's records (of the whole history), oldest first.
    let mut by_job: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for record in facts.records.iter().filter(|r| r.pipeline.is_none()) {
        by_job.entry(job_name(record)).or_default().push(record);
    }
    for (job, records) in by_job {
        let (last, job) = (records.last().expect("a job has a run"), escape(&job));
        let rates = last.rates.as_ref();
        let _ = write!(
            html,
            "<tr data-job=\"{job}\"><td>{job}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1} s</td><td><code>{}</code></td><td>{}</td></tr>",
            records.len(),
            date(last.started_ms),
            if last.ok() { "ok" } else { "failed" },
            rates.map_or("-".into(), |r| format!("{:.2}", r.hit_rate)),
            rates.and_then(|r| r.byte_hit_rate).map_or("-".into(), |r| format!("{r:.2}")),
            rates.map_or("-".into(), |r| format!("{:.2}", r.deps_hit_rate)),
            last.seconds,
            escape(last.deps_key.as_deref().unwrap_or("-")),
            escape(&why_built(last.targets.iter().filter_map(|t| Some((&t.name, t.why.as_ref()?)))))
        );
    }
    html + "</table>"
}

/// The bytes each run pushed to and fetched from the cache.
fn transfers(runs: &[Record]) -> String {
    let moved: Vec<&Record> =
        runs.iter().filter(|r| r.pushed.nar_bytes.saturating_add(r.fetched.nar_bytes) > 0).collect();
    let mut html = String::from("<h2>Bytes pushed and fetched per run</h2>");
    if moved.is_empty() {
        return html + "<p>No run moved a byte yet.</p>";
    }
    let categories: Vec<String> = moved.iter().map(|r| format!("{} ({})", job_name(r), date(r.started_ms))).collect();
    let values: Vec<Vec<f64>> =
        moved.iter().map(|r| vec![r.pushed.nar_bytes as f64, r.fetched.nar_bytes as f64]).collect();
    html += &charts::bars("transfers", &categories, &["pushed", "fetched"], &values);
    html += "<table id=\"transfer-table\"><tr><th>run</th><th>job</th><th>pushed paths</th><th>pushed</th><th>stored in the cache</th><th>fetched paths</th><th>fetched</th></tr>";
    for r in moved.iter().rev().take(30) {
        let _ = write!(
            html,
            "<tr data-record=\"{}\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&r.id),
            date(r.started_ms),
            escape(&job_name(r)),
            r.pushed.paths,
            bytes(r.pushed.nar_bytes),
            r.pushed.file_bytes.map_or("-".into(), bytes),
            r.fetched.paths,
            bytes(r.fetched.nar_bytes)
        );
    }
    html + "</table>"
}

/// The latest pipeline: its jobs on a timeline, the critical path drawn bold.
fn pipeline(facts: &Facts) -> String {
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
    html += &charts::timeline("pipeline", pipeline);
    html += "<table id=\"pipeline-jobs\"><tr><th>job</th><th>result</th><th>start</th><th>time</th><th>cargo xtask start</th><th>built</th><th>why</th></tr>";
    for job in &pipeline.jobs {
        let built = crate::numbers::total(job.tasks.iter().map(|t| t.built));
        // Why it was skipped or failed; else, why the first job let it run.
        let why = job.reason.clone().or_else(|| job.proof.as_ref().map(|p| p.said())).unwrap_or_default();
        // And why each of its tasks built what it built.
        let built_why = why_built(job.tasks.iter().flat_map(|t| &t.why));
        let why = [why, built_why].into_iter().filter(|w| !w.is_empty()).collect::<Vec<_>>().join("; ");
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{:.1} s</td><td class=\"n\">{:.1} s</td><td class=\"n\">{}</td><td class=\"n\">{built}</td><td>{}</td></tr>",
            escape(&job.name),
            escape(&job.result),
            job.start_seconds,
            job.seconds,
            job.xtask_start_seconds.map_or("-".into(), |s| format!("{s:.1} s")),
            escape(&why)
        );
    }
    html + "</table>"
}

/// The cache: each target's size by key and layer, the keys in use and pinned, what gc would
/// delete, the largest paths.
fn cache(facts: &Facts) -> String {
    let mut html = String::from("<h2>The cache by key and layer</h2><p class=\"meta\">What a fresh runner fetches of each target (its closure, NAR bytes), as the latest run of each key saw it after its push.</p>");
    // By key and target: the latest view of each.
    let mut sizes: BTreeMap<(&str, &str), &Target> = BTreeMap::new();
    for target in facts.records.iter().flat_map(|r| &r.targets) {
        sizes.insert((&target.key, &target.name), target);
    }
    let latest: Vec<(&Target, u64, u64)> = sizes
        .into_values()
        .rev()
        .take(20)
        .map(|t| (t, t.after.as_ref().or(t.before.as_ref())))
        .map(|(t, view)| (t, view.map_or(0, |v| v.paths), view.map_or(0, |v| v.cached_bytes)))
        .collect();
    if !latest.is_empty() {
        let categories: Vec<String> = latest.iter().map(|(t, ..)| t.name.clone()).collect();
        let values: Vec<Vec<f64>> = latest.iter().map(|(.., b)| vec![*b as f64]).collect();
        html += &charts::bars("sizes", &categories, &["NAR bytes"], &values);
    }
    html += "<table id=\"sizes\"><tr><th>key</th><th>layer</th><th>target</th><th>paths</th><th>NAR bytes</th></tr>";
    for (t, paths, nar) in &latest {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{paths}</td><td class=\"n\">{}</td></tr>",
            escape(&t.key),
            escape(&t.layer),
            escape(&t.name),
            bytes(*nar)
        );
    }
    html += "</table>";
    let pinned: Vec<&String> = facts
        .records
        .iter()
        .filter(|r| r.steps.iter().any(|s| s.kind == "pin" && s.ok))
        .flat_map(|r| r.targets.iter().filter(|t| t.built_here).map(|t| &t.key))
        .collect();
    let pins: String =
        pinned.iter().rev().take(20).map(|key| format!("<li><code>{}</code></li>", escape(key))).collect();
    if !pins.is_empty() {
        html += &format!("<h2>Pinned in Cachix</h2><ul id=\"pins\">{pins}</ul>");
    }
    let Some(owned) = &facts.owned else {
        return html + "<p>The cache cannot be listed (Cachix): sizes come from the runs' records.</p>";
    };
    let _ = write!(html, "<h2>Keys in use</h2><p class=\"meta\">{} paths, {} stored.</p><table id=\"keys\"><tr><th>deps key</th><th>last used</th><th>paths</th><th>stored</th><th>gc --keep {}</th></tr>", owned.entries.by_path.len(), bytes(owned.stored(owned.entries.by_path.keys())), owned.keep);
    for m in &owned.manifests {
        // The closure of its recorded paths, as far as the cache has it.
        let closure = owned.entries.closure(m.roots.iter().cloned());
        let kept = if owned.gc.kept_keys.contains(&m.key) { "kept" } else { "deleted" };
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{kept}</td></tr>",
            escape(&m.key),
            date(m.updated),
            closure.len(),
            bytes(owned.stored(&closure))
        );
    }
    let _ = write!(
        html,
        "</table><p id=\"gc\"><code>cargo xtask gc --keep {}</code> would delete {} path(s), {}, of {} key(s).</p>",
        owned.keep,
        owned.gc.delete.len(),
        bytes(owned.gc.bytes),
        owned.gc.dropped_keys.len()
    );
    html += "<h2>The largest paths</h2><table id=\"largest\"><tr><th>path</th><th>NAR</th><th>stored</th></tr>";
    let mut largest: Vec<(&String, u64)> =
        owned.entries.by_path.iter().map(|(path, e)| (path, e.info.nar_size)).collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (path, nar) in largest.into_iter().take(10) {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(path),
            bytes(nar),
            bytes(owned.stored([path]))
        );
    }
    html + "</table>"
}

/// The last `verify`: what it checked and found.
fn verify(facts: &Facts) -> String {
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
            let (path, problem) = (escape(f.path.as_deref().unwrap_or(&f.file)), escape(&f.problem));
            let _ = write!(html, "<tr><td><code>{path}</code></td><td>{problem}</td></tr>");
        }
        html += "</table>";
    }
    html
}

/// The keys that sign the cache's narinfos, as the newest `verify` or `rotate-key` counted
/// them, and each step of a key's rotation.
fn signing(facts: &Facts) -> String {
    let mut html = String::from("<h2>Signing keys</h2>");
    let newest = facts.records.iter().rev().find_map(|r| {
        let verified = r.verify.as_ref().map(|v| &v.keys).filter(|k| !k.is_empty());
        Some((r, verified.or_else(|| r.rotation.as_ref().map(|x| &x.coverage).filter(|k| !k.is_empty()))?))
    });
    let Some((record, keys)) = newest else {
        return html
            + "<p id=\"signing-keys\">No <code>cargo xtask verify</code> or <code>rotate-key</code> has counted the keys yet.</p>";
    };
    let _ = write!(
        html,
        "<p>As <code>{}</code> counted them, {}:</p><table id=\"signing-keys\"><tr><th>key</th><th>narinfos it signs</th><th>share</th></tr>",
        escape(&record.task),
        date(record.started_ms)
    );
    for key in keys {
        let name = escape(key_name(&key.key));
        let share = if key.of == 0 { 0.0 } else { key.signs as f64 * 100.0 / key.of as f64 };
        let _ = write!(
            html,
            "<tr data-key=\"{full}\" data-signs=\"{signs}\" data-of=\"{of}\"><td title=\"{full}\"><code>{name}</code></td>\
             <td class=\"n\">{signs} of {of}</td><td class=\"n\">{share:.0} %</td></tr>",
            full = escape(&key.key),
            signs = key.signs,
            of = key.of,
        );
    }
    html += "</table>";
    let rotations: Vec<(&Record, &Rotated)> =
        facts.records.iter().filter_map(|r| Some((r, r.rotation.as_ref()?))).collect();
    if !rotations.is_empty() {
        html += "<table id=\"rotations\"><tr><th>when</th><th>step</th><th>key</th><th>narinfos written</th>\
                 <th>already done</th><th>left</th><th>passes</th><th>seconds</th></tr>";
        for (record, rotated) in rotations {
            let name = escape(key_name(&rotated.key));
            let _ = write!(
                html,
                "<tr data-step=\"{step}\" data-changed=\"{changed}\"><td>{when}</td><td>{step}</td><td><code>{name}</code></td>\
                 <td class=\"n\">{changed}</td><td class=\"n\">{already}</td><td class=\"n\">{left}</td><td class=\"n\">{passes}</td>\
                 <td class=\"n\">{seconds:.1}</td></tr>",
                step = escape(&rotated.step),
                changed = rotated.changed,
                when = date(record.started_ms),
                already = rotated.already,
                left = rotated.left.len(),
                passes = rotated.passes,
                seconds = record.seconds,
            );
        }
        html += "</table>";
    }
    html
}

/// Each target's causes, in words: `deps: Cargo.lock: tokio 1.47.1 → 1.48.0; …`.
fn why_built<'a>(whys: impl Iterator<Item = (&'a String, &'a Explanation)>) -> String {
    let each = whys.map(|(target, why)| {
        format!("{target}: {}", why.causes.iter().map(|c| c.said()).collect::<Vec<_>>().join(", "))
    });
    each.collect::<Vec<_>>().join("; ")
}

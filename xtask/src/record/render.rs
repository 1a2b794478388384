//! A record for people: the line a task ends with on stderr, and its job summary (markdown, as
//! GitHub renders it: the facts, the result, a Mermaid timeline of the steps, hit and miss per
//! target before the build and after the push, the steps). Rendered from the record alone.

use std::fmt::Write as _;

use super::{Rates, Record, Target};

impl Record {
    /// The line a task ends with.
    pub fn line(&self) -> String {
        let t = &self.totals;
        let total: f64 = self.steps.iter().map(|s| s.seconds).sum();
        let warned =
            if self.warnings.is_empty() { String::new() } else { format!(" ({} warning(s))", self.warnings.len()) };
        let (title, took) = (self.title(), seconds(total));
        let line = match (self.failed_step(), t.up_to_date) {
            (Some(step), _) => format!("cargo xtask {title}: failed at \"{step}\" after {took}"),
            (None, true) => format!("cargo xtask {title}: up to date ({} output(s) already cached) in {took}", t.present),
            (None, false) => format!(
                "cargo xtask {title}: {} output(s), {} path(s) needed; pushed {} ({}), already cached {}, filtered out {} in {took}",
                t.outputs,
                t.closure_paths,
                self.pushed.paths,
                mib(self.pushed.nar_bytes),
                t.present,
                t.dropped
            ),
        };
        line + &warned
    }

    /// The task as the summary names it: `warm`, `test --type unit`.
    pub fn title(&self) -> String {
        match self.task.as_str() {
            "test" => {
                let ty = self.args.iter().skip_while(|a| *a != "--type").nth(1);
                format!("test --type {}", ty.map_or("?", String::as_str))
            }
            task => task.to_owned(),
        }
    }

    /// The title of the step that failed, when one did.
    pub(crate) fn failed_step(&self) -> Option<&str> {
        self.steps.iter().find(|s| !s.ok).map(|s| s.title.as_str())
    }

    /// The job summary.
    pub fn markdown(&self) -> String {
        let mut md = format!("### `cargo xtask {}`\n\n| | |\n|---|---|\n", self.title());
        let (flake, cache) = (self.flake.iter().map(|f| ("flake", f)), self.cache.iter().map(|c| ("cache", &c.label)));
        for (name, value) in flake.chain(cache).chain(self.keys.iter().map(|k| (k.name.as_str(), &k.value))) {
            let _ = writeln!(md, "| {name} | `{value}` |");
        }
        let t = &self.totals;
        if let Some(step) = self.failed_step() {
            let _ = writeln!(md, "| result | **failed** at: {step} |");
        } else if t.up_to_date {
            let _ =
                writeln!(md, "| result | the cache already had all {} output(s): nothing built or pushed |", t.present);
        } else if !self.steps.is_empty() {
            let (closure, pushed) = (mib(t.closure_bytes), mib(self.pushed.nar_bytes));
            let _ = writeln!(
                md,
                "| outputs built | {} (with build inputs: {} paths, {closure}) |",
                t.outputs, t.closure_paths
            );
            let _ = writeln!(md, "| pushed | {} ({pushed}) |", self.pushed.paths);
            let _ = writeln!(md, "| already in the cache | {} |", t.present);
            let _ = writeln!(md, "| filtered out | {} (kept because needed: {}) |", t.dropped, t.kept_anyway);
            let _ = writeln!(md, "| served upstream | {} |", t.upstream);
            for (done, n) in [("re-signed", t.resigned), ("repaired", t.repaired)].into_iter().filter(|(_, n)| *n > 0) {
                let _ = writeln!(md, "| {done} in the cache | {n} |");
            }
        }
        for warning in &self.warnings {
            let _ = writeln!(md, "| warning | {} |", cell(warning));
        }
        md += &self.timeline();
        md += &views(&self.targets, self.rates.as_ref(), self.rates_after.as_ref());
        md += &why_it_built(&self.targets);
        if !self.steps.is_empty() {
            md.push_str("\n| step | duration | result |\n|---|---:|---|\n");
            for step in &self.steps {
                let note = if step.ok { cell(&step.note) } else { "**failed**".to_owned() };
                let _ = writeln!(md, "| {} | {} | {note} |", cell(&step.title), seconds(step.seconds));
            }
        }
        md
    }

    /// The steps as a Mermaid timeline (a Gantt chart in milliseconds from the task's start).
    fn timeline(&self) -> String {
        if self.steps.is_empty() {
            return String::new();
        }
        let mut md = format!(
            "\n```mermaid\ngantt\n  title cargo xtask {} ({})\n  dateFormat x\n  axisFormat %M:%S\n  section steps\n",
            mermaid(&self.title()),
            seconds(self.steps.iter().map(|s| s.seconds).sum())
        );
        for (i, step) in self.steps.iter().enumerate() {
            let start = (step.start_seconds * 1000.0).round() as u64;
            let end = start + ((step.seconds * 1000.0).round() as u64).max(1);
            let state = if step.ok { "" } else { "crit, " };
            let _ = writeln!(md, "  {} :{state}s{i}, {start}, {end}", mermaid(&step.title));
        }
        md + "```\n"
    }
}

/// Hit and miss per target, before the build and after the push.
pub(crate) fn views(targets: &[Target], before: Option<&Rates>, after: Option<&Rates>) -> String {
    if targets.iter().all(|t| t.before.is_none()) {
        return String::new();
    }
    let mut md = String::from(
        "\n#### What a fresh runner would fetch and build\n\n| target | paths | cached | from origin | to build | after the push |\n|---|---:|---:|---:|---|---|\n",
    );
    for t in targets {
        let Some(view) = &t.before else { continue };
        let after = t.after.as_ref().map_or_else(|| "-".to_owned(), |a| format!("{} of {} cached", a.cached, a.paths));
        let to_build = if view.to_build.is_empty() { "nothing".to_owned() } else { view.to_build.join(", ") };
        let (name, paths, cached, from_origin) = (&t.name, view.paths, view.cached, view.from_origin);
        let _ = writeln!(md, "| {name} | {paths} | {cached} | {from_origin} | {to_build} | {after} |");
    }
    if let Some(r) = before {
        let _ = writeln!(md, "\nA fresh runner, before the build: {}.", rates(r));
    }
    if let Some(r) = after {
        let _ = writeln!(md, "After the push: {}.", rates(r));
    }
    for t in targets {
        for broken in t.before.iter().flat_map(|v| &v.broken) {
            let _ = writeln!(md, "\nBroken in the cache: {}: {}", broken.path, cell(&broken.why));
        }
    }
    md
}

/// `4 of 5 paths from the cache (hit rate 0.80; by bytes 0.97; deps layer 1.00)`.
pub fn rates(r: &Rates) -> String {
    let bytes = r.byte_hit_rate.map(|b| format!("; by bytes {b:.2}")).unwrap_or_default();
    format!(
        "{} of {} paths from the cache (hit rate {:.2}{bytes}; deps layer {:.2}), {} cached",
        r.cached,
        r.paths,
        r.hit_rate,
        r.deps_hit_rate,
        mib(r.cached_bytes)
    )
}

/// A table cell: one line, no column break.
pub(crate) fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

/// A Mermaid task name: no `:`, `#` or `;`, which end it.
fn mermaid(text: &str) -> String {
    text.replace([':', '#', ';'], " ")
}

/// Seconds with one decimal: `12.3s`.
pub fn seconds(s: f64) -> String {
    format!("{s:.1}s")
}

/// Bytes in MiB with one decimal: `980.2 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Bytes as people read them: `612 B`, `3.4 KiB`, `980.2 MiB`, `1.50 GiB`.
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    match b {
        b if b >= 1024.0 * 1024.0 * 1024.0 => format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0)),
        b if b >= 1024.0 * 1024.0 => format!("{:.1} MiB", b / (1024.0 * 1024.0)),
        b if b >= 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b => format!("{b:.0} B"),
    }
}

/// The summary's "Why it built" table: each target a fresh runner would build, the run it was
/// compared with, and the causes.
pub fn why_it_built(targets: &[Target]) -> String {
    let rows: String = targets
        .iter()
        .filter_map(|t| t.why.as_ref().map(|why| (t, why)))
        .map(|(t, why)| {
            let causes: Vec<String> = why.causes.iter().map(|c| cell(&c.said())).collect();
            format!("| {} | {} | {} |\n", cell(&t.name), why.since.as_deref().unwrap_or("-"), causes.join("<br>"))
        })
        .collect();
    match rows.is_empty() {
        true => String::new(),
        false => format!("\n### Why it built\n\n| target | compared with the run | why |\n|---|---|---|\n{rows}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StepRun;

    fn step(title: &str, ok: bool, start: f64) -> StepRun {
        StepRun {
            title: title.into(),
            seconds: 1.5,
            ok,
            start_seconds: start,
            note: "done".into(),
            ..StepRun::default()
        }
    }

    #[test]
    fn the_summary_marks_the_failed_step_and_draws_the_timeline() {
        let mut record = Record::start("warm", &[]);
        record.keys = vec![crate::record::Output { name: "cache-key".into(), value: "K".into() }];
        record.steps = vec![step("Evaluate", true, 0.0), step("Build: it", false, 1.5)];
        let md = record.markdown();
        assert!(md.contains("| cache-key | `K` |"), "{md}");
        assert!(md.contains("| result | **failed** at: Build: it |"), "{md}");
        assert!(md.contains("| Build: it | 1.5s | **failed** |"), "{md}");
        assert!(md.contains("  Evaluate :s0, 0, 1500\n  Build  it :crit, s1, 1500, 3000\n"), "{md}");
        assert_eq!(record.line(), "cargo xtask warm: failed at \"Build: it\" after 3.0s");
    }

    #[test]
    fn warnings_show_in_the_summary_and_the_line() {
        let mut record = Record::start("test", &["--type".into(), "unit".into()]);
        record.steps = vec![step("Push", true, 0.0)];
        record.warnings = vec!["cannot push to http://h: 503 | busy".into()];
        assert!(
            record.markdown().contains("| warning | cannot push to http://h: 503 \\| busy |"),
            "{}",
            record.markdown()
        );
        assert!(record.line().starts_with("cargo xtask test --type unit: "), "{}", record.line());
        assert!(record.line().ends_with(" (1 warning(s))"), "{}", record.line());
    }
}

//! What a task's run did, for the terminal (one line) and `$GITHUB_STEP_SUMMARY` (markdown):
//! the facts (key, cache), the totals, and each step with its duration and result.

use std::{fmt::Write as _, time::Duration};

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub title: String,
    pub duration: Duration,
    /// What the step found or did; `None` when it failed.
    pub note: Option<String>,
}

/// The pipeline's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// The cache had every output: nothing was built or pushed.
    pub up_to_date: bool,
    pub outputs: usize,
    pub closure_paths: usize,
    pub closure_bytes: u64,
    pub pushed: usize,
    /// NAR bytes of what was pushed.
    pub pushed_bytes: u64,
    pub present: usize,
    pub dropped: usize,
    pub kept_anyway: usize,
    /// Paths the cache had that the signing key could not verify, signed again.
    pub resigned: usize,
    /// Paths the cache held broken (or unlike this build, unsigned), uploaded again.
    pub repaired: usize,
    /// Paths an upstream cache (cache.nixos.org) already serves: not pushed.
    pub upstream: usize,
}

#[derive(Debug, Default)]
pub struct Report {
    pub task: String,
    /// Lines shown at the top (`flake`, `cache`, the keys).
    pub facts: Vec<(String, String)>,
    pub steps: Vec<StepRecord>,
    pub totals: Totals,
    /// Whether a step failed (the last one run).
    pub failed: bool,
    /// What went wrong without failing the task (an unreachable cache, a failed push in `test`).
    pub warnings: Vec<String>,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!("### `cargo xtask {}`\n\n| | |\n|---|---|\n", self.task);
        for (name, value) in &self.facts {
            let _ = writeln!(md, "| {name} | `{value}` |");
        }
        let t = &self.totals;
        if self.failed {
            let failed = self.steps.last().map_or("", |s| s.title.as_str());
            let _ = writeln!(md, "| result | **failed** at: {failed} |");
        } else if t.up_to_date {
            let _ =
                writeln!(md, "| result | the cache already had all {} output(s): nothing built or pushed |", t.present);
        } else {
            let _ = writeln!(
                md,
                "| outputs built | {} (with build inputs: {} paths, {}) |",
                t.outputs,
                t.closure_paths,
                mib(t.closure_bytes)
            );
            let _ = writeln!(md, "| pushed | {} ({}) |", t.pushed, mib(t.pushed_bytes));
            let _ = writeln!(md, "| already in the cache | {} |", t.present);
            let _ = writeln!(md, "| filtered out | {} (kept because needed: {}) |", t.dropped, t.kept_anyway);
            let _ = writeln!(md, "| served upstream | {} |", t.upstream);
            if t.resigned > 0 {
                let _ = writeln!(md, "| re-signed in the cache | {} |", t.resigned);
            }
            if t.repaired > 0 {
                let _ = writeln!(md, "| repaired in the cache | {} |", t.repaired);
            }
        }
        for warning in &self.warnings {
            let _ = writeln!(md, "| warning | {} |", warning.replace('\n', " ").replace('|', "\\|"));
        }
        md.push_str("\n| step | duration | result |\n|---|---:|---|\n");
        for step in &self.steps {
            let note = step.note.as_deref().unwrap_or("**failed**");
            let _ = writeln!(md, "| {} | {} | {note} |", step.title, seconds(step.duration));
        }
        md
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        let total: Duration = self.steps.iter().map(|s| s.duration).sum();
        let t = &self.totals;
        let warned =
            if self.warnings.is_empty() { String::new() } else { format!(" ({} warning(s))", self.warnings.len()) };
        let line = if self.failed {
            let failed = self.steps.last().map_or("", |s| s.title.as_str());
            format!("cargo xtask {}: failed at \"{failed}\" after {}", self.task, seconds(total))
        } else if t.up_to_date {
            format!(
                "cargo xtask {}: up to date ({} output(s) already cached) in {}",
                self.task,
                t.present,
                seconds(total)
            )
        } else {
            format!(
                "cargo xtask {}: {} output(s), {} path(s) needed; pushed {} ({}), already cached {}, filtered out {} in {}",
                self.task,
                t.outputs,
                t.closure_paths,
                t.pushed,
                mib(t.pushed_bytes),
                t.present,
                t.dropped,
                seconds(total)
            )
        };
        line + &warned
    }
}

pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(title: &str, note: Option<&str>) -> StepRecord {
        StepRecord { title: title.into(), duration: Duration::from_millis(1500), note: note.map(Into::into) }
    }

    #[test]
    fn the_summary_marks_the_failed_step() {
        let report = Report {
            task: "warm".into(),
            facts: vec![("cache-key".into(), "K".into())],
            steps: vec![step("Evaluate", Some("3 output(s)")), step("Build", None)],
            failed: true,
            ..Report::default()
        };
        let md = report.markdown();
        assert!(md.contains("| cache-key | `K` |"), "{md}");
        assert!(md.contains("| result | **failed** at: Build |"), "{md}");
        assert!(md.contains("| Build | 1.5s | **failed** |"), "{md}");
        assert_eq!(report.line(), "cargo xtask warm: failed at \"Build\" after 3.0s");
    }

    #[test]
    fn warnings_show_in_the_summary_and_the_line() {
        let report = Report {
            task: "test --type unit".into(),
            steps: vec![step("Push", Some("push failed (a warning)"))],
            warnings: vec!["cannot push to http://h: 503 | busy".into()],
            ..Report::default()
        };
        assert!(
            report.markdown().contains("| warning | cannot push to http://h: 503 \\| busy |"),
            "{}",
            report.markdown()
        );
        assert!(report.line().ends_with(" (1 warning(s))"), "{}", report.line());
    }
}

//! The pipeline measured: `cargo xtask ci` on a second copy of the bench workspace (its own salt:
//! cold is cold), as GitHub's parallel runners would see it. Cold (an empty cache and an empty
//! actions cache: the first job compiles the xtask), a pull request with an app-only change, and
//! the same pull request again, which must build nothing. The bench's images do not run (no
//! Ollama server in them), so the smoke job is skipped, and with it what needs it.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::{results::PR_OVER_COLD, workspace::Workspace};
use xtask::session::Session;

impl super::Run<'_> {
    /// `cargo xtask ci` on a second copy of the workspace: cold, an app-only PR, a PR that changes
    /// nothing (see `pipeline.rs`).
    pub(super) fn pipelines(&self, session: &Session) -> Result<Vec<Pipeline>> {
        let ws = Workspace::prepare(self.sh, &session.root, &self.base.join("pipeline"))?;
        let (actions, json) = (self.base.join("actions-cache"), self.base.join("pipeline.json"));
        let mut pipelines = Vec::new();
        for case in [COLD, PR, NO_CHANGE] {
            if case == PR {
                ws.change_the_app(self.sh)?;
            }
            let before = self.nginx.bytes();
            let args = ["ci", "--event", "pull_request", "--skip", "smoke", "--actions-cache"];
            let (actions, json_arg) = (actions.display().to_string(), json.display().to_string());
            self.xtask_on(&ws.flake, &[&args[..], &[actions.as_str(), "--json", json_arg.as_str()]].concat(), false)?;
            let report: Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
            let ran = Pipeline::read(case, &report, self.nginx.bytes() - before)?;
            ran.check_ran()?;
            pipelines.push(ran);
        }
        Ok(pipelines)
    }
}

/// One pipeline run: its time on parallel runners, the sum of its jobs, the bytes it pushed, and
/// each job.
#[derive(Debug, Default)]
pub struct Pipeline {
    pub case: &'static str,
    pub critical_s: f64,
    pub sum_s: f64,
    pub pushed_bytes: u64,
    pub jobs: Vec<PipelineJob>,
}

#[derive(Debug, Default)]
pub struct PipelineJob {
    pub name: String,
    pub result: String,
    pub seconds: f64,
    pub start_s: Option<f64>,
    /// What its fresh runner could fetch from the cache, before it built (paths fetched / needed).
    pub hit_rate: Option<f64>,
    /// Whether it built anything.
    pub built: bool,
}

impl Pipeline {
    /// From `cargo xtask ci --json`.
    pub fn read(case: &'static str, report: &Value, pushed_bytes: u64) -> Result<Pipeline> {
        let jobs = report["jobs"].as_array().context("`cargo xtask ci --json` wrote no jobs")?;
        let jobs = jobs
            .iter()
            .map(|j| {
                let summary = j["summary"].as_str().unwrap_or_default();
                PipelineJob {
                    name: j["name"].as_str().unwrap_or_default().to_owned(),
                    result: j["result"].as_str().unwrap_or_default().to_owned(),
                    seconds: j["seconds"].as_f64().unwrap_or_default(),
                    start_s: j["xtask_start_seconds"].as_f64(),
                    hit_rate: hit_rate(summary),
                    built: summary.contains("| Build ") && !summary.contains("nothing built"),
                }
            })
            .collect();
        Ok(Pipeline {
            case,
            critical_s: report["critical_path_seconds"].as_f64().unwrap_or_default(),
            sum_s: report["sum_seconds"].as_f64().unwrap_or_default(),
            pushed_bytes,
            jobs,
        })
    }

    pub fn json(&self) -> Value {
        let jobs: Vec<Value> = self
            .jobs
            .iter()
            .map(|j| json!({ "name": j.name, "result": j.result, "seconds": j.seconds, "xtask_start_s": j.start_s, "hit_rate": j.hit_rate, "built": j.built }))
            .collect();
        json!({ "case": self.case, "critical_path_s": self.critical_s, "sum_s": self.sum_s, "pushed_bytes": self.pushed_bytes, "jobs": jobs })
    }

    /// The slowest start of `cargo xtask` in the jobs after the first (which compiles on a cold
    /// actions cache).
    pub fn later_start_s(&self) -> f64 {
        self.jobs.iter().skip(1).filter_map(|j| j.start_s).fold(0.0, f64::max)
    }

    pub fn built(&self) -> Vec<&str> {
        self.jobs.iter().filter(|j| j.built).map(|j| j.name.as_str()).collect()
    }

    pub fn check_ran(&self) -> Result<()> {
        let failed: Vec<&str> = self.jobs.iter().filter(|j| j.result == "failure").map(|j| j.name.as_str()).collect();
        if !failed.is_empty() {
            bail!("the {} pipeline failed: {}", self.case, failed.join(", "));
        }
        Ok(())
    }
}

/// `… would fetch N path(s) from the cache, build M, …` of the summary's fresh-runner step
/// (the first, before the build): N / (N + M).
fn hit_rate(summary: &str) -> Option<f64> {
    summary.split("would fetch ").skip(1).find_map(|note| {
        let (fetched, rest) = note.split_once(" path(s) from the cache, build ")?;
        let built = rest.split([',', ' ', ':', '|']).next()?;
        let (fetched, built): (f64, f64) = (fetched.parse().ok()?, built.parse().ok()?);
        (fetched + built > 0.0).then(|| fetched / (fetched + built))
    })
}

/// A job after the first starts `cargo xtask` within this (the launcher, then the kept binary).
const LATER_START_S: f64 = 2.0;

/// The targets: a PR pipeline at most a quarter of cold, and a pull request that changes nothing
/// builds nothing.
pub fn missed(pipelines: &[Pipeline]) -> Vec<String> {
    let mut missed = Vec::new();
    let case = |name: &str| pipelines.iter().find(|p| p.case == name);
    if let (Some(cold), Some(pr)) = (case(COLD), case(PR)) {
        let ratio = pr.critical_s / cold.critical_s;
        if ratio > PR_OVER_COLD {
            missed.push(format!("the PR pipeline is {ratio:.2} of the cold one, over {PR_OVER_COLD}"));
        }
    }
    for p in pipelines.iter().filter(|p| p.later_start_s() > LATER_START_S) {
        missed.push(format!(
            "a job of the {} pipeline took {:.1} s to start `cargo xtask`, over {LATER_START_S} s",
            p.case,
            p.later_start_s()
        ));
    }
    if let Some(built) = case(NO_CHANGE).map(Pipeline::built).filter(|b| !b.is_empty()) {
        missed.push(format!("a pull request that changes nothing built: {}", built.join(", ")));
    }
    missed
}

pub const COLD: &str = "cold";
pub const PR: &str = "PR (an app-only change)";
pub const NO_CHANGE: &str = "PR (no change)";

/// The rows of the bench's table.
pub fn markdown(pipelines: &[Pipeline]) -> String {
    let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
    let case = |name: &str| pipelines.iter().find(|p| p.case == name);
    let ratio = match (case(COLD), case(PR)) {
        (Some(cold), Some(pr)) => format!("{:.2}", pr.critical_s / cold.critical_s),
        _ => "-".to_owned(),
    };
    let mut md = format!("\nPipeline PR / cold (on parallel runners): {ratio} (target ≤ {PR_OVER_COLD}, aim 0.2)\n");
    md += "\n| pipeline (`cargo xtask ci`) | on parallel runners | jobs in all | pushed | slowest `cargo xtask` start after the first job (≤ 2 s) | built |\n|---|---:|---:|---:|---:|---|\n";
    for p in pipelines {
        let built = p.built();
        md += &format!(
            "| {} | {:.1} s | {:.1} s | {} | {:.1} s | {} |\n",
            p.case,
            p.critical_s,
            p.sum_s,
            mib(p.pushed_bytes),
            p.later_start_s(),
            if built.is_empty() { "nothing".to_owned() } else { built.join(", ") }
        );
    }
    md += "\n| job | case | result | time | `cargo xtask` start | hit rate before it built |\n|---|---|---|---:|---:|---:|\n";
    for p in pipelines {
        for j in &p.jobs {
            let start = j.start_s.map_or("-".to_owned(), |s| format!("{s:.1} s"));
            let hit = j.hit_rate.map_or("-".to_owned(), |h| format!("{h:.2}"));
            md += &format!("| {} | {} | {} | {:.1} s | {start} | {hit} |\n", j.name, p.case, j.result, j.seconds);
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_hit_rate_a_fresh_runner_had_before_the_build() {
        let summary = "| Ask what a fresh runner would fetch and build | 1.2s | a fresh runner would fetch 4 path(s) from the cache, build 1, get 2 from their origin |\n… would fetch 5 path(s) from the cache, build 0";
        assert_eq!(hit_rate(summary), Some(0.8));
        assert_eq!(hit_rate("no such step"), None);
    }
}

//! What the rounds measured, and the targets: each held to the median over the rounds of a
//! per-round measure (a ratio of two times of a round, or a time beside its evaluation's). What is
//! not a matter of time (a dependency rebuilt, a second evaluation, a PR without change that
//! builds) must hold in every round.

use anyhow::{ensure, Result};
use xtask::record::Record;

use super::{
    graph::{OVER_SMALL, QUESTION_S, SIZES},
    median,
    pipeline::{Pipeline, COLD, NO_CHANGE, PR},
    round::JobTime,
    verify::{OVER_FILE, ROTATE_OVER_VERIFY},
};

/// The seed's PR build time target for a fresh runner's build: at most a quarter of cold (the seed
/// asks for 30 % less).
pub(super) const PR_OVER_COLD: f64 = 0.25;
/// The PR pipeline over the cold one: on parallel runners, and as GitHub would bill it.
pub(super) const PIPELINE_PR_OVER_COLD: [f64; 2] = [0.15, 0.20];
/// A pull request that changes nothing: its pipeline on parallel runners (seconds), one level.
pub(super) const NO_CHANGE_S: f64 = 2.0;
/// A no-op warm under GitHub Actions, beyond keeping its record in the cache's history: at most
/// this many evaluations' time, plus [`NOOP_EXTRA_S`].
pub(super) const NOOP_EVALUATIONS: f64 = 1.3;
pub(super) const NOOP_EXTRA_S: f64 = 0.3;
/// `status`, beyond asking the cache what a fresh runner would fetch: at most this many evaluations.
pub(super) const STATUS_EVALUATIONS: f64 = 1.3;
/// The CI binary's cold compile over the floor crate's.
pub(super) const COMPILE_OVER_FLOOR: f64 = 2.0;
/// A job after the first starts `cargo xtask` within this (the launcher, then the kept binary).
pub(super) const LATER_START_S: f64 = 1.0;
/// The largest record a CI job keeps, with what a later run compares a miss with (KiB).
pub(super) const RECORD_KIB: f64 = 256.0;

/// One round's measures.
#[derive(Debug, Default)]
pub struct Round {
    pub compile_s: f64,
    pub floor_s: f64,
    /// One evaluation of the bench flake.
    pub eval_s: f64,
    pub cold_s: f64,
    pub warm_s: f64,
    pub pr_s: f64,
    /// `status` after the PR's change: what a fresh runner would fetch and build.
    pub status: Record,
    pub status_wall_s: f64,
    pub restore_s: f64,
    pub restore_raw_s: f64,
    pub restore_bytes: u64,
    /// Bytes the cache grew by, per case.
    pub pushed_bytes: Vec<(&'static str, u64)>,
    /// Bytes the app's image uploaded to a registry from a runner with no local state, per case.
    pub published_bytes: Vec<(&'static str, u64)>,
    pub jobs: Vec<JobTime>,
    /// `cargo xtask ci`: cold, a PR, a PR without change.
    pub pipelines: Vec<Pipeline>,
    /// `cargo xtask verify` of 10,000 narinfos: as a directory, and over loopback HTTP.
    pub verify_file_s: f64,
    pub verify_http_s: f64,
    /// `cargo xtask rotate-key --new` of the same 10,000 narinfos over loopback HTTP.
    pub rotate_http_s: f64,
    /// The fresh-runner step of an up-to-date deps layer, by how many derivations it needs to
    /// build ([`super::graph`]), in seconds.
    pub questions: Vec<(usize, f64)>,
}

impl Round {
    pub(super) fn job(&self, prefix: &str) -> Option<&JobTime> {
        self.jobs.iter().find(|j| j.name.starts_with(prefix))
    }

    pub(super) fn pipeline(&self, case: &str) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.case == case)
    }

    pub(super) fn noop_s(&self) -> f64 {
        self.job("no-op warm").map_or(0.0, |j| j.call.wall_s)
    }

    /// The no-op warm's time keeping its record in the cache's history (requests to the cache,
    /// as `status`'s queries are: held apart from the xtask's own limit).
    pub(super) fn noop_history_s(&self) -> f64 {
        self.job("no-op warm").map_or(0.0, |j| j.call.record.history_seconds.unwrap_or(0.0))
    }

    pub(super) fn noop_limit(&self) -> f64 {
        NOOP_EVALUATIONS * self.eval_s + NOOP_EXTRA_S
    }

    /// The largest record of the round's CI jobs, as the history keeps it (KiB).
    pub(super) fn record_kib(&self) -> f64 {
        self.jobs.iter().map(|j| j.call.record.to_bytes().len() as f64 / 1024.0).fold(0.0, f64::max)
    }

    /// `status --why`'s time beyond the cache queries of its fresh-runner step.
    pub(super) fn status_beyond_queries(&self) -> f64 {
        let asking: f64 = self.status.steps.iter().filter(|s| s.kind == "fresh-runner").map(|s| s.seconds).sum();
        self.status_wall_s - asking
    }

    /// The cache question of the `n`-derivation deps layer (seconds).
    pub(super) fn question(&self, n: usize) -> f64 {
        self.questions.iter().find(|(m, _)| *m == n).map_or(f64::MAX, |(_, s)| *s)
    }

    /// The PR pipeline's time over the cold one's: on parallel runners, or (`billed`) as GitHub
    /// would bill it, each job that runs paying its set-up.
    pub(super) fn pipeline_ratio(&self, billed: bool) -> Option<f64> {
        let seconds = |p: &Pipeline| if billed { p.record.github_seconds } else { p.record.critical_path_seconds };
        Some(seconds(self.pipeline(PR)?) / seconds(self.pipeline(COLD)?))
    }
}

/// Every round.
pub struct Results {
    pub rounds: Vec<Round>,
}

impl Results {
    /// The median over the rounds of a per-round measure.
    pub(super) fn median(&self, of: impl Fn(&Round) -> f64) -> f64 {
        median(self.rounds.iter().map(of).collect())
    }

    pub(super) fn each(&self, of: impl Fn(&Round) -> f64, digits: usize) -> String {
        self.rounds.iter().map(|r| format!("{:.digits$}", of(r))).collect::<Vec<_>>().join(", ")
    }

    /// Every target the run missed, at once.
    pub fn check(&self) -> Result<()> {
        let mut missed = Vec::new();
        let mut hold = |name: &str, of: &dyn Fn(&Round) -> f64, limit: f64| {
            let value = self.median(of);
            if value > limit {
                missed.push(format!("{name} is {value:.2} (median of the rounds), over {limit:.2}"));
            }
        };
        hold("the CI binary's compile over the floor crate's", &|r| r.compile_s / r.floor_s, COMPILE_OVER_FLOOR);
        hold("a fresh runner's PR build over its cold build", &|r| r.pr_s / r.cold_s, PR_OVER_COLD);
        let noop = |r: &Round| r.noop_s() - r.noop_history_s() - r.noop_limit();
        hold("a no-op warm, beyond keeping its record, over its limit (seconds)", &noop, 0.0);
        let status = |r: &Round| r.status_beyond_queries() - STATUS_EVALUATIONS * r.eval_s;
        hold("status --why beyond its cache queries and 1.3 evaluations (seconds)", &status, 0.0);
        hold("verify over HTTP over verify of the same directory", &|r| r.verify_http_s / r.verify_file_s, OVER_FILE);
        hold(
            "a key's rotation over HTTP over verify over HTTP",
            &|r| r.rotate_http_s / r.verify_http_s,
            ROTATE_OVER_VERIFY,
        );
        let [run, billed] = PIPELINE_PR_OVER_COLD;
        hold("the PR pipeline over the cold one", &|r| r.pipeline_ratio(false).unwrap_or(f64::MAX), run);
        hold("the same, as GitHub would bill it", &|r| r.pipeline_ratio(true).unwrap_or(f64::MAX), billed);
        let no_change = |r: &Round| r.pipeline(NO_CHANGE).map_or(f64::MAX, |p| p.record.critical_path_seconds);
        hold("a pull request that changes nothing, on parallel runners (seconds)", &no_change, NO_CHANGE_S);
        let levels = |r: &Round| r.pipeline(NO_CHANGE).map_or(f64::MAX, |p| p.record.levels as f64);
        hold("the job levels of a pull request that changes nothing", &levels, 1.0);
        let start = |r: &Round| r.pipelines.iter().map(Pipeline::later_start_s).fold(0.0, f64::max);
        hold("the slowest `cargo xtask` start after a pipeline's first job (seconds)", &start, LATER_START_S);
        hold("the largest record of a CI job (KiB)", &Round::record_kib, RECORD_KIB);
        let [small, large] = SIZES;
        let question =
            format!("the cache question of an up-to-date deps layer of {large} build-time derivations (seconds)");
        hold(&question, &|r| r.question(large), QUESTION_S);
        let over_small = |r: &Round| r.question(large) / r.question(small);
        hold(&format!("that question at {large} derivations over {small}"), &over_small, OVER_SMALL);
        for (n, round) in self.rounds.iter().enumerate() {
            let deps = round.status.rates.as_ref().map_or(0.0, |r| r.deps_hit_rate);
            if deps < 1.0 {
                missed.push(format!("round {}: the deps hit rate is {deps:.2}: a PR rebuilt dependencies", n + 1));
            }
            if let Some(job) = round.jobs.iter().find(|j| j.call.record.evaluations > 1) {
                let evaluations = job.call.record.evaluations;
                missed.push(format!("round {}: {} evaluated the flake {evaluations} times", n + 1, job.name));
            }
            if let Some(built) = round.pipeline(NO_CHANGE).map(Pipeline::built).filter(|b| !b.is_empty()) {
                missed.push(format!(
                    "round {}: a pull request that changes nothing built: {}",
                    n + 1,
                    built.join(", ")
                ));
            }
        }
        ensure!(missed.is_empty(), "targets missed: {}", missed.join("; "));
        Ok(())
    }
}

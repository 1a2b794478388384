//! The run record: what one run of one task was asked, did and found, as one typed value. Every
//! task fills one ([`Record`]); the line on stderr, the job summary and `$GITHUB_OUTPUT` are
//! rendered from it ([`render`]), `--record FILE` writes it, the history keeps those of the tasks
//! that push (`history.rs`), and the dashboard, `cargo xtask ci`, the bench and the tests read
//! it: never the wording of a log. Its JSON (serde's derive) names each field as here; [`SCHEMA`]
//! says which version of these fields a file holds, and a reader refuses another.

mod explanation;
mod findings;
mod pipeline;
pub mod render;
mod types;

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, ensure, Context, Result};

pub use self::{explanation::*, findings::*, pipeline::HISTORY_JOB, types::*};
use crate::{
    command::{self, Cmd, Io, NoSlots},
    github, secrets,
    session::Session,
};

/// The version of the record's fields: raised when a field changes meaning or goes.
pub const SCHEMA: u64 = 1;

/// The environment variable the generated workflows set on a matrix job's steps: `toJSON(matrix)`.
pub const MATRIX: &str = "XTASK_MATRIX";

/// Records read or written are at most this big (a record of a few dozen targets is a few KiB).
pub(crate) const MAX_BYTES: u64 = 4 << 20;

impl Record {
    /// The record of a run starting now: the task, its arguments (secrets redacted), and under
    /// GitHub Actions the workflow, run, job and matrix.
    pub fn start(task: &str, args: &[String]) -> Record {
        let started_ms = now_ms();
        let github = github::is_actions().then(Github::from_env);
        let run = github
            .as_ref()
            .filter(|g| !g.run_id.is_empty())
            .map(|g| format!("-r{}-{}", g.run_id, g.run_attempt))
            .unwrap_or_default();
        Record {
            schema: SCHEMA,
            id: format!("{started_ms}-{task}{run}-{}", std::process::id()),
            task: task.to_owned(),
            xtask: option_env!("XTASK_SOURCE_KEY").map(str::to_owned),
            args: args.iter().map(|a| secrets::redact(a)).collect(),
            started_ms,
            github,
            ..Record::default()
        }
    }

    /// What the session resolved: the flake, the cache (never its credentials), the deps key, the
    /// Nix version and the commit.
    pub fn describe(&mut self, session: &Session) {
        self.args = self.args.iter().map(|a| secrets::redact(a)).collect();
        self.flake = Some(session.flake.clone());
        self.cache = Some(CacheInfo::of(&session.cache));
        self.deps_key = session.deps_key().ok().map(ToString::to_string);
        self.nix = crate::nix::version::detected().map(|v| v.to_string());
        self.commit = match &self.github {
            Some(github) if !github.sha.is_empty() => Some(github.sha.clone()),
            _ => Cmd::lits("git", ["rev-parse", "HEAD"])
                .io(Io::Quiet)
                .run_quietly(&NoSlots)
                .ok()
                .map(|s| s.trim().to_owned()),
        };
    }

    /// The run's end: its time, its own time, its evaluations, and why it failed.
    pub fn finish(&mut self, error: Option<&anyhow::Error>) {
        self.seconds = now_ms().saturating_sub(self.started_ms) as f64 / 1000.0;
        self.own_seconds = command::own_time().as_secs_f64();
        self.evaluations = command::evaluations();
        self.error = error.map(|e| secrets::redact(&format!("{e:#}")));
    }

    /// Runs one step of a task beyond its pipeline (an image written, loaded or copied, an
    /// index written) and records it: kind, title, commands, start, time and result.
    pub fn step<T>(
        &mut self,
        kind: &str,
        title: String,
        commands: &[&Cmd],
        run: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let start_seconds = now_ms().saturating_sub(self.started_ms) as f64 / 1000.0;
        let started = std::time::Instant::now();
        let outcome = run();
        self.steps.push(StepRun {
            kind: kind.to_owned(),
            title,
            commands: commands.iter().map(|c| c.render(None)).collect(),
            start_seconds,
            seconds: started.elapsed().as_secs_f64(),
            ok: outcome.is_ok(),
            note: outcome.as_ref().err().map(|e| secrets::redact(&format!("{e:#}"))).unwrap_or_default(),
        });
        outcome
    }

    /// Whether it succeeded.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Whether it did anything: ran a step, checked or collected a cache, ran a pipeline. A task
    /// refused on bad input did nothing, and leaves no record behind.
    pub(crate) fn did_something(&self) -> bool {
        !self.steps.is_empty()
            || self.verify.is_some()
            || self.gc.is_some()
            || self.rotation.is_some()
            || self.pipeline.is_some()
    }

    /// Its JSON, pretty, with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a record is always JSON");
        bytes.push(b'\n');
        bytes
    }

    /// A record from its JSON, of this schema.
    pub fn parse(bytes: &[u8]) -> Result<Record> {
        #[derive(serde::Deserialize)]
        struct Schema {
            schema: Option<serde_json::Value>,
        }
        let Schema { schema } = serde_json::from_slice(bytes).context("it is not JSON of a run record")?;
        match schema.as_ref().and_then(serde_json::Value::as_u64) {
            Some(SCHEMA) => {}
            Some(other) => bail!("it is a record of schema {other}; this xtask reads schema {SCHEMA}"),
            None => bail!("it is not a run record (no schema)"),
        }
        serde_json::from_slice(bytes).context("its fields are not those of a run record")
    }

    /// Reads a record file (a regular file of at most [`MAX_BYTES`]).
    pub fn read(path: &Path) -> Result<Record> {
        let bytes = crate::files::read_bounded(path, MAX_BYTES)?;
        Record::parse(&bytes).with_context(|| format!("{} is not a run record of this xtask", path.display()))
    }

    /// Writes the record to a file, whole or not at all.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::files::write_atomic(path, &self.to_bytes())
    }

    /// Whether its numbers are ones a run could have measured: a record read from a history is
    /// outside input (anyone who can write the cache can write one), and the dashboard and the
    /// alerts compute with its numbers. Every fault is named.
    pub fn check(&self, now_ms: u64) -> Result<()> {
        let mut faults = Vec::new();
        // A day of clock skew between runners, no more.
        if self.started_ms > now_ms.saturating_add(86_400_000) {
            faults.push(format!("it starts in the future (started_ms {})", self.started_ms));
        }
        let mut seconds = vec![("seconds", self.seconds), ("own_seconds", self.own_seconds)];
        seconds.extend(self.history_seconds.map(|s| ("history_seconds", s)));
        for s in &self.steps {
            seconds.extend([("a step's start", s.start_seconds), ("a step's seconds", s.seconds)]);
        }
        if let Some(p) = &self.pipeline {
            seconds.extend([("the critical path", p.critical_path_seconds), ("the jobs' sum", p.sum_seconds)]);
        }
        let jobs = self.pipeline.iter().flat_map(|p| &p.jobs);
        seconds.extend(jobs.clone().flat_map(|j| [("a job's start", j.start_seconds), ("a job's seconds", j.seconds)]));
        for (name, value) in seconds.into_iter().filter(|(_, s)| !(0.0..=1e9).contains(s)) {
            faults.push(format!("{name} is {value:?}"));
        }
        let ran = jobs.flat_map(|j| &j.tasks).map(|t| &t.rates);
        for r in [&self.rates, &self.rates_after].into_iter().chain(ran).flatten() {
            let rates = [Some(r.hit_rate), r.byte_hit_rate, Some(r.deps_hit_rate), r.deps_byte_hit_rate];
            for rate in rates.into_iter().flatten().filter(|r| !(0.0..=1.0).contains(r)) {
                faults.push(format!("a hit rate is {rate:?}, not between 0 and 1"));
            }
        }
        ensure!(faults.is_empty(), "its numbers are not a run's: {}", faults.join("; "));
        Ok(())
    }

    /// The target named `name` (`deps`, `check unit`, `image harness`).
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}

impl Github {
    /// The run GitHub Actions describes in its environment, and the matrix the workflow passes.
    fn from_env() -> Github {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        let matrix = std::env::var(MATRIX)
            .ok()
            .and_then(|m| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&m).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        Github {
            workflow: var("GITHUB_WORKFLOW"),
            workflow_ref: var("GITHUB_WORKFLOW_REF"),
            run_id: var("GITHUB_RUN_ID"),
            run_attempt: var("GITHUB_RUN_ATTEMPT"),
            run_number: var("GITHUB_RUN_NUMBER"),
            job: var("GITHUB_JOB"),
            matrix,
            event: var("GITHUB_EVENT_NAME"),
            git_ref: var("GITHUB_REF"),
            sha: var("GITHUB_SHA"),
            repository: var("GITHUB_REPOSITORY"),
            fork: github::is_fork_pull_request(),
        }
    }
}

impl CacheInfo {
    /// What the record says of a cache: its label, URL (credentials redacted), kind, and why it is only read from.
    pub fn of(cache: &crate::cache::Cache) -> CacheInfo {
        let read_only = match cache {
            crate::cache::Cache::ReadOnly { why, .. } => Some((*why).to_owned()),
            _ => None,
        };
        CacheInfo {
            label: cache.label(),
            url: secrets::redact(&cache.argument()),
            kind: cache.kind().to_owned(),
            read_only,
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

//! `cargo xtask ci` on a second copy of the bench workspace, read from the run's record: cold (the
//! first job compiles the xtask), a pull request with an app-only change, and the same pull
//! request again, which must build nothing. The smoke job (and what needs it) is skipped: the
//! bench's images have no Ollama server to run.

use std::path::Path;

use anyhow::{Context, Result};
use xtask::{record, session::Session};

use super::{workspace::Workspace, Run};

pub const COLD: &str = "cold";
pub const PR: &str = "PR (an app-only change)";
pub const NO_CHANGE: &str = "PR (no change)";

/// One pipeline run: its record, and the bytes the cache grew by.
#[derive(Debug, Default, Clone)]
pub struct Pipeline {
    pub case: &'static str,
    pub record: record::Pipeline,
    pub pushed_bytes: u64,
}

impl Run<'_> {
    /// The three pipelines, in order.
    pub(super) fn pipelines(&self, session: &Session, dir: &Path) -> Result<Vec<Pipeline>> {
        let ws = Workspace::prepare(self.sh, &session.root, &dir.join("pipeline"))?;
        let actions = dir.join("actions-cache").display().to_string();
        let mut pipelines = Vec::new();
        for case in [COLD, PR, NO_CHANGE] {
            if case == PR {
                ws.change_the_app(self.sh)?;
            }
            let before = self.nginx.bytes();
            let args = ["ci", "--event", "pull_request", "--skip", "smoke", "--actions-cache", actions.as_str()];
            let call = self.xtask_on(&ws.flake, &args, false)?;
            let record = call.record.pipeline.context("`cargo xtask ci` recorded no pipeline")?;
            pipelines.push(Pipeline { case, record, pushed_bytes: self.nginx.bytes() - before });
        }
        Ok(pipelines)
    }
}

impl Pipeline {
    /// The slowest start of `cargo xtask` in the jobs after the first (which compiles on a cold
    /// actions cache).
    pub fn later_start_s(&self) -> f64 {
        self.record.jobs.iter().skip(1).filter_map(|j| j.xtask_start_seconds).fold(0.0, f64::max)
    }

    /// The jobs whose tasks built something (what a fresh runner would have built, before).
    pub fn built(&self) -> Vec<&str> {
        let built = |j: &&record::JobRun| j.tasks.iter().any(|t| t.built > 0);
        self.record.jobs.iter().filter(built).map(|j| j.name.as_str()).collect()
    }
}

//! `cargo xtask ci [--workflow ci|cache-warming] [--event push|pull_request] [--fork]
//! [--registry HOST/PREFIX] [--skip JOB]…`: the pipeline of a generated workflow, run here job by
//! job as GitHub would run it (`local_ci`), with each job's result, time and tasks and the
//! pipeline's time along its critical path: the run's record (`--record FILE`). Fails when a job
//! failed; a job this machine cannot run is reported as skipped, never as passed.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use crate::bench::registry::Registry;
use crate::local_ci::{
    self,
    plan::{Context, Event, Outcome},
    report, Options,
};
use xtask::{
    history::History,
    images::names,
    record::Record,
    session::Session,
    tasks::dashboard,
    workflows::{self, CI, WARMING},
};

/// `--registry local`: a registry of the run's own.
const LOCAL_REGISTRY: &str = "local";

/// Run a workflow's pipeline here, job by job as a fresh runner, timed as GitHub would see it.
#[derive(clap::Args, Debug)]
pub struct Ci {
    /// The workflow to run: ci (.github/workflows/ci.yml) or cache-warming.
    #[arg(long, default_value = "ci", value_parser = ["ci", "cache-warming"])]
    workflow: String,
    /// The event it runs for: a pull request builds and caches; a push to the default branch
    /// also publishes the images.
    #[arg(long, value_enum, default_value = "pull_request")]
    event: Event,
    /// A pull request from a fork: no secrets, so nothing is pushed.
    #[arg(long)]
    fork: bool,
    /// The registry standing in for ghcr.io/<repository> (e.g. 127.0.0.1:5000/me), or `local`:
    /// one of the run's own on 127.0.0.1 (docker-registry, its storage in target/xtask-ci/registry).
    /// Without it, what pushes images is skipped.
    #[arg(long, value_name = "HOST/PREFIX")]
    registry: Option<String>,
    /// With --dry-run: write the plan as JSON to FILE (a run's results are its record:
    /// `--record FILE`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run every job, as a dispatch with `force_rebuild` does: nothing is proven needless.
    #[arg(long)]
    force: bool,
    /// A job not to run (repeatable): reported as skipped, and so are the jobs that need it
    /// (those that run past a proven job's skip still run).
    #[arg(long, value_name = "JOB")]
    skip: Vec<String>,
    /// Stands in for GitHub's actions cache (the xtask's binary), kept between runs as GitHub's
    /// is. Default: target/xtask-ci/actions-cache.
    #[arg(long, value_name = "DIR")]
    actions_cache: Option<PathBuf>,
}

impl Ci {
    /// A pull request from a fork: it writes nothing.
    pub fn fork(&self) -> bool {
        self.fork
    }

    /// Runs the workflow's jobs into the record and the dashboard (a dry run prints the plan); fails when one failed.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let file = if self.workflow == "ci" { CI } else { WARMING };
        let graphs = workflows::graphs(&session.config)?;
        let workflow = graphs.iter().find(|w| w.file == file).context("the workflow is generated")?;
        if let Some(registry) = self.registry.as_deref().filter(|r| *r != LOCAL_REGISTRY) {
            names::check_registry(registry)?;
        }
        if self.json.is_some() && !session.dry_run {
            bail!("--json writes the plan of a dry run: add --dry-run, or use --record FILE for the run's record");
        }
        // The run's own registry lives until the run ends.
        let (own, registry) = match self.registry.as_deref() {
            Some(LOCAL_REGISTRY) if !session.dry_run => {
                let own = Registry::start(&session.root.join("target/xtask-ci/registry"))?;
                let name = format!("{}/{}", own.host, session.config.name);
                eprintln!("a registry of this run's own: {name}");
                (Some(own), Some(name))
            }
            Some(LOCAL_REGISTRY) => (None, Some(format!("127.0.0.1:<port>/{}", session.config.name))),
            other => (None, other.map(str::to_owned)),
        };
        let mut ctx = Context::of(session, self.event, self.fork, registry)?;
        ctx.force = self.force;
        if session.dry_run {
            let (text, json) = report::plan(workflow, &ctx);
            println!("{text}");
            if let Some(file) = &self.json {
                xtask::files::write_atomic(file, (serde_json::to_string_pretty(&json)? + "\n").as_bytes())?;
            }
            return Ok(());
        }
        let actions_cache =
            self.actions_cache.clone().unwrap_or_else(|| session.root.join("target/xtask-ci/actions-cache"));
        let options = Options { actions_cache, skip: self.skip.clone() };
        let (pipeline, ran) = local_ci::run(session, workflow, &ctx, options)?;
        let ctx_line = format!("{}{}", self.event.name(), if self.fork { " from a fork" } else { "" });
        println!("{}", report::table(&pipeline, &ctx_line));
        record.pipeline = Some(pipeline);
        // The dashboard of the cache's history, this run with it.
        let out = session.root.join(dashboard::OUT);
        dashboard::write(session, History::of(session).as_ref(), true, Some(record), &out)?;
        drop(own);
        let failed: Vec<&str> =
            ran.iter().filter(|r| matches!(r.outcome, Outcome::Failure(_))).map(|r| r.job.name.as_str()).collect();
        if !failed.is_empty() {
            bail!("the pipeline failed: {}", failed.join(", "));
        }
        Ok(())
    }
}

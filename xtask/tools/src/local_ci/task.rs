//! `cargo xtask ci [--workflow ci|cache-warming] [--event push|pull_request] [--fork]
//! [--registry HOST/PREFIX] [--json FILE]`: the pipeline of a generated workflow, run here job by
//! job as GitHub would run it (`local_ci`), with each job's result and time and the
//! pipeline's time along its critical path. Fails when a job failed; a job this machine cannot
//! run is reported as skipped, never as passed.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use crate::local_ci::{
    self,
    plan::{Context, Event, Outcome},
    report, Options,
};
use xtask::{
    command::on_path,
    images::{engine, registry},
    session::Session,
    workflows::{self, CI, WARMING},
};

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
    /// The registry standing in for ghcr.io/<repository> (e.g. 127.0.0.1:5000/me); without it,
    /// what pushes images is skipped.
    #[arg(long, value_name = "HOST/PREFIX")]
    registry: Option<String>,
    /// Also write the results as JSON to FILE (with --dry-run: the plan).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// A job not to run (repeatable): reported as skipped, and so are the jobs that need it.
    #[arg(long, value_name = "JOB")]
    skip: Vec<String>,
    /// Stands in for GitHub's actions cache (the xtask's binary), kept between runs as GitHub's
    /// is. Default: target/xtask-ci/actions-cache.
    #[arg(long, value_name = "DIR")]
    actions_cache: Option<PathBuf>,
}

impl Ci {
    pub fn run(&self, session: &Session) -> Result<()> {
        let file = if self.workflow == "ci" { CI } else { WARMING };
        let graphs = workflows::graphs(&session.config)?;
        let workflow = graphs.iter().find(|w| w.file == file).context("the workflow is generated")?;
        if let Some(registry) = &self.registry {
            registry::check_registry(registry)?;
        }
        if session.dry_run {
            let ctx = Context {
                event: self.event,
                fork: self.fork,
                registry: self.registry.clone(),
                systems: Vec::new(),
                engine: engine::find("").is_ok(),
                buildah: on_path("buildah"),
            };
            let (text, json) = report::plan(workflow, &ctx);
            println!("{text}");
            return self.write_json(&json);
        }
        let actions_cache =
            self.actions_cache.clone().unwrap_or_else(|| session.root.join("target/xtask-ci/actions-cache"));
        let options = Options {
            event: self.event,
            fork: self.fork,
            registry: self.registry.clone(),
            actions_cache,
            skip: self.skip.clone(),
        };
        let ran = local_ci::run(session, workflow, options)?;
        let ctx_line = format!("{}{}", self.event.name(), if self.fork { " from a fork" } else { "" });
        println!("{}", report::table(workflow, &ctx_line, &ran));
        let ctx = Context {
            event: self.event,
            fork: self.fork,
            registry: None,
            systems: Vec::new(),
            engine: false,
            buildah: false,
        };
        self.write_json(&report::json(workflow, &ctx, &ran))?;
        let failed: Vec<&str> =
            ran.iter().filter(|r| matches!(r.outcome, Outcome::Failure(_))).map(|r| r.name.as_str()).collect();
        if !failed.is_empty() {
            bail!("the pipeline failed: {}", failed.join(", "));
        }
        Ok(())
    }

    fn write_json(&self, json: &serde_json::Value) -> Result<()> {
        if let Some(file) = &self.json {
            xtask::files::write_atomic(file, (serde_json::to_string_pretty(json)? + "\n").as_bytes())?;
        }
        Ok(())
    }
}

//! `cargo xtask ci`: a workflow's job graph (the one `workflows` renders) run on this machine,
//! job by job in `needs` order ([`plan`]), each as a fresh runner ([`job`], with
//! [`crate::fresh_store`]), and measured as GitHub would see it: each job's time and what its
//! tasks did (read from their records), and the pipeline's time along its critical path beside
//! the sum of its jobs: one [`Pipeline`] record ([`report`] prints it).
//!
//! Stand-ins, each named where it acts: the working tree for checkout, this machine's Nix for
//! install-nix, the cache of `--cache` for cachix-action, a directory for the actions cache
//! ([`stand_in`]),
//! `--registry` for GHCR. What this machine lacks (an arch it cannot build, a container engine,
//! buildah, a registry) is skipped and reported as skipped, never as passed.

pub mod job;
pub mod plan;
pub mod report;
mod stand_in;
mod step_files;
pub mod task;

use sha2::Digest;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use anyhow::{bail, Context as _, Result};

use self::{
    job::{Done, Ran},
    plan::{Context, Event, Outcome},
};
use xtask::pipeline::fresh_runner::store::FreshStore;
use xtask::workflows::legs::{self, Leg};
use xtask::{
    command::{Cmd, Io, NoSlots},
    layers,
    record::Pipeline,
    session::{Platform, Session},
    workflows::{graph::Workflow, setup::XTASK_SOURCES},
};

/// Environment a step must not inherit from this shell: GitHub sets its own, and a secret
/// reaches a step only through its `env:` (a fork gets none).
const SCRUBBED: &[&str] = &[
    "CACHIX_AUTH_TOKEN",
    "REGISTRY_TOKEN",
    "REGISTRY_USER",
    "GITHUB_TOKEN",
    "GITHUB_ACTIONS",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_ENV",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_WORKFLOW",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_RUN_NUMBER",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_JOB",
    "DEPS_CACHE_KEY",
    "NEEDS",
    "CARGO_TARGET_DIR",
    xtask::record::MATRIX,
];

/// What the maintainer asked for beyond the event: where the actions cache stands, what to skip.
pub struct Options {
    /// Stands in for GitHub's actions cache (the xtask's binary), kept between runs as GitHub's is.
    pub actions_cache: PathBuf,
    /// Jobs not to run (reported as skipped; the jobs that need them are skipped too).
    pub skip: Vec<String>,
}

/// One run of a workflow: what every job shares.
pub struct LocalRun<'a> {
    /// The session of `cargo xtask ci`: the workspace, config and cache the jobs run against.
    pub session: &'a Session,
    /// What the run knows of the event and of this machine.
    pub ctx: &'a Context,
    /// The workflow's name, and the run's id (when it started, in milliseconds), as GitHub names
    /// them to a step: the tasks' records say which run and job they were.
    pub workflow: &'static str,
    /// The run's id (`$GITHUB_RUN_ID`): when it started, in milliseconds since the epoch.
    pub run_id: String,
    /// The stand-ins every step is given: `--flake`, `--cache`, `--signing-key`.
    pub forward: Vec<String>,
    /// The directory of the jobs' files: one directory a job.
    pub dir: PathBuf,
    /// The directory that stands in for the actions cache of the xtask's binary.
    pub xtask_cache: PathBuf,
    /// The key the xtask's binary is kept under there: a hash of its sources, as `hashFiles` keys CI's.
    pub xtask_key: String,
    /// The fresh runner's store each job starts from.
    pub fresh: FreshStore,
    /// The cargo the steps run (`$CARGO`, else `cargo`).
    pub cargo: String,
    /// What `$GITHUB_REPOSITORY` says to the steps: `local/<checkout's directory>`.
    pub repository: String,
    /// What `$GITHUB_SHA` says to the steps: the checkout's `HEAD`.
    pub sha: String,
    /// Nix's settings for the steps: a cache's credentials reach them as a netrc file.
    pub nix_config: Option<String>,
}

/// Runs the workflow's jobs: the pipeline (each job with what its tasks did, read from their
/// records), and what each job printed, in the order they ran.
pub fn run(session: &Session, workflow: &Workflow, ctx: &Context, options: Options) -> Result<(Pipeline, Vec<Ran>)> {
    check(workflow, ctx, &options)?;
    let order = legs::order(workflow)?;
    let targets = pipeline_targets(session, &ctx.systems)?;
    let p = LocalRun {
        session,
        workflow: workflow.name,
        run_id: xtask::record::now_ms().to_string(),
        forward: forward(session),
        dir: xtask::scratch::dir()?.join("jobs"),
        xtask_key: xtask_key(&session.root)?,
        xtask_cache: options.actions_cache.clone(),
        fresh: FreshStore::of(session, &targets)?,
        cargo: std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
        repository: format!("local/{}", session.root.file_name().unwrap_or_default().to_string_lossy()),
        sha: Cmd::lits("git", ["rev-parse", "HEAD"])
            .io(Io::Quiet)
            .run_quietly(&NoSlots)
            .map_or_else(|_| "0".repeat(40), |s| s.trim().to_owned()),
        nix_config: session.net.netrc.as_ref().map(|netrc| {
            format!("{}\nnetrc-file = {}", std::env::var("NIX_CONFIG").unwrap_or_default(), netrc.display())
        }),
        ctx,
    };
    std::fs::create_dir_all(&p.xtask_cache).with_context(|| format!("cannot create {}", p.xtask_cache.display()))?;
    let mut done: Done = BTreeMap::new();
    let mut ran = Vec::new();
    let mut decisions = Vec::new();
    // The jobs that failed, or come after one that did (`failure()` sees the whole chain).
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    for job in order {
        let mut outcomes = Vec::new();
        let mut outputs = BTreeMap::new();
        for leg in legs::legs(job) {
            let decided = match options.skip.iter().any(|s| s == job.id) {
                true => Err("--skip".to_owned()),
                false => plan::runs(&leg, ctx, &done, &failed, &decisions).and_then(|()| plan::can_run(&leg, ctx)),
            };
            let mut leg_ran = match decided {
                Err(why) => Ran::skipped(&leg, why),
                Ok(()) => {
                    eprintln!("\n=== job {} ===", leg.name);
                    job::run(&p, &leg, ran.len(), &done)?
                }
            };
            leg_ran.job.proof = decisions.iter().find(|d| d.job == job.id && d.leg == leg.name).cloned();
            decisions.extend(leg_ran.decisions.iter().cloned());
            report::print_job(&leg_ran);
            outcomes.push(leg_ran.outcome.clone());
            outputs.extend(leg_ran.job.outputs.iter().map(|o| (o.name.clone(), o.value.clone())));
            ran.push(leg_ran);
        }
        // A matrix job fails when a leg fails; it is skipped when every leg was.
        let outcome = outcomes
            .iter()
            .find(|o| matches!(o, Outcome::Failure(_)))
            .or_else(|| outcomes.iter().find(|o| **o == Outcome::Success))
            .cloned()
            .unwrap_or_else(|| outcomes.first().cloned().unwrap_or(Outcome::Skipped("no legs".into())));
        if matches!(outcome, Outcome::Failure(_)) || job.needs.iter().any(|n| failed.contains(n)) {
            failed.insert(job.id);
        }
        done.insert(job.id, (outcome, outputs));
    }
    let jobs = ran.iter().map(|r| r.job.clone()).collect();
    let setup = session.config.job_setup_seconds;
    Ok((Pipeline::timed(workflow.file, ctx.event.name(), ctx.fork, jobs, setup), ran))
}

fn check(workflow: &Workflow, ctx: &Context, options: &Options) -> Result<()> {
    let unknown: Vec<&String> =
        options.skip.iter().filter(|s| !workflow.jobs.iter().any(|j| j.id == s.as_str())).collect();
    if !unknown.is_empty() {
        let jobs: Vec<&str> = workflow.jobs.iter().map(|j| j.id).collect();
        bail!("--skip {unknown:?}: {} has no such job; its jobs are {}", workflow.file, jobs.join(", "));
    }
    if !workflow.runs_on(ctx.event.name()) {
        bail!("{} does not run on {}: use --event push", workflow.file, ctx.event.name());
    }
    if ctx.fork && ctx.event != Event::PullRequest {
        bail!("--fork is a pull request from a fork: add --event pull_request");
    }
    Ok(())
}

/// Every target a job of the pipeline may build, for each system this machine builds: what a
/// fresh runner's store lacks.
fn pipeline_targets(session: &Session, systems: &[String]) -> Result<Vec<layers::Target>> {
    let mut targets = layers::warm_set(session)?;
    for arch in session.config.arches.iter().filter(|a| **a != session.platform.arch) {
        let platform = Platform::of_arch(arch);
        if systems.contains(&platform.system) {
            targets.extend(layers::images(session, &[], &platform)?);
        }
    }
    Ok(targets)
}

/// The options that point every step at the same flake and cache (credentials left out: the
/// steps read them from the netrc file Nix is given).
fn forward(session: &Session) -> Vec<String> {
    let mut forward = vec!["--flake".to_owned(), session.flake.clone(), "--cache".to_owned(), session.cache.argument()];
    for key in session.signing.iter().filter(|k| !k.made_here()).flat_map(|k| &k.keys) {
        forward.extend(["--signing-key".to_owned(), key.secret.display().to_string()]);
    }
    forward
}

/// A key of the files the xtask's binary is built from, as `hashFiles` keys CI's actions cache:
/// the workflow's own patterns (`DIR/**` a tree, `!DIR/**` left out of it, else a file).
fn xtask_key(root: &std::path::Path) -> Result<String> {
    let (mut dirs, mut skipped, mut files) = (Vec::new(), Vec::new(), Vec::new());
    for pattern in XTASK_SOURCES {
        match (pattern.strip_prefix('!'), pattern.strip_suffix("/**")) {
            (Some(not), _) => skipped.push(root.join(not.trim_end_matches("/**"))),
            (None, Some(dir)) => dirs.push(root.join(dir)),
            (None, None) => files.extend(Some(root.join(pattern)).filter(|p| p.is_file())),
        }
    }
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?.flatten() {
            let path = entry.path();
            if skipped.contains(&path) || path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            if entry.file_type()?.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = sha2::Sha256::new();
    for file in files {
        hasher.update(file.strip_prefix(root).unwrap_or(&file).display().to_string());
        hasher.update(std::fs::read(&file)?);
    }
    let digest = hasher.finalize();
    Ok(format!("xtask-{}", digest.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()))
}

impl LocalRun<'_> {
    /// The event as GitHub describes it (`$GITHUB_EVENT_PATH`).
    fn event_json(&self) -> String {
        let repository = serde_json::json!({ "default_branch": "main" });
        let event = match self.ctx.event {
            Event::Push => serde_json::json!({ "ref": self.git_ref(), "repository": repository }),
            Event::PullRequest => serde_json::json!({
                "pull_request": { "head": { "repo": { "fork": self.ctx.fork } } },
                "repository": repository,
            }),
        };
        event.to_string()
    }

    fn git_ref(&self) -> String {
        match self.ctx.event {
            Event::Push => "refs/heads/main".into(),
            Event::PullRequest => "refs/pull/1/merge".into(),
        }
    }

    /// `toJSON(needs)` of a job: each job it needs, with its result and outputs.
    fn needs_json(&self, leg: &Leg<'_>, done: &Done) -> String {
        let needs: serde_json::Map<String, serde_json::Value> = leg
            .job
            .needs
            .iter()
            .map(|need| {
                let (outcome, outputs) =
                    done.get(need).cloned().unwrap_or((Outcome::Skipped(String::new()), BTreeMap::new()));
                ((*need).to_owned(), serde_json::json!({ "result": outcome.result(), "outputs": outputs }))
            })
            .collect();
        serde_json::Value::Object(needs).to_string()
    }
}

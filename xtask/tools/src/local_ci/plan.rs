//! What `cargo xtask ci` runs, decided as GitHub decides it: each job's matrix expanded, the jobs
//! in `needs` order, and for each whether it runs (its condition for the event, the jobs it
//! needs) and whether this machine can run it (the runner's OS and arch, a container engine,
//! buildah, a registry).

use std::collections::BTreeSet;

use anyhow::Result;

use super::job::Done;
use xtask::{
    command::{on_path, NoSlots},
    images::engine,
    nix::{self, json::Settings},
    record::Decision,
    session::Session,
    workflows::{
        graph::{Condition, Word, Xtask, SKIP},
        legs::Leg,
    },
};

/// The event the pipeline runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Event {
    /// A push to the default branch: every job, images published.
    Push,
    /// A pull request: nothing is published.
    #[value(name = "pull_request")]
    PullRequest,
}

impl Event {
    /// Its name, as `github.event_name` says it (`pull_request`).
    pub fn name(self) -> &'static str {
        match self {
            Event::Push => "push",
            Event::PullRequest => "pull_request",
        }
    }
}

/// What the run knows of the event and of this machine: made once, read by the plan, the jobs
/// and the report.
pub struct Context {
    /// The event the pipeline runs for.
    pub event: Event,
    /// Whether it is a pull request from a fork: no secrets, nothing pushed.
    pub fork: bool,
    /// Stands in for `ghcr.io/<repository>`.
    pub registry: Option<String>,
    /// The systems this machine builds (`system` and `extra-platforms`).
    pub systems: Vec<String>,
    /// The systems of the config's arches this machine cannot build.
    pub lacks_systems: Vec<String>,
    /// Whether this machine has a container engine (docker or podman).
    pub engine: bool,
    /// Whether this machine has buildah.
    pub buildah: bool,
    /// `--force`: a dispatch's `force_rebuild` input is true.
    pub force: bool,
}

impl Context {
    /// The event, and what this machine has: the systems Nix builds (none asked in a dry run,
    /// which runs nothing), a container engine, buildah.
    pub fn of(session: &Session, event: Event, fork: bool, registry: Option<String>) -> Result<Context> {
        let systems = match session.dry_run {
            true => Vec::new(),
            false => Settings::parse(&nix::show_config().run_quietly(&NoSlots)?)?.platforms(),
        };
        let lacks_systems = session
            .config
            .arches
            .iter()
            .map(|arch| format!("{arch}-linux"))
            .filter(|system| !session.dry_run && !systems.contains(system))
            .collect();
        let (engine, buildah) = (engine::find("").is_ok(), on_path("buildah"));
        Ok(Context { event, fork, registry, systems, lacks_systems, engine, buildah, force: false })
    }
}

/// How a job went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step it ran succeeded.
    Success,
    /// A step failed, and why.
    Failure(String),
    /// Not run, and why: its condition, a job it needs, or what this machine lacks.
    Skipped(String),
}

impl Outcome {
    /// GitHub's word for it (`needs.<job>.result`).
    pub fn result(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure(_) => "failure",
            Outcome::Skipped(_) => "skipped",
        }
    }
}

/// Whether a condition holds for the event and the leg (`Ok`), or why not. What the jobs before
/// it answer ([`Condition::Unproven`]) holds here: [`runs`] asks it of their outputs.
pub fn holds(condition: Condition, ctx: &Context, leg: &Leg<'_>) -> Result<(), String> {
    let push = ctx.event == Event::Push;
    match condition {
        Condition::DefaultBranchPush
        | Condition::AlwaysOnDefaultBranchPush
        | Condition::DefaultBranchPushUnlessFailed
            if !push =>
        {
            Err("only on a push to the default branch".into())
        }
        Condition::Matrix { axis, equals } if leg.value(axis) != Some(equals) => {
            Err(format!("matrix.{axis} is not '{equals}'"))
        }
        Condition::Var { name, equals } => Err(format!("vars.{name} is not '{equals}' (a repository variable)")),
        Condition::Output { step, output, equals } => {
            Err(format!("steps.{step}.outputs.{output} is not '{equals}' (no step here sets it)"))
        }
        _ => Ok(()),
    }
}

/// Whether a step runs after one before it failed (`always()`).
pub fn after_failure(condition: Option<Condition>) -> bool {
    matches!(condition, Some(Condition::Always | Condition::AlwaysOnDefaultBranchPush))
}

/// Whether a leg runs, as GitHub decides: its condition, the jobs it needs (succeeded; or, past
/// a proof, none failed), and the legs the job that answers for it left to run.
pub fn runs(
    leg: &Leg<'_>,
    ctx: &Context,
    done: &Done,
    failed: &BTreeSet<&str>,
    decisions: &[Decision],
) -> Result<(), String> {
    let job = leg.job;
    if let Some(condition) = job.condition {
        holds(condition, ctx, leg)?;
    }
    if job.condition == Some(Condition::Always) {
        return Ok(());
    }
    if let Some(need) = job.needs.iter().find(|n| failed.contains(**n)) {
        return Err(format!("a job before it failed ({need}, or one it needs)"));
    }
    // Past a proof, a skipped job it needs is fine (a failed one is in `failed`).
    let past_skips =
        matches!(job.condition, Some(Condition::Unproven { .. } | Condition::DefaultBranchPushUnlessFailed));
    if let Some(need) =
        job.needs.iter().find(|n| !past_skips && done.get(**n).is_none_or(|(o, _)| *o != Outcome::Success))
    {
        let what = match done.get(*need).map(|(o, _)| o) {
            Some(Outcome::Failure(_)) => "failed",
            Some(Outcome::Skipped(_)) => "was skipped",
            _ => "did not run",
        };
        return Err(format!("it needs {need}, which {what}"));
    }
    let Some(Condition::Unproven { job: answers, output }) = job.condition else { return Ok(()) };
    let proven = || {
        let decision = decisions.iter().find(|d| d.job == job.id && d.leg == leg.name);
        let said = decision.map_or_else(|| "no answer for this leg".to_owned(), Decision::said);
        Err(format!("proven needless by {answers}: {said}"))
    };
    match done.get(answers).and_then(|(_, outputs)| outputs.get(output)).map(String::as_str) {
        None | Some("") => Err(format!("needs.{answers}.outputs.{output} is empty: GitHub could not expand the job")),
        Some(SKIP) => proven(),
        Some(_) if job.matrix.is_none() => Ok(()),
        Some(legs) => {
            let legs: serde_json::Value = serde_json::from_str(legs)
                .map_err(|e| format!("needs.{answers}.outputs.{output} is not a matrix of legs: {e}"))?;
            let listed = |entry: &serde_json::Value| {
                entry.as_object().is_some_and(|e| e.len() == leg.values.len())
                    && leg.values.iter().all(|(a, v)| entry[*a].as_str() == Some(v))
            };
            match legs["include"].as_array().is_some_and(|l| l.iter().any(listed)) {
                true => Ok(()),
                false => proven(),
            }
        }
    }
}

/// Whether this machine can run the leg: its runner, and what each of its steps that runs
/// for the event needs.
pub fn can_run(leg: &Leg<'_>, ctx: &Context) -> Result<(), String> {
    let Some(arch) = leg.arch() else {
        return Err(format!("no stand-in for the runner {} (this machine is Linux)", leg.runner()));
    };
    let system = format!("{arch}-linux");
    if !ctx.systems.contains(&system) {
        return Err(format!("this machine cannot build {system} (add it to Nix's extra-platforms where it can)"));
    }
    for step in leg.job.xtask_steps().filter(|s| s.condition.is_none_or(|c| holds(c, ctx, leg).is_ok())) {
        lacks(step, ctx)?;
    }
    Ok(())
}

fn lacks(step: &Xtask, ctx: &Context) -> Result<(), String> {
    if step.needs_engine && !ctx.engine {
        return Err("no container engine here (docker or podman)".into());
    }
    if step.needs_buildah && !ctx.buildah {
        return Err("no buildah here (it writes the image index)".into());
    }
    if matches!(step.args.first(), Some(Word::Lit("publish"))) && !ctx.lacks_systems.is_empty() {
        let lacks = ctx.lacks_systems.join(", ");
        return Err(format!("publish joins every arch's image, and this machine cannot build {lacks}"));
    }
    if step.pushes_images() && ctx.registry.is_none() {
        return Err("no registry given: `--registry HOST/PREFIX` stands in for GHCR".into());
    }
    Ok(())
}

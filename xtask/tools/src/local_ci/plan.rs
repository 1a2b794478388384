//! What `cargo xtask ci` runs, decided as GitHub decides it: each job's matrix expanded, the jobs
//! in `needs` order, and for each whether it runs (its condition for the event, the jobs it
//! needs) and whether this machine can run it (the runner's OS and arch, a container engine,
//! buildah, a registry).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use xtask::{
    command::{on_path, NoSlots},
    images::engine,
    nix::{self, json::Settings},
    session::Session,
    workflows::{
        graph::{Condition, Job, RunsOn, Workflow, Xtask},
        runner_platform,
    },
};

/// The event the pipeline runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Event {
    Push,
    #[value(name = "pull_request")]
    PullRequest,
}

impl Event {
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
    pub event: Event,
    pub fork: bool,
    /// Stands in for `ghcr.io/<repository>`.
    pub registry: Option<String>,
    /// The systems this machine builds (`system` and `extra-platforms`).
    pub systems: Vec<String>,
    pub engine: bool,
    pub buildah: bool,
}

impl Context {
    /// The event, and what this machine has: the systems Nix builds (none asked in a dry run,
    /// which runs nothing), a container engine, buildah.
    pub fn of(session: &Session, event: Event, fork: bool, registry: Option<String>) -> Result<Context> {
        let systems = match session.dry_run {
            true => Vec::new(),
            false => Settings::parse(&nix::show_config().run_quietly(&session.sh, &NoSlots)?)?.platforms(),
        };
        Ok(Context { event, fork, registry, systems, engine: engine::find("").is_ok(), buildah: on_path("buildah") })
    }
}

/// One job of the expanded matrix.
pub struct Leg<'g> {
    pub job: &'g Job,
    pub values: Vec<(&'static str, String)>,
    /// The name GitHub shows, matrix values filled in.
    pub name: String,
}

impl Leg<'_> {
    pub fn value(&self, axis: &str) -> Option<&str> {
        self.values.iter().find(|(a, _)| *a == axis).map(|(_, v)| v.as_str())
    }

    /// The runner's label.
    pub fn runner(&self) -> &str {
        match self.job.runs_on {
            RunsOn::Label(label) => label,
            RunsOn::Axis(axis) => self.value(axis).unwrap_or_default(),
        }
    }

    /// The runner's arch, when it is a GitHub-hosted Linux runner.
    pub fn arch(&self) -> Option<&'static str> {
        runner_platform(self.runner()).filter(|(os, _)| *os == "linux").map(|(_, arch)| arch)
    }
}

/// How a job went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
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

/// The jobs in an order that runs each after the jobs it needs.
pub fn order(workflow: &Workflow) -> Result<Vec<&Job>> {
    let mut done: Vec<&Job> = Vec::new();
    while done.len() < workflow.jobs.len() {
        let ready = workflow.jobs.iter().find(|job| {
            !done.iter().any(|d| d.id == job.id) && job.needs.iter().all(|n| done.iter().any(|d| d.id == *n))
        });
        match ready {
            Some(job) => done.push(job),
            None => bail!("{}: the jobs' needs name an unknown job or form a cycle", workflow.file),
        }
    }
    Ok(done)
}

/// A job's matrix as GitHub expands it: every combination of the axes; then each `include` entry
/// is added to the combinations whose axis values it matches, or is a combination of its own.
pub fn legs(job: &Job) -> Vec<Leg<'_>> {
    let Some(matrix) = &job.matrix else {
        return vec![Leg { job, values: Vec::new(), name: job.name.clone() }];
    };
    let mut combos: Vec<Vec<(&'static str, String)>> = vec![Vec::new()];
    for (axis, values) in &matrix.axes {
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((*axis, v.clone()));
                    c
                })
            })
            .collect();
    }
    for entry in &matrix.include {
        let is_axis = |key: &str| matrix.axes.iter().any(|(a, _)| *a == key);
        let matches = |combo: &Vec<(&'static str, String)>| {
            entry.iter().filter(|(k, _)| is_axis(k)).all(|(k, v)| combo.iter().any(|(a, cv)| a == k && cv == v))
        };
        let mut added = false;
        for combo in combos.iter_mut().filter(|c| matches(c)) {
            combo.extend(entry.iter().filter(|(k, _)| !is_axis(k)).cloned());
            added = true;
        }
        if !added {
            combos.push(entry.clone());
        }
    }
    combos
        .into_iter()
        .map(|values| {
            let name = values.iter().fold(job.name.clone(), |n, (axis, v)| n.replace(&format!("{{{axis}}}"), v));
            Leg { job, values, name }
        })
        .collect()
}

/// Whether a condition holds for the event (`Ok`), or why not.
pub fn holds(condition: Condition, ctx: &Context) -> Result<(), String> {
    match condition {
        Condition::DefaultBranchPush if ctx.event == Event::Push => Ok(()),
        Condition::DefaultBranchPush => Err("only on a push to the default branch".into()),
        Condition::Always => Ok(()),
        Condition::Var { name, equals } => Err(format!("vars.{name} is not '{equals}' (a repository variable)")),
    }
}

/// Whether a job runs, as GitHub decides: its condition, else every job it needs succeeded.
pub fn runs(job: &Job, ctx: &Context, results: &BTreeMap<&str, Outcome>) -> Result<(), String> {
    if let Some(condition) = job.condition {
        holds(condition, ctx)?;
    }
    if job.condition == Some(Condition::Always) {
        return Ok(());
    }
    match job.needs.iter().find(|n| results.get(**n) != Some(&Outcome::Success)) {
        Some(need) => {
            Err(format!("it needs {need}, which {}", results.get(*need).map_or("did not run", Outcome::result)))
        }
        None => Ok(()),
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
    for step in leg.job.xtask_steps().filter(|s| s.condition.is_none_or(|c| holds(c, ctx).is_ok())) {
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
    if step.pushes_images() && ctx.registry.is_none() {
        return Err("no registry given: `--registry HOST/PREFIX` stands in for GHCR".into());
    }
    Ok(())
}

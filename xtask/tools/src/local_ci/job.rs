//! One job of the pipeline, run as a fresh GitHub runner would run it: a store without the
//! pipeline's outputs, a target directory of its own (the xtask's binary restored from the
//! stand-in actions cache, as CI restores it), its own `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY` and
//! `GITHUB_ENV` per step, and the values of its `needs`, matrix and event. `uses:` steps are stood
//! in for, each named; every `cargo xtask` step runs for real, and writes its record
//! (`--record`), which the job reads: what its tasks did.

use std::{collections::BTreeMap, path::Path, time::Instant};

use anyhow::{Context as _, Result};

use super::{
    plan::{after_failure, holds, Outcome},
    stand_in::{save_xtask, stand_in},
    step_files::StepFiles,
    LocalRun,
};
use crate::workflows::render;
use xtask::workflows::legs::Leg;
use xtask::{
    command::{lit, Cmd, Io, NoSlots},
    record::{self, FreshStoreCounts, Output, Record},
    workflows::graph::{Step, Value, Word, Xtask},
};

/// What a job did: its part of the pipeline's record, and what it printed.
pub struct Ran {
    /// The job's part of the pipeline's record.
    pub job: record::JobRun,
    /// How it went.
    pub outcome: Outcome,
    /// The summaries its steps wrote.
    pub summary: String,
    /// What stood in for each `uses:` step, and each step's fate.
    pub log: Vec<String>,
    /// What its `cargo xtask prebuild --prove` answered for the later jobs' legs.
    pub decisions: Vec<record::Decision>,
}

impl Ran {
    /// A leg that did not run, and why.
    pub fn skipped(leg: &Leg<'_>, why: String) -> Ran {
        let outcome = Outcome::Skipped(why);
        Ran { job: job_of(leg, &outcome), outcome, summary: String::new(), log: Vec::new(), decisions: Vec::new() }
    }
}

/// The record of a leg, before it runs.
fn job_of(leg: &Leg<'_>, outcome: &Outcome) -> record::JobRun {
    let reason = match outcome {
        Outcome::Success => None,
        Outcome::Failure(why) | Outcome::Skipped(why) => Some(why.clone()),
    };
    record::JobRun {
        id: leg.job.id.to_owned(),
        name: leg.name.clone(),
        result: outcome.result().to_owned(),
        reason,
        needs: leg.job.needs.iter().map(|n| n.to_string()).collect(),
        ..record::JobRun::default()
    }
}

/// The outcome and outputs of the jobs run so far.
pub type Done = BTreeMap<&'static str, (Outcome, BTreeMap<String, String>)>;

/// Runs one leg here as a fresh runner: the pipeline's outputs deleted from the store, then each step in turn.
pub fn run(p: &LocalRun<'_>, leg: &Leg<'_>, index: usize, done: &Done) -> Result<Ran> {
    let started = Instant::now();
    let dir = p.dir.join(format!("{index:02}-{}", leg.job.id));
    let target = dir.join("target");
    std::fs::create_dir_all(&target).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut ran = Ran { outcome: Outcome::Success, ..Ran::skipped(leg, String::new()) };
    ran.job = job_of(leg, &Outcome::Success);
    let (deleted, kept_alive) = p.fresh.forget()?;
    ran.log.push(format!(
        "fresh runner: {deleted} output(s) of the pipeline deleted from the store ({kept_alive} kept: alive here)"
    ));
    ran.job.fresh_store = Some(FreshStoreCounts { deleted: deleted as u64, kept_alive: kept_alive as u64 });
    let event = dir.join("event.json");
    std::fs::write(&event, p.event_json())?;
    let mut job_env: Vec<(String, String)> = Vec::new();
    let mut step_outputs: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let mut restored_xtask = true;
    for (n, step) in leg.job.steps.iter().enumerate() {
        // After a failure, only the steps that run `always()`.
        let condition = match step {
            Step::Uses(uses) => uses.condition,
            Step::Xtask(xtask) => xtask.condition,
        };
        if ran.outcome != Outcome::Success && !after_failure(condition) {
            continue;
        }
        let xtask = match step {
            Step::Uses(uses) => {
                let said = match uses.condition.map(|c| holds(c, p.ctx, leg)) {
                    Some(Err(why)) => format!("skipped: {why}"),
                    _ => stand_in(p, uses, &target, &mut restored_xtask)?,
                };
                ran.log.push(format!("{}: {said}", uses.action.action()));
                continue;
            }
            Step::Xtask(xtask) => xtask,
        };
        let line = render::run_line(&xtask.args);
        if let Some(Err(why)) = xtask.condition.map(|c| holds(c, p.ctx, leg)) {
            ran.log.push(format!("skipped `{line}`: {why}"));
            continue;
        }
        // The workflow's history job keeps its run's pipeline; here `cargo xtask ci` keeps its own.
        if matches!(xtask.args.first(), Some(Word::Lit("history"))) {
            ran.log.push(format!("`{line}`: this run's pipeline is the record `cargo xtask ci` keeps"));
            continue;
        }
        let files = StepFiles::new(&dir, n)?;
        let mut env: Vec<(String, String)> = job_env.clone();
        let mut from_needs = Vec::new();
        for (name, value) in &xtask.env {
            let given = p.value(value, leg, done, &step_outputs);
            if let (Value::Needs { .. }, Some(given)) = (value, &given) {
                from_needs.push(format!("{name}={given}"));
                ran.job.from_needs.push(Output { name: (*name).to_owned(), value: given.clone() });
            }
            env.extend(given.map(|v| ((*name).to_owned(), v)));
        }
        let cmd = p.step(xtask, leg, &env, &files, &event, &target)?;
        let begun_ms = record::now_ms();
        let result = cmd.run(&NoSlots);
        ran.summary.push_str(&std::fs::read_to_string(&files.summary).unwrap_or_default());
        match Record::read(&files.record) {
            Ok(task) => {
                // The first step's start: the launcher (a compile, or the kept binary), then the
                // binary, up to its record's start, measured in the step itself (no second run).
                if ran.job.xtask_start_seconds.is_none() {
                    ran.job.xtask_start_seconds = Some(task.started_ms.saturating_sub(begun_ms) as f64 / 1000.0);
                }
                ran.job.tasks.push(record::Ran::of(&task));
                ran.decisions.extend(task.proven);
            }
            Err(err) => ran.log.push(format!("no record of `{line}`: {err:#}")),
        }
        job_env.extend(files.env());
        if let Some(id) = xtask.id {
            step_outputs.insert(id, files.outputs());
        }
        if result.is_err() {
            ran.log.push(format!("failed `{line}`"));
            ran.outcome = Outcome::Failure(format!("`{line}` failed (its output is above)"));
            (ran.job.result, ran.job.reason) = (ran.outcome.result().to_owned(), Some(format!("`{line}` failed")));
            continue;
        }
        match from_needs.is_empty() {
            true => ran.log.push(format!("ran `{line}`")),
            false => ran.log.push(format!("ran `{line}` (from needs: {})", from_needs.join(", "))),
        }
    }
    if !restored_xtask {
        save_xtask(p, &target)?;
    }
    ran.log = collapse(std::mem::take(&mut ran.log));
    ran.job.xtask_restored = Some(restored_xtask);
    for (name, value) in &leg.job.outputs {
        if let Some(value) = p.value(value, leg, done, &step_outputs) {
            ran.job.outputs.push(Output { name: (*name).to_owned(), value });
        }
    }
    ran.job.seconds = started.elapsed().as_secs_f64();
    Ok(ran)
}

/// Consecutive equal lines (a stand-in for each of many steps) as one, with their count.
fn collapse(lines: Vec<String>) -> Vec<String> {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for line in lines {
        match counted.last_mut() {
            Some((last, n)) if *last == line => *n += 1,
            _ => counted.push((line, 1)),
        }
    }
    counted.into_iter().map(|(line, n)| if n == 1 { line } else { format!("{line} ({n} steps)") }).collect()
}

impl LocalRun<'_> {
    /// The step's `cargo xtask …`, with its environment: what GitHub sets, the step's `env:`, and
    /// the stand-ins (the flake, the cache, this leg's system) as options.
    fn step(
        &self,
        xtask: &Xtask,
        leg: &Leg<'_>,
        env: &[(String, String)],
        files: &StepFiles,
        event: &Path,
        target: &Path,
    ) -> Result<Cmd> {
        let lookup = |name: &str| env.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let mut args = vec![lit("xtask")];
        for word in &xtask.args {
            args.push(lit(match word {
                Word::Lit(s) => (*s).to_owned(),
                Word::Var(var) => lookup(var),
                Word::Flag(flag, var) => format!("{flag}={}", lookup(var)),
                Word::Registry => self.ctx.registry.clone().unwrap_or_default(),
            }));
        }
        args.extend(self.forward.iter().map(lit));
        // Each step writes its record where the job reads it.
        args.extend([lit("--record"), lit(files.record.display().to_string())]);
        if let Some(arch) = leg.arch().filter(|a| *a != self.session.platform.arch) {
            args.extend([lit("--system"), lit(format!("{arch}-linux"))]);
        }
        let mut cmd =
            Cmd::new(&self.cargo, args).io(Io::Relay).hint("a step of the pipeline failed (its output is above)");
        for name in super::SCRUBBED {
            cmd = cmd.env_remove(*name);
        }
        let github = [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_EVENT_NAME", self.ctx.event.name().to_owned()),
            ("GITHUB_EVENT_PATH", event.display().to_string()),
            ("GITHUB_REF", self.git_ref()),
            ("GITHUB_SHA", self.sha.clone()),
            ("GITHUB_REPOSITORY", self.repository.clone()),
            ("GITHUB_WORKFLOW", self.workflow.to_owned()),
            ("GITHUB_RUN_ID", self.run_id.clone()),
            ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
            ("GITHUB_JOB", leg.job.id.to_owned()),
            ("GITHUB_OUTPUT", files.output.display().to_string()),
            ("GITHUB_STEP_SUMMARY", files.summary.display().to_string()),
            ("GITHUB_ENV", files.env.display().to_string()),
            ("CARGO_TARGET_DIR", target.display().to_string()),
        ];
        for (name, value) in github {
            cmd = cmd.env(name, value);
        }
        if let Some(nix_config) = &self.nix_config {
            cmd = cmd.env("NIX_CONFIG", nix_config);
        }
        for (name, value) in env {
            cmd = cmd.env(name, value);
        }
        Ok(cmd)
    }

    /// A value of the graph, for this leg: `None` when GitHub would give an empty one (a secret
    /// a fork does not get, an output no job set).
    fn value(
        &self,
        value: &Value,
        leg: &Leg<'_>,
        done: &Done,
        steps: &BTreeMap<&str, BTreeMap<String, String>>,
    ) -> Option<String> {
        match value {
            Value::Lit(s) => Some(s.clone()),
            Value::Lines(lines) => Some(lines.join("\n")),
            Value::Matrix(axis) => leg.value(axis).map(str::to_owned),
            Value::Needs { job, output } => done.get(job).and_then(|(_, outputs)| outputs.get(*output)).cloned(),
            Value::Step { step, output } => steps.get(step).and_then(|o| o.get(*output)).cloned(),
            Value::Github("repository") => Some(self.repository.clone()),
            Value::Github("sha") => Some(self.sha.clone()),
            Value::Github(_) => Some(std::env::var("USER").unwrap_or_else(|_| "local".into())),
            Value::Registry => self.ctx.registry.clone(),
            Value::Secret(_) if self.ctx.fork => None,
            Value::Secret(name) => std::env::var(name).ok().filter(|v| !v.is_empty()),
            Value::Input(_) => Some(self.ctx.force.to_string()),
            Value::Holds(condition) => Some(super::plan::holds(*condition, self.ctx, leg).is_ok().to_string()),
            Value::NeedsJson => Some(self.needs_json(leg, done)),
            Value::MatrixJson => {
                let matrix = leg.values.iter().map(|(axis, value)| (axis.to_string(), value.clone().into()));
                Some(serde_json::Value::Object(matrix.collect()).to_string())
            }
        }
    }
}

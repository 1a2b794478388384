//! `cargo xtask history`: the last job of a generated workflow's run. The records this run's jobs'
//! tasks kept (each naming its job and matrix leg) become one pipeline record, as `cargo xtask ci`
//! keeps its own: each job's start and time as its records saw them, the run's wall time as its
//! critical path. A pull request whose pipeline regressed is a warning. Builds nothing.

use anyhow::{bail, Context, Result};

use crate::{
    alerts, github,
    history::History,
    record::{Decision, JobRun, Pipeline, Ran, Record, HISTORY_JOB},
    session::Session,
    workflows::{self, legs},
};

/// Keep this workflow run's pipeline, from its jobs' records, in the history.
#[derive(clap::Args, Debug)]
pub struct KeepRun {}

impl KeepRun {
    /// Keeps this run's pipeline in the history, from the records its jobs' tasks kept there.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let Some(run) = record.github.clone().filter(|g| !g.run_id.is_empty()) else {
            bail!("`cargo xtask history` keeps a GitHub Actions run's pipeline: run it as the last job of a generated workflow (GITHUB_RUN_ID is not set)");
        };
        let history = History::of(session)
            .with_context(|| format!("{} keeps no history (S3 and SSH caches do not)", session.cache.label()))?;
        let needs = github::needs()?.unwrap_or_default();
        let graphs = workflows::graphs(&session.config)?;
        let workflow = graphs.iter().find(|w| w.name == run.workflow).with_context(|| {
            format!("no generated workflow is named {:?} (`cargo xtask workflows` writes them)", run.workflow)
        })?;
        if session.dry_run {
            println!("# cargo xtask history (dry run: nothing is run)\n# (in the xtask) read the records of run {} in {}, keep its pipeline", run.run_id, history.label());
            return Ok(());
        }
        let (records, problems) = history.read();
        for problem in problems {
            github::warning(&problem);
        }
        let ours: Vec<&Record> = records
            .iter()
            .filter(|r| r.github.as_ref().is_some_and(|g| g.run_id == run.run_id && g.run_attempt == run.run_attempt))
            .collect();
        let start = ours.iter().map(|r| r.started_ms).min().unwrap_or(record.started_ms);
        // The first job's answer for each leg of the later jobs: a leg it proved needless ran not.
        let decisions: Vec<&Decision> = ours.iter().flat_map(|r| &r.proven).collect();
        let mut jobs = Vec::new();
        // This job, which keeps the pipeline, is not in it: it has not ended.
        for job in legs::order(workflow)?.into_iter().filter(|j| j.id != HISTORY_JOB) {
            for leg in legs::legs(job) {
                let tasks: Vec<&&Record> = ours
                    .iter()
                    .filter(|r| {
                        let github = r.github.as_ref().expect("filtered on its run");
                        github.job == job.id && leg.values.iter().all(|(axis, v)| github.matrix.get(*axis) == Some(v))
                    })
                    .collect();
                let first = tasks.iter().map(|r| r.started_ms).min().unwrap_or(start);
                let last = tasks.iter().map(|r| r.started_ms + (r.seconds * 1000.0) as u64).max().unwrap_or(first);
                // A job whose tasks keep no record (publish) has GitHub's word, and no times.
                let said = needs.iter().find(|(id, _)| id == job.id).map(|(_, result)| result.as_str());
                let result = match (tasks.is_empty(), tasks.iter().any(|r| !r.ok())) {
                    (true, _) => said.unwrap_or("skipped"),
                    (false, true) => "failure",
                    (false, false) => "success",
                };
                let proof = decisions.iter().find(|d| d.job == job.id && d.leg == leg.name).map(|d| (*d).clone());
                let reason = proof.as_ref().filter(|d| !d.runs && tasks.is_empty()).map(Decision::said);
                jobs.push(JobRun {
                    id: job.id.to_owned(),
                    name: leg.name.clone(),
                    result: result.to_owned(),
                    reason,
                    proof,
                    needs: job.needs.iter().map(|n| n.to_string()).collect(),
                    start_seconds: first.saturating_sub(start) as f64 / 1000.0,
                    seconds: last.saturating_sub(first) as f64 / 1000.0,
                    tasks: tasks.iter().map(|r| Ran::of(r)).collect(),
                    ..JobRun::default()
                });
            }
        }
        let end = jobs.iter().map(|j| j.start_seconds + j.seconds).fold(0.0, f64::max);
        // The times are GitHub's own, set-up included.
        let mut pipeline = Pipeline {
            workflow: workflow.file.to_owned(),
            event: run.event.clone(),
            fork: run.fork,
            critical_path_seconds: end,
            sum_seconds: jobs.iter().map(|j| j.seconds).sum(),
            github_seconds: end,
            jobs,
            ..Pipeline::default()
        };
        pipeline.levels = pipeline.critical_path().iter().filter(|j| j.result != "skipped").count() as u64;
        let ran = pipeline.jobs.iter().filter(|j| j.result != "skipped").count();
        eprintln!(
            "run {} of {}: {ran} job(s) from {} record(s), {end:.1} s from the first task to the last",
            run.run_id,
            workflow.file,
            ours.len()
        );
        let mut pipelines: Vec<(&Record, &Pipeline)> =
            records.iter().filter_map(|r| Some((r, r.pipeline.as_ref()?))).collect();
        pipelines.push((record, &pipeline));
        for (_, regression) in alerts::regressions(&pipelines).iter().filter(|(id, _)| *id == record.id) {
            github::warning(regression);
        }
        record.pipeline = Some(pipeline);
        Ok(())
    }
}

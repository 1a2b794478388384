//! Running a [`Plan`]: each step in a log group, with a header and its duration, and what each
//! kind of step does with its command's output.

use std::{collections::BTreeSet, time::Instant};

use anyhow::Result;
use xshell::Shell;

use super::{
    plan::{Plan, StepKind},
    state::State,
};
use crate::{
    cache::push_filter::PushFilter,
    command::Cmd,
    github,
    nix::json,
    report::{mib, seconds, Report, StepRecord},
};

impl Plan {
    /// Runs the steps in order until one fails or the cache turns out to be up to date. The
    /// report is whole either way; the error is the failed step's.
    pub fn run(&self, sh: &Shell) -> (Report, Result<()>) {
        let mut state = State::default();
        let mut steps = Vec::new();
        let mut result = Ok(());
        let total = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            let header = format!("[{}/{total}] {}", i + 1, step.title);
            github::group_start(&header);
            eprintln!("==> {header}");
            let started = Instant::now();
            let outcome = step.kind.run(sh, &mut state);
            let duration = started.elapsed();
            eprintln!("<== {header}: {} in {}", if outcome.is_ok() { "done" } else { "failed" }, seconds(duration));
            github::group_end();
            steps.push(StepRecord { title: step.title.clone(), duration, note: outcome.as_ref().ok().cloned() });
            if let Err(err) = outcome {
                result = Err(err.context(format!("step {header}")));
                break;
            }
            if state.up_to_date {
                break;
            }
        }
        let report = Report {
            task: self.task.clone(),
            facts: self.facts.clone(),
            steps,
            totals: state.totals(),
            failed: result.is_err(),
        };
        (report, result)
    }
}

impl StepKind {
    /// Runs the step; returns a note for the log and the summary.
    fn run(&self, sh: &Shell, state: &mut State) -> Result<String> {
        match self {
            StepKind::Eval(cmd) => {
                state.outputs = json::parse_paths(&cmd.run(sh, state)?)?;
                Ok(format!("{} output(s)", state.outputs.len()))
            }
            StepKind::SkipIfCached { cmd, force } => {
                let valid = json::parse_valid(&cmd.run(sh, state)?)?;
                Ok(state.skip_if_cached(&valid, *force))
            }
            StepKind::Build(cmd) => {
                state.outputs = json::parse_build(&cmd.run(sh, state)?)?;
                Ok(format!("{} output(s)", state.outputs.len()))
            }
            StepKind::Closure(cmd) => {
                let infos = json::parse_path_infos(&cmd.run(sh, state)?)?;
                state.closure_bytes = infos.iter().map(|i| i.nar_size).sum();
                state.closure = infos.into_iter().map(|i| (i.path, i.references)).collect();
                Ok(format!("{} path(s), {}", state.closure.len(), mib(state.closure_bytes)))
            }
            StepKind::Filter(filter) => Ok(state.filter(filter)),
            StepKind::Missing(cmd) => {
                let valid = json::parse_valid(&cmd.run(sh, state)?)?;
                state.push = state.candidates.iter().filter(|p| !valid.contains(*p)).cloned().collect();
                state.present = state.candidates.len() - state.push.len();
                Ok(format!("{} already in the cache, {} to push", state.present, state.push.len()))
            }
            StepKind::SigningKey(key) => key.ensure(sh),
            StepKind::Push(cmd) => push(sh, cmd, state),
            StepKind::Run(cmd) => cmd.run(sh, state).map(|_| String::new()),
        }
    }
}

/// Pushes the paths the cache lacks, listing them one a line rather than in one long command line.
fn push(sh: &Shell, cmd: &Cmd, state: &mut State) -> Result<String> {
    if state.push.is_empty() {
        eprintln!("the cache has every path: nothing to push");
        return Ok("nothing to push".to_owned());
    }
    eprintln!("$ {}", cmd.render(None));
    for path in &state.push {
        eprintln!("  {path}");
    }
    cmd.run_quietly(sh, state)?;
    state.pushed = state.push.len();
    Ok(format!("pushed {} path(s)", state.pushed))
}

impl State {
    /// Whether the cache has every output; when it does (and not `force`), the plan is done.
    fn skip_if_cached(&mut self, valid: &BTreeSet<String>, force: bool) -> String {
        let have = self.outputs.iter().filter(|p| valid.contains(*p)).count();
        let note = format!("the cache has {have} of {} output(s)", self.outputs.len());
        if have == self.outputs.len() && !force {
            self.up_to_date = true;
            self.present = have;
            eprintln!("{note}: nothing to build or push (--force rebuilds and pushes anyway)");
            return format!("{note}: up to date");
        }
        eprintln!("{note}");
        note
    }

    /// Splits the closure into candidates and what the filter drops, warning about matches a
    /// candidate still needs.
    fn filter(&mut self, filter: &PushFilter) -> String {
        let filtered = filter.apply(&self.closure);
        for path in &filtered.dropped {
            eprintln!("  filtered out: {path}");
        }
        if !filtered.kept_anyway.is_empty() {
            github::warning(&format!(
                "the push filter matches {} path(s) that pushed paths refer to; they are pushed anyway (a binary cache must hold whole closures):\n{}",
                filtered.kept_anyway.len(),
                filtered.kept_anyway.iter().cloned().collect::<Vec<_>>().join("\n")
            ));
        }
        self.candidates = filtered.push.into_iter().collect();
        self.dropped = filtered.dropped;
        self.kept_anyway = filtered.kept_anyway;
        format!("{} candidate(s), {} filtered out", self.candidates.len(), self.dropped.len())
    }
}

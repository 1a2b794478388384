//! Running a [`Plan`]: each step in a log group, with a header and its duration, and what each
//! kind of step does with its command's output.

use std::{collections::BTreeSet, time::Instant};

use anyhow::Result;
use xshell::Shell;

use super::{
    plan::{OnPushFailure, Plan, StepKind},
    state::State,
};
use crate::{
    cache::push_filter::PushFilter,
    command::Cmd,
    github,
    nix::{self, json},
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
            match &outcome {
                Ok(note) if !note.is_empty() => eprintln!("<== {header}: done in {} ({note})", seconds(duration)),
                Ok(_) => eprintln!("<== {header}: done in {}", seconds(duration)),
                Err(_) => eprintln!("<== {header}: failed after {}", seconds(duration)),
            }
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
            warnings: state.warnings.clone(),
            roots: state.outputs.clone(),
            push_failed: state.push_failed,
        };
        (report, result)
    }
}

impl StepKind {
    /// Runs the step; returns a note for the log and the summary.
    fn run(&self, sh: &Shell, state: &mut State) -> Result<String> {
        match self {
            StepKind::Eval(cmd) => {
                state.outputs = json::parse_paths(&cmd.run(sh, state).map_err(nix::explain_eval_failure)?)?;
                Ok(format!("{} output(s)", state.outputs.len()))
            }
            StepKind::SkipIfCached { cmd, verify, cache, force } => {
                let valid = state.ask(sh, cmd, cache)?;
                let all = state.outputs.iter().all(|p| valid.contains(p));
                let unverified = match verify {
                    Some(verify) if all && !force => state.untrusted(sh, verify)?,
                    _ => Vec::new(),
                };
                Ok(state.skip_if_cached(&valid, &unverified, *force))
            }
            StepKind::Build(cmd) => {
                let built = json::parse_build(&cmd.run(sh, state)?)?;
                (state.outputs, state.drvs) = (built.outputs, built.drvs);
                Ok(format!("{} output(s)", state.outputs.len()))
            }
            StepKind::Needed { requisites, infos } => state.needed(sh, requisites, infos),
            StepKind::Upstream(queries) => Ok(state.upstream(sh, queries)),
            StepKind::Filter(filter) => Ok(state.filter(filter)),
            StepKind::Missing { cmd, cache } => {
                let valid = state.ask(sh, cmd, cache)?;
                (state.present_paths, state.push) = state.candidates.iter().cloned().partition(|p| valid.contains(p));
                state.present = state.present_paths.len();
                Ok(format!("{} already in the cache, {} to push", state.present, state.push.len()))
            }
            StepKind::SigningKey(key) => {
                let (note, public) = key.ensure(sh)?;
                state.public_key = vec![public];
                Ok(note)
            }
            StepKind::Verify(cmd) => state.verify(sh, cmd),
            StepKind::Sign { sign, resign } => state.sign(sh, sign, resign),
            StepKind::Push { cmd, cache, on_failure } => match push(sh, cmd, state) {
                Ok(note) => Ok(note),
                Err(err) => state.push_failed(err, cache, *on_failure),
            },
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
    state.pushed_bytes = state.push.iter().filter_map(|p| state.sizes.get(p)).sum();
    Ok(format!("pushed {} path(s), {}", state.pushed, mib(state.pushed_bytes)))
}

/// The line of a failed command's error that says why (Nix's last `error:`), for warnings.
pub(super) fn cause(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    let mut lines = text.lines().rev().map(str::trim).filter(|l| !l.is_empty());
    let last = lines.clone().next();
    let last_error = lines.find_map(|l| l.strip_prefix("error: "));
    last_error.or(last).unwrap_or_default().to_owned()
}

impl State {
    /// Which of a slot's paths the cache has. A cache that cannot be reached (refused, no such
    /// host, 5xx after Nix's retries, not set up yet) is taken as empty, with a warning naming it.
    fn ask(&mut self, sh: &Shell, cmd: &Cmd, cache: &str) -> Result<BTreeSet<String>> {
        match cmd.run(sh, self) {
            Ok(stdout) => json::parse_valid(&stdout),
            Err(err) => {
                let problem = format!("cannot reach the cache {cache}: {}", cause(&err));
                github::warning(&format!("{problem}: taken as empty, the task goes on"));
                self.warnings.push(problem);
                Ok(BTreeSet::new())
            }
        }
    }

    /// What a fresh runner needs, and the size and references of each path.
    fn needed(&mut self, sh: &Shell, requisites: &Cmd, infos: &Cmd) -> Result<String> {
        let listed = requisites.run(sh, self)?;
        self.needed = listed.lines().filter(|p| !p.is_empty() && !p.ends_with(".drv")).map(str::to_owned).collect();
        let infos = json::parse_path_infos(&infos.run(sh, self)?)?;
        self.closure_bytes = infos.iter().map(|i| i.nar_size).sum();
        self.sizes = infos.iter().map(|i| (i.path.clone(), i.nar_size)).collect();
        self.closure = infos.into_iter().map(|i| (i.path, i.references)).collect();
        Ok(format!("{} path(s), {}", self.closure.len(), mib(self.closure_bytes)))
    }

    /// A failed push fails the task, or is a warning (`test`): the build's verdict stands.
    fn push_failed(&mut self, err: anyhow::Error, cache: &str, on_failure: OnPushFailure) -> Result<String> {
        if on_failure == OnPushFailure::Fail {
            return Err(err.context(format!("cannot push to {cache} (the build itself succeeded)")));
        }
        let problem = format!("cannot push to {cache}: {}", cause(&err));
        github::warning(&format!("{problem} (the build's verdict stands; --require-push fails the task on this)"));
        self.warnings.push(problem);
        self.push_failed = true;
        Ok("push failed (a warning)".to_owned())
    }

    /// Leaves out of the push what an upstream cache serves. An upstream that cannot be reached
    /// serves nothing (a warning): the push is then larger, never wrong.
    fn upstream(&mut self, sh: &Shell, queries: &[(String, Cmd)]) -> String {
        if self.push.is_empty() {
            return "nothing to push: not asked".to_owned();
        }
        for (url, query) in queries {
            let served = match query.run(sh, self).and_then(|out| json::parse_valid(&out)) {
                Ok(served) => served,
                Err(err) => {
                    let problem = format!("cannot reach the upstream cache {url}: {}", cause(&err));
                    github::warning(&format!("{problem}: everything the cache lacks is pushed"));
                    self.warnings.push(problem);
                    continue;
                }
            };
            self.push.retain(|p| !served.contains(p));
            self.upstream += served.len();
        }
        format!("{} served upstream, {} to push", self.upstream, self.push.len())
    }

    /// Whether the cache has every output; when it does (and not `force`), the plan is done.
    fn skip_if_cached(&mut self, valid: &BTreeSet<String>, unverified: &[String], force: bool) -> String {
        let have = self.outputs.iter().filter(|p| valid.contains(*p)).count();
        let mut note = format!("the cache has {have} of {} output(s)", self.outputs.len());
        if !unverified.is_empty() {
            note += &format!(", {} not signed by the key (re-signed after the build)", unverified.len());
        } else if have == self.outputs.len() && !force {
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

//! Running a [`Plan`]: each step in a log group, with a header and its duration, and what each
//! kind of step does with its commands' output.

use std::time::Instant;

use anyhow::Result;

use super::{
    plan::{OnPushFailure, Plan, StepKind},
    state::State,
};
use crate::{
    cache::{push_filter::PushFilter, roots},
    github,
    nix::{self, json},
    record::{
        self,
        render::{mib, seconds},
        Record,
    },
};

impl Plan {
    /// Runs the steps in order until one fails; once the cache turns out to have everything,
    /// only the steps that run then (pins) follow. Each step, and what the run learned, go into
    /// the record, whole either way; the error is the failed step's.
    pub fn run(&self, record: &mut Record) -> (State, Result<()>) {
        let mut state = State::default();
        let mut result = Ok(());
        let total = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            let fetch = self.fetch_outputs && state.up_to_date && matches!(step.kind, StepKind::Build(_));
            if state.stop && !matches!(step.kind, StepKind::Pin(_)) && !fetch {
                continue;
            }
            let header = format!("[{}/{total}] {}", i + 1, step.title);
            github::group_start(&header);
            eprintln!("==> {header}");
            let start_seconds = record::now_ms().saturating_sub(record.started_ms) as f64 / 1000.0;
            let started = Instant::now();
            let outcome = self.run_step(&step.kind, &mut state);
            let duration = started.elapsed().as_secs_f64();
            match &outcome {
                Ok(note) if !note.is_empty() => eprintln!("<== {header}: done in {} ({note})", seconds(duration)),
                Ok(_) => eprintln!("<== {header}: done in {}", seconds(duration)),
                Err(_) => eprintln!("<== {header}: failed after {}", seconds(duration)),
            }
            github::group_end();
            record.steps.push(record::StepRun {
                kind: step.kind.name().to_owned(),
                title: step.title.clone(),
                commands: step.kind.ran(&state).iter().map(|c| c.render(Some(&state))).collect(),
                start_seconds,
                seconds: duration,
                ok: outcome.is_ok(),
                note: outcome.as_ref().map_or_else(|e| format!("{e:#}"), Clone::clone),
            });
            if let Err(err) = outcome {
                result = Err(err.context(format!("step {header}")));
                break;
            }
        }
        state.record_into(record, &self.targets, self.builds, self.counted);
        (state, result)
    }

    /// Runs one step; returns a note for the log and the summary.
    fn run_step(&self, kind: &StepKind, state: &mut State) -> Result<String> {
        match kind {
            StepKind::Eval(cmd) => {
                let out = cmd.run(state).map_err(nix::messages::explain_eval_failure)?;
                state.evaluated = json::parse_targets(&out)?;
                state.drvs = state.evaluated.iter().map(|t| t.drv.clone()).collect();
                state.build = state.drvs[..self.builds.min(state.drvs.len())].to_vec();
                state.outputs = state.evaluated.iter().flat_map(|t| t.outputs.iter().cloned()).collect();
                Ok(format!("{} derivation(s), {} output(s)", state.drvs.len(), state.outputs.len()))
            }
            // Kept for a later run's explanation: never the task's verdict.
            StepKind::MadeOf(cmd) => match cmd.run(state).and_then(|out| json::parse_path_infos(&out)) {
                Ok(infos) => {
                    // The task's own targets: a later run compares its own with them.
                    let own = self.counted.min(state.evaluated.len());
                    state.made_of = crate::explain::made_of(&self.targets[..own], &state.evaluated[..own], &infos);
                    let files: usize = state.made_of.iter().flatten().map(|m| m.files.len()).sum();
                    Ok(format!("{} derivation(s) and source(s) in their closure, {files} source file(s)", infos.len()))
                }
                Err(err) => {
                    state.warn(
                        format!("cannot read what the targets are made of: {err:#}"),
                        " (a later miss of them is explained as having no earlier run)",
                    );
                    Ok("not read (a warning)".to_owned())
                }
            },
            StepKind::SigningKey(key) => {
                let (note, publics) = key.ensure()?;
                state.public_key = publics;
                Ok(note)
            }
            StepKind::FreshRunner(f) => state.fresh_runner(f, &self.targets, self.counted, &self.cache_label()),
            StepKind::Build(cmd) => {
                state.built = true;
                let built = cmd.run(state)?;
                Ok(format!("{} output(s)", built.lines().filter(|l| !l.is_empty()).count()))
            }
            StepKind::Needed { requisites, infos } => state.needed(requisites, infos),
            StepKind::Filter(filter) => Ok(state.filter(filter)),
            StepKind::Record { files, key, timeout } => {
                let candidates = state.candidates.iter().cloned().collect();
                match roots::record(files, *timeout, key, &candidates) {
                    Ok(()) => Ok(format!("{} path(s) recorded under {key}", state.candidates.len())),
                    // Nothing is pushed that gc does not know of.
                    Err(err) if self.push_failure() == Some(OnPushFailure::Warn) => {
                        let problem = format!("cannot push to {}: {}", self.cache_label(), nix::messages::cause(&err));
                        state.warn(problem, " (its paths could not be recorded first; the build's verdict stands)");
                        state.stop = true;
                        Ok("not recorded: the push is skipped (a warning)".to_owned())
                    }
                    Err(err) => Err(err.context(format!(
                        "cannot push to {} (the build itself succeeded): its paths could not be recorded first",
                        self.cache_label()
                    ))),
                }
            }
            StepKind::Missing { cmd, files, cache } => state.missing(cmd, files.as_ref(), cache),
            StepKind::Upstream(queries) => Ok(state.upstream(queries)),
            StepKind::Verify(cmd) => state.verify(cmd),
            StepKind::Sign { sign, resign } => {
                let can_repair = self.steps.iter().any(|s| matches!(s.kind, StepKind::Repair(_)));
                state.sign(sign, resign, can_repair)
            }
            StepKind::Contents { cmd, every } => state.contents(cmd, *every),
            StepKind::Repair(files) => state.repair(files),
            StepKind::Push { cmd, cache, on_failure, landed } => {
                let note = state.push(cmd, cache, *on_failure)?;
                if let Some((query, files)) = landed.as_ref().filter(|_| state.pushed > 0) {
                    state.landed(query, files)?;
                }
                Ok(note)
            }
            StepKind::Pin(cmds) => {
                for (i, cmd) in cmds.iter().enumerate() {
                    state.target = i;
                    cmd.run(state)?;
                }
                Ok(format!("{} pin(s)", cmds.len()))
            }
            StepKind::Run(cmd) => cmd.run(state).map(|_| String::new()),
        }
    }

    fn push_failure(&self) -> Option<OnPushFailure> {
        self.steps.iter().find_map(|s| match s.kind {
            StepKind::Push { on_failure, .. } => Some(on_failure),
            _ => None,
        })
    }

    pub(super) fn cache_label(&self) -> String {
        self.facts.iter().find(|(name, _)| name == "cache").map(|(_, v)| v.clone()).unwrap_or_default()
    }
}

impl State {
    /// What a fresh runner needs, and the size, hash and references of each path here.
    fn needed(&mut self, requisites: &crate::command::Cmd, infos: &crate::command::Cmd) -> Result<String> {
        let listed = requisites.run(self)?;
        self.needed = listed.lines().filter(|p| !p.is_empty() && !p.ends_with(".drv")).map(str::to_owned).collect();
        let infos = json::parse_path_infos(&infos.run(self)?)?;
        self.closure_bytes = crate::numbers::total(infos.iter().map(|i| i.nar_size));
        self.local = infos.into_iter().map(|i| (i.path.clone(), i)).collect();
        Ok(format!("{} path(s), {}", self.local.len(), mib(self.closure_bytes)))
    }

    /// Splits the closure into candidates and what the filter drops, warning about matches a
    /// candidate still needs.
    fn filter(&mut self, filter: &PushFilter) -> String {
        let closure = self.local.iter().map(|(path, info)| (path.clone(), info.references.clone())).collect();
        let filtered = filter.apply(&closure);
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

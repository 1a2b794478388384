//! Running a plan for a task: the preflight, the dry run or the run, what a fresh runner would
//! fetch and build after the push, then the line, the job summary and the job outputs, rendered
//! from the record, on every exit.

use anyhow::Result;

use super::{plan::FreshRunner, state::State, Built, Keys, Plan, StepKind};
use crate::{
    alerts,
    command::{on_path, own_time},
    explain,
    github::{
        self,
        names::{env::DEPS_CACHE_KEY, output::CACHE_KEY},
    },
    history::History,
    keys::LockFiles,
    record::{Output, Record},
    session::Session,
};

/// Runs the plan into the record, or prints it with `--dry-run`; then the summary and the job
/// outputs, from the record.
pub fn execute(session: &Session, plan: Plan, keys: &Keys, record: &mut Record) -> Result<Built> {
    warn_on_key_drift(keys);
    record.keys = keys.iter().map(|(name, value)| Output { name: name.clone(), value: value.clone() }).collect();
    session.cache.announce();
    let problems = preflight(session, &plan);
    if session.dry_run {
        print!("{}", plan.render());
        for problem in problems {
            println!("\n# warning: a real run would stop here: {problem:#}");
        }
        return Ok(Built::default());
    }
    if let Some(problem) = problems.into_iter().next() {
        return Err(problem);
    }
    let (mut state, result) = plan.run(record);
    if result.is_ok() {
        after_the_push(session, &plan, &mut state, record);
    }
    if plan.explain {
        explain_misses(session, record, plan.counted);
    }
    // A job that fetches the deps layer and found less of it than min-hit-rate: a warning naming
    // the job, the key and the sizes (under GitHub Actions, an annotation of the run).
    if let Some(warning) = alerts::degraded(record, &[], session.config.min_hit_rate) {
        github::warning(&warning);
        record.warnings.push(warning);
    }
    eprintln!("{}", record.line());
    eprintln!("xtask's own time: {:.3}s (its wall time minus its commands')", own_time().as_secs_f64());
    github::append_summary(&record.markdown())?;
    if github::is_actions() && std::env::var_os("GITHUB_OUTPUT").is_some() {
        github::set_outputs(keys)?;
    }
    result?;
    for (_, value) in keys {
        println!("{value}");
    }
    Ok(Built { outputs: state.evaluated.iter().take(plan.builds).map(|t| t.outputs.clone()).collect() })
}

/// What the run keeps to be compared against (the lock files' entries), and why a fresh runner
/// would build each target it would build, against the history; a deps layer that misses is a
/// notice naming why.
fn explain_misses(session: &Session, record: &mut Record, counted: usize) {
    // The deps key read them already: a lock file that cannot be read now keeps no entries.
    record.basis = LockFiles::read(&session.root).ok().map(|locks| explain::basis(&session.config, &locks));
    // A task that found its own targets cached builds nothing: nothing to explain.
    if record.totals.up_to_date || !explain::misses(record, counted) {
        return;
    }
    let (records, problems) = History::of(session).map(|h| h.read()).unwrap_or_default();
    let history = match records.is_empty() && !problems.is_empty() {
        true => Err(problems.join("; ")),
        false => Ok(records.as_slice()),
    };
    explain::explain(record, &history, counted);
    for target in record.targets.iter().filter(|t| t.layer == "deps") {
        if let Some(why) = &target.why {
            let causes: Vec<String> = why.causes.iter().map(|c| c.said()).collect();
            github::notice(&format!("the deps layer {} is built: {}", target.key, causes.join("; ")));
        }
    }
}

/// What must hold before anything runs: the cache's tools and token, the signing key's file,
/// Nix itself. Every problem, for the dry run to warn about and a real run to stop at.
fn preflight(session: &Session, plan: &Plan) -> Vec<anyhow::Error> {
    let mut problems = Vec::new();
    if plan.steps.iter().any(|s| matches!(s.kind, StepKind::Push { .. } | StepKind::Pin(_))) {
        problems.extend(session.cache.preflight().err());
    }
    if plan.steps.iter().any(|s| matches!(s.kind, StepKind::SigningKey(_))) {
        problems.extend(session.signing.as_ref().and_then(|k| k.check().err()));
    }
    if plan.cmds().any(|c| c.program.starts_with("nix")) && !on_path("nix") {
        problems.push(anyhow::anyhow!(
            "Nix is not installed (no `nix` on PATH): install it with `apt-get install nix-bin` (Debian, Ubuntu) \
             or the installer from https://nixos.org/download, then run this again"
        ));
    }
    problems
}

/// What a fresh runner would fetch and build after the push, asked again (no evaluation) when
/// something was pushed or repaired, into the record beside what it saw before. A failure to
/// look is a warning of the record, never the task's.
fn after_the_push(session: &Session, plan: &Plan, state: &mut State, record: &mut Record) {
    let fresh = plan.steps.iter().find_map(|s| match &s.kind {
        StepKind::FreshRunner(f) => Some(f),
        _ => None,
    });
    let Some(f) = fresh.filter(|_| state.pushed > 0 || state.repaired > 0) else {
        for target in &mut record.targets {
            target.after = target.before.clone();
        }
        record.rates_after = record.rates.clone();
        return;
    };
    let f = FreshRunner { stop_when_cached: false, ..(**f).clone() };
    // The task's own targets only: those asked about for later jobs were not pushed here.
    let own = &plan.targets[..plan.counted];
    if let Err(err) = state.fresh_runner(&f, own, plan.counted, &session.cache.label()) {
        record.warnings.push(format!("could not ask what a fresh runner would fetch after the push: {err:#}"));
        return;
    }
    let Some(view) = &state.view else { return };
    let after = view.record(own, plan.builds);
    for (target, seen) in record.targets.iter_mut().zip(after) {
        target.after = seen.before;
    }
    record.rates_after = Some(view.rates(&plan.targets[..plan.counted]));
}

/// Downstream CI jobs get the prebuild job's key: a different one means the lock files changed
/// between the jobs, and this job builds against a layer the prebuild did not warm.
fn warn_on_key_drift(outputs: &Keys) {
    let ours = outputs.iter().find(|(name, _)| name == CACHE_KEY).map(|(_, key)| key);
    let expected = std::env::var(DEPS_CACHE_KEY).ok().filter(|k| !k.is_empty() && Some(k) != ours);
    if let (Some(expected), Some(ours)) = (expected, ours) {
        github::warning(&format!(
            "this job's deps key {ours} differs from the prebuild job's {expected}: did flake.lock or Cargo.lock change between the jobs?"
        ));
    }
}

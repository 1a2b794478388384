//! Running a plan for a task: the preflight, the dry run or the run, then the line, the job
//! summary (with what a fresh runner would fetch and build after the run) and the job outputs,
//! on every exit.

use anyhow::Result;

use super::{plan::FreshRunner, state::State, Built, Keys, Plan, StepKind, OWN_TIME};
use crate::{
    command::{on_path, own_time},
    fresh_runner::RunnerView,
    github::{
        self,
        names::{env::DEPS_CACHE_KEY, output::CACHE_KEY},
    },
    session::Session,
};

/// Runs the plan, or prints it with `--dry-run`; then the summary and the job outputs.
pub fn execute(session: &Session, plan: Plan, outputs: &Keys) -> Result<(Built, Option<RunnerView>)> {
    warn_on_key_drift(outputs);
    session.cache.announce();
    let problems = preflight(session, &plan);
    if session.dry_run {
        print!("{}", plan.render());
        for problem in problems {
            println!("\n# warning: a real run would stop here: {problem:#}");
        }
        return Ok((Built::default(), None));
    }
    if let Some(problem) = problems.into_iter().next() {
        return Err(problem);
    }
    let (report, mut state, result) = plan.run(&session.sh);
    eprintln!("{}", report.line());
    eprintln!("{OWN_TIME}{:.3}s (its wall time minus its commands')", own_time().as_secs_f64());
    let mut summary = report.markdown();
    if result.is_ok() && github::has_summary() {
        summary += &after_the_run(session, &plan, &mut state);
    }
    github::append_summary(&summary)?;
    if github::is_actions() && std::env::var_os("GITHUB_OUTPUT").is_some() {
        github::set_outputs(outputs)?;
    }
    result?;
    for (_, value) in outputs {
        println!("{value}");
    }
    let built = Built { outputs: state.evaluated.iter().take(plan.builds).map(|t| t.outputs.clone()).collect() };
    Ok((built, state.view))
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

/// The job summary's fresh-runner view after the run: the first view when nothing was pushed,
/// else asked again (no evaluation). A failure to look is a line of the summary, never the task's.
fn after_the_run(session: &Session, plan: &Plan, state: &mut State) -> String {
    let again = state.pushed > 0 || state.repaired > 0;
    let fresh = plan.steps.iter().find_map(|s| match &s.kind {
        StepKind::FreshRunner(f) => Some(f),
        _ => None,
    });
    if let (true, Some(f)) = (again, fresh) {
        let f = FreshRunner { stop_when_cached: false, ..(**f).clone() };
        if let Err(err) = state.fresh_runner(&session.sh, &f, &plan.targets, &session.cache.label()) {
            return format!("\n(could not ask what a fresh runner would fetch: {err:#})\n");
        }
    }
    match &state.view {
        Some(view) => format!("\n#### What a fresh runner would fetch and build\n\n{}", view.markdown()),
        None => String::new(),
    }
}

/// Downstream CI jobs get the prebuild job's key: a different one means the lock files changed
/// between the jobs, and this job builds against a layer the prebuild did not warm.
fn warn_on_key_drift(outputs: &Keys) {
    let expected = std::env::var(DEPS_CACHE_KEY).ok().filter(|k| !k.is_empty());
    let ours = outputs.iter().find(|(name, _)| name == CACHE_KEY).map(|(_, key)| key);
    if let (Some(expected), Some(ours)) = (expected, ours) {
        if &expected != ours {
            github::warning(&format!(
                "this job's deps key {ours} differs from the prebuild job's {expected}: did flake.lock or Cargo.lock change between the jobs?"
            ));
        }
    }
}

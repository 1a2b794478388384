//! The build-and-push pipeline every layer goes through, and the runner around it.
//!
//! 1. evaluate the outputs (nothing built);
//! 2. ask the cache for them, and stop when it has them all (unless `--force`);
//! 3. build;
//! 4. take the runtime closure;
//! 5. drop what the push filter matches;
//! 6. ask the cache which of the rest it lacks;
//! 7. push exactly those.

use anyhow::{bail, Result};

use crate::{
    cache::{on_path, Cache},
    github,
    nix::{self, Attr},
    plan::{PathSet, Plan, StepKind},
    Ctx,
};

/// The plan that builds `attrs` (which share a parent, e.g. `packages.x86_64-linux`) and pushes them.
pub fn plan(ctx: &Ctx, task: &str, attrs: &[Attr], cache: &Cache, force: bool) -> Plan {
    let substituter = cache.substituter();
    let public_key = cache.public_key(&ctx.config);
    let names: Vec<String> = attrs.iter().map(ToString::to_string).collect();

    let mut plan = Plan::new(task);
    plan.fact("flake", &ctx.flake);
    plan.fact("cache", cache.label());
    plan.step(format!("Evaluate {}", names.join(", ")), StepKind::Eval(nix::eval_outputs(&ctx.flake, attrs)));
    plan.step(
        "Ask the cache for the outputs",
        StepKind::SkipIfCached { cmd: nix::query(&substituter, PathSet::Outputs), force },
    );
    plan.step(
        format!("Build {}", names.join(", ")),
        StepKind::Build(nix::build(&ctx.flake, attrs, &substituter, public_key.as_deref(), github::is_ci())),
    );
    // Nothing to push (read-only cache): the build is the whole job.
    let push = cache.push_steps(&format!("{}-local-1", ctx.config.name));
    if push.is_empty() {
        return plan;
    }
    plan.step("Runtime closure of the outputs", StepKind::Closure(nix::closure(PathSet::Outputs)));
    plan.step("Apply the push filter", StepKind::Filter(ctx.config.push_filter.clone()));
    plan.step("Ask the cache which paths it lacks", StepKind::Missing(nix::query(&substituter, PathSet::Candidates)));
    for (title, kind) in push {
        plan.step(title, kind);
    }
    plan
}

/// Runs the plan, or prints it with `--dry-run`; then the summary and the job outputs.
/// `outputs` are the task's keys: written to `$GITHUB_OUTPUT` and printed, the last one last.
pub fn execute<N: AsRef<str>>(
    ctx: &Ctx,
    plan: &mut Plan,
    cache: Option<&Cache>,
    outputs: &[(N, String)],
) -> Result<()> {
    for (name, value) in outputs {
        plan.fact(name.as_ref(), value.clone());
    }
    // Downstream CI jobs get the prebuild job's key: a different one means the lock files changed
    // between the jobs, and this job builds against a layer the prebuild did not warm.
    let expected = std::env::var("DEPS_CACHE_KEY").ok().filter(|k| !k.is_empty());
    let ours = outputs.iter().find(|(name, _)| name.as_ref() == "cache-key").map(|(_, key)| key);
    if let (Some(expected), Some(ours)) = (expected, ours) {
        if &expected != ours {
            github::warning(&format!(
                "this job's deps key {ours} differs from the prebuild job's {expected}: did flake.lock or Cargo.lock change between the jobs?"
            ));
        }
    }
    if ctx.dry_run {
        print!("{}", plan.render());
        if let Some(Err(problem)) = cache.map(Cache::preflight) {
            println!("\n# warning: a real run would stop here: {problem:#}");
        }
        return Ok(());
    }
    if let Some(cache) = cache {
        cache.preflight()?;
    }
    if plan.cmds().any(|c| c.program == "nix") && !on_path("nix") {
        bail!(
            "Nix is not installed (no `nix` on PATH): install it with `apt-get install nix-bin` (Debian, Ubuntu) \
             or the installer from https://nixos.org/download, then run this again"
        );
    }
    let report = plan.run(&ctx.sh)?;
    eprintln!("{}", report.line());
    github::append_summary(&report.markdown())?;
    if github::is_actions() && std::env::var_os("GITHUB_OUTPUT").is_some() {
        github::set_outputs(outputs)?;
    }
    for (_, value) in outputs {
        println!("{value}");
    }
    Ok(())
}

//! The build-and-push pipeline every layer goes through, as steps of a [`Plan`]:
//!
//! 1. evaluate the outputs (nothing built);
//! 2. (with a key the xtask signs with: a local cache's own, created once, or `--signing-key`)
//!    read the key;
//! 3. ask the cache for the outputs, and stop when it has them all, signed by the key (unless
//!    `--force`);
//! 4. build;
//! 5. list what a fresh runner needs to build the targets without building anything but the
//!    workspace's own derivations: the outputs and the outputs of their build-time inputs, with
//!    their runtime closures;
//! 6. drop what the push filter matches (sources a runner gets from their origin);
//! 7. ask the cache which of the rest it lacks;
//! 8. ask the upstream caches (`upstream`, cache.nixos.org) which of those they serve;
//! 9. (with a key) check the signatures of the paths the cache has, and 10. sign the paths to
//!    push and re-sign those the key cannot verify;
//! 11. push exactly the rest.
//!
//! A cache that cannot be reached is taken as empty when asked (with a warning): the build goes
//! on. A failed push fails `warm` and `prebuild` (after the build) and is a warning in `test`.
//!
//! [`execute`] runs a plan (or prints it with `--dry-run`) and reports: the one line, the job
//! summary and the job outputs, on every exit.

mod plan;
mod signing;
mod state;
mod steps;

use anyhow::{bail, Result};

pub use plan::{OnPushFailure, Plan, StepKind};

use crate::{
    cache::{gc, gc_http::Http, push::Push, push_filter::PushFilter, Cache},
    command::{on_path, own_time},
    context::Ctx,
    github::{self, names::env::DEPS_CACHE_KEY, names::output::CACHE_KEY},
    layers,
    nix::{self, Attr, Network},
    status::{self, Target},
};

/// The plan that builds `attrs` (which share a parent, e.g. `packages.x86_64-linux`) and pushes them.
pub fn plan(ctx: &Ctx, task: &str, attrs: &[Attr], cache: &Cache, force: bool, on_push_failure: OnPushFailure) -> Plan {
    let substituter = cache.substituter();
    let public_key = cache.public_key(&ctx.config);
    let label = cache.label();
    let net = Network { stall_secs: ctx.config.cache_timeout };
    let names: Vec<String> = attrs.iter().map(ToString::to_string).collect();
    let key_name = format!("{}-local-1", ctx.config.name);
    let push = cache.push(&key_name, net, ctx.signing_key.as_deref(), &state::SIGN_SLOTS);
    let signing = push.as_ref().and_then(|p| p.signing.as_ref());

    let mut plan = Plan::new(task);
    let deps = layers::deps(&ctx.config, &ctx.system);
    plan.status = std::iter::once(&deps)
        .chain(attrs.iter().filter(|a| **a != deps))
        .map(|attr| Target::of(&ctx.config, attr.clone()))
        .collect();
    plan.fact("flake", &ctx.flake);
    plan.fact("cache", &label);
    plan.step(format!("Evaluate {}", names.join(", ")), StepKind::Eval(nix::eval_outputs(&ctx.flake, attrs, net)));
    if let Some(signing) = signing {
        let title = match signing.key.generate {
            Some(_) => "Create the local cache's signing key, once",
            None => "Read the signing key (--signing-key)",
        };
        plan.step(title, StepKind::SigningKey(signing.key.clone()));
    }
    plan.step(
        "Ask the cache for the outputs",
        StepKind::SkipIfCached {
            cmd: nix::query(&substituter, state::OUTPUTS, net),
            verify: signing.map(|s| s.verify(state::OUTPUTS)),
            cache: label.clone(),
            force,
        },
    );
    plan.step(
        format!("Build {}", names.join(", ")),
        StepKind::Build(nix::build(&ctx.flake, attrs, &substituter, public_key.as_deref(), net, github::is_ci())),
    );
    // Nothing to push (read-only cache): the build is the whole job.
    if let Some(push) = push {
        push_steps(&mut plan, ctx, cache, push, on_push_failure);
    }
    plan
}

/// The steps after the build: what a fresh runner needs, less the filter, the cache and the
/// upstream caches; signatures; the push.
fn push_steps(plan: &mut Plan, ctx: &Ctx, cache: &Cache, push: Push, on_push_failure: OnPushFailure) {
    let (substituter, label) = (cache.substituter(), cache.label());
    let net = Network { stall_secs: ctx.config.cache_timeout };
    plan.step(
        "What a fresh runner needs: the outputs, their build inputs, and their closures",
        StepKind::Needed { requisites: nix::requisites(state::DRVS), infos: nix::path_infos(state::NEEDED) },
    );
    plan.step("Apply the push filter", StepKind::Filter(PushFilter::new(ctx.config.push_filter.clone())));
    plan.step(
        "Ask the cache which paths it lacks",
        StepKind::Missing { cmd: nix::query(&substituter, state::CANDIDATES, net), cache: label.clone() },
    );
    let upstream = ctx.config.upstream.iter().map(|url| (url.clone(), nix::query(url, state::PUSH, net))).collect();
    plan.step("Ask the upstream caches which of the rest they serve", StepKind::Upstream(upstream));
    if let Some(signing) = &push.signing {
        plan.step("Check the signatures of the paths the cache has", StepKind::Verify(signing.verify(state::PRESENT)));
        plan.step(
            "Sign the paths to push, and re-sign the cache's unverifiable ones",
            StepKind::Sign { sign: signing.sign(), resign: signing.resign() },
        );
    }
    plan.step(push.title, StepKind::Push { cmd: push.upload, cache: label, on_failure: on_push_failure });
}

/// How a task says what it cost beyond its commands (`cargo xtask bench` reads it).
pub const OWN_TIME: &str = "xtask's own time: ";

/// The task's keys, as job outputs: written to `$GITHUB_OUTPUT` and printed, the last one last.
pub type Outputs = Vec<(String, String)>;

/// Runs the plan, or prints it with `--dry-run`; then the summary and the job outputs. Returns
/// the store paths the plan built (none in a dry run), in the order of its attributes.
pub fn execute(ctx: &Ctx, mut plan: Plan, cache: Option<&Cache>, outputs: &Outputs) -> Result<Vec<String>> {
    for (name, value) in outputs {
        plan.fact(name, value.clone());
    }
    warn_on_key_drift(outputs);
    if ctx.dry_run {
        print!("{}", plan.render());
        if let Some(Err(problem)) = cache.map(Cache::preflight) {
            println!("\n# warning: a real run would stop here: {problem:#}");
        }
        return Ok(Vec::new());
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
    let (report, result) = plan.run(&ctx.sh);
    eprintln!("{}", report.line());
    eprintln!("{OWN_TIME}{:.3}s (its wall time minus its commands')", own_time().as_secs_f64());
    let mut summary = report.markdown();
    if let (Some(cache), true, true) = (cache, result.is_ok(), github::has_summary()) {
        summary += &fresh_runner(ctx, &plan, cache);
    }
    github::append_summary(&summary)?;
    if github::is_actions() && std::env::var_os("GITHUB_OUTPUT").is_some() {
        github::set_outputs(outputs)?;
    }
    // Roots are recorded only where they were pushed.
    if let (Some(cache), Some((_, key)), true) =
        (cache, outputs.iter().find(|(name, _)| name == CACHE_KEY), result.is_ok() && !report.push_failed)
    {
        record_roots(ctx, cache, key, &report.roots);
    }
    result?;
    for (_, value) in outputs {
        println!("{value}");
    }
    Ok(report.roots)
}

/// Records the task's roots under its key in a cache this project owns, for `gc`. Retention's
/// bookkeeping never fails a job that pushed: a failure is a warning.
fn record_roots(ctx: &Ctx, cache: &Cache, key: &str, roots: &[String]) {
    let recorded = match cache {
        Cache::Local { dir } if dir.exists() => gc::record(dir, key, roots),
        Cache::Store { url } if url.starts_with("http") => {
            Http::new(&ctx.sh, url, ctx.config.cache_timeout).record(&ctx.sh, key, roots)
        }
        _ => Ok(()),
    };
    if let Err(err) = recorded {
        github::warning(&format!("cannot record this task's roots in {}: {err:#}", cache.label()));
    }
}

/// The job summary's fresh-runner view of the task's targets and the deps layer. A failure to
/// look is a line of the summary, never the task's.
fn fresh_runner(ctx: &Ctx, plan: &Plan, cache: &Cache) -> String {
    let net = Network { stall_secs: ctx.config.cache_timeout };
    let filter = PushFilter::new(ctx.config.push_filter.clone());
    let seen = crate::tasks::status::reading(ctx, cache).and_then(|read| {
        let substituter = read.as_ref().map(|(url, key)| (url.as_str(), key.as_deref()));
        status::look(&ctx.sh, &ctx.flake, &plan.status, substituter, &filter, net)
    });
    match seen {
        Ok(seen) => format!("\n#### What a fresh runner would fetch and build\n\n{}", status::markdown(&seen)),
        Err(err) => format!("\n(could not ask what a fresh runner would fetch: {err:#})\n"),
    }
}

/// Downstream CI jobs get the prebuild job's key: a different one means the lock files changed
/// between the jobs, and this job builds against a layer the prebuild did not warm.
fn warn_on_key_drift(outputs: &Outputs) {
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

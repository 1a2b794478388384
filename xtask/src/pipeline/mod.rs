//! The build-and-push pipeline every layer goes through, as numbered steps of a [`Plan`] (the dry
//! run prints them as a run numbers them):
//!
//! 1. evaluate the targets, once: their derivations and outputs (everything after works from
//!    those store paths);
//! 2. (a key the xtask signs with) read it, creating a local cache's once;
//! 3. ask what a fresh runner would fetch and build: the derivations in an empty store, a dry run
//!    substituting from the cache; when nothing would be built and everything the cache serves is
//!    whole and signed, stop (unless `--force`);
//! 4. build the derivations;
//! 5. list what a fresh runner needs to build the targets without building anything but the
//!    workspace's own derivations, and 6. drop what the push filter matches;
//! 7. (a cache this project owns) record those paths under the key, before any upload;
//! 8. ask the cache which it lacks, and which it holds broken or unlike this build;
//! 9. ask the upstream caches which of the rest they serve;
//! 10. (with a key) check signatures, 11. sign, re-sign what this build vouches for;
//! 12. (a cache this project owns) delete what is to be uploaded again;
//! 13. push; 14. (warm on Cachix, with `keep-revisions`) pin each target under its key.
//!
//! [`execute`] runs a plan (or prints it with `--dry-run`) and reports: the one line, the job
//! summary and the job outputs, on every exit.

mod fresh;
mod plan;
mod push;
mod state;
mod steps;

use anyhow::Result;

pub use plan::{OnPushFailure, Plan, StepKind};

use self::{plan::FreshRunner, state::*};
use crate::{
    cache::{push_filter::PushFilter, Cache},
    command::{lit, on_path, own_time, Arg, Cmd},
    fresh_runner::RunnerView,
    github::{self, names::env::DEPS_CACHE_KEY, names::output::CACHE_KEY},
    layers::{self, Layer, Target},
    nix, scratch,
    session::Session,
};

/// What a build task asks of the pipeline.
pub struct Job {
    /// The task, for headers and the summary (`warm`, `test --type unit`).
    pub task: String,
    pub targets: Vec<Target>,
    /// Build and push even when the cache has everything.
    pub force: bool,
    pub on_push_failure: OnPushFailure,
    /// Pin each target's output under its key (Cachix).
    pub pin: Option<u32>,
    /// The job outputs (`$GITHUB_OUTPUT`), printed last, the last line the most specific key.
    pub outputs: Outputs,
}

/// The task's keys, as job outputs.
pub type Outputs = Vec<(String, String)>;

/// What a run built: each target's outputs, in order (none in a dry run).
#[derive(Debug, Default)]
pub struct Built {
    pub outputs: Vec<Vec<String>>,
}

/// How a task says what it cost beyond its commands (`cargo xtask bench` reads it).
pub const OWN_TIME: &str = "xtask's own time: ";

/// The plan of a job: evaluate, ask, build and push.
pub fn plan(session: &Session, job: &Job) -> Result<Plan> {
    let (cache, net) = (&session.cache, &session.net);
    // The summary shows the deps layer beside a task's own targets: evaluated with them, not built.
    let mut targets = job.targets.clone();
    if !targets.iter().any(|t| t.layer == Layer::Deps) {
        targets.push(layers::deps(&session.config, session.deps_key()?, &session.platform.system));
    }
    let mut plan = Plan::new(&job.task, targets);
    plan.builds = job.targets.len();
    plan.fact("flake", &session.flake);
    plan.fact("cache", cache.label());
    for (name, value) in &job.outputs {
        plan.fact(name, value.clone());
    }
    let names: Vec<String> = job.targets.iter().map(|t| t.attr.to_string()).collect();
    let attrs: Vec<_> = plan.targets.iter().map(|t| t.attr.clone()).collect();
    plan.step(format!("Evaluate {}", names.join(", ")), StepKind::Eval(nix::eval_targets(&session.flake, &attrs, net)));
    let upload = cache.upload(PUSH, net);
    let signing = session.signing.as_ref().filter(|_| upload.is_some());
    if let Some(key) = signing {
        let title = if key.generate.is_some() {
            "Create the local cache's signing key, once"
        } else {
            "Read the signing key (--signing-key)"
        };
        plan.step(title, StepKind::SigningKey(key.clone()));
    }
    let trusted = trusted_key(session, signing.is_some());
    let fresh = fresh_runner(session, trusted.clone(), !job.force)?;
    plan.step("Ask what a fresh runner would fetch and build", StepKind::FreshRunner(Box::new(fresh)));
    plan.step(format!("Build {}", names.join(", ")), StepKind::Build(nix::realise(BUILD, SUBSTITUTERS, trusted, net)));
    // Nothing to push (a read-only cache): the build is the whole job.
    let Some((title, upload)) = upload else { return Ok(plan) };
    let (url, files) = (cache.substituter(), session.files());
    plan.step(
        "What a fresh runner needs: the outputs, their build inputs, and their closures",
        StepKind::Needed { requisites: nix::requisites(BUILD, true), infos: nix::path_infos(NEEDED) },
    );
    plan.step("Apply the push filter", StepKind::Filter(PushFilter::new(session.config.push_filter.clone())));
    if let Some(files) = &files {
        let key = session.deps_key()?.to_string();
        plan.step(
            "Record what the push needs, for gc",
            StepKind::Record { files: files.clone(), key, timeout: session.config.cache_timeout },
        );
    }
    let missing =
        StepKind::Missing { cmd: nix::query(&url, CANDIDATES, net), files: files.clone(), cache: cache.label() };
    plan.step("Ask the cache which paths it lacks, or holds broken", missing);
    let upstream = session.config.upstream.iter().map(|u| (u.clone(), nix::query(u, PUSH, net))).collect();
    plan.step("Ask the upstream caches which of the rest they serve", StepKind::Upstream(upstream));
    if let Some(key) = signing {
        let verify = nix::store_verify(&url, PRESENT, Some(Arg::Slot(PUBLIC_KEY)), false, net);
        plan.step("Check the signatures of the paths the cache has", StepKind::Verify(verify));
        let (sign, resign) = (nix::sign(&key.secret, None, PUSH, net), nix::sign(&key.secret, Some(&url), RESIGN, net));
        plan.step("Sign the paths to push, and re-sign what this build vouches for", StepKind::Sign { sign, resign });
    }
    if let Some(files) = files {
        plan.step("Repair: delete what is to be uploaded again", StepKind::Repair(files));
    }
    plan.step(title, StepKind::Push { cmd: upload, cache: cache.label(), on_failure: job.on_push_failure });
    if let (Some(keep), Cache::Cachix { name }) = (job.pin, cache) {
        let pins = job.targets.iter().map(|t| pin(name, &t.key, keep)).collect();
        plan.step("Pin each target under its key", StepKind::Pin(pins));
    }
    Ok(plan)
}

/// The plan of `status`: evaluate, then ask what a fresh runner would fetch and build.
pub fn look_plan(session: &Session, targets: Vec<Target>) -> Result<Plan> {
    let mut plan = Plan::new("status", targets);
    plan.fact("cache", session.cache.label());
    let attrs: Vec<_> = plan.targets.iter().map(|t| t.attr.clone()).collect();
    plan.step("Evaluate the targets", StepKind::Eval(nix::eval_targets(&session.flake, &attrs, &session.net)));
    // A key the xtask signs with is read, never created: status writes nothing.
    let signing = session.signing.as_ref().filter(|k| k.secret.exists()).map(|k| k.reader());
    if let Some(key) = &signing {
        plan.step("Read the signing key", StepKind::SigningKey(key.clone()));
    }
    let fresh = fresh_runner(session, trusted_key(session, signing.is_some()), false)?;
    plan.step("Ask what a fresh runner would fetch and build", StepKind::FreshRunner(Box::new(fresh)));
    Ok(plan)
}

/// The plan of `pin`: evaluate, then pin each target's output under its key in Cachix.
pub fn pin_plan(session: &Session, targets: Vec<Target>, cache: &str, keep: u32) -> Plan {
    let mut plan = Plan::new("pin", targets);
    plan.fact("cache", session.cache.label());
    let attrs: Vec<_> = plan.targets.iter().map(|t| t.attr.clone()).collect();
    plan.step("Evaluate the targets", StepKind::Eval(nix::eval_targets(&session.flake, &attrs, &session.net)));
    let pins = plan.targets.iter().map(|t| pin(cache, &t.key, keep)).collect();
    plan.step("Pin each target under its key", StepKind::Pin(pins));
    plan
}

/// The key a runner trusts for the cache: the one the xtask signs with (found by its step), or
/// the config's for Cachix.
fn trusted_key(session: &Session, signs: bool) -> Option<Arg> {
    if signs {
        return Some(Arg::Slot(PUBLIC_KEY));
    }
    session.cache.config_key(&session.config).map(lit)
}

fn fresh_runner(session: &Session, key: Option<Arg>, stop_when_cached: bool) -> Result<FreshRunner> {
    let (url, net) = (session.cache.substituter(), &session.net);
    let store =
        if session.dry_run { "<run directory>/fresh-runner".into() } else { scratch::dir()?.join("fresh-runner") };
    let store = store.display().to_string();
    Ok(FreshRunner {
        copy: nix::copy_derivations(&store, DRVS),
        graph: nix::derivation_graph(&store, DRVS),
        probe: nix::query(&url, OUTPUTS, net),
        upstream: session.config.upstream.iter().map(|u| (u.clone(), nix::query(u, OUTPUTS, net))).collect(),
        dry_run: nix::dry_run(&store, RUNNER_SUBSTITUTERS, TARGET_DRV, net),
        fetched: nix::query(&url, FETCHED, net),
        verify: key.map(|key| nix::store_verify(&url, SERVED, Some(key), false, net)),
        files: session.files(),
        filter: PushFilter::new(session.config.push_filter.clone()),
        stop_when_cached,
        url,
    })
}

/// `cachix pin NAME KEY PATH --keep-revisions N` of the target a per-target step runs for.
fn pin(cache: &str, key: &str, keep: u32) -> Cmd {
    let args = ["pin", cache, key].map(lit).into_iter().chain([
        Arg::Slot(TARGET_OUTPUT),
        lit("--keep-revisions"),
        lit(keep.to_string()),
    ]);
    Cmd::new("cachix", args).needs(format!("it pins {key} in Cachix: check that the token may write to {cache}"))
}

/// Runs the plan, or prints it with `--dry-run`; then the summary and the job outputs.
pub fn execute(session: &Session, plan: Plan, outputs: &Outputs) -> Result<(Built, Option<RunnerView>)> {
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
fn after_the_run(session: &Session, plan: &Plan, state: &mut state::State) -> String {
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

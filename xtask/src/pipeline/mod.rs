//! The build-and-push pipeline every layer goes through: a [`Plan`] of numbered steps holding
//! the exact commands (`cargo xtask warm --dry-run` prints them). The flake is evaluated once, at
//! the start; every later step works from the store paths it gave: what a fresh runner would
//! fetch and build (the "up to date" check), the build, what a runner needs, the push filter, the
//! record gc reads, what the cache lacks or holds broken, upstream caches, signatures, repairs,
//! the push and the pins.
//!
//! [`execute`] runs a plan (or prints it with `--dry-run`) and reports: the one line, the job
//! summary and the job outputs, on every exit.

mod execute;
pub mod fresh_runner;
mod plan;
mod push;
mod state;
mod steps;

use anyhow::Result;

pub use execute::execute;
pub(crate) use plan::{OnPushFailure, Plan, StepKind};

use self::{plan::FreshRunner, state::*};
use crate::{
    cache::{push_filter::PushFilter, Cache},
    command::{lit, Arg, Cmd},
    github::names::output,
    layers::{self, Layer, Target},
    nix,
    record::Record,
    scratch,
    session::Session,
};

/// What a build task asks of the pipeline.
pub struct Request {
    /// The task, for headers and the summary (`warm`, `test --type unit`).
    pub task: String,
    /// The targets to build and cache.
    pub targets: Vec<Target>,
    /// Build and push even when the cache has everything.
    pub force: bool,
    /// What a failed push does to the task.
    pub on_push_failure: OnPushFailure,
    /// Pin each target's output under its key, keeping this many revisions (Cachix).
    pub pin: Option<u32>,
    /// The keys the task emits: job outputs (`$GITHUB_OUTPUT`), printed last, the most specific
    /// key the last line.
    pub keys: Keys,
    /// The task uses the outputs on this machine: fetched from the cache when it has them all.
    pub fetch_outputs: bool,
    /// Targets of later jobs, evaluated and asked about with the task's own (one evaluation), not
    /// built, nor counted in its hit rates.
    pub asked: Vec<Target>,
}

/// Keys by job-output name.
pub(crate) type Keys = Vec<(String, String)>;

impl Request {
    /// A request to build and cache `targets`, emitting the deps key, then the job key of a check, or the container
    /// key of an image (`container-key`; `container-key-<image>` each, for several).
    pub fn new(
        session: &Session,
        task: &str,
        targets: Vec<Target>,
        force: bool,
        on_push_failure: OnPushFailure,
    ) -> Result<Request> {
        let mut keys: Keys = vec![(output::CACHE_KEY.to_owned(), session.deps_key()?.to_string())];
        let checks = targets.iter().filter(|t| matches!(t.layer, Layer::Check { .. }));
        keys.extend(checks.map(|t| (output::JOB_KEY.to_owned(), t.key.clone())));
        let images: Vec<_> = targets
            .iter()
            .filter_map(|t| match &t.layer {
                Layer::Image { image, .. } => Some((format!("{}{image}", output::CONTAINER_KEY_OF), t.key.clone())),
                _ => None,
            })
            .collect();
        match <[_; 1]>::try_from(images) {
            Ok([(_, key)]) => keys.push((output::CONTAINER_KEY.to_owned(), key)),
            Err(images) => keys.extend(images),
        }
        let (pin, fetch_outputs, asked) = (None, false, Vec::new());
        Ok(Request { task: task.to_owned(), targets, force, on_push_failure, pin, keys, fetch_outputs, asked })
    }
}

/// Plans and runs a request: what it built.
pub fn run(session: &Session, request: &Request, record: &mut Record) -> Result<Built> {
    execute(session, plan(session, request)?, &request.keys, record)
}

/// What a run built: each target's outputs, in order (none in a dry run).
#[derive(Debug, Default)]
pub struct Built {
    /// Each target's output paths, in the order of the request's targets.
    pub outputs: Vec<Vec<String>>,
}

/// The plan of a request: evaluate, ask, build and push.
pub fn plan(session: &Session, request: &Request) -> Result<Plan> {
    let (cache, net) = (&session.cache, &session.net);
    // The summary shows the deps layer beside a task's own targets: evaluated with them, not built.
    let mut targets = request.targets.clone();
    if !targets.iter().any(|t| t.layer == Layer::Deps) {
        targets.push(layers::deps(&session.config, session.deps_key()?, &session.platform.system));
    }
    let counted = targets.len();
    for asked in &request.asked {
        if !targets.iter().any(|t| t.attr == asked.attr) {
            targets.push(asked.clone());
        }
    }
    let mut plan = Plan::new(&request.task, targets);
    plan.builds = request.targets.len();
    plan.counted = counted;
    plan.fetch_outputs = request.fetch_outputs;
    plan.fact("flake", &session.flake);
    plan.fact("cache", cache.label());
    for (name, value) in &request.keys {
        plan.fact(name, value.clone());
    }
    let names: Vec<String> = request.targets.iter().map(|t| t.attr.to_string()).collect();
    let attrs: Vec<_> = plan.targets.iter().map(|t| t.attr.clone()).collect();
    plan.step(format!("Evaluate {}", names.join(", ")), StepKind::Eval(nix::eval_targets(&session.flake, &attrs, net)));
    let upload = cache.upload(PUSH, net);
    let signing = session.signing.as_ref().filter(|_| upload.is_some());
    if let Some(key) = signing {
        let title = if key.made_here() {
            "Create the local cache's signing key, once"
        } else {
            "Read the signing key (--signing-key)"
        };
        plan.step(title, StepKind::SigningKey(key.clone()));
    }
    let trusted = trusted_key(session, signing.is_some());
    let fresh = fresh_runner(session, trusted.clone(), !request.force)?;
    plan.step("Ask what a fresh runner would fetch and build", StepKind::FreshRunner(Box::new(fresh)));
    // Not when the task is up to date (the plan stops before): a run that builds nothing has
    // nothing to explain, and the run that built it is what a later one compares with.
    plan.explain = true;
    plan.step(MADE_OF, StepKind::MadeOf(nix::made_of(DRVS)));
    let fetch = match request.fetch_outputs {
        true => " (or fetch them, when the cache has them all: the task uses them here)",
        false => "",
    };
    let build = format!("Build {}{fetch}", names.join(", "));
    // The outputs stay GC roots until the task ends: a collection on the runner cannot take what
    // is about to be pushed.
    let roots = scratch::path(session.dry_run, "gcroots/result")?.display().to_string();
    plan.step(build, StepKind::Build(nix::realise(BUILD, SUBSTITUTERS, trusted, net, &roots)));
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
    if signing.is_some() {
        let verify = nix::store_verify(&url, PRESENT, Some(Arg::Joined(PUBLIC_KEY)), false, net);
        plan.step("Check the signatures of the paths the cache has", StepKind::Verify(verify));
    }
    // Never a signature on a narinfo's word: the bytes of what would be re-signed are checked
    // first, and with --force the bytes of every path the cache has.
    if files.is_some() && (signing.is_some() || request.force) {
        let (cmd, every) = (nix::store_verify(&url, CHECKED, None, true, net), request.force);
        let what = if every { "every path it has (--force)" } else { "what is to be re-signed" };
        plan.step(format!("Check the cache's bytes of {what}"), StepKind::Contents { cmd, every });
    }
    if let Some(key) = signing {
        let (sign, resign) = (key.sign(None, PUSH, net), key.sign(Some(&url), RESIGN, net));
        plan.step("Sign the paths to push, and re-sign what this build vouches for", StepKind::Sign { sign, resign });
    }
    if let Some(files) = &files {
        plan.step("Repair: delete what is to be uploaded again", StepKind::Repair(files.clone()));
    }
    let landed = files.map(|files| (nix::query(&url, PUSHED, net), files));
    let push = StepKind::Push { cmd: upload, cache: cache.label(), on_failure: request.on_push_failure, landed };
    plan.step(title, push);
    if let (Some(keep), Cache::Cachix { name }) = (request.pin, cache) {
        let pins = request.targets.iter().map(|t| pin(name, &t.key, keep)).collect();
        plan.step("Pin each target under its key", StepKind::Pin(pins));
    }
    Ok(plan)
}

/// The plan of `task` that starts by evaluating the targets.
fn evaluating(session: &Session, task: &str, targets: Vec<Target>) -> Plan {
    let mut plan = Plan::new(task, targets);
    plan.fact("cache", session.cache.label());
    let attrs: Vec<_> = plan.targets.iter().map(|t| t.attr.clone()).collect();
    plan.step("Evaluate the targets", StepKind::Eval(nix::eval_targets(&session.flake, &attrs, &session.net)));
    plan
}

/// The title of the step that reads what each target is made of.
const MADE_OF: &str = "What each target is made of (what a later run compares a miss with)";

/// The plan of `status`: evaluate, then ask what a fresh runner would fetch and build; `explain`:
/// and why it would build what it builds.
pub(crate) fn status_plan(session: &Session, targets: Vec<Target>, explain: bool) -> Result<Plan> {
    let mut plan = evaluating(session, "status", targets);
    // A key the xtask signs with is read, never created: status writes nothing.
    let signing = session.signing.as_ref().and_then(|k| k.reader());
    if let Some(key) = &signing {
        plan.step("Read the signing key", StepKind::SigningKey(key.clone()));
    }
    let fresh = fresh_runner(session, trusted_key(session, signing.is_some()), false)?;
    plan.step("Ask what a fresh runner would fetch and build", StepKind::FreshRunner(Box::new(fresh)));
    if explain {
        plan.explain = true;
        plan.step(MADE_OF, StepKind::MadeOf(nix::made_of(DRVS)));
    }
    Ok(plan)
}

/// The plan of `pin`: evaluate, then pin each target's output under its key in Cachix.
pub(crate) fn pin_plan(session: &Session, targets: Vec<Target>, cache: &str, keep: u32) -> Plan {
    let mut plan = evaluating(session, "pin", targets);
    let pins = plan.targets.iter().map(|t| pin(cache, &t.key, keep)).collect();
    plan.step("Pin each target under its key", StepKind::Pin(pins));
    plan
}

/// The keys a runner trusts for the cache, one word: those the xtask signs with (found by its
/// step), else those the cache and the config name ([`crate::cache::Cache::trusted_keys`]).
fn trusted_key(session: &Session, signs: bool) -> Option<Arg> {
    signs.then_some(Arg::Joined(PUBLIC_KEY)).or_else(|| session.cache.trusted_keys(&session.config).map(lit))
}

fn fresh_runner(session: &Session, key: Option<Arg>, stop_when_cached: bool) -> Result<FreshRunner> {
    let (url, net) = (session.cache.substituter(), &session.net);
    let store = scratch::path(session.dry_run, "fresh-runner")?.display().to_string();
    Ok(FreshRunner {
        copy: nix::copy_derivations(&store, DRVS),
        graph: nix::derivation_graph(&store, DRVS),
        probe: nix::query(&url, OUTPUTS, net),
        upstream: session.config.upstream.iter().map(|u| (u.clone(), nix::query(u, OUTPUTS, net))).collect(),
        dry_run: nix::dry_run(&store, RUNNER_SUBSTITUTERS, TARGET_DRV, net),
        outputs: nix::outputs(&store, RUNNER_BUILDS),
        local: nix::path_infos(HERE),
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
    Cmd::new("cachix", args).hint(format!("it pins {key} in Cachix: check that the token may write to {cache}"))
}

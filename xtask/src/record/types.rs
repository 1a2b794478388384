//! The record's fields, each documented where it is declared (`docs/records.md` shows them as
//! JSON). Sizes are bytes: `nar_bytes` as Nix counts a path (its NAR, uncompressed),
//! `file_bytes` as a cache stores it (compressed NAR files and narinfos).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    explanation::{Basis, Explanation, MadeOf},
    findings::{Collected, Decision, Pipeline, Rotated, Verified},
};

/// One run of one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// The version of these fields ([`super::SCHEMA`]).
    pub schema: u64,
    /// Unique in a history: `<started_ms>-<task>[-r<run id>-<attempt>]-<pid>`.
    pub id: String,
    /// The key of the xtask's sources that ran it ([`crate::SOURCE_KEY`]; none when built
    /// without `cargo xtask`).
    pub xtask: Option<String>,
    /// The task (`warm`, `test`, `ci`, …).
    pub task: String,
    /// The command line after `cargo xtask`, secrets redacted.
    pub args: Vec<String>,
    /// When it started, in milliseconds since the epoch.
    pub started_ms: u64,
    /// Its wall time.
    pub seconds: f64,
    /// Its wall time minus the time its commands ran: what the xtask itself cost.
    pub own_seconds: f64,
    /// How long keeping this record in the cache's history took, after the task: in the
    /// `--record` file (the history's own copy is written before it is known).
    pub history_seconds: Option<f64>,
    /// How many times it evaluated the flake.
    pub evaluations: u64,
    /// Why it failed (`None`: it succeeded).
    pub error: Option<String>,
    /// The commit it ran on (`$GITHUB_SHA`, else the checkout's `HEAD`).
    pub commit: Option<String>,
    /// The Nix it ran with.
    pub nix: Option<String>,
    /// The flake it evaluated.
    pub flake: Option<String>,
    /// The deps key of the lock files it read.
    pub deps_key: Option<String>,
    /// The cache, by name and URL (never its credentials).
    pub cache: Option<CacheInfo>,
    /// The keys it emitted (job outputs), the most specific last.
    pub keys: Vec<Output>,
    /// The GitHub Actions run it was a step of.
    pub github: Option<Github>,
    /// Each step it ran, in order.
    pub steps: Vec<StepRun>,
    /// The deps key's inputs, entry by entry: what a later run compares against to explain a
    /// miss (a task that evaluates the flake).
    pub basis: Option<Basis>,
    /// What a fresh runner would fetch and build of each target, before the build and after the push.
    pub targets: Vec<Target>,
    /// The hit rates over every target, before the build.
    pub rates: Option<Rates>,
    /// The same after the push (asked again only when something was pushed or repaired).
    pub rates_after: Option<Rates>,
    /// The pipeline's counts.
    pub totals: Totals,
    /// What it uploaded to the cache.
    pub pushed: Transfer,
    /// What it substituted from the cache (paths this machine did not have).
    pub fetched: Transfer,
    /// Paths the cache held broken or unlike this build, uploaded again, and why.
    pub repairs: Vec<Problem>,
    /// What went wrong without failing it.
    pub warnings: Vec<String>,
    /// `verify`: what it checked and found.
    pub verify: Option<Verified>,
    /// `gc`: what it kept and deleted.
    pub gc: Option<Collected>,
    /// `rotate-key`: what the step of the rotation did.
    pub rotation: Option<Rotated>,
    /// `ci` (and the history of a workflow's run): the pipeline's jobs.
    pub pipeline: Option<Pipeline>,
    /// `proven`: for each leg of the later jobs, whether it runs and why.
    pub proven: Vec<Decision>,
    /// `build-containers --push`: each manifest it pushed, by digest.
    pub published: Vec<Published>,
}

/// A name and a value: a job output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Output {
    /// Its name, which later jobs read it by (`needs.<job>.outputs.<name>`).
    pub name: String,
    /// What the step set it to.
    pub value: String,
}

/// The cache a task used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheInfo {
    /// How logs name it.
    pub label: String,
    /// The `--cache` value that names it, credentials left out.
    pub url: String,
    /// `local`, `file`, `http`, `s3`, `ssh`, `cachix`, …
    pub kind: String,
    /// Why it was only read from (a fork, no token), when it was.
    pub read_only: Option<String>,
}

/// The GitHub Actions run a task was a step of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Github {
    /// The workflow's name (`$GITHUB_WORKFLOW`).
    pub workflow: String,
    /// The workflow's file and ref (`$GITHUB_WORKFLOW_REF`:
    /// `OWNER/REPO/.github/workflows/ci.yml@refs/heads/main`).
    pub workflow_ref: String,
    /// The run's id (`$GITHUB_RUN_ID`), unique in the repository.
    pub run_id: String,
    /// Which attempt at the run this was (`$GITHUB_RUN_ATTEMPT`), from 1.
    pub run_attempt: String,
    /// The run's number (`$GITHUB_RUN_NUMBER`): each run of the workflow gets the next, a re-run
    /// keeps its own.
    pub run_number: String,
    /// The job's id in the workflow.
    pub job: String,
    /// The matrix values of the job's leg.
    pub matrix: BTreeMap<String, String>,
    /// The event that started the run (`$GITHUB_EVENT_NAME`: `push`, `pull_request`, …).
    pub event: String,
    /// The branch or tag the run is for (`$GITHUB_REF`, `refs/heads/main`).
    pub git_ref: String,
    /// The commit the run is for (`$GITHUB_SHA`).
    pub sha: String,
    /// `owner/name` (`$GITHUB_REPOSITORY`).
    pub repository: String,
    /// A pull request from a fork (no secrets).
    pub fork: bool,
}

/// One step of a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepRun {
    /// What kind of step (`eval`, `fresh-runner`, `build`, `push`, …).
    pub kind: String,
    /// What it did, in a few words, as the log and the summary say it.
    pub title: String,
    /// The commands it ran, as a shell line each (long lists of paths abbreviated).
    pub commands: Vec<String>,
    /// When it started, in seconds after the task did.
    pub start_seconds: f64,
    /// Its wall time.
    pub seconds: f64,
    /// Whether it succeeded.
    pub ok: bool,
    /// What it found or did, in words (for people; the numbers are in the record's fields).
    pub note: String,
}

/// A target (a flake attribute of one layer) as a fresh runner sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Target {
    /// `deps`, `check unit`, `image harness`.
    pub name: String,
    /// The flake attribute that builds it.
    pub attr: String,
    /// `deps`, `check` or `image`.
    pub layer: String,
    /// The key it is cached under.
    pub key: String,
    /// Its output paths, as evaluated.
    pub outputs: Vec<String>,
    /// The task builds it (the deps layer is shown beside another layer's targets).
    pub built_here: bool,
    /// What a fresh runner would do before the build.
    pub before: Option<View>,
    /// What it would do after the push (the view before, when nothing was pushed or repaired).
    pub after: Option<View>,
    /// What it is made of: what a later run compares against to explain a miss.
    pub made_of: Option<MadeOf>,
    /// Why a fresh runner would build it (its view before), against the newest earlier run
    /// that had it cached.
    pub why: Option<Explanation>,
}

/// What a runner with an empty store would do for one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct View {
    /// Paths it would fetch from the cache or build (those from their origin apart).
    pub paths: u64,
    /// Of those, fetched from the cache, whole and signed.
    pub cached: u64,
    /// Paths it gets from their origin: what the push filter keeps out, the sources read.
    pub from_origin: u64,
    /// What it would build, by name (and what the cache serves broken).
    pub to_build: Vec<String>,
    /// Paths the cache serves broken, and why.
    pub broken: Vec<Problem>,
    /// NAR bytes of the cached paths.
    pub cached_bytes: u64,
    /// NAR bytes of what it would build, when this machine's store has them all.
    pub missed_bytes: Option<u64>,
}

/// A store path and what is wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Problem {
    /// The store path.
    pub path: String,
    /// What is wrong with it, in words.
    pub why: String,
}

/// Hit rates over every target of a task (distinct paths).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rates {
    /// Distinct paths a fresh runner would fetch from the cache or build.
    pub paths: u64,
    /// Of those, the cache serves whole and signed.
    pub cached: u64,
    /// cached / paths: the seed's hit rate.
    pub hit_rate: f64,
    /// NAR bytes of the cached paths.
    pub cached_bytes: u64,
    /// NAR bytes of what it would build, when this machine's store has them all.
    pub missed_bytes: Option<u64>,
    /// cached bytes / (cached + missed bytes), when the missed bytes are known.
    pub byte_hit_rate: Option<f64>,
    /// The hit rate of the deps layer alone (what a pull request should always hit).
    pub deps_hit_rate: f64,
    /// The byte hit rate of the deps layer alone, when its missed bytes are known.
    pub deps_byte_hit_rate: Option<f64>,
}

/// The pipeline's counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// A fresh runner could fetch every output: nothing was built or pushed.
    pub up_to_date: bool,
    /// Store paths the task's targets output.
    pub outputs: u64,
    /// What a fresh runner needs: the outputs, their build inputs' outputs, their closures.
    pub closure_paths: u64,
    /// NAR bytes of the closure's paths.
    pub closure_bytes: u64,
    /// What a fresh runner would have built of the task's own targets.
    pub built: u64,
    /// Paths the cache already had.
    pub present: u64,
    /// Paths the push filter kept out, and those it matched that are pushed anyway.
    pub dropped: u64,
    /// Paths the push filter matched that are pushed anyway, because a pushed path refers to them.
    pub kept_anyway: u64,
    /// Paths the cache had that the key could not verify, signed again.
    pub resigned: u64,
    /// Paths the cache held broken or unlike this build, uploaded again.
    pub repaired: u64,
    /// Paths an upstream cache serves: not pushed.
    pub upstream: u64,
}

/// Paths moved to or from a cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Transfer {
    /// Store paths moved.
    pub paths: u64,
    /// Their NAR bytes, as Nix counts them (uncompressed).
    pub nar_bytes: u64,
    /// The bytes of the files the cache gained (NAR files and narinfos), read back from a
    /// cache this project owns.
    pub file_bytes: Option<u64>,
}

/// An image's manifest a run pushed to a registry, by digest: what a later push of the same image
/// store path copies instead of building (`publish --copies`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Published {
    /// The image (a name of the config's `images`).
    pub image: String,
    /// Its arch.
    pub arch: String,
    /// The image's store path (the script that streams it).
    pub path: String,
    /// `REGISTRY/<image>`.
    pub repository: String,
    /// The tag it was pushed under (`<tag>-<arch>`).
    pub tag: String,
    /// The manifest's digest (`sha256:…`).
    pub digest: String,
}

//! What particular tasks found, beside what every run records: `verify`'s findings, `gc`'s
//! collection, and a workflow's pipeline with each job and what its tasks did.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::{Output, Rates, Transfer};

/// What `verify` checked and found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Verified {
    /// Narinfos read.
    pub checked: u64,
    /// Each problem found, with the narinfo it was found in.
    pub problems: Vec<Finding>,
    /// Paths uploaded again (`--repair`).
    pub repaired: Vec<String>,
    /// Problems it could not repair.
    pub unrepaired: Vec<String>,
    /// Each trusted key and how many narinfos it signs.
    pub keys: Vec<KeyCoverage>,
    /// Narinfos re-signed in place by `--repair` (signed by no trusted key, their bytes sound and
    /// the same NAR as this machine's store holds).
    pub resigned: Vec<String>,
}

pub use crate::cache::verify::KeyCoverage;

/// What `rotate-key` did: a step of a signing key's rotation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rotated {
    /// `new` (the new key signs every sound narinfo beside the old) or `retire` (the old key's
    /// signatures and public key removed).
    pub step: String,
    /// The key added or retired.
    pub key: String,
    /// The public keys the config lists after it.
    pub trusted: Vec<String>,
    /// Narinfos it wrote: signed by the new key, or stripped of the old key's signature.
    pub changed: u64,
    /// Narinfos that already were (a resumed rotation).
    pub already: u64,
    /// Narinfos it left alone, each with why: bytes that do not check out, or signed by no
    /// trusted key (`verify --repair` handles them).
    pub left: Vec<Finding>,
    /// The passes over the cache (another starts while pushes under way add narinfos).
    pub passes: u64,
    /// Each key and how many narinfos it signs, after it.
    pub coverage: Vec<KeyCoverage>,
}

/// One problem of a cache's narinfo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Finding {
    /// The store path, when the narinfo could be read.
    pub path: Option<String>,
    /// The narinfo file, or why it could not be read.
    pub file: String,
    /// What is wrong, in words.
    pub problem: String,
}

/// What `gc` kept and deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Collected {
    /// Keys whose paths were kept: the newest N and those used within the grace period.
    pub kept_keys: Vec<String>,
    /// Keys whose paths were let go, their manifests deleted.
    pub dropped_keys: Vec<String>,
    /// Store paths deleted (or that a dry run would delete).
    pub deleted: u64,
    /// The bytes of the deleted paths' NAR files (the NAR's size where a narinfo gives none).
    pub freed_bytes: u64,
    /// Store paths the cache keeps.
    pub kept: u64,
    /// Narinfos left alone because they could not be read, with why.
    pub unreadable: Vec<String>,
    /// Run records deleted with the keys they belong to.
    pub records_deleted: u64,
    /// What those runs had cached, each target's derivation once: a later miss of one names
    /// this gc ([`super::Cause::Lost`]).
    pub forgotten: Vec<super::Forgotten>,
}

/// A run of a workflow's jobs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pipeline {
    /// The workflow's file (`.github/workflows/ci.yml`).
    pub workflow: String,
    /// The event it ran for (`push`, `pull_request`, …).
    pub event: String,
    /// Whether it ran as a pull request from a fork (no secrets: nothing is pushed).
    pub fork: bool,
    /// Its time on GitHub's parallel runners: the longest chain of jobs through `needs`, to the
    /// verdict (the history job, which keeps this record after it, apart).
    pub critical_path_seconds: f64,
    /// Its jobs' times added up.
    pub sum_seconds: f64,
    /// What each job that runs pays on GitHub before its first task (`job-setup-seconds`).
    pub setup_seconds: f64,
    /// Its time as GitHub would bill it: the critical path with each job that runs longer by
    /// [`Pipeline::setup_seconds`].
    pub github_seconds: f64,
    /// The jobs that ran on its critical path: each a runner started after the one before.
    pub levels: u64,
    /// Each job, one per leg of a matrix.
    pub jobs: Vec<JobRun>,
}

/// One job of a pipeline (one leg of a matrix).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRun {
    /// The job's id in the workflow.
    pub id: String,
    /// The name GitHub shows, matrix values filled in.
    pub name: String,
    /// `success`, `failure` or `skipped`.
    pub result: String,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The ids of the jobs it ran after.
    pub needs: Vec<String>,
    /// When it started on parallel runners (when the last job it needs ended), in seconds.
    pub start_seconds: f64,
    /// Its wall time.
    pub seconds: f64,
    /// How long its first `cargo xtask` took to start (a compile, or a kept binary).
    pub xtask_start_seconds: Option<f64>,
    /// The outputs it set for the jobs that need it.
    pub outputs: Vec<Output>,
    /// The values its steps got from the jobs it needs (`needs.<job>.outputs.<name>`).
    pub from_needs: Vec<Output>,
    /// What each of its tasks did.
    pub tasks: Vec<Ran>,
    /// `cargo xtask ci`: the targets' outputs deleted before the job, and those kept alive here.
    pub fresh_store: Option<FreshStoreCounts>,
    /// `cargo xtask ci`: whether the xtask's binary was restored from the actions cache.
    pub xtask_restored: Option<bool>,
    /// The first job's answer for it (`cargo xtask prebuild --prove`): why it was skipped, or ran.
    pub proof: Option<Decision>,
}

/// The first job's answer (`cargo xtask prebuild --prove`) for one leg of a later job: whether it runs, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Decision {
    /// The job's id.
    pub job: String,
    /// The leg's name, as GitHub shows it.
    pub leg: String,
    /// The leg's matrix values.
    pub matrix: BTreeMap<String, String>,
    /// Whether it runs.
    pub runs: bool,
    /// Why.
    pub why: Why,
    /// The key of what it builds.
    pub key: String,
    /// The paths of the closure of what it builds.
    pub paths: u64,
    /// Of those, what a fresh runner would build.
    pub to_build: u64,
    /// Of those, what the cache serves broken.
    pub broken: u64,
    /// The passing smoke of these exact image paths (its record id) that proves a smoke.
    pub smoke: Option<String>,
    /// On a push, a proven image's manifest in the registry (`REGISTRY/<image>@<digest>`).
    pub copy: Option<String>,
}

/// Why a leg runs or is skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Every path of its closure is fetchable from the cache, whole and signed: skipped.
    #[default]
    Proven,
    /// A fresh runner would build some of it.
    Builds,
    /// The cache serves some of it broken (a byte or signature problem): it runs, and repairs.
    Broken,
    /// Its images are fetchable, but no passing smoke of these exact paths is in the history.
    NotSmoked,
    /// A push to the default branch: it publishes this commit's images.
    Publishes,
    /// `--force`: every job runs.
    Forced,
    /// What it builds is not known here: the flake has no such attribute (an arch it does not
    /// build), or its runner's platform is not one this project knows. It runs.
    Unknown,
}

/// A manifest publish tags by digest, for an arch proven needless (`publish --copies`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Copy {
    /// The image.
    pub image: String,
    /// The arch.
    pub arch: String,
    /// `REGISTRY/<image>@<digest>`.
    pub from: String,
}

impl Copy {
    /// The copy a decision names, if it names one.
    pub fn of(d: &Decision) -> Option<Copy> {
        let value = |axis: &str| d.matrix.get(axis).cloned();
        Some(Copy { image: value("image")?, arch: value("arch")?, from: d.copy.clone()? })
    }
}

impl Decision {
    /// In words, for a summary, a report or a page.
    pub fn said(&self) -> String {
        let what = match self.why {
            Why::Proven => format!("proven: {} path(s) fetchable, whole and signed", self.paths),
            Why::Builds => format!("{} of {} path(s) to build", self.to_build, self.paths),
            Why::Broken => format!("{} of {} path(s) broken in the cache", self.broken, self.paths),
            Why::NotSmoked => "no passing smoke of these images in the history".to_owned(),
            Why::Publishes => "a push to the default branch publishes this commit's images".to_owned(),
            Why::Forced => "--force".to_owned(),
            Why::Unknown => "what it builds is not known here (no such attribute, or an unknown runner)".to_owned(),
        };
        let smoke = self.smoke.as_deref().map(|id| format!(", smoke {id} passed")).unwrap_or_default();
        let copy = self.copy.as_deref().map(|from| format!(", published as {from}")).unwrap_or_default();
        format!("{what} ({}{smoke}{copy})", self.key)
    }
}

/// A fresh runner's store, made on this machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FreshStoreCounts {
    /// Outputs of the pipeline's targets deleted from this machine's store.
    pub deleted: u64,
    /// Outputs kept because something alive on this machine refers to them (Nix refuses to delete them).
    pub kept_alive: u64,
}

/// A task of a job, in brief (its record is in the history under `record`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ran {
    /// The task's record id in the history.
    pub record: String,
    /// The task (`prebuild`, `test`, …).
    pub task: String,
    /// Why it failed (`None`: it succeeded).
    pub error: Option<String>,
    /// Its wall time.
    pub seconds: f64,
    /// What a fresh runner would have built of its own targets.
    pub built: u64,
    /// A fresh runner could fetch every output: nothing was built or pushed.
    pub up_to_date: bool,
    /// The hit rates over every target, before the build.
    pub rates: Option<Rates>,
    /// What it uploaded to the cache.
    pub pushed: Transfer,
    /// Why a fresh runner would build each target it would build, by target name.
    pub why: BTreeMap<String, super::Explanation>,
}

impl Ran {
    /// A task's record, in brief.
    pub fn of(record: &super::Record) -> Ran {
        Ran {
            record: record.id.clone(),
            task: record.task.clone(),
            error: record.error.clone(),
            seconds: record.seconds,
            built: record.totals.built,
            up_to_date: record.totals.up_to_date,
            rates: record.rates.clone(),
            pushed: record.pushed.clone(),
            why: record.targets.iter().filter_map(|t| Some((t.name.clone(), t.why.clone()?))).collect(),
        }
    }
}

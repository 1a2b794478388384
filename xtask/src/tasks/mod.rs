//! One module per task; each task's arguments are a `clap::Args` struct with a `run` method.
//! [`Task`] is every task a CI job runs; `xtask-tools` adds the maintainer's.

pub mod cache_key;
pub mod containers;
pub mod dashboard;
pub mod gc;
pub mod history;
pub mod pin;
pub mod prebuild;
pub mod publish;
pub mod smoke;
pub mod status;
pub mod summary;
pub mod test;
pub mod verify;
pub mod warm;

use anyhow::Result;

use crate::{record::Record, session::Session};

/// The tasks CI jobs run.
#[derive(clap::Subcommand, Debug)]
pub enum Task {
    /// Print the cache key(s) (the deps key, or a job or container key when asked).
    CacheKey(cache_key::CacheKey),
    /// CI prebuild-deps job: build the deps layer, push it, emit the key; with --prove, answer
    /// which legs of the later jobs run (those the cache does not prove needless).
    Prebuild(prebuild::Prebuild),
    /// Build and push the deps layer unless the cache has it.
    WarmDeps(warm::WarmDeps),
    /// Build and push container images unless the cache has them.
    WarmContainers(warm::WarmContainers),
    /// Build and push the deps layer and every image unless the cache has them.
    Warm(warm::Warm),
    /// CI build-containers job: build and push images, emit their keys.
    BuildContainers(containers::BuildContainers),
    /// Write REGISTRY/<image>:<tag> as an index of every arch's <tag>-<arch> manifest.
    Publish(publish::Publish),
    /// Run the images together: ollama by name on a network, the harness's health, models, ask.
    Smoke(smoke::Smoke),
    /// CI test-matrix job: build the flake check of a test type and push its artifacts.
    Test(test::Test),
    /// Delete from a cache this project owns every path outside the newest N keys' layers.
    Gc(gc::Gc),
    /// Check every narinfo of a cache this project owns (files, sizes, hashes, references,
    /// signatures); --repair uploads again what this machine's store has.
    Verify(verify::Verify),
    /// Pin the deps layer and every image in Cachix under their keys (keep-revisions of each).
    Pin(pin::Pin),
    /// What a fresh runner would fetch from the cache and build, per target, with hit rates.
    Status(status::Status),
    /// Summarize the results of a workflow's jobs ($NEEDS: `toJSON(needs)`) in the step summary.
    Summary(summary::Summary),
    /// Write the page of what the cache does over time: hit rates, durations, bytes, the latest
    /// pipeline, the cache by key, alerts (from the history and the cache).
    Dashboard(dashboard::Dashboard),
    /// A workflow run's last job: keep its pipeline, from its jobs' records, in the history.
    History(history::KeepRun),
}

impl Task {
    /// Whether its records are kept in the history: it changes a cache.
    pub fn kept(&self) -> bool {
        !matches!(self, Task::CacheKey(_) | Task::Status(_) | Task::Summary(_) | Task::Publish(_) | Task::Dashboard(_))
    }

    /// Runs the task, filling `record`.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        match self {
            Task::CacheKey(task) => task.run(session, record),
            Task::Prebuild(task) => task.run(session, record),
            Task::WarmDeps(task) => task.run(session, record),
            Task::Warm(task) => task.run(session, record),
            Task::WarmContainers(task) => task.run(session, record),
            Task::BuildContainers(task) => task.run(session, record),
            Task::Publish(task) => task.run(session, record),
            Task::Smoke(task) => task.run(session, record),
            Task::Test(task) => task.run(session, record),
            Task::Gc(task) => task.run(session, record),
            Task::Verify(task) => task.run(session, record),
            Task::Pin(task) => task.run(session, record),
            Task::Status(task) => task.run(session, record),
            Task::Summary(task) => task.run(session, record),
            Task::Dashboard(task) => task.run(session, record),
            Task::History(task) => task.run(session, record),
        }
    }
}

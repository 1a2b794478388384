//! `cargo xtask`: the project's CI and cache strategy as tasks. This file only parses and
//! dispatches; each task lives in `tasks/` with its own arguments, and runs on a [`Session`]
//! resolved once here.
//!
//! - `cli.rs`, `session.rs`: the global options, and what they resolve to;
//! - `config/`: `[workspace.metadata.cache]`, read and changed;
//! - `keys.rs`, `layers.rs`: the cache keys, and the three layers as targets;
//! - `command/`, `scratch.rs`, `secrets.rs`: commands as values and their runner, the run's
//!   private files, what is never printed;
//! - `nix/`, `cache/`: the Nix commands and what Nix prints; the caches, their files, locks,
//!   records, gc and verification;
//! - `pipeline/`, `report.rs`: the evaluate-ask-build-push steps, and what a run reports;
//! - `fresh_runner.rs`, `analytics.rs`: what a fresh runner would fetch and build (hit rates), and
//!   what a store holds;
//! - `workflows/`, `github/`: the job graph, the workflows rendered from it, and what they share
//!   with the tasks; `local_ci/`: the same graph run here, job by job (`cargo xtask ci`);
//! - `images/`: image archives, a registry, a container engine.

mod analytics;
mod cache;
mod cli;
mod command;
mod config;
mod files;
mod fresh_runner;
mod github;
mod images;
mod keys;
mod layers;
mod local_ci;
mod nix;
mod pipeline;
mod report;
mod scratch;
mod secrets;
mod session;
mod tasks;
mod workflows;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::{
    cli::GlobalArgs,
    session::Session,
    tasks::{
        analytics::Analytics,
        bench::Bench,
        cache_key::CacheKey,
        ci::Ci,
        containers::BuildContainers,
        gc::Gc,
        maintenance::{bump_version::BumpVersion, doctor::Doctor, rollback::Rollback},
        pin::Pin,
        publish::Publish,
        smoke::Smoke,
        status::Status,
        summary::Summary,
        test::Test,
        verify::Verify,
        warm::{Prebuild, Warm, WarmContainers, WarmDeps},
        workflows::Workflows,
    },
};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "The CI and cache strategy of this workspace, as tasks.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub task: Task,
}

#[derive(Subcommand, Debug)]
pub enum Task {
    /// Print the cache key(s) (the deps key, or a job or container key when asked).
    CacheKey(CacheKey),
    /// CI prebuild-deps job: build the deps layer, push it, emit the key.
    Prebuild(Prebuild),
    /// Build and push the deps layer unless the cache has it.
    WarmDeps(WarmDeps),
    /// Build and push container images unless the cache has them.
    WarmContainers(WarmContainers),
    /// Build and push the deps layer and every image unless the cache has them.
    Warm(Warm),
    /// CI build-containers job: build and push images, emit their keys.
    BuildContainers(BuildContainers),
    /// Write REGISTRY/<image>:<tag> as an index of every arch's <tag>-<arch> manifest.
    Publish(Publish),
    /// Run the images together: ollama by name on a network, the harness's health, models, ask.
    Smoke(Smoke),
    /// CI test-matrix job: build the flake check of a test type and push its artifacts.
    Test(Test),
    /// Run a workflow's pipeline here, job by job as a fresh runner, timed as GitHub would see it.
    Ci(Ci),
    /// Write (or `--check`) the GitHub workflows generated from the config.
    Workflows(Workflows),
    /// Raise the cache version (invalidates every key) and regenerate the workflows.
    BumpVersion(BumpVersion),
    /// Move from Cachix to the GitHub Actions cache (the seed's rollback), or back with --undo.
    Rollback(Rollback),
    /// Check Nix, the lock files, the key, the cache name, the token, the substituter, the workflows.
    Doctor(Doctor),
    /// Measure the speed targets against the bench workspace (real Nix).
    Bench(Bench),
    /// Delete from a cache this project owns every path outside the newest N keys' layers.
    Gc(Gc),
    /// Check every narinfo of a cache this project owns (files, sizes, hashes, references,
    /// signatures); --repair uploads again what this machine's store has.
    Verify(Verify),
    /// Pin the deps layer and every image in Cachix under their keys (keep-revisions of each).
    Pin(Pin),
    /// What a fresh runner would fetch from the cache and build, per target, with hit rates.
    Status(Status),
    /// The cache analytics: store size, largest paths, layers, the push filter, recommendations.
    Analytics(Analytics),
    /// Summarize the results of a workflow's jobs ($NEEDS: `toJSON(needs)`) in the step summary.
    Summary(Summary),
}

fn main() -> ExitCode {
    command::mark_start();
    let result = {
        // Whatever happens, the run's private files, and what it made elsewhere, go with it.
        let _scratch = scratch::Guard;
        run(Cli::parse())
    };
    if let Some(signal) = scratch::signal() {
        std::process::exit(128 + signal);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", secrets::redact(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let session = Session::new(cli.global)?;
    let session = &session;
    match cli.task {
        Task::CacheKey(task) => task.run(session),
        Task::Prebuild(task) => task.run(session),
        Task::WarmDeps(task) => task.run(session),
        Task::Warm(task) => task.run(session),
        Task::WarmContainers(task) => task.run(session),
        Task::BuildContainers(task) => task.run(session),
        Task::Publish(task) => task.run(session),
        Task::Smoke(task) => task.run(session),
        Task::Test(task) => task.run(session),
        Task::Ci(task) => task.run(session),
        Task::Workflows(task) => task.run(session),
        Task::BumpVersion(task) => task.run(session),
        Task::Rollback(task) => task.run(session),
        Task::Doctor(task) => task.run(session),
        Task::Bench(task) => task.run(session),
        Task::Gc(task) => task.run(session),
        Task::Verify(task) => task.run(session),
        Task::Pin(task) => task.run(session),
        Task::Status(task) => task.run(session),
        Task::Analytics(task) => task.run(session),
        Task::Summary(task) => task.run(session),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

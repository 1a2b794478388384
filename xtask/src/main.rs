//! `cargo xtask`: the project's CI and cache strategy as tasks. This file only parses and
//! dispatches; each task lives in `tasks/` with its own arguments.
//!
//! - `command/`: the command model (a command as a value) and its runner;
//! - `config/`: `[workspace.metadata.cache]`, read and changed;
//! - `keys.rs`, `layers.rs`: the cache keys and the three layers as flake attributes;
//! - `nix/`, `cache/`: the Nix commands, the cache backends and the push filter;
//! - `pipeline/`, `report.rs`: the build-and-push steps, and what a run reports;
//! - `status.rs`, `analytics.rs`: what a fresh runner would fetch and build (hit rates), and what
//!   a store holds;
//! - `workflows/`, `github/`: the generated workflows and what they share with the tasks.

mod analytics;
mod cache;
mod cli;
mod command;
mod config;
mod files;
mod fresh_runner;
mod github;
mod json;
mod keys;
mod layers;
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
use clap::Parser;

use crate::{
    cli::{Cli, Task},
    session::Session,
};

fn main() -> ExitCode {
    command::mark_start();
    // Whatever happens, the run's private files go with it.
    let _scratch = scratch::Guard;
    match run(Cli::parse()) {
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
        Task::Test(task) => task.run(session),
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
        super::cli::Cli::command().debug_assert();
    }
}

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
mod context;
mod files;
mod github;
mod json;
mod keys;
mod layers;
mod nix;
mod pipeline;
mod report;
mod secrets;
mod sha256;
mod status;
mod tasks;
mod workflows;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::{
    cli::{Cli, Task},
    context::Ctx,
};

fn main() -> ExitCode {
    command::mark_start();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", secrets::redact(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx::new(cli.global)?;
    match cli.task {
        Task::CacheKey(task) => task.run(&ctx),
        Task::Prebuild(task) => task.run(&ctx),
        Task::WarmDeps(task) => task.run(&ctx),
        Task::Warm(task) => task.run(&ctx),
        Task::WarmContainers(task) => task.run(&ctx, "warm-containers"),
        Task::BuildContainers(task) => task.run(&ctx),
        Task::Test(task) => task.run(&ctx),
        Task::Workflows(task) => task.run(&ctx),
        Task::BumpVersion(task) => task.run(&ctx),
        Task::Rollback(task) => task.run(&ctx),
        Task::Doctor(task) => task.run(&ctx),
        Task::Bench(task) => task.run(&ctx),
        Task::Gc(task) => task.run(&ctx),
        Task::Pin(task) => task.run(&ctx),
        Task::Status(task) => task.run(&ctx),
        Task::Analytics(task) => task.run(&ctx),
        Task::Summary(task) => task.run(&ctx),
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

//! `cargo xtask`: the project's CI and cache strategy as tasks. This file only parses and
//! dispatches; each task lives in its own module (see README.md for the list).

mod atomic;
mod bench;
mod bump_version;
mod cache;
mod cache_key;
mod config;
mod doctor;
mod flags;
mod github;
mod manifest;
mod nix;
mod pipeline;
mod plan;
mod push_filter;
mod rollback;
mod summary;
mod test_job;
mod warm;
mod workflows;

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::Parser;
use flags::{Cli, Task};
use xshell::Shell;

pub use atomic::write_atomic;

/// What every task gets: one shell rooted at the workspace root, and the config.
pub struct Ctx {
    pub sh: Shell,
    pub root: PathBuf,
    pub config: config::Config,
    pub flake: String,
    pub cache_arg: Option<String>,
    pub dry_run: bool,
    pub system: String,
}

impl Ctx {
    pub fn cache(&self) -> Result<cache::Cache> {
        let cache = cache::Cache::resolve(self.cache_arg.as_deref(), &self.config, &self.root)?;
        cache.announce();
        Ok(cache)
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let sh = Shell::new()?;
    let (root, config) = config::Config::load(&sh)?;
    sh.change_dir(&root);
    let flake = match cli.global.flake {
        Some(flake) if std::path::Path::new(&flake).exists() => std::path::absolute(&flake)?.display().to_string(),
        Some(flake) => flake,
        None => root.display().to_string(),
    };
    let system = cli.global.system.unwrap_or_else(host_system);
    let ctx = Ctx { sh, root, config, flake, cache_arg: cli.global.cache, dry_run: cli.global.dry_run, system };

    match cli.task {
        Task::CacheKey { os, rust, test_type, image, arch, json, github_output } => {
            let args = cache_key::KeyArgs { os, rust, test_type, image, arch, json, github_output };
            cache_key::run(&ctx, &args)
        }
        Task::Prebuild(f) => warm::run(&ctx, "prebuild", &warm::Layers::DEPS, f.force),
        Task::WarmDeps(f) => warm::run(&ctx, "warm-deps", &warm::Layers::DEPS, f.force),
        Task::Warm(f) => warm::run(&ctx, "warm", &warm::Layers::ALL, f.force),
        Task::WarmContainers(i) => warm::run(&ctx, "warm-containers", &i.layers(), i.force.force),
        Task::BuildContainers(i) => warm::run(&ctx, "build-containers", &i.layers(), i.force.force),
        Task::Test { test_type, os, rust, no_nix, force } => {
            test_job::run(&ctx, &test_job::TestArgs { test_type, os, rust, no_nix, force: force.force })
        }
        Task::Workflows { check } => workflows::run(&ctx, check),
        Task::Summary => summary::run(&ctx),
        Task::Doctor { json } => doctor::run(&ctx, json),
        Task::Bench { runs } => bench::run(&ctx, runs),
        Task::BumpVersion { to, force } => bump_version::run(&ctx, to, force),
        Task::Rollback { disable_cachix, undo } => rollback::run(&ctx, disable_cachix, undo),
    }
}

/// This machine as a Nix system: `x86_64-linux`, `aarch64-darwin`.
fn host_system() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    };
    format!("{}-{os}", std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        super::flags::Cli::command().debug_assert();
    }
}

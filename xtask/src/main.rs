//! `cargo xtask`: the project's CI and cache strategy as tasks. This file only parses and
//! dispatches; each task lives in its own module (see README.md for the list).

mod atomic;
mod bump_version;
mod cache;
mod cache_key;
mod config;
mod doctor;
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
use clap::{ArgAction, Args, Parser, Subcommand};
use xshell::Shell;

pub use atomic::write_atomic;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The CI and cache strategy of this workspace, as tasks.")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    task: Task,
}

#[derive(Args)]
struct Global {
    /// The flake to build (a path or flake reference). Default: the workspace root.
    #[arg(long, global = true, value_name = "REF")]
    flake: Option<String>,
    /// Where to push: a Nix store URL (file://, http(s)://, s3://, ssh-ng://) or cachix:NAME.
    /// Default: cachix:<name> when CACHIX_AUTH_TOKEN is set, else the local cache directory.
    #[arg(long, global = true, value_name = "URL")]
    cache: Option<String>,
    /// Print the exact commands the task would run, and run nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// The Nix system to build for. Default: this machine's (e.g. x86_64-linux).
    #[arg(long, global = true, value_name = "SYSTEM")]
    system: Option<String>,
}

#[derive(Subcommand)]
enum Task {
    /// Print the cache key(s) (the deps key, or a job or container key when asked).
    CacheKey {
        /// Job key: the runner OS (default: the config's first).
        #[arg(long)]
        os: Option<String>,
        /// Job key: the Rust version (default: the config's).
        #[arg(long)]
        rust: Option<String>,
        /// Job key: the test type.
        #[arg(long)]
        test_type: Option<String>,
        /// Container key: the image.
        #[arg(long)]
        image: Option<String>,
        /// Container key: the arch (default: the config's first).
        #[arg(long)]
        arch: Option<String>,
        /// Print every key of the config as a JSON object.
        #[arg(long)]
        json: bool,
        /// Append `cache-key=<key>` (and the others, named) to $GITHUB_OUTPUT.
        #[arg(long)]
        github_output: bool,
    },
    /// CI prebuild-deps job: build the deps layer, push it, emit the key.
    Prebuild(Force),
    /// Build and push the deps layer unless the cache has it.
    WarmDeps(Force),
    /// Build and push container images unless the cache has them.
    WarmContainers(Images),
    /// Build and push the deps layer and every image unless the cache has them.
    Warm(Force),
    /// CI build-containers job: build and push images, emit their keys.
    BuildContainers(Images),
    /// CI test-matrix job: build the flake check of a test type and push its artifacts.
    Test {
        /// The test type (a key of the config's `tests`).
        #[arg(long = "type", value_name = "T")]
        test_type: String,
        /// The runner OS, for the job key (default: the config's first).
        #[arg(long)]
        os: Option<String>,
        /// The Rust version, for the job key (default: the config's).
        #[arg(long)]
        rust: Option<String>,
        /// Run the cargo equivalent directly, without Nix.
        #[arg(long)]
        no_nix: bool,
        #[command(flatten)]
        force: Force,
    },
    /// Write (or `--check`) the GitHub workflows generated from the config.
    Workflows {
        /// Fail, with a diff and the command to run, when a committed workflow is stale.
        #[arg(long)]
        check: bool,
    },
    /// Raise the cache version (invalidates every key) and regenerate the workflows.
    BumpVersion {
        /// The new version (default: the current one plus one).
        #[arg(long, value_name = "N")]
        to: Option<u64>,
        /// Allow a version lower than the current one.
        #[arg(long)]
        force: bool,
    },
    /// Move from Cachix to the GitHub Actions cache (the seed's rollback), or back with --undo.
    Rollback {
        /// Keep keys and workflows, only turn Cachix off.
        #[arg(long, conflicts_with = "undo")]
        disable_cachix: bool,
        /// Return to Cachix.
        #[arg(long)]
        undo: bool,
    },
    /// Check Nix, the lock files, the key, the cache name, the token, the substituter, the workflows.
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Summarize the results of a workflow's jobs ($NEEDS: `toJSON(needs)`) in the step summary.
    Summary,
}

#[derive(Args)]
struct Force {
    /// Build and push even when the cache has every output (`--force=false` for CI inputs).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, default_value_t = false)]
    force: bool,
}

#[derive(Args)]
struct Images {
    /// An image to build (repeatable). Default: every image of the config.
    #[arg(long = "image", value_name = "NAME")]
    images: Vec<String>,
    /// The container arch (default: this machine's).
    #[arg(long)]
    arch: Option<String>,
    #[command(flatten)]
    force: Force,
}

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
        if github::is_actions() && self.cache_arg.is_none() && matches!(cache, cache::Cache::Local { .. }) {
            // Fork pull requests get no secrets: pulls still work, pushes stay on the runner.
            github::notice(&format!(
                "{} is not set (a fork pull request gets no secrets): pulling from the cache works, \
                 pushing is skipped; paths go to the runner's local cache only",
                cache::TOKEN_VAR
            ));
        }
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
        Task::WarmContainers(i) => warm::run(&ctx, "warm-containers", &images(&i), i.force.force),
        Task::BuildContainers(i) => warm::run(&ctx, "build-containers", &images(&i), i.force.force),
        Task::Test { test_type, os, rust, no_nix, force } => {
            test_job::run(&ctx, &test_job::TestArgs { test_type, os, rust, no_nix, force: force.force })
        }
        Task::Workflows { check } => workflows::run(&ctx, check),
        Task::Summary => summary::run(&ctx),
        Task::Doctor { json } => doctor::run(&ctx, json),
        Task::BumpVersion { to, force } => bump_version::run(&ctx, to, force),
        Task::Rollback { disable_cachix, undo } => rollback::run(&ctx, disable_cachix, undo),
    }
}

fn images(i: &Images) -> warm::Layers<'_> {
    warm::Layers { deps: false, images: &i.images, all_images: true, arch: i.arch.as_deref() }
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
        super::Cli::command().debug_assert();
    }
}

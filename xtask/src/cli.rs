//! The command line: the global options, the argument groups several tasks share, and one
//! variant per task, each holding that task's own arguments (defined in its module).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::tasks::{
    analytics::Analytics,
    bench::Bench,
    cache_key::CacheKey,
    containers::BuildContainers,
    gc::Gc,
    maintenance::{bump_version::BumpVersion, doctor::Doctor, rollback::Rollback},
    pin::Pin,
    status::Status,
    summary::Summary,
    test::Test,
    verify::Verify,
    warm::{Prebuild, Warm, WarmContainers, WarmDeps},
    workflows::Workflows,
};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "The CI and cache strategy of this workspace, as tasks.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub task: Task,
}

/// Options every task takes, before or after its name.
#[derive(clap::Args, Debug, Default)]
pub struct GlobalArgs {
    /// The flake to build (a path or flake reference). Default: the workspace root.
    #[arg(long, global = true, value_name = "REF")]
    pub flake: Option<String>,
    /// Where to push: a Nix store URL (file://, http(s)://, s3://, ssh-ng://) or cachix:NAME.
    /// Default: cachix:<name> when CACHIX_AUTH_TOKEN is set, else the local cache directory.
    #[arg(long, global = true, value_name = "URL")]
    pub cache: Option<String>,
    /// Print the exact commands the task would run, and run nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// A Nix secret key (`nix key generate-secret`) to sign what is pushed with, for any cache
    /// but Cachix (which signs itself), so runners with `require-sigs` can trust it. It must be
    /// this user's file, mode 0600. Default for the local cache: its own key, created once.
    #[arg(long, global = true, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// The Nix system to build for. Default: this machine's (e.g. x86_64-linux).
    #[arg(long, global = true, value_name = "SYSTEM")]
    pub system: Option<String>,
}

/// Build and push even when the cache has every output.
#[derive(clap::Args, Debug)]
pub struct Force {
    /// Build and push even when the cache has every output, repairing what it holds broken
    /// (`--force=false` for CI inputs).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub force: bool,
}

/// Images to build: `warm-containers` and `build-containers`.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// An image to build (repeatable). Default: every image of the config.
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
    /// The container arch, built as `<arch>-linux` (default: the arch of --system, or this machine's).
    #[arg(long)]
    pub arch: Option<String>,
    #[command(flatten)]
    pub force: Force,
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
    /// CI test-matrix job: build the flake check of a test type and push its artifacts.
    Test(Test),
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

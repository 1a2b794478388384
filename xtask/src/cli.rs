//! The command line: the global options and one variant per task, each holding that task's
//! own arguments (defined in its module).

use clap::{Parser, Subcommand};

use crate::{
    context::GlobalArgs,
    tasks::{
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
        warm::{ImageArgs, Prebuild, Warm, WarmDeps},
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
    WarmContainers(ImageArgs),
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
    /// Measure the speed targets against the example flake (real Nix).
    Bench(Bench),
    /// Delete from the local cache every path outside the newest N keys' layers.
    Gc(Gc),
    /// Pin the deps layer and every image in Cachix under their keys (keep-revisions of each).
    Pin(Pin),
    /// What a fresh runner would fetch from the cache and build, per target, with hit rates.
    Status(Status),
    /// The cache analytics: store size, largest paths, layers, the push filter, recommendations.
    Analytics(Analytics),
    /// Summarize the results of a workflow's jobs ($NEEDS: `toJSON(needs)`) in the step summary.
    Summary(Summary),
}

//! The command line: global options and one variant per task.

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::warm;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The CI and cache strategy of this workspace, as tasks.")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub task: Task,
}

#[derive(Args)]
pub struct Global {
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
    /// The Nix system to build for. Default: this machine's (e.g. x86_64-linux).
    #[arg(long, global = true, value_name = "SYSTEM")]
    pub system: Option<String>,
}

#[derive(Subcommand)]
pub enum Task {
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
    /// Measure the speed targets against the example flake (real Nix).
    Bench {
        /// How many fresh runs.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Summarize the results of a workflow's jobs ($NEEDS: `toJSON(needs)`) in the step summary.
    Summary,
}

#[derive(Args)]
pub struct Force {
    /// Build and push even when the cache has every output (`--force=false` for CI inputs).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, default_value_t = false)]
    pub force: bool,
}

#[derive(Args)]
pub struct Images {
    /// An image to build (repeatable). Default: every image of the config.
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
    /// The container arch (default: this machine's).
    #[arg(long)]
    pub arch: Option<String>,
    #[command(flatten)]
    pub force: Force,
}

impl Images {
    pub fn layers(&self) -> warm::Layers<'_> {
        warm::Layers { deps: false, images: &self.images, all_images: true, arch: self.arch.as_deref() }
    }
}

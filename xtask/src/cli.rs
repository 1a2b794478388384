//! The argument groups of the command line: the global options, and those several tasks share.
//! Each task's own arguments are defined in its module; `main` puts them together.

use std::path::PathBuf;

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
    /// this user's file, mode 0600. Repeatable: during a key rotation, give the old and the new
    /// key, and what is pushed carries both signatures. Default for the local cache: its own key,
    /// created once (and the next one, while a rotation is under way).
    #[arg(long, global = true, value_name = "FILE")]
    pub signing_key: Vec<PathBuf>,
    /// The Nix system to build for. Default: this machine's (e.g. x86_64-linux).
    #[arg(long, global = true, value_name = "SYSTEM", value_parser = system)]
    pub system: Option<String>,
    /// Write the run's record (what the task was asked, did and found; JSON) to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

/// Build and push even when the cache has every output.
#[derive(clap::Args, Debug)]
pub(crate) struct Force {
    /// Build and push even when the cache has every output, repairing what it holds broken
    /// (`--force=false` for CI inputs).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub force: bool,
}

/// Images to build: `warm-containers` and `build-containers`.
#[derive(clap::Args, Debug)]
pub(crate) struct ImageArgs {
    /// An image to build (repeatable). Default: every image of the config.
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
    /// The container arch, built as `<arch>-linux` (default: the arch of --system, or this machine's).
    #[arg(long)]
    pub arch: Option<String>,
    #[command(flatten)]
    pub force: Force,
}

/// `--system`: checked before anything runs.
fn system(s: &str) -> Result<String, String> {
    match crate::config::rules::is_system(s) {
        true => Ok(s.to_owned()),
        false => Err("a Nix system is <arch>-<os> in lowercase, e.g. x86_64-linux".into()),
    }
}

/// `--os`: a runner label, checked before anything runs.
pub fn runner(s: &str) -> Result<String, String> {
    match crate::config::rules::is_runner(s) {
        true => Ok(s.to_owned()),
        false => Err("a runner is lowercase letters, digits, '-' and '.', e.g. ubuntu-latest".into()),
    }
}

/// `--rust`: a version, checked before anything runs.
pub(crate) fn rust_version(s: &str) -> Result<String, String> {
    match crate::config::rules::is_version(s) {
        true => Ok(s.to_owned()),
        false => Err("a Rust version is MAJOR.MINOR.PATCH, e.g. 1.84.0".into()),
    }
}

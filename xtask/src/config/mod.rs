//! `[workspace.metadata.cache]`: the cache strategy's single source of truth, read from the root
//! Cargo.toml directly (the tasks need no cargo at run time) and validated in full: every problem
//! is reported at once, each naming the key, what it expected and what it found ([`read`]).

mod read;
pub mod rules;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use regex_lite::Regex;
use toml::de::DeTable;

/// The table every message points at.
pub const TABLE: &str = "[workspace.metadata.cache]";

/// Where the cache lives when Cachix is the backend, or what replaced it after a rollback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// Cachix: the seed's strategy. Keys start with `cachix-v{N}-deps-`.
    #[default]
    Cachix,
    /// Cachix turned off (`rollback --disable-cachix`): its steps commented out, the local directory pushed to.
    CachixDisabled,
    /// The GitHub Actions cache over the local directory (`cargo xtask rollback`): keys `nix-v{N}-deps-`.
    ActionsCache,
}

impl Backend {
    /// Its name in the config (`backend = "cachix"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Cachix => "cachix",
            Backend::CachixDisabled => "cachix-disabled",
            Backend::ActionsCache => "actions-cache",
        }
    }

    /// The key prefix this backend's keys start with.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Backend::Cachix | Backend::CachixDisabled => "cachix",
            Backend::ActionsCache => "nix",
        }
    }
}

/// `[workspace.metadata.cache]` of the root `Cargo.toml`, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The cache version: part of every key, so raising it starts every layer afresh.
    pub version: u64,
    /// Where the cache lives (`backend`).
    pub backend: Backend,
    /// The Cachix cache name.
    pub name: String,
    /// The public keys runners trust for the project's cache (`public-keys`): the Cachix cache's
    /// own, and a self-signed cache's; two during a key rotation (`cargo xtask rotate-key`).
    pub public_keys: Vec<String>,
    /// The local binary cache directory, relative to the workspace root.
    pub local_cache: PathBuf,
    /// Store paths matching any of these are not pushed.
    pub push_filter: Vec<Regex>,
    /// Seconds a cache request may stall before Nix gives up on that attempt (`cache-timeout`).
    pub cache_timeout: u64,
    /// How many revisions of each layer's Cachix pin to keep (`keep-revisions`); `None`: no pins.
    pub keep_revisions: Option<u32>,
    /// A job whose deps layer a fresh runner could fetch less of than this is degraded (`min-hit-rate`).
    pub min_hit_rate: f64,
    /// Seconds each job on GitHub pays before its first `cargo xtask` (`job-setup-seconds`): `cargo
    /// xtask ci` and the bench add it to each job that runs, to show a pipeline as GitHub bills it.
    pub job_setup_seconds: f64,
    /// Binary caches runners already use (`upstream`): what they serve is not pushed.
    pub upstream: Vec<String>,
    /// The Rust version the jobs' keys name (`MAJOR.MINOR.PATCH`).
    pub rust: String,
    /// The arches images are built for (`x86_64`, `aarch64`).
    pub arches: Vec<String>,
    /// The runners the test matrix runs on (`ubuntu-latest`).
    pub os: Vec<String>,
    /// Layer 1: attribute under `packages.<system>`.
    pub deps_attr: String,
    /// Layer 3: image name and its attribute under `packages.<system>`, in name order.
    pub images: Vec<(String, String)>,
    /// Layer 2: test type (= attribute under `checks.<system>`) and its cargo equivalent, in name order.
    pub tests: Vec<(String, Vec<String>)>,
}

impl Config {
    /// Finds the workspace around `dir` and reads its cache config: the root and the config.
    pub fn load(dir: &Path) -> Result<(PathBuf, Config)> {
        let root = workspace_root(dir)?;
        let path = root.join("Cargo.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let doc = DeTable::parse(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
        Ok((root, Config::from_table(doc.get_ref())?))
    }

    /// Validates the `[workspace.metadata.cache]` table of a Cargo.toml's text.
    pub fn from_manifest(text: &str) -> Result<Config> {
        Config::from_table(DeTable::parse(text).context("the manifest is not valid TOML")?.get_ref())
    }

    fn from_table(doc: &DeTable<'_>) -> Result<Config> {
        let table =
            ["workspace", "metadata", "cache"].into_iter().try_fold(doc, |t, key| t.get(key)?.get_ref().as_table());
        let table = table.with_context(|| {
            format!("{TABLE} is missing from the root Cargo.toml: add the table (see README.md, \"Configuration\")")
        })?;
        read::config(table)
    }

    pub(crate) fn image_attr(&self, image: &str) -> Result<&str> {
        find(&self.images, image, "image", "images").map(String::as_str)
    }

    pub(crate) fn test_args(&self, test_type: &str) -> Result<&[String]> {
        find(&self.tests, test_type, "test type", "tests").map(Vec::as_slice)
    }

    pub(crate) fn check_arch(&self, arch: &str) -> Result<()> {
        let (known, arches) = (self.arches.iter().any(|a| a == arch), self.arches.join(", "));
        ensure!(known, "unknown arch `{arch}`: the arches are {arches} ({TABLE}.arches)");
        Ok(())
    }
}

/// The value of `name` in a table of the config, or an error listing the names it has.
fn find<'a, T>(pairs: &'a [(String, T)], name: &str, what: &str, key: &str) -> Result<&'a T> {
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    let found = pairs.iter().find(|(n, _)| n == name).map(|(_, value)| value);
    found.with_context(|| format!("unknown {what} `{name}`: the {what}s are {} ({TABLE}.{key})", names.join(", ")))
}

/// The nearest directory at or above `dir` whose Cargo.toml has a `[workspace]` table.
fn workspace_root(dir: &Path) -> Result<PathBuf> {
    for candidate in dir.ancestors() {
        let manifest = candidate.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let is_workspace = DeTable::parse(&text).map_or_else(
            |_| text.lines().any(|l| l.trim() == "[workspace]"),
            |doc| doc.get_ref().contains_key("workspace"),
        );
        if is_workspace {
            return Ok(candidate.to_path_buf());
        }
    }
    bail!(
        "no workspace at or above {}: run the xtask inside the repository (a Cargo.toml with a [workspace] table)",
        dir.display()
    )
}

/// A Cachix cache name: lowercase letters, digits and '-'.
pub fn is_cache_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

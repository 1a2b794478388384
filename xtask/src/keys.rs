//! The seed's cache keys, as values:
//!
//! deps:      `{prefix}-v{version}-deps-{sha256(flake.lock)[..16]}-{sha256(Cargo.lock)[..16]}`
//! job:       `{deps}-{os}-{rust}-{test-type}`
//! container: `{deps}-container-{image}-{arch}`
//!
//! `{prefix}` is `cachix`, or `nix` after a rollback to the GitHub Actions cache.

use sha2::Digest;
use std::{fmt, path::Path};

use anyhow::{bail, Result};

use serde_json::{json, Map, Value};

use crate::config::Config;

/// A lock file the deps key hashes, and the command that creates it.
pub struct LockFile {
    /// Its file name in the workspace's root.
    pub name: &'static str,
    /// The command that creates it, said when it is missing.
    pub creates: &'static str,
}

/// The lock files the deps key hashes, in the key's order: flake.lock, then Cargo.lock.
pub const LOCK_FILES: [LockFile; 2] = [
    LockFile { name: "flake.lock", creates: "nix flake lock" },
    LockFile { name: "Cargo.lock", creates: "cargo generate-lockfile" },
];

/// The contents of both lock files.
pub struct LockFiles {
    /// flake.lock's bytes.
    pub flake: Vec<u8>,
    /// Cargo.lock's bytes.
    pub cargo: Vec<u8>,
}

impl LockFiles {
    /// Reads both from the workspace root; every missing one is named with the command that creates it.
    pub fn read(root: &Path) -> Result<LockFiles> {
        let shown = root.display();
        let [flake, cargo] = LOCK_FILES.map(|file| {
            let problem = match crate::files::read_bounded(&root.join(file.name), LOCK_FILE_LIMIT) {
                // An empty lock file hashes like any other: a plausible key for nothing locked.
                Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => "is empty".to_owned(),
                Ok(bytes) => return Ok(bytes),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => "is missing".to_owned(),
                Err(err) => format!("cannot be read ({err})"),
            };
            Err(format!("{} {problem} at {shown}: create it with `{}` and commit it", file.name, file.creates))
        });
        match (flake, cargo) {
            (Ok(flake), Ok(cargo)) => Ok(LockFiles { flake, cargo }),
            (flake, cargo) => {
                let missing: Vec<String> = [flake.err(), cargo.err()].into_iter().flatten().collect();
                bail!("the cache key hashes both lock files:\n  - {}", missing.join("\n  - "))
            }
        }
    }
}

/// Lock files are text files of a few megabytes at most.
const LOCK_FILE_LIMIT: u64 = 16 << 20;

/// The key of the shared dependencies layer; every other key extends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepsKey {
    prefix: &'static str,
    version: u64,
    /// The first 16 hex digits of sha256(flake.lock).
    flake_lock: String,
    /// The same of Cargo.lock.
    cargo_lock: String,
}

impl DepsKey {
    /// The deps key of the config's backend and version and these lock files.
    pub fn new(config: &Config, locks: &LockFiles) -> DepsKey {
        DepsKey {
            prefix: config.backend.key_prefix(),
            version: config.version,
            flake_lock: short_sha256(&locks.flake),
            cargo_lock: short_sha256(&locks.cargo),
        }
    }

    /// The key up to and including the flake.lock hash: actions/cache restores the newest cache
    /// of the same flake.lock when only Cargo.lock changed.
    pub(crate) fn restore_prefix(&self) -> String {
        format!("{}-v{}-deps-{}-", self.prefix, self.version, self.flake_lock)
    }

    /// The key of a job's test artifacts: `{deps}-{os}-{rust}-{test-type}`.
    pub fn job(&self, os: &str, rust: &str, test_type: &str) -> String {
        format!("{self}-{os}-{rust}-{test_type}")
    }

    /// The key of a container image: `{deps}-container-{image}-{arch}`.
    pub fn container(&self, image: &str, arch: &str) -> String {
        format!("{self}-container-{image}-{arch}")
    }

    /// Every key the config describes: the deps key, each job of the matrix and each container.
    pub fn all(&self, config: &Config) -> Value {
        let jobs: Map<String, Value> = (config.os.iter())
            .flat_map(|os| config.tests.iter().map(move |(test, _)| (os, test)))
            .map(|(os, test)| (format!("{os}-{test}"), json!(self.job(os, &config.rust, test))))
            .collect();
        let containers: Map<String, Value> = (config.images.iter())
            .flat_map(|(image, _)| config.arches.iter().map(move |arch| (image, arch)))
            .map(|(image, arch)| (format!("{image}-{arch}"), json!(self.container(image, arch))))
            .collect();
        json!({ "deps": self.to_string(), "jobs": jobs, "containers": containers })
    }
}

impl fmt::Display for DepsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.restore_prefix(), self.cargo_lock)
    }
}

/// What differs between two deps keys, in words: `version 1 → 2`, `flake.lock`, `Cargo.lock`,
/// `flake.lock and Cargo.lock`, `backend`.
pub(crate) fn what_changed(old: &str, new: &str) -> String {
    // `{prefix}-v{version}-deps-{flake.lock}-{Cargo.lock}`
    let (a, b): (Vec<&str>, Vec<&str>) = (old.split('-').collect(), new.split('-').collect());
    if a.len() != 5 || b.len() != 5 {
        return "key".to_owned();
    }
    let version = format!("version {} → {}", a[1].trim_start_matches('v'), b[1].trim_start_matches('v'));
    let parts = [(0, "backend".to_owned()), (1, version), (3, "flake.lock".to_owned()), (4, "Cargo.lock".to_owned())];
    parts.into_iter().filter(|(i, _)| a[*i] != b[*i]).map(|(_, part)| part).collect::<Vec<_>>().join(" and ")
}

/// The first 16 hex digits of the SHA-256, as `sha256sum FILE | cut -c1-16` prints them.
fn short_sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DepsKey {
        DepsKey {
            prefix: "nix",
            version: 1,
            flake_lock: "0123456789abcdef".into(),
            cargo_lock: "fedcba9876543210".into(),
        }
    }

    #[test]
    fn short_hash_is_the_first_sixteen_hex_digits() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(short_sha256(b""), "e3b0c44298fc1c14");
    }

    #[test]
    fn the_restore_prefix_keeps_the_flake_lock_hash() {
        assert_eq!(key().to_string(), "nix-v1-deps-0123456789abcdef-fedcba9876543210");
        assert_eq!(key().restore_prefix(), "nix-v1-deps-0123456789abcdef-");
    }

    #[test]
    fn a_key_change_is_named_by_what_changed() {
        let old = "cachix-v7-deps-0123456789abcdef-fedcba9876543210";
        assert_eq!(what_changed(old, "cachix-v8-deps-0123456789abcdef-fedcba9876543210"), "version 7 → 8");
        assert_eq!(what_changed(old, "cachix-v7-deps-0123456789abcdef-0000000000000000"), "Cargo.lock");
        assert_eq!(
            what_changed(old, "nix-v7-deps-1123456789abcdef-0000000000000000"),
            "backend and flake.lock and Cargo.lock"
        );
    }

    #[test]
    fn job_and_container_keys_extend_the_deps_key() {
        let deps = key().to_string();
        assert_eq!(key().job("ubuntu-latest", "1.84.0", "unit"), format!("{deps}-ubuntu-latest-1.84.0-unit"));
        assert_eq!(key().container("ollama", "aarch64"), format!("{deps}-container-ollama-aarch64"));
    }
}

//! `cargo xtask cache-key`: the seed's keys.
//!
//! deps:      `{prefix}-v{version}-deps-{sha256(flake.lock)[..16]}-{sha256(Cargo.lock)[..16]}`
//! job:       `{deps}-{os}-{rust}-{test-type}`
//! container: `{deps}-container-{image}-{arch}`

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::{config::Config, github, Ctx};

/// The lock files the deps key hashes, and the command that creates each.
pub const LOCK_FILES: [(&str, &str); 2] = [("flake.lock", "nix flake lock"), ("Cargo.lock", "cargo generate-lockfile")];

pub struct KeyArgs {
    pub os: Option<String>,
    pub rust: Option<String>,
    pub test_type: Option<String>,
    pub image: Option<String>,
    pub arch: Option<String>,
    pub json: bool,
    pub github_output: bool,
}

pub fn run(ctx: &Ctx, args: &KeyArgs) -> Result<()> {
    let deps = deps_key(&ctx.root, &ctx.config)?;
    let config = &ctx.config;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all_keys(config, &deps))?);
    }

    let mut outputs = vec![("cache-key", deps.clone())];
    match (&args.test_type, &args.os, &args.rust) {
        (Some(test_type), os, rust) => {
            config.test_args(test_type)?;
            let os = os.as_deref().unwrap_or(&config.os[0]);
            let rust = rust.as_deref().unwrap_or(&config.rust);
            outputs.push(("job-key", job_key(&deps, os, rust, test_type)));
        }
        (None, None, None) => {}
        (None, ..) => bail!("--os and --rust describe a test job: add --test-type T (one of the config's tests)"),
    }
    match (&args.image, &args.arch) {
        (Some(image), arch) => {
            config.image_attr(image)?;
            let arch = arch.as_deref().unwrap_or(&config.arches[0]);
            config.check_arch(arch)?;
            outputs.push(("container-key", container_key(&deps, image, arch)));
        }
        (None, Some(_)) => {
            bail!("--arch describes a container: add --image NAME (one of the config's images)")
        }
        (None, None) => {}
    }

    if args.github_output {
        // actions/cache falls back to the newest cache of the same flake.lock.
        let mut all = outputs.clone();
        all.push(("restore-key", restore_prefix(&deps)));
        github::set_outputs(&all)?;
    }
    if !args.json {
        // The most specific key is the last line, so `$(cargo xtask cache-key …)` picks it.
        for (_, key) in &outputs {
            println!("{key}");
        }
    }
    Ok(())
}

pub fn deps_key(root: &Path, config: &Config) -> Result<String> {
    let (flake, cargo) = lock_files(root)?;
    Ok(key_of(config, &flake, &cargo))
}

/// The contents of flake.lock and Cargo.lock; a missing one names the command that creates it.
pub fn lock_files(root: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut contents = Vec::new();
    let mut missing = Vec::new();
    for (file, creates) in LOCK_FILES {
        match std::fs::read(root.join(file)) {
            Ok(bytes) => contents.push(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => missing
                .push(format!("{file} is missing at {}: create it with `{creates}` and commit it", root.display())),
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", root.join(file).display())),
        }
    }
    if !missing.is_empty() {
        bail!("the cache key hashes both lock files:\n  - {}", missing.join("\n  - "));
    }
    let cargo = contents.pop().expect("both read");
    Ok((contents.pop().expect("both read"), cargo))
}

/// The deps key of these lock file contents.
pub fn key_of(config: &Config, flake_lock: &[u8], cargo_lock: &[u8]) -> String {
    format!(
        "{}-v{}-deps-{}-{}",
        config.backend.key_prefix(),
        config.version,
        short_sha256(flake_lock),
        short_sha256(cargo_lock)
    )
}

/// The deps key up to and including the flake.lock hash: `{prefix}-v{N}-deps-{flake}-`.
pub fn restore_prefix(deps: &str) -> String {
    let cut = deps.rfind('-').map_or(deps.len(), |i| i + 1);
    deps[..cut].to_owned()
}

pub fn job_key(deps: &str, os: &str, rust: &str, test_type: &str) -> String {
    format!("{deps}-{os}-{rust}-{test_type}")
}

pub fn container_key(deps: &str, image: &str, arch: &str) -> String {
    format!("{deps}-container-{image}-{arch}")
}

/// Every key the config describes: the deps key, each job of the matrix and each container.
pub fn all_keys(config: &Config, deps: &str) -> Value {
    let mut jobs = Map::new();
    for os in &config.os {
        for (test_type, _) in &config.tests {
            jobs.insert(format!("{os}-{test_type}"), json!(job_key(deps, os, &config.rust, test_type)));
        }
    }
    let mut containers = Map::new();
    for (image, _) in &config.images {
        for arch in &config.arches {
            containers.insert(format!("{image}-{arch}"), json!(container_key(deps, image, arch)));
        }
    }
    json!({ "deps": deps, "jobs": jobs, "containers": containers })
}

/// The first 16 hex digits of the SHA-256, as `sha256sum FILE | cut -c1-16` prints them.
fn short_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hash_is_the_first_sixteen_hex_digits() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(short_sha256(b""), "e3b0c44298fc1c14");
    }

    #[test]
    fn the_restore_prefix_keeps_the_flake_lock_hash() {
        assert_eq!(restore_prefix("nix-v1-deps-0123456789abcdef-fedcba9876543210"), "nix-v1-deps-0123456789abcdef-");
    }

    #[test]
    fn job_and_container_keys_extend_the_deps_key() {
        assert_eq!(job_key("D", "ubuntu-latest", "1.84.0", "unit"), "D-ubuntu-latest-1.84.0-unit");
        assert_eq!(container_key("D", "ollama", "aarch64"), "D-container-ollama-aarch64");
    }
}

//! `.github/workflows/ci.yml` and `cache-warming.yml`: the job graph ([`graph`]) of each workflow
//! ([`ci`], [`warming`]). `xtask-tools` renders it as YAML (`cargo xtask workflows`) and runs it
//! here (`cargo xtask ci`). Every `run:` step calls the xtask; setup steps ([`setup`]) are `uses:`
//! only, pinned to the commit of a release tag ([`pins`]). Job outputs, step ids and environment
//! names come from [`crate::github::names`], which the tasks use too.
//!
//! Who pushes: the xtask, never cachix-action (`skipPush: true`). The xtask applies the push filter
//! to exactly the closure it built and reports what it pushed; cachix-action only authenticates
//! and adds the cache as a substituter. A fork pull request gets no token: the xtask still reads
//! from the cache and skips the push, with a notice.

mod ci;
pub mod graph;
pub mod history;
pub mod legs;
pub mod pins;
pub mod setup;
mod warming;

use anyhow::{bail, Result};

use crate::config::Config;

/// The main pipeline's workflow file.
pub const CI: &str = ".github/workflows/ci.yml";
/// The cache-warming workflow's file.
pub const WARMING: &str = ".github/workflows/cache-warming.yml";
/// The command that writes them.
pub const COMMAND: &str = "cargo xtask workflows";

/// The job graph of every generated workflow.
pub fn graphs(config: &Config) -> Result<Vec<graph::Workflow>> {
    for arch in &config.arches {
        runner(arch)?;
    }
    Ok(vec![ci::graph(config), warming::graph(config)])
}

/// The GitHub-hosted runner of an arch.
pub fn runner(arch: &str) -> Result<&'static str> {
    match arch {
        "x86_64" => Ok("ubuntu-latest"),
        "aarch64" => Ok("ubuntu-24.04-arm"),
        _ => bail!("no GitHub-hosted Linux runner is known for arch `{arch}`: use x86_64 or aarch64 in arches"),
    }
}

/// A matrix of every arch of the config, each leg on its arch's runner (`runner`): the deps layer
/// and the images are built natively.
pub(crate) fn per_arch(config: &Config, axes: Vec<(&'static str, Vec<String>)>) -> graph::Matrix {
    let include = config
        .arches
        .iter()
        .map(|arch| vec![("arch", arch.clone()), ("runner", runner(arch).expect("checked in generate").to_owned())])
        .collect();
    let axes = axes.into_iter().chain([("arch", config.arches.clone())]).collect();
    graph::Matrix { fail_fast: Some(false), axes, include, from: None }
}

/// The OS and arch of a GitHub-hosted runner's label, when it is one this project uses.
pub(crate) fn runner_platform(label: &str) -> Option<(&'static str, &'static str)> {
    match label {
        "ubuntu-24.04-arm" | "ubuntu-22.04-arm" => Some(("linux", "aarch64")),
        l if l.starts_with("ubuntu-") => Some(("linux", "x86_64")),
        // GitHub's Intel macOS runners; every other macos- label is Apple silicon.
        "macos-13" | "macos-13-large" | "macos-14-large" | "macos-15-intel" => Some(("darwin", "x86_64")),
        l if l.starts_with("macos-") => Some(("darwin", "aarch64")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_arches_have_no_runner() {
        assert!(runner("riscv64").unwrap_err().to_string().contains("riscv64"));
    }
}

//! The cache's three layers as flake attributes, named by `[workspace.metadata.cache]`:
//!
//! 1. shared dependencies: `packages.<system>.<deps.attr>` (toolchain, cargo deps, dev tools);
//! 2. job-specific test artifacts: `checks.<system>.<test type>`;
//! 3. container images: `packages.<system>.<image attr>` (Linux only).

use anyhow::Result;

use crate::{config::Config, nix::Attr};

/// Which images a task builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Images {
    None,
    /// Every image of the config.
    All,
    /// These, by name.
    These(Vec<String>),
}

impl Images {
    /// `--image` flags: none given means every image.
    pub fn from_flags(names: &[String]) -> Images {
        if names.is_empty() {
            Images::All
        } else {
            Images::These(names.to_vec())
        }
    }

    /// The image names, each checked against the config.
    pub fn names<'a>(&'a self, config: &'a Config) -> Result<Vec<&'a str>> {
        match self {
            Images::None => Ok(Vec::new()),
            Images::All => Ok(config.images.iter().map(|(name, _)| name.as_str()).collect()),
            Images::These(names) => names.iter().map(|n| config.image_attr(n).map(|_| n.as_str())).collect(),
        }
    }
}

/// Layer 1.
pub fn deps(config: &Config, system: &str) -> Attr {
    Attr::package(system, &config.deps_attr)
}

/// Layer 2.
pub fn check(config: &Config, system: &str, test_type: &str) -> Result<Attr> {
    config.test_args(test_type)?;
    Ok(Attr::check(system, test_type))
}

/// Layer 3.
pub fn image(config: &Config, system: &str, name: &str) -> Result<Attr> {
    Ok(Attr::package(system, config.image_attr(name)?))
}

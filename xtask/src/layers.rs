//! The cache's three layers as targets: a flake attribute, named by `[workspace.metadata.cache]`,
//! with the key it is cached under.
//!
//! 1. shared dependencies: `packages.<system>.<deps.attr>`, under the deps key;
//! 2. job-specific test artifacts: `checks.<system>.<test type>`, under the job key;
//! 3. container images: `packages.<system>.<image attr>` (Linux only), under the container key.

use anyhow::Result;

use crate::{
    config::Config,
    keys::DepsKey,
    nix::Attr,
    session::{Platform, Session},
};

/// Which layer a target belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// Layer 1: the shared dependencies.
    Deps,
    /// Layer 2: a job's test artifacts.
    Check {
        /// The test type (`unit`), a `checks` attribute.
        test_type: String,
    },
    /// Layer 3: a container image.
    Image {
        /// The image's name in the config.
        image: String,
        /// The arch it is built for.
        arch: String,
    },
}

/// A flake attribute a task builds, with its layer and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The layer it belongs to.
    pub layer: Layer,
    /// The flake attribute that builds it.
    pub attr: Attr,
    /// The key it is cached under.
    pub key: String,
}

impl Layer {
    /// How a record names it: `deps`, `check`, `image`.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Deps => DEPS,
            Layer::Check { .. } => "check",
            Layer::Image { .. } => "image",
        }
    }
}

impl Target {
    /// How reports name it: `deps`, `check unit`, `image harness`.
    pub fn name(&self) -> String {
        match &self.layer {
            Layer::Deps => DEPS.to_owned(),
            Layer::Check { test_type } => format!("check {test_type}"),
            Layer::Image { image, .. } => format!("image {image}"),
        }
    }
}

/// What the deps layer's target is called: its rate is `deps_hit_rate`.
pub(crate) const DEPS: &str = "deps";

/// Layer 1.
pub fn deps(config: &Config, key: &DepsKey, system: &str) -> Target {
    Target { layer: Layer::Deps, attr: Attr::package(system, &config.deps_attr), key: key.to_string() }
}

/// Layer 2: the check of a test type, keyed for a runner OS and Rust version.
pub fn check(config: &Config, key: &DepsKey, system: &str, test_type: &str, os: &str, rust: &str) -> Result<Target> {
    config.test_args(test_type)?;
    Ok(Target {
        layer: Layer::Check { test_type: test_type.to_owned() },
        attr: Attr::check(system, test_type),
        key: key.job(os, rust, test_type),
    })
}

/// Layer 3: an image for a platform.
pub fn image(config: &Config, key: &DepsKey, platform: &Platform, image: &str) -> Result<Target> {
    Ok(Target {
        layer: Layer::Image { image: image.to_owned(), arch: platform.arch.clone() },
        attr: Attr::package(&platform.system, config.image_attr(image)?),
        key: key.container(image, &platform.arch),
    })
}

/// The images asked for (`--image`, repeatable; none means every image of the config).
pub fn images(session: &Session, names: &[String], platform: &Platform) -> Result<Vec<Target>> {
    let key = session.deps_key()?;
    let all: Vec<&str> = session.config.images.iter().map(|(name, _)| name.as_str()).collect();
    let names: Vec<&str> = if names.is_empty() { all } else { names.iter().map(String::as_str).collect() };
    names.into_iter().map(|name| image(&session.config, key, platform, name)).collect()
}

/// Every target of the warm set: the deps layer, the images, the checks (for the config's first
/// runner OS and its Rust).
pub fn warm_set(session: &Session) -> Result<Vec<Target>> {
    let (config, key, platform) = (&session.config, session.deps_key()?, &session.platform);
    let mut targets = vec![deps(config, key, &platform.system)];
    targets.extend(images(session, &[], platform)?);
    for (test_type, _) in &config.tests {
        targets.push(check(config, key, &platform.system, test_type, &config.os[0], &config.rust)?);
    }
    Ok(targets)
}

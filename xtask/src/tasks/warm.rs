//! Layers 1 and 3: `warm-deps`, `warm`, `warm-containers`. Each is one pipeline run
//! over its layers' targets under `packages.<system>`, emitting the deps key (and the container
//! keys of the images it built).

use anyhow::Result;

use crate::{
    cache::Cache,
    cli::{Force, ImageArgs},
    layers,
    pipeline::{self, OnPushFailure, Request},
    record::Record,
    session::Session,
};

/// Build and push the deps layer unless the cache has it.
#[derive(clap::Args, Debug)]
pub struct WarmDeps {
    #[command(flatten)]
    force: Force,
}

/// Build and push the deps layer and every image unless the cache has them; on Cachix with
/// `keep-revisions`, pin them.
#[derive(clap::Args, Debug)]
pub struct Warm {
    #[command(flatten)]
    force: Force,
}

/// Build and push images unless the cache has them.
#[derive(clap::Args, Debug)]
pub struct WarmContainers {
    #[command(flatten)]
    images: ImageArgs,
}

impl WarmDeps {
    /// Builds and pushes the deps layer (the pipeline) unless the cache has it, emitting the deps key.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let deps = layers::deps(&session.config, session.deps_key()?, &session.platform.system);
        let request = Request::new(session, "warm-deps", vec![deps], self.force.force, OnPushFailure::Fail)?;
        pipeline::run(session, &request, record).map(drop)
    }
}

impl Warm {
    /// Builds and pushes the deps layer and every image (the pipeline), pinning them when the config says.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let mut targets = vec![layers::deps(&session.config, session.deps_key()?, &session.platform.system)];
        targets.extend(layers::images(session, &[], &session.platform)?);
        let mut request = Request::new(session, "warm", targets, self.force.force, OnPushFailure::Fail)?;
        request.pin = session.config.keep_revisions.filter(|_| matches!(session.cache, Cache::Cachix { .. }));
        pipeline::run(session, &request, record).map(drop)
    }
}

impl WarmContainers {
    /// Builds and pushes the images asked for (the pipeline) unless the cache has them.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let args = &self.images;
        let platform = session.platform.for_images(&session.config, args.arch.as_deref())?;
        let targets = layers::images(session, &args.images, &platform)?;
        let request = Request::new(session, "warm-containers", targets, args.force.force, OnPushFailure::Fail)?;
        pipeline::run(session, &request, record).map(drop)
    }
}

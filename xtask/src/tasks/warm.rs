//! Layers 1 and 3: `prebuild`, `warm-deps`, `warm`, `warm-containers`. Each is one pipeline run
//! over its layers' targets under `packages.<system>`, emitting the deps key (and the container
//! keys of the images it built).

use anyhow::Result;

use crate::{
    cache::Cache,
    cli::{Force, ImageArgs},
    github::names::output,
    layers::{self, Layer, Target},
    pipeline::{self, Built, Job, OnPushFailure, Outputs},
    session::Session,
};

/// The CI prebuild-deps job: build the deps layer, push it, emit the key.
#[derive(clap::Args, Debug)]
pub struct Prebuild {
    #[command(flatten)]
    force: Force,
}

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

impl Prebuild {
    pub fn run(&self, session: &Session) -> Result<()> {
        let deps = layers::deps(&session.config, session.deps_key()?, &session.platform.system);
        build(session, "prebuild", vec![deps], self.force.force, None).map(drop)
    }
}

impl WarmDeps {
    pub fn run(&self, session: &Session) -> Result<()> {
        let deps = layers::deps(&session.config, session.deps_key()?, &session.platform.system);
        build(session, "warm-deps", vec![deps], self.force.force, None).map(drop)
    }
}

impl Warm {
    pub fn run(&self, session: &Session) -> Result<()> {
        let mut targets = vec![layers::deps(&session.config, session.deps_key()?, &session.platform.system)];
        targets.extend(layers::images(session, &[], &session.platform)?);
        let pin = session.config.keep_revisions.filter(|_| matches!(session.cache, Cache::Cachix { .. }));
        build(session, "warm", targets, self.force.force, pin).map(drop)
    }
}

impl WarmContainers {
    pub fn run(&self, session: &Session) -> Result<()> {
        run_images(session, "warm-containers", &self.images).map(drop)
    }
}

/// The images of `args`, built and pushed (`warm-containers`, and the first half of
/// `build-containers`): their targets and what was built.
pub fn run_images(session: &Session, task: &str, args: &ImageArgs) -> Result<(Vec<Target>, Built)> {
    let platform = session.platform.for_images(&session.config, args.arch.as_deref())?;
    let targets = layers::images(session, &args.images, &platform)?;
    let built = build(session, task, targets.clone(), args.force.force, None)?;
    Ok((targets, built))
}

/// One pipeline run: the targets built and pushed; emits `cache-key` and the container keys.
fn build(session: &Session, task: &str, targets: Vec<Target>, force: bool, pin: Option<u32>) -> Result<Built> {
    let mut outputs: Outputs = vec![(output::CACHE_KEY.to_owned(), session.deps_key()?.to_string())];
    let images: Vec<(&str, &str)> = targets
        .iter()
        .filter_map(|t| match &t.layer {
            Layer::Image { image, .. } => Some((image.as_str(), t.key.as_str())),
            _ => None,
        })
        .collect();
    match images.as_slice() {
        [] => {}
        [(_, key)] => outputs.push((output::CONTAINER_KEY.to_owned(), key.to_string())),
        images => {
            outputs.extend(images.iter().map(|(n, key)| (format!("{}{n}", output::CONTAINER_KEY_OF), key.to_string())))
        }
    }
    let job = Job { task: task.to_owned(), targets, force, on_push_failure: OnPushFailure::Fail, pin, outputs };
    let plan = pipeline::plan(session, &job)?;
    Ok(pipeline::execute(session, plan, &job.outputs)?.0)
}

//! Layers 1 and 3: `prebuild`, `warm-deps`, `warm`, `warm-containers`, `build-containers`.
//! Each is one pipeline run over its layers' attributes under `packages.<system>`.

use anyhow::Result;

use crate::{
    cache::Cache,
    context::Ctx,
    github::names::output,
    keys::DepsKey,
    layers::{self, Images},
    nix::Attr,
    pipeline::{self, OnPushFailure, Outputs},
};

#[derive(clap::Args, Debug)]
pub struct Force {
    /// Build and push even when the cache has every output (`--force=false` for CI inputs).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    pub force: bool,
}

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

/// Build and push the deps layer and every image unless the cache has them.
#[derive(clap::Args, Debug)]
pub struct Warm {
    #[command(flatten)]
    force: Force,
}

/// Images to build: `warm-containers` and `build-containers`.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// An image to build (repeatable). Default: every image of the config.
    #[arg(long = "image", value_name = "NAME")]
    images: Vec<String>,
    /// The container arch, built as `<arch>-linux` (default: the arch of --system, or this machine's).
    #[arg(long)]
    arch: Option<String>,
    #[command(flatten)]
    force: Force,
}

impl Prebuild {
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        build(ctx, "prebuild", true, &Images::None, None, self.force.force).map(drop)
    }
}

impl WarmDeps {
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        build(ctx, "warm-deps", true, &Images::None, None, self.force.force).map(drop)
    }
}

impl Warm {
    /// Builds and pushes both layers; with Cachix and `keep-revisions` set, pins them.
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        // The deps layer, then every image: the order `pin` names them in.
        let built = build(ctx, "warm", true, &Images::All, None, self.force.force)?;
        match Cache::resolve(ctx.cache_arg.as_deref(), &ctx.config, &ctx.root)? {
            Cache::Cachix { name } if ctx.config.keep_revisions.is_some() => crate::tasks::pin::pin(ctx, &name, &built),
            _ => Ok(()),
        }
    }
}

impl ImageArgs {
    /// Builds the images and pushes them to the cache (`warm-containers`, and the first half of
    /// `build-containers`).
    pub fn run(&self, ctx: &Ctx, task: &str) -> Result<()> {
        build(ctx, task, false, &Images::from_flags(&self.images), self.arch.as_deref(), self.force.force).map(drop)
    }

    /// The images asked for, as (name, flake attribute), for the system they are built for.
    pub fn selected(&self, ctx: &Ctx) -> Result<Vec<(String, Attr)>> {
        let (system, _) = ctx.image_platform(self.arch.as_deref())?;
        let images = Images::from_flags(&self.images);
        let names = images.names(&ctx.config)?;
        names.into_iter().map(|name| Ok((name.to_owned(), layers::image(&ctx.config, &system, name)?))).collect()
    }
}

/// Builds and pushes the layers; emits `cache-key` and the container keys.
fn build(ctx: &Ctx, task: &str, deps: bool, images: &Images, arch: Option<&str>, force: bool) -> Result<Vec<String>> {
    let config = &ctx.config;
    let (system, arch) =
        if images == &Images::None { (ctx.system.clone(), String::new()) } else { ctx.image_platform(arch)? };
    let names = images.names(config)?;
    let mut attrs = Vec::new();
    if deps {
        attrs.push(layers::deps(config, &system));
    }
    for name in &names {
        attrs.push(layers::image(config, &system, name)?);
    }

    let key = DepsKey::of_workspace(&ctx.root, config)?;
    let mut outputs: Outputs = vec![(output::CACHE_KEY.to_owned(), key.to_string())];
    match names.as_slice() {
        [] => {}
        [name] => outputs.push((output::CONTAINER_KEY.to_owned(), key.container(name, &arch))),
        names => {
            outputs.extend(names.iter().map(|n| (format!("{}{n}", output::CONTAINER_KEY_OF), key.container(n, &arch))))
        }
    }

    let cache = ctx.cache()?;
    let plan = pipeline::plan(ctx, task, &attrs, &cache, force, OnPushFailure::Fail);
    pipeline::execute(ctx, plan, Some(&cache), &outputs)
}

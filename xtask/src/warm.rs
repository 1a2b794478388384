//! Layers 1 and 3: `prebuild`, `warm-deps`, `warm-containers`, `warm`, `build-containers`.
//! Each is one pipeline run over the layer's attributes under `packages.<system>`.

use anyhow::Result;

use crate::{cache_key, nix::Attr, pipeline, Ctx};

/// Which layers a task builds.
pub struct Layers<'a> {
    pub deps: bool,
    /// Images by name; empty with `all_images` means every image of the config.
    pub images: &'a [String],
    pub all_images: bool,
    /// Container arch; the host's when `None`.
    pub arch: Option<&'a str>,
}

impl Layers<'_> {
    pub const DEPS: Layers<'static> = Layers { deps: true, images: &[], all_images: false, arch: None };
    pub const ALL: Layers<'static> = Layers { deps: true, images: &[], all_images: true, arch: None };
}

/// Builds and pushes the layers; emits `cache-key` and the container keys.
pub fn run(ctx: &Ctx, task: &str, layers: &Layers, force: bool) -> Result<()> {
    let config = &ctx.config;
    let (arch, system) = match layers.arch {
        Some(arch) => {
            config.check_arch(arch)?;
            (arch.to_owned(), format!("{arch}-linux"))
        }
        None => (std::env::consts::ARCH.to_owned(), ctx.system.clone()),
    };
    let images: Vec<&str> = if layers.images.is_empty() && layers.all_images {
        config.images.iter().map(|(name, _)| name.as_str()).collect()
    } else {
        layers.images.iter().map(String::as_str).collect()
    };

    let mut attrs = Vec::new();
    if layers.deps {
        attrs.push(Attr::package(&system, &config.deps_attr));
    }
    for image in &images {
        attrs.push(Attr::package(&system, config.image_attr(image)?));
    }

    let deps = cache_key::deps_key(&ctx.root, config)?;
    let mut outputs = vec![("cache-key".to_owned(), deps.clone())];
    for image in &images {
        outputs.push((format!("container-key-{image}"), cache_key::container_key(&deps, image, &arch)));
    }
    if let [image] = images.as_slice() {
        outputs.push(("container-key".to_owned(), cache_key::container_key(&deps, image, &arch)));
    }

    let cache = ctx.cache()?;
    let mut plan = pipeline::plan(ctx, task, &attrs, &cache, force);
    pipeline::execute(ctx, &mut plan, Some(&cache), &outputs)
}

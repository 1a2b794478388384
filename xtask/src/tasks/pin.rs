//! `cargo xtask pin`: Cachix garbage-collects a cache past its storage limit, by last access (the
//! seed's "unlimited, never evicted" is not what Cachix documents). Pins protect paths: the deps
//! layer and each image are pinned under their keys, keeping the newest `keep-revisions`
//! revisions of each pin. `warm` pins too when `keep-revisions` is set and the cache is Cachix.

use anyhow::{bail, Result};

use crate::{
    cache::Cache,
    command::{Cmd, NoSlots},
    context::Ctx,
    keys::DepsKey,
    layers,
    nix::{self, json, Attr, Network},
};

/// How many revisions a pin keeps when the config does not say.
const DEFAULT_KEEP: u32 = 5;

/// Pin the deps layer and every image in Cachix under their keys.
#[derive(clap::Args, Debug)]
pub struct Pin {}

impl Pin {
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        let cache = ctx.cache()?;
        let Cache::Cachix { name } = &cache else {
            bail!(
                "pins are Cachix's ({} is not Cachix): a cache this project owns keeps every path until it is deleted",
                cache.label()
            );
        };
        cache.preflight()?;
        pin(ctx, name, &[])
    }
}

/// `cachix pin NAME KEY PATH --keep-revisions N` for the deps layer and each image. `built`: their
/// paths when a warm just built them (else they are evaluated).
pub fn pin(ctx: &Ctx, cache: &str, built: &[String]) -> Result<()> {
    let config = &ctx.config;
    let key = DepsKey::of_workspace(&ctx.root, config)?;
    let (system, arch) = ctx.image_platform(None)?;
    let mut named: Vec<(String, Attr)> = vec![(key.to_string(), layers::deps(config, &system))];
    for (image, _) in &config.images {
        named.push((key.container(image, &arch), layers::image(config, &system, image)?));
    }
    let attrs: Vec<Attr> = named.iter().map(|(_, attr)| attr.clone()).collect();
    let eval = nix::eval_outputs(&ctx.flake, &attrs, Network { stall_secs: config.cache_timeout });
    let paths = if built.len() == named.len() {
        built.to_vec()
    } else if ctx.dry_run {
        println!("# cargo xtask pin (dry run: nothing is run)\n{}", eval.render(None));
        named.iter().map(|(_, attr)| format!("<{attr}>")).collect()
    } else {
        json::parse_paths(&eval.run(&ctx.sh, &NoSlots).map_err(nix::explain_eval_failure)?)?
    };
    let keep = config.keep_revisions.unwrap_or(DEFAULT_KEEP).to_string();
    for ((name, _), path) in named.iter().zip(&paths) {
        let cmd = Cmd::lits("cachix", ["pin", cache, name, path, "--keep-revisions", &keep])
            .needs(format!("it pins {name} in Cachix: check that the token may write to {cache}"));
        if ctx.dry_run {
            println!("{}", cmd.render(None));
        } else {
            cmd.run(&ctx.sh, &NoSlots)?;
        }
    }
    Ok(())
}

//! `cargo xtask status [--json]`: what a fresh runner would fetch from the cache and build, for
//! each target of the warm set ([`crate::status`]). Builds nothing, writes nothing.

use anyhow::{bail, Result};

use crate::{
    cache::{push_filter::PushFilter, Cache},
    command::on_path,
    context::Ctx,
    keys::DepsKey,
    nix::Network,
    status,
};

#[derive(clap::Args, Debug)]
pub struct Status {
    /// Print JSON: `{"key", "cache", "targets": [...], "paths", "cached", "hit_rate", "deps_hit_rate"}`.
    #[arg(long)]
    json: bool,
}

impl Status {
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        let key = DepsKey::of_workspace(&ctx.root, &ctx.config)?;
        let cache = ctx.cache()?;
        let targets = status::warm_set(&ctx.config, &ctx.system);
        let net = Network { stall_secs: ctx.config.cache_timeout };
        let read = reading(ctx, &cache)?;
        if ctx.dry_run {
            println!("# cargo xtask status (dry run: nothing is run)\n# cache: {}", cache.label());
            for target in &targets {
                let substituter = read.as_ref().map(|(url, key)| (url.as_str(), key.as_deref()));
                let cmd = status::dry_run(&ctx.flake, &target.attr, "<empty store>", substituter, net);
                println!("\n# {}\n{}", target.name, cmd.render(None));
            }
            return Ok(());
        }
        if !on_path("nix") {
            bail!("Nix is not installed (no `nix` on PATH): install it with `apt-get install nix-bin`, then run this again");
        }
        let substituter = read.as_ref().map(|(url, key)| (url.as_str(), key.as_deref()));
        let filter = PushFilter::new(ctx.config.push_filter.clone());
        let seen = status::look(&ctx.sh, &ctx.flake, &targets, substituter, &filter, net)?;
        if self.json {
            println!("{}", status::json(&key.to_string(), &cache.label(), &seen).pretty());
        } else {
            println!("# cargo xtask status: {} ({})\n\n{}", key, cache.label(), status::markdown(&seen));
        }
        Ok(())
    }
}

/// The URL a runner substitutes from and the key it trusts; `None` for a local cache that does
/// not exist yet (nothing is cached, and asking would create it).
pub fn reading(ctx: &Ctx, cache: &Cache) -> Result<Option<(String, Option<String>)>> {
    if let Cache::Local { dir } = cache {
        if !dir.exists() {
            return Ok(None);
        }
    }
    Ok(Some((cache.substituter(), cache.public_key(&ctx.config))))
}

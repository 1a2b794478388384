//! `cargo xtask gc --keep N`: for a cache this project owns (the local `file://` directory), delete
//! every path outside the closures of the newest N keys' roots ([`crate::cache::gc`]). With
//! `--dry-run`, list what would go and the bytes freed.

use anyhow::{bail, Result};

use crate::{
    cache::{gc, Cache},
    context::Ctx,
    report::mib,
};

#[derive(clap::Args, Debug)]
pub struct Gc {
    /// How many keys (the newest, by the last task that used each) keep their layers.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    keep: u16,
}

impl Gc {
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        let cache = ctx.cache()?;
        let Cache::Local { dir } = &cache else {
            bail!(
                "gc deletes from caches this project owns, a file:// directory ({} is not one): Cachix keeps what `cargo xtask pin` pins",
                cache.label()
            );
        };
        if !dir.exists() {
            println!("{} does not exist: nothing to collect", dir.display());
            return Ok(());
        }
        let plan = gc::plan(dir, usize::from(self.keep))?;
        let verb = if ctx.dry_run { "would delete" } else { "deleting" };
        println!("keeping the layers of {} key(s): {}", plan.kept_keys.len(), plan.kept_keys.join(", "));
        for path in plan.delete.keys() {
            println!("{verb} {path}");
        }
        if !ctx.dry_run {
            for file in plan.delete.values().flatten().chain(&plan.dropped_keys) {
                std::fs::remove_file(file).or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
            }
        }
        println!(
            "{} {} path(s), {} freed; {} kept",
            if ctx.dry_run { "would delete" } else { "deleted" },
            plan.delete.len(),
            mib(plan.bytes),
            plan.kept
        );
        Ok(())
    }
}

//! `cargo xtask gc --keep N`: for a cache this project owns (a `file://` directory, or an HTTP
//! cache that takes DELETE), delete every path outside the closures of the newest N keys' roots
//! ([`crate::cache::gc`], [`crate::cache::gc_http`]). With `--dry-run`, list what would go.

use anyhow::{bail, Result};

use crate::{
    cache::{gc, gc_http::Http, Cache},
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
        let dir = match &cache {
            Cache::Local { dir } => dir,
            Cache::Store { url } if url.starts_with("http") => return self.http(ctx, url),
            _ => bail!(
                "gc deletes from caches this project owns, a file:// directory or an HTTP cache that takes DELETE ({} is neither): Cachix keeps what `cargo xtask pin` pins",
                cache.label()
            ),
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

    /// An HTTP cache: the recorded roots' closures, less the kept ones'.
    fn http(&self, ctx: &Ctx, url: &str) -> Result<()> {
        let http = Http::new(&ctx.sh, url, ctx.config.cache_timeout);
        let (kept, delete, bytes) = http.plan(&ctx.sh, usize::from(self.keep))?;
        let verb = if ctx.dry_run { "would delete" } else { "deleting" };
        println!("keeping the layers of {} key(s): {}", kept.len(), kept.join(", "));
        for path in delete.keys() {
            println!("{verb} {path}");
        }
        if !ctx.dry_run {
            http.collect(&ctx.sh, &kept, &delete)?;
        }
        let done = if ctx.dry_run { "would delete" } else { "deleted" };
        println!("{done} {} path(s), {} freed (NAR size)", delete.len(), mib(bytes));
        Ok(())
    }
}

//! `cargo xtask gc --keep N [--grace SECS]`: for a cache this project owns (a `file://`
//! directory, or an HTTP cache that takes DELETE), delete every path outside the closures of the
//! newest N keys' recorded paths and of every key used within the grace period
//! ([`crate::cache::gc`]). With `--dry-run`, list what would go.

use std::{collections::BTreeSet, time::Duration};

use anyhow::{bail, Result};

use crate::{
    cache::{files::Files, gc, roots},
    explain,
    history::History,
    record::{render::mib, Collected, Record},
    session::Session,
};

/// Delete from a cache this project owns every path outside the newest N keys' layers.
#[derive(clap::Args, Debug)]
pub struct Gc {
    /// How many keys (the newest, by the last task that recorded under each) keep their layers.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    keep: u16,
    /// Keys used within this many seconds are kept too: a push under way recorded its paths
    /// before uploading, and one that finished moments ago may still be needed.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    grace: u64,
}

impl Gc {
    /// Collects the cache under its lock, into the record's `gc` (a dry run lists what would go).
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let Some(files) = session.files() else {
            bail!(
                "gc deletes from caches this project owns, a file:// directory or an HTTP cache that takes DELETE ({} is neither): Cachix keeps what `cargo xtask pin` pins",
                session.cache.label()
            );
        };
        if matches!(&files, Files::Dir(dir) if !dir.exists()) {
            println!("{} does not exist: nothing to collect", files.label());
            return Ok(());
        }
        // A dry run only reads; a real one holds the cache's lock from its first read to its last delete.
        let lease = roots::lease(session.config.cache_timeout);
        let mut lock = (!session.dry_run).then(|| files.lock(roots::LOCK_WAIT, lease)).transpose()?;
        if lock.as_ref().is_some_and(|l| !l.deletes()) {
            bail!("gc deletes, and {} takes no DELETE: allow it for the write credentials (nginx: dav_methods PUT DELETE)", files.label());
        }
        let plan = gc::collection(&files, usize::from(self.keep), Duration::from_secs(self.grace))?;
        for unreadable in &plan.unreadable {
            eprintln!("warning: left alone: {unreadable}");
        }
        let verb = if session.dry_run { "would delete" } else { "deleting" };
        println!("keeping the layers of {} key(s): {}", plan.kept_keys.len(), plan.kept_keys.join(", "));
        for path in plan.delete.keys() {
            println!("{verb} {path}");
        }
        let collected = record.gc.insert(Collected {
            kept_keys: plan.kept_keys.clone(),
            dropped_keys: plan.dropped_keys.clone(),
            deleted: plan.delete.len() as u64,
            freed_bytes: plan.bytes,
            kept: plan.kept as u64,
            unreadable: plan.unreadable.clone(),
            ..Collected::default()
        });
        if let Some(lock) = lock.as_mut() {
            gc::collect(&files, lock, &plan)?;
            // The runs of the keys dropped go with their paths (under the same lock).
            // The history is never the task's verdict: what cannot be forgotten is a warning.
            if let Some(history) = History::of(session) {
                let dropped: BTreeSet<String> = plan.dropped_keys.iter().cloned().collect();
                let deleted: BTreeSet<&str> = plan.delete.keys().map(String::as_str).collect();
                collected.forgotten = explain::forgotten(&history.read().0, &dropped, &deleted);
                match history.forget(&plan.dropped_keys.iter().cloned().collect()) {
                    Ok(gone) => collected.records_deleted = gone,
                    Err(err) => crate::github::warning(&format!(
                        "cannot delete the records of the dropped keys from {}: {err:#}",
                        history.label()
                    )),
                }
            }
        }
        let verb = if session.dry_run { "would delete" } else { "deleted" };
        let unreadable = match plan.unreadable.len() {
            0 => String::new(),
            n => format!("; {n} unreadable narinfo(s) left alone"),
        };
        println!("{verb} {} path(s), {} freed; {} kept{unreadable}", plan.delete.len(), mib(plan.bytes), plan.kept);
        Ok(())
    }
}

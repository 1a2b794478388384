//! `cargo xtask dashboard [--out DIR] [--history DIR]`: the page of what the cache does
//! ([`crate::dashboard`]), written to `DIR/index.html`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::{
    dashboard::{Facts, Owned},
    github,
    history::History,
    record::{self, Record},
    session::Session,
};

/// Where the page goes when `--out` is not given, under the workspace root.
pub const OUT: &str = "target/xtask-dashboard";

/// Write the page of what the cache does over time, from the history and the cache.
#[derive(clap::Args, Debug)]
pub struct Dashboard {
    /// The directory to write `index.html` to (default: target/xtask-dashboard).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Read the history from this directory (as `target/xtask-history` holds it) instead of the
    /// cache's.
    #[arg(long, value_name = "DIR")]
    history: Option<PathBuf>,
}

impl Dashboard {
    /// Writes `index.html` and prints its path (a dry run says what it would read and write).
    pub fn run(&self, session: &Session, _record: &mut Record) -> Result<()> {
        let out = self.out.clone().unwrap_or_else(|| session.root.join(OUT));
        let history = match &self.history {
            Some(dir) => Some(History::dir(std::path::absolute(dir)?)),
            None => History::of(session),
        };
        if session.dry_run {
            println!("# cargo xtask dashboard (dry run: nothing is run)");
            match &history {
                Some(history) => println!("# (in the xtask) read the history in {}", history.label()),
                None => println!("# {} keeps no history", session.cache.label()),
            }
            if self.history.is_none() && session.files().is_some() {
                println!("# (in the xtask) read the cache's manifests and narinfos: keys, sizes, what gc would delete");
            }
            println!("# write {}", out.join("index.html").display());
            return Ok(());
        }
        let page = write(session, history.as_ref(), self.history.is_none(), None, &out)?;
        println!("{}", page.display());
        Ok(())
    }
}

/// Writes the dashboard to `out/index.html` from `history` (and `latest`, a run not kept yet:
/// the one that renders it), with the cache's own facts when `read_cache` and this project owns
/// it. Each alert is a warning too. Reading never fails: what cannot be read is on the page.
pub fn write(
    session: &Session,
    history: Option<&History>,
    read_cache: bool,
    latest: Option<&Record>,
    out: &Path,
) -> Result<PathBuf> {
    let (mut records, mut problems) = match history {
        Some(history) => history.read(),
        None => (Vec::new(), vec![format!("{} keeps no history (S3 and SSH caches do not)", session.cache.label())]),
    };
    // The run that renders it, as it stands now.
    records.extend(latest.cloned().map(|mut latest| {
        latest.finish(None);
        latest
    }));
    let keep = session.config.keep_revisions.unwrap_or(5) as usize;
    let owned = session.files().filter(|_| read_cache).and_then(|files| {
        let cannot =
            |err: anyhow::Error| problems.push(format!("cannot read the cache {}: {err:#}", session.cache.label()));
        Owned::read(&files, keep).map_err(cannot).ok()
    });
    let facts = Facts {
        cache: session.cache.label(),
        generated_ms: record::now_ms(),
        records,
        problems,
        min_hit_rate: session.config.min_hit_rate,
        owned,
    };
    for (_, _, message) in facts.alerts() {
        github::warning(&message);
    }
    let page = out.join("index.html");
    crate::files::write_atomic(&page, facts.render().as_bytes())
        .with_context(|| format!("cannot write the dashboard to {}", out.display()))?;
    eprintln!("the dashboard of {} run(s): {}", facts.records.len(), page.display());
    Ok(page)
}

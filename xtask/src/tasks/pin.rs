//! `cargo xtask pin`: Cachix garbage-collects a cache past its storage limit, by last access (the
//! seed's "unlimited, never evicted" is not what Cachix documents). Pins protect paths: the deps
//! layer and each image are pinned under their keys, keeping the newest `keep-revisions`
//! revisions of each pin. `warm` pins too when `keep-revisions` is set and the cache is Cachix.

use anyhow::{bail, Result};

use crate::{cache::Cache, layers, pipeline, record::Record, session::Session};

/// How many revisions a pin keeps when the config does not say.
const DEFAULT_KEEP: u32 = 5;

/// Pin the deps layer and every image in Cachix under their keys.
#[derive(clap::Args, Debug)]
pub struct Pin {}

impl Pin {
    /// Pins the deps layer and every image under their keys (Cachix only).
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let Cache::Cachix { name } = &session.cache else {
            bail!(
                "pins are Cachix's ({} is not Cachix, or has no {}): a cache this project owns keeps every path until gc deletes it",
                session.cache.label(),
                crate::github::names::env::CACHIX_AUTH_TOKEN
            );
        };
        let mut targets = vec![layers::deps(&session.config, session.deps_key()?, &session.platform.system)];
        targets.extend(layers::images(session, &[], &session.platform)?);
        let keep = session.config.keep_revisions.unwrap_or(DEFAULT_KEEP);
        let plan = pipeline::pin_plan(session, targets, name, keep);
        pipeline::execute(session, plan, &Vec::new(), record).map(drop)
    }
}

//! The maintainer's tasks: the seed's cache invalidation ([`bump_version`]), rollback
//! ([`rollback`]) and troubleshooting ([`doctor`]).

pub mod bump_version;
pub mod change;
pub mod doctor;
pub mod rollback;

use anyhow::Result;

use self::change::Change;
use crate::workflows;
use xtask::{
    files::{self, Mode},
    keys::{DepsKey, LockFiles},
    session::Session,
};

/// Applies `changes` to the config: Cargo.toml edited in place and the workflows regenerated
/// from the changed config. Everything is computed before anything is written, each file
/// atomically; a dry run writes nothing. Returns the deps key before and after.
fn apply(session: &Session, changes: &[Change]) -> Result<(DepsKey, DepsKey)> {
    let (config, manifest) = change::apply(&session.root, &session.config, changes)?;
    let generated = workflows::generate(&config)?;
    let locks = LockFiles::read(&session.root)?;
    let keys = (DepsKey::new(&session.config, &locks), DepsKey::new(&config, &locks));
    let mode = if session.dry_run { Mode::DryRun } else { Mode::Write };
    if session.dry_run {
        let set: Vec<String> = changes.iter().map(ToString::to_string).collect();
        println!("# would set {} in Cargo.toml and regenerate the workflows", set.join(", "));
    }
    files::update(&session.root, "Cargo.toml", &manifest, mode)?;
    workflows::update(&session.root, &generated, mode)?;
    Ok(keys)
}

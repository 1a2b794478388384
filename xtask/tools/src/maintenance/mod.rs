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

/// Applies `change` to the config: Cargo.toml edited in place and the workflows regenerated
/// from the changed config. Everything is computed before anything is written, each file
/// atomically; a dry run writes nothing. Returns the deps key before and after.
fn apply(session: &Session, change: Change) -> Result<(DepsKey, DepsKey)> {
    let (config, manifest) = change::apply(&session.root, &session.config, change)?;
    let generated = workflows::generate(&config)?;
    let locks = LockFiles::read(&session.root)?;
    let keys = (DepsKey::new(&session.config, &locks), DepsKey::new(&config, &locks));
    let mode = if session.dry_run { Mode::DryRun } else { Mode::Write };
    if session.dry_run {
        let (key, value) = change.key_value();
        println!("# would set {key} = {value} in Cargo.toml and regenerate the workflows");
    }
    files::update(&session.root, "Cargo.toml", &manifest, mode)?;
    workflows::update(&session.root, &generated, mode)?;
    Ok(keys)
}

//! The maintainer's tasks: the seed's cache invalidation ([`bump_version`]), rollback
//! ([`rollback`]), troubleshooting ([`doctor`]) and a signing key's rotation ([`rotate_key`]).

pub mod bump_version;
pub mod change;
pub mod doctor;
pub mod rollback;
pub mod rotate_key;

use anyhow::Result;

use self::change::Change;
use crate::workflows;
use xtask::{
    files::{self, Mode},
    keys::{DepsKey, LockFiles},
    session::Session,
};

/// Applies `change` to the config: Cargo.toml edited in place and the workflows regenerated
/// from the changed config (and flake.nix's trusted keys, for public keys). Everything is
/// computed before anything is written (the lock files read first), each file atomically; a dry
/// run writes nothing. Returns the deps key before and after.
fn apply(session: &Session, change: Change) -> Result<(DepsKey, DepsKey)> {
    let locks = LockFiles::read(&session.root)?;
    let config = rewrite(session, change)?;
    Ok((DepsKey::new(&session.config, &locks), DepsKey::new(&config, &locks)))
}

/// [`apply`] without the keys (a change that is no part of them: `public-keys`): the changed config.
fn rewrite(session: &Session, change: Change) -> Result<xtask::config::Config> {
    let (config, manifest) = change::apply(&session.root, &session.config, &change)?;
    let generated = workflows::generate(&config)?;
    let mode = if session.dry_run { Mode::DryRun } else { Mode::Write };
    if session.dry_run {
        let (key, value) = change.key_value();
        println!("# would set {key} = {value} in Cargo.toml and regenerate the workflows");
    }
    let flake = match &change {
        Change::PublicKeys(keys) => {
            let text = std::fs::read_to_string(session.root.join("flake.nix")).unwrap_or_default();
            let changed = change::flake_keys(&text, keys);
            if changed.is_none() {
                eprintln!("flake.nix has no nixConfig `extra-trusted-public-keys = [ … ];`: add the keys there for `nix develop`");
            }
            changed
        }
        _ => None,
    };
    files::update(&session.root, "Cargo.toml", &manifest, mode)?;
    if let Some(flake) = flake {
        files::update(&session.root, "flake.nix", &flake, mode)?;
    }
    workflows::update(&session.root, &generated, mode)?;
    Ok(config)
}

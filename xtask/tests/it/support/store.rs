//! This machine's store, which every test shares: deleting from it, and counting it without a
//! deletion in between.

use std::{
    collections::BTreeSet,
    process::Command,
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use super::{nix_config, run};

/// Held for writing while a test deletes paths from the store, for reading while one counts them.
static STORE_DELETIONS: RwLock<()> = RwLock::new(());

/// No other test deletes from the store while this is held (tests may still add to it).
pub fn no_deletions_from_the_store() -> RwLockReadGuard<'static, ()> {
    STORE_DELETIONS.read().unwrap_or_else(|e| e.into_inner())
}

/// This test deletes from the store (a fresh runner) while this is held.
pub fn deleting_from_the_store() -> RwLockWriteGuard<'static, ()> {
    STORE_DELETIONS.write().unwrap_or_else(|e| e.into_inner())
}

/// Deletes from the local store the outputs of a derivation and of every derivation it needs
/// (not the sources and `.drv` files, which evaluation brings back): a fresh runner's store.
pub fn delete_outputs(drv: &str) {
    let _deleting = deleting_from_the_store();
    let query = |extra: &[&str]| {
        let out = run(Command::new("nix-store").args(["--query", "--requisites"]).args(extra).arg(drv));
        assert!(out.status.success(), "{}", out.stderr);
        out.stdout.lines().map(str::to_owned).collect::<BTreeSet<_>>()
    };
    let outputs: Vec<String> = query(&["--include-outputs"]).difference(&query(&[])).cloned().collect();
    let deleted = run(Command::new("nix").args(["store", "delete"]).args(&outputs).env("NIX_CONFIG", nix_config("")));
    assert!(deleted.status.success(), "cannot delete {outputs:?}: {}", deleted.stderr);
}

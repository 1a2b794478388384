//! `cargo xtask rollback [--disable-cachix | --undo]`: the seed's rollback procedure, reversible.
//!
//! - `rollback`: from Cachix back to the GitHub Actions cache, as the migration guide in reverse:
//!   keys become `nix-v{N}-deps-…`, the workflows cache the local binary cache directory with
//!   actions/cache (falling back to the newest cache of the same flake.lock).
//! - `rollback --disable-cachix`: keeps keys and workflows, turns Cachix off (its steps commented out).
//! - `rollback --undo`: back to Cachix; after a rollback and an undo every file is as before.

use anyhow::Result;

use super::change::Change;
use xtask::{config::Backend, record::Record, session::Session};

/// Move from Cachix to the GitHub Actions cache (the seed's rollback), or back with --undo.
#[derive(clap::Args, Debug)]
pub struct Rollback {
    /// Keep keys and workflows, only turn Cachix off.
    #[arg(long, conflicts_with = "undo")]
    disable_cachix: bool,
    /// Return to Cachix.
    #[arg(long)]
    undo: bool,
}

impl Rollback {
    /// Sets the backend in Cargo.toml, regenerates the workflows, and says what to watch next.
    pub fn run(&self, session: &Session, _record: &mut Record) -> Result<()> {
        let target = match (self.undo, self.disable_cachix) {
            (true, _) => Backend::Cachix,
            (false, true) => Backend::CachixDisabled,
            (false, false) => Backend::ActionsCache,
        };
        let from = session.config.backend;
        if from == target {
            eprintln!("the backend is already {}: nothing to change", target.as_str());
            return Ok(());
        }
        let (old_key, new_key) = super::apply(session, Change::Backend(target))?;

        println!("backend: {} -> {}", from.as_str(), target.as_str());
        println!("deps key: {old_key} -> {new_key}");
        let dir = session.config.local_cache.display();
        let name = &session.config.name;
        match target {
            Backend::ActionsCache => {
                println!("workflows: cachix-action removed; actions/cache now keeps {dir} between runs");
                println!("watch next (the seed's \"monitor rollback impact\"):");
                println!("  - builds are slower until actions/cache holds {dir}; the first run on main fills it");
                println!("  - GitHub keeps 10 GB of caches per repository and evicts caches unused for 7 days: watch the Actions cache page");
                println!("  - keep the cache-warming workflow enabled so main refreshes the cache for pull requests");
                println!("  - return to Cachix with `cargo xtask rollback --undo`");
            }
            Backend::CachixDisabled => {
                println!(
                    "workflows: the cachix-action steps are commented out; the tasks push to {dir} on the runner only"
                );
                println!("watch next: every CI run builds without a shared cache (slower); `cargo xtask rollback --undo` turns Cachix back on");
            }
            Backend::Cachix => {
                println!("workflows: cachix-action is back (the xtask pushes; cachix-action authenticates and pulls)");
                println!("watch next: the first prebuild-deps run pushes the deps layer to Cachix; check https://app.cachix.org/cache/{name}");
                println!("  and that the CACHIX_AUTH_TOKEN secret is still valid (`cargo xtask doctor`)");
            }
        }
        Ok(())
    }
}

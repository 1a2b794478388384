//! A fresh runner's store, made on this machine: the outputs of some derivations, and of every
//! derivation they are built from, deleted from the store (not their sources and `.drv` files,
//! which evaluation brings back), so what builds next fetches or builds what a new runner would.
//! Paths alive here (a GC root refers to them: a maintainer's profile, a `result` link) are never
//! deleted, and are counted. `cargo xtask ci` makes one before each job, the bench before each
//! runner it measures: one way for both.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::{
    command::{NoSlots, Slot, Words},
    layers::Target,
    nix,
    session::Session,
};

const DRVS: Slot = Slot("<the derivations>");
const OUTPUTS: Slot = Slot("<their outputs>");

/// A fresh runner's store on this machine: the derivations whose outputs go, and the paths alive here, which stay.
pub struct FreshStore {
    /// Every derivation whose outputs go: after a change, the old outputs still refer to paths a
    /// fresh runner must not have, so derivations are only ever added.
    drvs: BTreeSet<String>,
    live: BTreeSet<String>,
}

impl FreshStore {
    /// The store for `targets` of the session's flake (one evaluation), and the paths alive now.
    pub fn of(session: &Session, targets: &[Target]) -> Result<FreshStore> {
        let mut store = FreshStore::new()?;
        let attrs: Vec<nix::Attr> = targets.iter().map(|t| t.attr.clone()).collect();
        store.add(&session.flake, &attrs, &session.net)?;
        Ok(store)
    }

    /// A store with no derivation yet, and the paths alive now.
    pub fn new() -> Result<FreshStore> {
        let live = nix::live_paths().run_quietly(&NoSlots)?.lines().map(str::to_owned).collect();
        Ok(FreshStore { drvs: BTreeSet::new(), live })
    }

    /// Adds the derivations of the attributes of `flake` (one evaluation).
    pub fn add(&mut self, flake: &str, attrs: &[nix::Attr], net: &nix::Network) -> Result<()> {
        let json =
            nix::eval_targets(flake, attrs, net).run_quietly(&NoSlots).map_err(nix::messages::explain_eval_failure)?;
        self.drvs.extend(nix::json::parse_targets(&json)?.into_iter().map(|t| t.drv));
        Ok(())
    }

    /// Deletes what a fresh runner would not have: how many paths went, and how many stayed
    /// because they are alive. A path that came alive since the store was first looked at (a
    /// running process refers to it) is found by Nix's refusal, kept, and the rest deleted.
    pub fn forget(&self) -> Result<(usize, usize)> {
        let mut alive = self.live.clone();
        let (mut dead, kept) = self.outputs(&alive)?;
        let before = dead.len() + kept;
        // Nix names the first path it refuses: each refusal is kept, and the rest tried again,
        // as long as a round finds one.
        while !dead.is_empty() {
            let Err(err) = nix::delete(OUTPUTS).run_quietly(&Words(dead)) else { break };
            let refused: Vec<String> = nix::messages::refused_deletions(&format!("{err:#}"))
                .into_iter()
                .filter(|p| !alive.contains(p))
                .collect();
            if refused.is_empty() {
                return Err(err.context("cannot give the job a fresh runner's store"));
            }
            alive.extend(refused);
            dead = self.outputs(&alive)?.0;
        }
        let (dead, kept) = self.outputs(&alive)?;
        if !dead.is_empty() {
            bail!(
                "cannot give the job a fresh runner's store: {} path(s) are still there: {}",
                dead.len(),
                dead.join(" ")
            );
        }
        // More may be alive now than at first (a process here built or fetched one meanwhile).
        Ok((before.saturating_sub(kept), kept))
    }

    /// The outputs in the store: those to delete, and how many are alive.
    fn outputs(&self, alive: &BTreeSet<String>) -> Result<(Vec<String>, usize)> {
        let drvs = Words(self.drvs.iter().cloned().collect());
        let with = nix::requisites(DRVS, true).run_quietly(&drvs)?;
        let without: BTreeSet<String> =
            nix::requisites(DRVS, false).run_quietly(&drvs)?.lines().map(str::to_owned).collect();
        let outputs = with.lines().filter(|p| !without.contains(*p));
        let (kept, dead): (Vec<&str>, Vec<&str>) = outputs.partition(|p| alive.contains(*p));
        Ok((dead.into_iter().map(str::to_owned).collect(), kept.len()))
    }
}

//! A fresh runner's store: before each job, the outputs of the pipeline's targets, and of what
//! they are built from, are deleted from this machine's store, so a job fetches or builds what a
//! new runner would. Paths alive here (a GC root refers to them: a maintainer's profile, a
//! `result` link) are never deleted, and are counted.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use xshell::Shell;

use xtask::{
    command::{Slot, Words},
    layers::Target,
    nix,
    session::Session,
};

const DRVS: Slot = Slot("<the pipeline's derivations>");
const OUTPUTS: Slot = Slot("<their outputs>");

pub struct Fresh {
    drvs: Vec<String>,
    live: BTreeSet<String>,
}

impl Fresh {
    /// The targets' derivations (one evaluation) and the paths alive in the store.
    pub fn new(session: &Session, targets: &[Target]) -> Result<Fresh> {
        let attrs: Vec<nix::Attr> = targets.iter().map(|t| t.attr.clone()).collect();
        let json = nix::eval_targets(&session.flake, &attrs, &session.net)
            .run_quietly(&session.sh, &xtask::command::NoSlots)
            .map_err(nix::messages::explain_eval_failure)?;
        let drvs = nix::json::parse_targets(&json)?.into_iter().map(|t| t.drv).collect();
        let live = nix::live_paths().run_quietly(&session.sh, &xtask::command::NoSlots)?;
        Ok(Fresh { drvs, live: live.lines().map(str::to_owned).collect() })
    }

    /// Deletes what a fresh runner would not have: how many paths went, and how many stayed
    /// because they are alive. A path that came alive since the run began (a running process
    /// refers to it) is found by Nix's refusal, kept, and the rest deleted.
    pub fn forget(&self, sh: &Shell) -> Result<(usize, usize)> {
        let mut alive = self.live.clone();
        let (mut dead, mut kept) = self.outputs(sh, &alive)?;
        let before = dead.len() + kept;
        for _ in 0..5 {
            if dead.is_empty() {
                break;
            }
            if let Err(err) = nix::delete(OUTPUTS).run_quietly(sh, &Words(dead)) {
                let refused = nix::messages::refused_deletions(&format!("{err:#}"));
                if refused.is_empty() {
                    return Err(err.context("cannot give the job a fresh runner's store"));
                }
                alive.extend(refused);
            }
            (dead, kept) = self.outputs(sh, &alive)?;
        }
        if !dead.is_empty() {
            bail!("cannot give the job a fresh runner's store: paths kept coming alive while they were deleted");
        }
        Ok((before - kept, kept))
    }

    /// The outputs in the store: those to delete, and how many are alive.
    fn outputs(&self, sh: &Shell, alive: &BTreeSet<String>) -> Result<(Vec<String>, usize)> {
        let drvs = Words(self.drvs.clone());
        let with = nix::requisites(DRVS, true).run_quietly(sh, &drvs)?;
        let without: BTreeSet<String> =
            nix::requisites(DRVS, false).run_quietly(sh, &drvs)?.lines().map(str::to_owned).collect();
        let outputs = with.lines().filter(|p| !without.contains(*p));
        let (kept, dead): (Vec<&str>, Vec<&str>) = outputs.partition(|p| alive.contains(*p));
        Ok((dead.into_iter().map(str::to_owned).collect(), kept.len()))
    }
}

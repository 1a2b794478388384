//! What the pipeline's steps learn as they run, and the slots later commands read it from.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    command::{Slot, Slots},
    fresh_runner::RunnerView,
    nix::json::{Evaluated, PathInfo},
    report::Totals,
};

/// Every target's derivation.
pub const DRVS: Slot = Slot("<derivations>");
/// The derivations the task builds (the deps layer is only looked at by a task of another layer).
pub const BUILD: Slot = Slot("<derivations to build>");
/// The derivation of the target a per-target command is run for.
pub const TARGET_DRV: Slot = Slot("<derivation of the target>");
/// The first output of that target.
pub const TARGET_OUTPUT: Slot = Slot("<output of the target>");
/// Every target's outputs.
pub const OUTPUTS: Slot = Slot("<outputs>");
/// The caches a build substitutes from: the task's cache, unless it cannot be reached.
pub const SUBSTITUTERS: Slot = Slot("<the cache, unless unreachable>");
/// The caches a fresh runner's dry run substitutes from.
pub const RUNNER_SUBSTITUTERS: Slot = Slot("<the cache and, when needed, the upstream caches>");
/// What a fresh runner would fetch.
pub const FETCHED: Slot = Slot("<paths a fresh runner would fetch>");
/// Of those, the ones the cache serves.
pub const SERVED: Slot = Slot("<paths the cache serves>");
/// What a fresh runner needs: the outputs, their build inputs' outputs, and their closures.
pub const NEEDED: Slot = Slot("<outputs and build inputs>");
/// What a fresh runner needs, less the push filter.
pub const CANDIDATES: Slot = Slot("<outputs and build inputs, minus push filter>");
/// The candidates the cache does not have yet (and, after the repair step, those it had broken).
pub const PUSH: Slot = Slot("<paths the cache lacks>");
/// The candidates the cache has.
pub const PRESENT: Slot = Slot("<paths the cache has>");
/// The public key of the key the xtask signs with.
pub const PUBLIC_KEY: Slot = Slot("<public key>");
/// The paths the cache has that the key cannot verify, with the contents built here: re-signed.
pub const RESIGN: Slot = Slot("<paths to re-sign in the cache>");

#[derive(Debug, Default)]
pub struct State {
    /// Per target, in the plan's order.
    pub evaluated: Vec<Evaluated>,
    pub drvs: Vec<String>,
    /// The first `build` of `drvs`.
    pub build: Vec<String>,
    pub outputs: Vec<String>,
    /// The target a per-target command is run for.
    pub target: usize,
    pub public_key: Vec<String>,
    pub substituters: Vec<String>,
    pub runner_substituters: Vec<String>,
    pub fetched: Vec<String>,
    pub served: Vec<String>,
    pub view: Option<RunnerView>,
    pub needed: Vec<String>,
    /// What this machine's store says of each needed path.
    pub local: BTreeMap<String, PathInfo>,
    pub closure_bytes: u64,
    pub pushed_bytes: u64,
    pub candidates: Vec<String>,
    pub push: Vec<String>,
    pub present_paths: Vec<String>,
    /// Present paths whose contents differ from what was built here (NAR hash or size).
    pub differs: BTreeSet<String>,
    /// Present paths the key cannot verify.
    pub unsigned: BTreeSet<String>,
    pub resign: Vec<String>,
    /// Present paths to upload again: why, and the NAR file to delete with the narinfo.
    pub repair: BTreeMap<String, (String, Option<String>)>,
    pub repaired: usize,
    /// Paths an upstream cache serves: not pushed.
    pub upstream: usize,
    /// Upstream caches found unreachable: not asked again.
    pub unreachable: BTreeSet<String>,
    /// What went wrong without failing the task.
    pub warnings: Vec<String>,
    pub dropped: BTreeSet<String>,
    pub kept_anyway: BTreeSet<String>,
    pub present: usize,
    pub pushed: usize,
    /// A fresh runner would fetch everything from the cache, sound.
    pub up_to_date: bool,
    /// The remaining steps are skipped (but pins): the task is up to date, or (a warning) its
    /// paths could not be recorded, so nothing is pushed.
    pub stop: bool,
}

impl Slots for State {
    fn words(&self, slot: Slot) -> &[String] {
        let target = self.evaluated.get(self.target);
        match slot {
            DRVS => &self.drvs,
            BUILD => &self.build,
            TARGET_DRV => target.map_or(&[], |t| std::slice::from_ref(&t.drv)),
            TARGET_OUTPUT => target.map_or(&[], |t| &t.outputs[..t.outputs.len().min(1)]),
            OUTPUTS => &self.outputs,
            SUBSTITUTERS => &self.substituters,
            RUNNER_SUBSTITUTERS => &self.runner_substituters,
            FETCHED => &self.fetched,
            SERVED => &self.served,
            NEEDED => &self.needed,
            CANDIDATES => &self.candidates,
            PUSH => &self.push,
            PRESENT => &self.present_paths,
            PUBLIC_KEY => &self.public_key,
            RESIGN => &self.resign,
            Slot(other) => unreachable!("the pipeline has no slot {other}"),
        }
    }
}

impl State {
    pub fn totals(&self) -> Totals {
        Totals {
            up_to_date: self.up_to_date,
            outputs: self.outputs.len(),
            closure_paths: self.local.len(),
            closure_bytes: self.closure_bytes,
            pushed: self.pushed,
            pushed_bytes: self.pushed_bytes,
            present: self.present,
            dropped: self.dropped.len(),
            kept_anyway: self.kept_anyway.len(),
            resigned: self.resign.len(),
            repaired: self.repaired,
            upstream: self.upstream,
        }
    }

    /// Records a problem that does not fail the task: a warning now, a line of the summary later.
    pub fn warn(&mut self, problem: String, consequence: &str) {
        crate::github::warning(&format!("{problem}{consequence}"));
        self.warnings.push(problem);
    }
}

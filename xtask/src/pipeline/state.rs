//! What the pipeline's steps learn as they run, and the slots later commands read it from.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    cache::push::SignSlots,
    command::{Slot, Slots},
    report::Totals,
};

/// The outputs of the installables (evaluated, then built).
pub const OUTPUTS: Slot = Slot("<outputs>");
/// The derivations of the outputs.
pub const DRVS: Slot = Slot("<derivations>");
/// What a fresh runner needs: the outputs, their build inputs' outputs, and their closures.
pub const NEEDED: Slot = Slot("<outputs and build inputs>");
/// What a fresh runner needs, less the push filter.
pub const CANDIDATES: Slot = Slot("<outputs and build inputs, minus push filter>");
/// The candidates the cache does not have yet.
pub const PUSH: Slot = Slot("<paths the cache lacks>");
/// The candidates the cache has.
pub const PRESENT: Slot = Slot("<paths the cache has>");
/// The public key of the key the xtask signs with.
pub const PUBLIC_KEY: Slot = Slot("<public key>");
/// The paths the cache has that the key cannot verify.
pub const UNSIGNED: Slot = Slot("<paths the key cannot verify>");

/// The slots the signing steps read.
pub const SIGN_SLOTS: SignSlots = SignSlots { public_key: PUBLIC_KEY, push: PUSH, unsigned: UNSIGNED };

#[derive(Debug, Default)]
pub struct State {
    pub outputs: Vec<String>,
    pub drvs: Vec<String>,
    pub needed: Vec<String>,
    /// Each needed path and its references.
    pub closure: BTreeMap<String, Vec<String>>,
    pub closure_bytes: u64,
    /// The NAR size of each needed path.
    pub sizes: BTreeMap<String, u64>,
    pub pushed_bytes: u64,
    pub candidates: Vec<String>,
    pub push: Vec<String>,
    pub present_paths: Vec<String>,
    pub public_key: Vec<String>,
    pub unsigned: Vec<String>,
    pub resigned: usize,
    /// Paths an upstream cache serves: not pushed.
    pub upstream: usize,
    /// What went wrong without failing the task.
    pub warnings: Vec<String>,
    /// The push failed, as a warning.
    pub push_failed: bool,
    pub dropped: BTreeSet<String>,
    pub kept_anyway: BTreeSet<String>,
    pub present: usize,
    pub pushed: usize,
    /// The cache has every output: the remaining steps are skipped.
    pub up_to_date: bool,
}

impl Slots for State {
    fn words(&self, slot: Slot) -> &[String] {
        match slot {
            OUTPUTS => &self.outputs,
            DRVS => &self.drvs,
            NEEDED => &self.needed,
            CANDIDATES => &self.candidates,
            PUSH => &self.push,
            PRESENT => &self.present_paths,
            PUBLIC_KEY => &self.public_key,
            UNSIGNED => &self.unsigned,
            Slot(other) => unreachable!("the pipeline has no slot {other}"),
        }
    }
}

impl State {
    pub fn totals(&self) -> Totals {
        Totals {
            up_to_date: self.up_to_date,
            outputs: self.outputs.len(),
            closure_paths: self.closure.len(),
            closure_bytes: self.closure_bytes,
            pushed: self.pushed,
            pushed_bytes: self.pushed_bytes,
            present: self.present,
            dropped: self.dropped.len(),
            kept_anyway: self.kept_anyway.len(),
            resigned: self.resigned,
            upstream: self.upstream,
        }
    }
}

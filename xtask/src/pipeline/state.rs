//! What the pipeline's steps learn as they run, and the slots later commands read it from.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    command::{Slot, Slots},
    report::Totals,
};

/// The outputs of the installables (evaluated, then built).
pub const OUTPUTS: Slot = Slot("<outputs>");
/// The runtime closure of the outputs, less the push filter.
pub const CANDIDATES: Slot = Slot("<closure of outputs, minus push filter>");
/// The candidates the cache does not have yet.
pub const PUSH: Slot = Slot("<paths the cache lacks>");

#[derive(Debug, Default)]
pub struct State {
    pub outputs: Vec<String>,
    /// Each path of the runtime closure and its references.
    pub closure: BTreeMap<String, Vec<String>>,
    pub closure_bytes: u64,
    pub candidates: Vec<String>,
    pub push: Vec<String>,
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
            CANDIDATES => &self.candidates,
            PUSH => &self.push,
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
            present: self.present,
            dropped: self.dropped.len(),
            kept_anyway: self.kept_anyway.len(),
        }
    }
}

//! What the pipeline's steps learn as they run, and the slots later commands read it from.

use std::collections::{BTreeMap, BTreeSet};

use super::fresh_runner::RunnerView;
use crate::{
    command::{Slot, Slots},
    layers::Target,
    nix::json::{Evaluated, PathInfo},
    numbers::total,
    record::{Problem, Record, Totals, Transfer},
};

// The slots the steps fill as they learn, each named by what it holds.
pub const DRVS: Slot = Slot("<derivations>");
/// The derivations the task builds (the deps layer is only looked at by a task of another layer).
pub(crate) const BUILD: Slot = Slot("<derivations to build>");
/// The derivation of the target a per-target command is run for.
pub(crate) const TARGET_DRV: Slot = Slot("<derivation of the target>");
/// The first output of that target.
pub(crate) const TARGET_OUTPUT: Slot = Slot("<output of the target>");
pub const OUTPUTS: Slot = Slot("<outputs>");
pub(crate) const SUBSTITUTERS: Slot = Slot("<the cache, unless unreachable>");
pub(crate) const RUNNER_SUBSTITUTERS: Slot = Slot("<the cache and, when needed, the upstream caches>");
pub(crate) const FETCHED: Slot = Slot("<paths a fresh runner would fetch>");
pub(crate) const RUNNER_BUILDS: Slot = Slot("<derivations a fresh runner would build>");
/// Their outputs and what a runner would fetch: asked of this machine's store.
pub(crate) const HERE: Slot = Slot("<those outputs, and the paths it would fetch>");
/// Of those, the ones the cache serves.
pub(crate) const SERVED: Slot = Slot("<paths the cache serves>");
pub(crate) const NEEDED: Slot = Slot("<outputs and build inputs>");
pub(crate) const CANDIDATES: Slot = Slot("<outputs and build inputs, minus push filter>");
/// The candidates the cache does not have yet (and, after the repair step, those it had broken).
pub(crate) const PUSH: Slot = Slot("<paths the cache lacks>");
pub(crate) const PRESENT: Slot = Slot("<paths the cache has>");
/// The public key of the key the xtask signs with.
pub(crate) const PUBLIC_KEY: Slot = Slot("<public key>");
/// The paths the cache has that the key cannot verify, with the contents built here.
pub(crate) const RESIGN: Slot = Slot("<paths to re-sign in the cache>");
pub(crate) const CHECKED: Slot = Slot("<paths whose bytes in the cache are checked>");
pub(crate) const PUSHED: Slot = Slot("<paths pushed>");

#[derive(Debug, Default)]
pub struct State {
    /// Per target, in the plan's order.
    pub evaluated: Vec<Evaluated>,
    /// What each target is made of, in the plan's order (a plan that explains its misses).
    pub made_of: Vec<Option<crate::record::MadeOf>>,
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
    /// NAR sizes of the paths a fresh runner would fetch (the cache's word) or build (this
    /// machine's), and the bytes of each fetched path as the cache stores it.
    pub sizes: BTreeMap<String, u64>,
    pub download: BTreeMap<String, u64>,
    /// What this machine's store had of those paths before the build.
    pub here_before: BTreeSet<String>,
    /// The derivations' closure in the fresh runner's store, once copied there (asked again after
    /// the push, the store is the same).
    pub runner_graph: Option<Vec<crate::nix::json::PathInfo>>,
    /// The build ran (it fetched what the store lacked).
    pub built: bool,
    pub needed: Vec<String>,
    /// What this machine's store says of each needed path.
    pub local: BTreeMap<String, PathInfo>,
    pub closure_bytes: u64,
    pub pushed_bytes: u64,
    /// Bytes of the files the cache gained, read back after the push (a cache this project owns).
    pub pushed_file_bytes: Option<u64>,
    pub candidates: Vec<String>,
    pub push: Vec<String>,
    pub present_paths: Vec<String>,
    /// Present paths whose contents differ from what was built here (NAR hash or size).
    pub differs: BTreeSet<String>,
    /// Present paths the key cannot verify.
    pub unsigned: BTreeSet<String>,
    pub resign: Vec<String>,
    /// Present paths whose bytes in the cache are checked, and each path's NAR file there.
    pub checked: Vec<String>,
    pub nar_files: BTreeMap<String, String>,
    /// Present paths to upload again: why, and the NAR file to delete with the narinfo.
    pub repair: BTreeMap<String, (String, Option<String>)>,
    pub repaired: usize,
    /// What was repaired, and why.
    pub repairs: Vec<Problem>,
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
    /// The fresh-runner step's last answer came from the cache's narinfos alone (no empty store).
    pub proven: bool,
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
            PUSH | PUSHED => &self.push,
            PRESENT => &self.present_paths,
            PUBLIC_KEY => &self.public_key,
            RESIGN => &self.resign,
            CHECKED => &self.checked,
            // Filled per call (`Words`): a record shows the command without them.
            RUNNER_BUILDS | HERE => &[],
            Slot(other) => unreachable!("the pipeline has no slot {other}"),
        }
    }
}

impl State {
    /// The outputs of the first `counted` targets: the task's own (and the deps layer beside
    /// them), not those asked about for later jobs.
    pub(crate) fn own_outputs(&self, counted: usize) -> impl Iterator<Item = &String> {
        self.evaluated.iter().take(counted).flat_map(|t| &t.outputs)
    }

    /// What the run learned, into its record: the counts, what moved, the fresh runner's view
    /// of each target (`builds`: how many of the targets, from the first, the task builds;
    /// `counted`: how many its hit rates count).
    pub(crate) fn record_into(&self, record: &mut Record, targets: &[Target], builds: usize, counted: usize) {
        let n = |count: usize| count as u64;
        record.totals = Totals {
            up_to_date: self.up_to_date,
            outputs: n(self.own_outputs(counted).count()),
            closure_paths: n(self.local.len()),
            closure_bytes: self.closure_bytes,
            built: self.view.as_ref().filter(|_| self.built).map_or(0, |v| v.built(builds)),
            present: n(self.present),
            dropped: n(self.dropped.len()),
            kept_anyway: n(self.kept_anyway.len()),
            resigned: n(self.resign.len()),
            repaired: n(self.repaired),
            upstream: n(self.upstream),
        };
        record.pushed =
            Transfer { paths: n(self.pushed), nar_bytes: self.pushed_bytes, file_bytes: self.pushed_file_bytes };
        // What a runner of this task fetches: its own targets' cached paths (all, when the view
        // is not per target).
        let ours: Option<BTreeSet<&String>> =
            self.view.as_ref().map(|v| v.targets.iter().take(counted).flat_map(|t| &t.cached).collect());
        let fetched: Vec<&String> = self
            .fetched
            .iter()
            .filter(|p| self.built && !self.here_before.contains(*p) && ours.as_ref().is_none_or(|o| o.contains(p)))
            .collect();
        record.fetched = Transfer {
            paths: n(fetched.len()),
            nar_bytes: total(fetched.iter().filter_map(|p| self.sizes.get(*p).copied())),
            file_bytes: Some(total(fetched.iter().filter_map(|p| self.download.get(*p).copied()))),
        };
        record.repairs.extend(self.repairs.iter().cloned());
        record.warnings.extend(self.warnings.iter().cloned());
        if let Some(view) = &self.view {
            // What the build made is in this machine's store now: the sizes of what a runner
            // would have built are known.
            let mut view = view.clone();
            for (path, info) in &self.local {
                view.sizes.entry(path.clone()).or_insert(info.nar_size);
            }
            record.targets = view.record(targets, builds);
            for (target, evaluated) in record.targets.iter_mut().zip(&self.evaluated) {
                target.outputs.clone_from(&evaluated.outputs);
            }
            for (target, made_of) in record.targets.iter_mut().zip(&self.made_of) {
                target.made_of.clone_from(made_of);
            }
            record.rates = Some(view.rates(&targets[..counted]));
        }
    }

    /// Records a problem that does not fail the task: a warning now, a line of the summary later.
    pub fn warn(&mut self, problem: String, consequence: &str) {
        crate::github::warning(&format!("{problem}{consequence}"));
        self.warnings.push(problem);
    }
}

//! The fresh-runner step: what a runner with an empty store would fetch and build ([`view`]), from
//! the evaluated derivations (no evaluation), whether what the cache serves of it is sound, and the
//! sizes of both (the cache's word for what it serves; this machine's store for what it built).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

mod served;
pub mod store;
mod view;

pub use self::view::{RunnerView, TargetView};

use super::{
    plan::FreshRunner,
    state::{State, TARGET_DRV},
};
use crate::{
    cache::files::Files,
    command::{Slot, Slots, Words},
    layers::Target,
    nix::messages::cause,
    nix::{dry_run, json},
};

/// One target's dry run, and the outputs of what it would build.
struct Run {
    dry: dry_run::DryRun,
    outputs: BTreeSet<String>,
}

impl State {
    /// Runs the step: the view of every target, and whether the plan may stop. The cache's word
    /// first: when every output and its whole runtime closure is there, sound, a runner builds
    /// nothing, and that answer costs what it fetches ([`State::proven`]). Only otherwise are the
    /// derivations copied into an empty store and dry-run there, to know what it would build.
    pub(super) fn fresh_runner(
        &mut self,
        f: &FreshRunner,
        targets: &[Target],
        counted: usize,
        cache: &str,
    ) -> Result<String> {
        // Asked again after the push, the empty store has the derivations already, and a cache
        // that answered still does: only the cache's answers are asked again.
        let view = match self.runner_graph.take() {
            Some(graph) => {
                if self.substituters.is_empty() {
                    self.probe(f, cache);
                }
                self.dry_view(f, targets, graph)?
            }
            None => {
                let outputs = self.probe(f, cache);
                let proven = self.proven(f, outputs)?;
                self.proven = proven.is_some();
                match proven {
                    Some(view) => view,
                    None => {
                        f.copy.run(&*self)?;
                        let graph = json::parse_path_infos(&f.graph.run(self)?)?;
                        self.dry_view(f, targets, graph)?
                    }
                }
            }
        };
        let rates = view.rates(&targets[..counted]);
        let broken: usize = view.targets.iter().map(|t| t.broken.len()).sum();
        let note = format!(
            "a fresh runner would fetch {} path(s) from the cache, build {}{}",
            rates.cached,
            rates.paths - rates.cached,
            if broken == 0 { String::new() } else { format!("; {broken} broken in the cache") }
        );
        self.up_to_date = f.stop_when_cached && view.up_to_date(self.build.len());
        self.stop = self.up_to_date;
        self.present = if self.up_to_date { self.own_outputs(counted).count() } else { 0 };
        self.view = Some(view);
        if self.up_to_date {
            eprintln!("{note}: nothing to build or push (--force rebuilds and pushes anyway)");
            return Ok(format!("{note}: up to date"));
        }
        Ok(note)
    }

    /// What a runner would do, from its dry run of each target in the empty store (whose
    /// derivation graph is `graph`).
    fn dry_view(&mut self, f: &FreshRunner, targets: &[Target], graph: Vec<json::PathInfo>) -> Result<RunnerView> {
        let references: BTreeMap<&str, &[String]> =
            graph.iter().map(|i| (i.path.as_str(), &i.references[..])).collect();
        self.runner_substituters = self.substituters.clone();
        let mut runs = self.dry_runs(f, &(0..targets.len()).collect::<Vec<_>>())?;
        let missing: Vec<usize> =
            (0..runs.len()).filter(|i| !runs[*i].dry.built.is_empty() || !runs[*i].dry.unknown.is_empty()).collect();
        if !missing.is_empty() && !f.upstream.is_empty() {
            let served = self.reachable_upstreams(&f.upstream);
            if !served.is_empty() {
                self.runner_substituters.extend(served);
                for (i, run) in missing.iter().zip(self.dry_runs(f, &missing)?) {
                    runs[*i] = run;
                }
            }
        }
        self.fetched =
            runs.iter().flat_map(|r| r.dry.fetched.iter().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
        // What the cache serves of it, and what this machine's store has: at once.
        let asked: BTreeSet<String> =
            runs.iter().flat_map(|r| r.outputs.iter().cloned()).chain(self.fetched.iter().cloned()).collect();
        let broken = self.sound_and_here(f, asked, None)?;
        let view = RunnerView {
            targets: runs
                .into_iter()
                .enumerate()
                .map(|(i, run)| {
                    // The sources (not derivations) the target's derivation reads.
                    let sources = closure(&references, std::slice::from_ref(&self.evaluated[i].drv));
                    target_view(run, sources.into_iter().filter(|p| !p.ends_with(".drv")).collect(), &broken, f)
                })
                .collect(),
            sizes: self.sizes.clone(),
        };
        self.runner_graph = Some(graph);
        Ok(view)
    }

    /// Whether what the cache serves of [`State::fetched`] is sound (the paths it is not, and
    /// why; `known`: what the cache said of them, when it was asked already), and what this
    /// machine's store has of `asked` (their sizes, and what it had before the build), at once.
    fn sound_and_here(
        &mut self,
        f: &FreshRunner,
        asked: BTreeSet<String>,
        known: Option<Vec<json::PathInfo>>,
    ) -> Result<BTreeMap<String, String>> {
        let (broken, here) = std::thread::scope(|scope| {
            // What this machine's store has of the outputs a runner would build (their sizes) and
            // of what it would fetch (not fetched again by this run's build).
            let here = scope.spawn(|| match asked.is_empty() {
                true => Ok(Vec::new()),
                false => json::parse_path_infos(&f.local.run_quietly(&Words(asked.into_iter().collect()))?),
            });
            (self.unsound(f, known), here.join().unwrap_or_else(|_| bail!("the query of the store panicked")))
        });
        let (broken, here) = (broken?, here?);
        for (path, why) in &broken {
            eprintln!("  broken in the cache: {path}: {why}");
        }
        self.here_before = here.iter().map(|i| i.path.clone()).collect();
        for info in here {
            self.sizes.entry(info.path).or_insert(info.nar_size);
        }
        Ok(broken)
    }

    /// The view of a runner that builds nothing, when the cache proves it: every output of every
    /// target is in the cache, and so is their whole runtime closure (the References of the
    /// cache's narinfos, walked), or an upstream cache serves what it lacks, and what the cache
    /// serves is sound (NAR files at their sizes, signed). One query of the cache per level of
    /// the closure, none of the build graph. `None` when anything is missing or broken: the dry
    /// run then says what would be built, and what is broken is a miss there.
    fn proven(&mut self, f: &FreshRunner, outputs: Vec<json::PathInfo>) -> Result<Option<RunnerView>> {
        let mut infos: BTreeMap<String, json::PathInfo> = outputs.into_iter().map(|i| (i.path.clone(), i)).collect();
        if self.substituters.is_empty() || !self.outputs.iter().all(|o| infos.contains_key(o)) {
            return Ok(None);
        }
        // The paths an upstream cache serves, with their references: a runner fetches their
        // closure too, from wherever it is.
        let mut upstream: BTreeMap<String, json::PathInfo> = BTreeMap::new();
        let unseen = |infos: &BTreeMap<String, json::PathInfo>, upstream: &BTreeMap<String, json::PathInfo>| {
            let references = infos.values().chain(upstream.values()).flat_map(|i| i.references.iter());
            let new = references.filter(|r| !infos.contains_key(*r) && !upstream.contains_key(*r));
            new.cloned().collect::<BTreeSet<String>>()
        };
        let mut frontier = unseen(&infos, &upstream);
        while !frontier.is_empty() {
            let found = json::parse_path_infos(&f.fetched.run_quietly(&Words(frontier.iter().cloned().collect()))?)?;
            for info in found {
                frontier.remove(&info.path);
                infos.insert(info.path.clone(), info);
            }
            // What the cache lacks, an upstream cache may serve.
            for (_, query) in f.upstream.iter().filter(|(url, _)| !self.unreachable.contains(url)) {
                if frontier.is_empty() {
                    break;
                }
                let served = query.run_quietly(&Words(frontier.iter().cloned().collect()));
                for info in served.and_then(|out| json::parse_path_infos(&out)).unwrap_or_default() {
                    frontier.remove(&info.path);
                    upstream.insert(info.path.clone(), info);
                }
            }
            if !frontier.is_empty() {
                return Ok(None);
            }
            frontier = unseen(&infos, &upstream);
        }
        self.fetched = infos.keys().chain(upstream.keys()).cloned().collect::<BTreeSet<_>>().into_iter().collect();
        // What the walk learned of the cache's paths is its word on them: not asked again.
        let known = infos.values().cloned().collect();
        if !self.sound_and_here(f, self.fetched.iter().cloned().collect(), Some(known))?.is_empty() {
            return Ok(None);
        }
        let references = infos.iter().chain(&upstream).map(|(path, info)| (path.as_str(), &info.references[..]));
        let references = references.collect();
        let targets = self.evaluated.iter().map(|target| {
            let (from_origin, cached) =
                closure(&references, &target.outputs).into_iter().partition(|p| f.filter.is_match(p));
            TargetView { cached, from_origin, ..TargetView::default() }
        });
        Ok(Some(RunnerView { targets: targets.collect(), sizes: self.sizes.clone() }))
    }

    /// Probes the cache: what it has of the outputs, and its URL as the substituter when it
    /// answered. A local cache that does not exist yet is empty (asking would create it); an
    /// unreachable one counts as empty, with a warning.
    fn probe(&mut self, f: &FreshRunner, cache: &str) -> Vec<json::PathInfo> {
        self.substituters = Vec::new();
        if matches!(&f.files, Some(Files::Dir(dir)) if !dir.exists()) {
            return Vec::new();
        }
        match f.probe.run(self).and_then(|out| json::parse_path_infos(&out)) {
            Ok(outputs) => {
                self.substituters = vec![f.url.clone()];
                outputs
            }
            Err(err) => {
                let problem = format!("cannot reach the cache {cache}: {}", cause(&err));
                self.warn(problem, ": taken as empty, the task goes on");
                Vec::new()
            }
        }
    }

    fn reachable_upstreams(&mut self, upstream: &[(String, crate::command::Cmd)]) -> Vec<String> {
        let mut reachable = Vec::new();
        for (url, probe) in upstream {
            if self.unreachable.contains(url) {
                continue;
            }
            match probe.run(self) {
                Ok(_) => reachable.push(url.clone()),
                Err(err) => {
                    self.unreachable.insert(url.clone());
                    self.warn(format!("cannot reach the upstream cache {url}: {}", cause(&err)), ": it serves nothing");
                }
            }
        }
        reachable
    }

    /// The dry run of each target, and the outputs of what it would build, all at once (each is
    /// mostly waiting on the cache).
    fn dry_runs(&self, f: &FreshRunner, targets: &[usize]) -> Result<Vec<Run>> {
        std::thread::scope(|scope| {
            let runs: Vec<_> = targets
                .iter()
                .map(|&target| {
                    let slots = ForTarget { state: self, target };
                    scope.spawn(move || -> Result<Run> {
                        let output = f.dry_run.output(&slots)?;
                        if !output.status.success() {
                            bail!("{}\n{}", f.dry_run.hint, String::from_utf8_lossy(&output.stderr).trim_end());
                        }
                        let dry = dry_run::parse(&String::from_utf8_lossy(&output.stderr));
                        let drvs = Words(dry.built.iter().cloned().collect());
                        let outputs = match dry.built.is_empty() {
                            true => BTreeSet::new(),
                            false => f.outputs.run_quietly(&drvs)?.lines().map(str::to_owned).collect(),
                        };
                        Ok(Run { dry, outputs })
                    })
                })
                .collect();
            runs.into_iter().map(|run| run.join().unwrap_or_else(|_| bail!("a dry run panicked"))).collect()
        })
    }
}

/// Every path reachable from `roots` in the reference graph `references`, the roots included.
fn closure(references: &BTreeMap<&str, &[String]>, roots: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = roots.to_vec();
    while let Some(path) = stack.pop() {
        if seen.insert(path.clone()) {
            stack.extend(references.get(path.as_str()).into_iter().flat_map(|refs| refs.iter().cloned()));
        }
    }
    seen
}

fn target_view(run: Run, sources: BTreeSet<String>, broken: &BTreeMap<String, String>, f: &FreshRunner) -> TargetView {
    let (origin_fetched, fetched): (BTreeSet<_>, BTreeSet<_>) =
        run.dry.fetched.into_iter().partition(|p| f.filter.is_match(p));
    let missing = run.dry.built.into_iter().chain(run.dry.unknown);
    let (origin_built, to_build): (BTreeSet<_>, BTreeSet<_>) =
        missing.partition(|d| f.filter.is_match(d.trim_end_matches(".drv")));
    let (broken_here, cached): (Vec<_>, Vec<_>) = fetched.into_iter().partition(|p| broken.contains_key(p));
    TargetView {
        cached: cached.into_iter().collect(),
        to_build,
        built_outputs: run.outputs.into_iter().filter(|o| !f.filter.is_match(o)).collect(),
        from_origin: origin_fetched.into_iter().chain(origin_built).chain(sources).collect(),
        broken: broken_here.into_iter().map(|p| (p.clone(), broken[&p].clone())).collect(),
    }
}

/// The state's slots, with the derivation of one target.
struct ForTarget<'a> {
    state: &'a State,
    target: usize,
}

impl Slots for ForTarget<'_> {
    fn words(&self, slot: Slot) -> &[String] {
        match (slot, self.state.evaluated.get(self.target)) {
            (TARGET_DRV, Some(target)) => std::slice::from_ref(&target.drv),
            _ => self.state.words(slot),
        }
    }
}

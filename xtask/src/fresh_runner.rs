//! What a fresh runner would see: for each target, the store paths it would fetch from the cache
//! and the derivations it would build, from a dry run of the evaluated derivations in an empty
//! store whose substituters are the cache (and the upstream caches, when something would be built
//! without them). The step that computes it is the pipeline's (`pipeline/fresh.rs`): `status`,
//! every build task's "up to date" check and its job summary read the same view.
//!
//! Paths a runner gets from their origin rather than a cache (what the push filter drops, and the
//! sources the derivations read) are counted apart (`from_origin`): they are not misses. A path
//! the cache serves broken (its NAR file missing or short, or not signed by the key) is a miss:
//! a runner could not substitute it. `hit_rate` is cached / paths over every target;
//! `deps_hit_rate` is the same over the deps layer's paths, which by design depend on the lock
//! files only (so it is what a cache can serve at all: 1.0 when a pull request builds only its
//! own code).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::layers::DEPS;

/// One target, as a fresh runner sees it.
#[derive(Debug, Default)]
pub struct TargetView {
    pub name: String,
    pub attr: String,
    /// Paths it would fetch from a cache, sound.
    pub cached: BTreeSet<String>,
    /// Derivations it would build (their `.drv` paths), and paths it could get nowhere.
    pub to_build: BTreeSet<String>,
    /// Paths it gets from their origin: filtered out, or sources the derivations read.
    pub from_origin: BTreeSet<String>,
    /// Paths the cache serves broken, with why.
    pub broken: BTreeMap<String, String>,
}

impl TargetView {
    fn paths(&self) -> usize {
        self.cached.len() + self.to_build.len() + self.broken.len()
    }

    fn names(&self) -> Vec<String> {
        let names = self.to_build.iter().chain(self.broken.keys());
        names.map(|path| store_name(path).trim_end_matches(".drv").to_owned()).collect()
    }
}

/// Every target of a task, as a fresh runner sees it.
#[derive(Debug, Default)]
pub struct RunnerView {
    pub targets: Vec<TargetView>,
}

/// `/nix/store/HASH-name` -> `name`.
fn store_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split_once('-').map_or(base, |(_, name)| name)
}

/// The totals over every target: distinct paths, hits, and the rates.
pub struct Rates {
    pub paths: usize,
    pub cached: usize,
    pub from_origin: usize,
    pub hit_rate: f64,
    pub deps_hit_rate: f64,
}

impl RunnerView {
    /// A fresh runner would build nothing of the first `n` targets (a task's own; the deps
    /// layer shown beside them is another job's), and fetch every path of them sound.
    pub fn up_to_date(&self, n: usize) -> bool {
        self.targets.iter().take(n).all(|t| t.to_build.is_empty() && t.broken.is_empty())
    }

    /// Every broken path, with why.
    pub fn broken(&self) -> BTreeMap<&String, &String> {
        self.targets.iter().flat_map(|t| &t.broken).collect()
    }

    pub fn rates(&self) -> Rates {
        let cached: BTreeSet<&String> = self.targets.iter().flat_map(|t| &t.cached).collect();
        let missed: BTreeSet<&String> =
            self.targets.iter().flat_map(|t| t.to_build.iter().chain(t.broken.keys())).collect();
        let from_origin: BTreeSet<&String> = self.targets.iter().flat_map(|t| &t.from_origin).collect();
        let rate = |hits: usize, all: usize| if all == 0 { 1.0 } else { hits as f64 / all as f64 };
        let deps = self.targets.iter().find(|t| t.name == DEPS);
        Rates {
            paths: cached.len() + missed.len(),
            cached: cached.len(),
            from_origin: from_origin.len(),
            hit_rate: rate(cached.len(), cached.len() + missed.len()),
            deps_hit_rate: deps.map_or(1.0, |d| rate(d.cached.len(), d.paths())),
        }
    }

    /// The JSON of `cargo xtask status --json`.
    pub fn json(&self, key: &str, cache: &str) -> Value {
        let r = self.rates();
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                let broken: Vec<String> = t.broken.iter().map(|(p, why)| format!("{p}: {why}")).collect();
                json!({
                    "name": t.name, "attr": t.attr, "paths": t.paths(), "cached": t.cached.len(),
                    "from_origin": t.from_origin.len(), "to_build": t.names(), "broken": broken,
                })
            })
            .collect();
        json!({
            "key": key, "cache": cache, "targets": targets, "paths": r.paths, "cached": r.cached,
            "from_origin": r.from_origin, "hit_rate": r.hit_rate, "deps_hit_rate": r.deps_hit_rate,
        })
    }

    /// A markdown table: one row per target, then the totals and what the cache holds broken.
    pub fn markdown(&self) -> String {
        let mut md = String::from("| target | paths | cached | from origin | to build |\n|---|---:|---:|---:|---|\n");
        for t in &self.targets {
            let names = t.names();
            let to_build = if names.is_empty() { "nothing".to_owned() } else { names.join(", ") };
            md += &format!(
                "| {} | {} | {} | {} | {to_build} |\n",
                t.name,
                t.paths(),
                t.cached.len(),
                t.from_origin.len()
            );
        }
        let r = self.rates();
        md += &format!(
            "\nA fresh runner: {} of {} paths from the cache (hit rate {:.2}; deps layer {:.2}), {} from their origin.\n",
            r.cached, r.paths, r.hit_rate, r.deps_hit_rate, r.from_origin
        );
        for (path, why) in self.broken() {
            md += &format!("\nBroken in the cache: {path}: {why}\n");
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_count_distinct_paths_broken_ones_as_misses_and_the_deps_layer_apart() {
        let set = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>();
        let view = RunnerView {
            targets: vec![
                TargetView { name: DEPS.into(), cached: set(&["/d", "/v"]), ..TargetView::default() },
                TargetView {
                    name: "check unit".into(),
                    cached: set(&["/d"]),
                    to_build: set(&["/s/x-u.drv"]),
                    broken: [("/s/y-img".to_string(), "short".to_string())].into(),
                    ..TargetView::default()
                },
            ],
        };
        let r = view.rates();
        assert_eq!((r.paths, r.cached), (4, 2));
        assert!((r.hit_rate - 0.5).abs() < 1e-9);
        assert_eq!(r.deps_hit_rate, 1.0);
        assert_eq!(view.targets[1].names(), ["u", "img"]);
        assert!(!view.up_to_date(2));
        // Only the first target is the task's own: it is up to date.
        assert!(view.up_to_date(1));
    }
}

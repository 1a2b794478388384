//! What a fresh runner would see: for each target, the store paths it would fetch from the cache
//! and the derivations it would build. The fresh-runner step computes it: `status`, every build
//! task's "up to date" check and its record read the same view.
//!
//! Paths a runner gets from their origin rather than a cache (what the push filter drops, and the
//! sources the derivations read) are counted apart (`from_origin`): they are not misses. A path
//! the cache serves broken (its NAR file missing or short, or not signed by the key) is a miss:
//! a runner could not substitute it. The hit rate is cached / paths over every target (the
//! seed's, by path count), and by bytes: the NAR bytes of what it would fetch over those and the
//! outputs it would build (known when this machine's store has them). The deps layer's rates
//! stand apart: by design it depends on the lock files only, so it is what a cache can serve at
//! all (1.0 when a pull request builds only its own code).

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    layers::{Target, DEPS},
    numbers::{total, total_known},
    record,
};

/// One target, as a fresh runner sees it.
#[derive(Debug, Default, Clone)]
pub struct TargetView {
    /// Paths it would fetch from a cache, sound.
    pub cached: BTreeSet<String>,
    /// Derivations it would build (their `.drv` paths), and paths it could get nowhere.
    pub to_build: BTreeSet<String>,
    /// The outputs of the derivations it would build.
    pub built_outputs: BTreeSet<String>,
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

    /// The NAR bytes of what it would fetch, and of what it would build or could not fetch
    /// (`None` when a size is not known).
    fn bytes(&self, sizes: &BTreeMap<String, u64>) -> (u64, Option<u64>) {
        let cached = total(self.cached.iter().filter_map(|p| sizes.get(p).copied()));
        (cached, sum(self.built_outputs.iter().chain(self.broken.keys()), sizes))
    }
}

/// The sizes of the paths, when every one is known.
fn sum<'a>(paths: impl IntoIterator<Item = &'a String>, sizes: &BTreeMap<String, u64>) -> Option<u64> {
    total_known(paths.into_iter().map(|p| sizes.get(p).copied()))
}

/// Every target of a task, as a fresh runner sees it.
#[derive(Debug, Default, Clone)]
pub struct RunnerView {
    /// Each target's view, in the order of the targets.
    pub targets: Vec<TargetView>,
    /// The NAR size of every path whose size is known: those the cache serves, and the outputs
    /// of what would be built that this machine's store has.
    pub sizes: BTreeMap<String, u64>,
}

/// `/nix/store/HASH-name` -> `name`.
fn store_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split_once('-').map_or(base, |(_, name)| name)
}

impl RunnerView {
    /// A fresh runner would build nothing of the first `n` targets (a task's own; the deps
    /// layer shown beside them is another job's), and fetch every path of them sound.
    pub fn up_to_date(&self, n: usize) -> bool {
        self.targets.iter().take(n).all(|t| t.to_build.is_empty() && t.broken.is_empty())
    }

    /// What a fresh runner would build of the first `n` targets.
    pub fn built(&self, n: usize) -> u64 {
        self.targets.iter().take(n).flat_map(|t| t.to_build.iter().chain(t.broken.keys())).count() as u64
    }

    /// The rates over the first targets of the view (distinct paths), `targets` in order, and
    /// over the deps layer among them.
    pub fn rates(&self, targets: &[Target]) -> record::Rates {
        let counted = &self.targets[..targets.len().min(self.targets.len())];
        let cached: BTreeSet<&String> = counted.iter().flat_map(|t| &t.cached).collect();
        let missed: BTreeSet<&String> = counted.iter().flat_map(|t| t.to_build.iter().chain(t.broken.keys())).collect();
        let missed_bytes = sum(
            counted.iter().flat_map(|t| t.built_outputs.iter().chain(t.broken.keys())).collect::<BTreeSet<_>>(),
            &self.sizes,
        );
        let cached_bytes = total(cached.iter().filter_map(|p| self.sizes.get(*p).copied()));
        let deps = targets.iter().zip(&self.targets).find(|(t, _)| t.name() == DEPS).map(|(_, v)| v);
        record::Rates {
            paths: (cached.len() + missed.len()) as u64,
            cached: cached.len() as u64,
            hit_rate: rate(cached.len() as u64, (cached.len() + missed.len()) as u64),
            cached_bytes,
            missed_bytes,
            byte_hit_rate: missed_bytes.map(|m| rate(cached_bytes, cached_bytes.saturating_add(m))),
            deps_hit_rate: deps.map_or(1.0, |d| rate(d.cached.len() as u64, d.paths() as u64)),
            deps_byte_hit_rate: deps.map_or(Some(1.0), |d| {
                let (cached, missed) = d.bytes(&self.sizes);
                missed.map(|m| rate(cached, cached + m))
            }),
        }
    }

    /// Each target's view as the record keeps it; `builds`: how many targets, from the first,
    /// the task builds.
    pub fn record(&self, targets: &[Target], builds: usize) -> Vec<record::Target> {
        targets
            .iter()
            .zip(&self.targets)
            .enumerate()
            .map(|(i, (target, view))| {
                let (cached_bytes, missed_bytes) = view.bytes(&self.sizes);
                record::Target {
                    name: target.name(),
                    attr: target.attr.to_string(),
                    layer: target.layer.name().to_owned(),
                    key: target.key.clone(),
                    outputs: Vec::new(),
                    built_here: i < builds,
                    before: Some(record::View {
                        paths: view.paths() as u64,
                        cached: view.cached.len() as u64,
                        from_origin: view.from_origin.len() as u64,
                        to_build: view.names(),
                        broken: view
                            .broken
                            .iter()
                            .map(|(path, why)| record::Problem { path: path.clone(), why: why.clone() })
                            .collect(),
                        cached_bytes,
                        missed_bytes,
                    }),
                    ..record::Target::default()
                }
            })
            .collect()
    }
}

fn rate(hits: u64, all: u64) -> f64 {
    if all == 0 {
        1.0
    } else {
        hits as f64 / all as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{layers::Layer, nix::Attr};

    fn target(layer: Layer) -> Target {
        Target { layer, attr: Attr::package("x86_64-linux", "a"), key: "k".into() }
    }

    #[test]
    fn rates_count_distinct_paths_broken_ones_as_misses_and_the_deps_layer_apart() {
        let set = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>();
        let view = RunnerView {
            targets: vec![
                TargetView { cached: set(&["/d", "/v"]), ..TargetView::default() },
                TargetView {
                    cached: set(&["/d"]),
                    to_build: set(&["/s/x-u.drv"]),
                    built_outputs: set(&["/s/y-u"]),
                    broken: [("/s/y-img".to_string(), "short".to_string())].into(),
                    ..TargetView::default()
                },
            ],
            sizes: [("/d", 60), ("/v", 20), ("/s/y-u", 10), ("/s/y-img", 10)].map(|(p, s)| (p.to_owned(), s)).into(),
        };
        let targets = [target(Layer::Deps), target(Layer::Check { test_type: "unit".into() })];
        let r = view.rates(&targets);
        assert_eq!((r.paths, r.cached), (4, 2));
        assert!((r.hit_rate - 0.5).abs() < 1e-9);
        assert_eq!((r.cached_bytes, r.missed_bytes), (80, Some(20)));
        assert!((r.byte_hit_rate.unwrap() - 0.8).abs() < 1e-9);
        assert_eq!((r.deps_hit_rate, r.deps_byte_hit_rate), (1.0, Some(1.0)));
        let recorded = view.record(&targets, 1);
        assert_eq!(recorded[1].before.as_ref().unwrap().to_build, ["u", "img"]);
        assert!(recorded[0].built_here && !recorded[1].built_here);
        assert!(!view.up_to_date(2));
        // Only the first target is the task's own: it is up to date.
        assert!(view.up_to_date(1));
        // An output whose size is unknown: the bytes are not claimed.
        let unknown = RunnerView { sizes: BTreeMap::new(), ..view };
        assert_eq!(unknown.rates(&targets).byte_hit_rate, None);
    }
}

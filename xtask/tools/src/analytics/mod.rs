//! The seed's cache analytics, computed: what a store holds (from `nix path-info --json --all`,
//! or a saved dump of it), its largest paths with their closure sizes, the layers of the cache
//! strategy by name, what the push filter keeps out, and what to do about it.

pub mod task;

use std::collections::BTreeMap;

use regex_lite::Regex;

use serde_json::{json, Value};

use xtask::{cache::push_filter::PushFilter, numbers::total, record::render::mib};

/// One store path, its references as indices into the same list.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The store path.
    pub path: String,
    /// The bytes of its NAR.
    pub nar_size: u64,
    /// Its NAR hash: paths with the same one hold the same contents.
    pub nar_hash: String,
    /// The positions of the paths it refers to.
    pub references: Vec<usize>,
}

/// The layers of the cache strategy, in report order, each matched against a store path's name
/// (what follows the hash). Everything else is "other".
const LAYERS: [(&str, &str); 4] = [
    ("toolchain", r"^(rust-(toolchain|default|std|src)|rustc|clippy|rustfmt)(-|$)"),
    ("cargo dependencies", r"(^cargo-deps|-deps(-|$)|^vendor-cargo|^cargo-package-|^crate-)"),
    ("dev tools", r"^(dev-tools|cargo-nextest|cachix|skopeo)(-|$)"),
    ("images", r"(^docker-image-|-image(-|\.|$)|^stream-|-layer(-|$))"),
];

/// The layer of each path, by its name.
fn layers<'a>(paths: impl Iterator<Item = &'a str>) -> Vec<&'static str> {
    let rules: Vec<_> =
        LAYERS.iter().map(|(layer, rule)| (*layer, Regex::new(rule).expect("a valid layer rule"))).collect();
    paths
        .map(|path| rules.iter().find(|(_, rule)| rule.is_match(name(path))).map_or("other", |(layer, _)| layer))
        .collect()
}

/// A store path's name: what follows its hash.
fn name(path: &str) -> &str {
    let base = &path[path.rfind('/').map_or(0, |i| i + 1)..];
    &base[base.find('-').map_or(0, |i| i + 1)..]
}

/// Everything `analytics` reports.
pub struct Analysis {
    /// How many paths the store holds.
    pub paths: usize,
    /// Their NAR bytes, added up.
    pub nar_bytes: u64,
    /// Path, NAR size, closure size; largest first.
    pub largest: Vec<(String, u64, u64)>,
    /// Layer -> (paths, bytes), in [`LAYERS`] order, then "other".
    pub layers: Vec<(&'static str, usize, u64)>,
    /// The paths the push filter keeps out, with the bytes of each NAR.
    pub filtered: Vec<(String, u64)>,
    /// What to do about what was found, a sentence each.
    pub recommendations: Vec<String>,
}

/// The analytics of a store's paths: its `top` largest, its layers, what `filter` keeps out, recommendations.
pub fn analyse(entries: &[Entry], filter: &PushFilter, top: usize) -> Analysis {
    let filtered: Vec<bool> = entries.iter().map(|e| filter.is_match(&e.path)).collect();
    let layer = layers(entries.iter().map(|e| e.path.as_str()));
    let nar_bytes = total(entries.iter().map(|e| e.nar_size));
    let mut by_size: Vec<usize> = (0..entries.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(entries[i].nar_size));
    let largest =
        by_size.iter().take(top).map(|&i| (entries[i].path.clone(), entries[i].nar_size, closure_size(entries, i)));
    let layers = LAYERS.iter().map(|(name, _)| *name).chain(["other"]).map(|name| {
        let sizes = || entries.iter().zip(&layer).filter(|(_, l)| **l == name).map(|(e, _)| e.nar_size);
        (name, sizes().count(), total(sizes()))
    });
    let recommendations = recommend(entries, &layer, &filtered);
    let filtered =
        entries.iter().zip(&filtered).filter(|(_, f)| **f).map(|(e, _)| (e.path.clone(), e.nar_size)).collect();
    let (largest, layers) = (largest.collect(), layers.collect());
    Analysis { paths: entries.len(), nar_bytes, largest, layers, filtered, recommendations }
}

/// The sum of NAR sizes over a path's closure.
fn closure_size(entries: &[Entry], start: usize) -> u64 {
    let mut seen = vec![false; entries.len()];
    let (mut stack, mut sum) = (vec![start], 0u64);
    seen[start] = true;
    while let Some(i) = stack.pop() {
        sum = sum.saturating_add(entries[i].nar_size);
        stack.extend(entries[i].references.iter().filter(|&&r| !std::mem::replace(&mut seen[r], true)));
    }
    sum
}

/// `layer[i]`: the layer of `entries[i]`; `filtered[i]`: whether the push filter matches it.
fn recommend(entries: &[Entry], layer: &[&str], filtered: &[bool]) -> Vec<String> {
    let mut out = Vec::new();
    let in_layer = |name: &'static str| entries.iter().zip(layer).filter(move |(_, l)| **l == name).map(|(e, _)| e);
    let deps: Vec<&Entry> = in_layer("cargo dependencies").collect();
    let deps_bytes = total(deps.iter().map(|e| e.nar_size));
    if let Some(big) = deps.iter().filter(|e| e.nar_size > 100 << 20).max_by_key(|e| e.nar_size) {
        out.push(format!(
            "{} ({}) is rebuilt and pushed again on every Cargo.lock change, and the cache keeps each generation \
             ({} generation(s), {} in all): build fewer targets or profiles in the deps layer, or garbage-collect old generations",
            big.path, mib(big.nar_size), deps.len(), mib(deps_bytes)
        ));
    }
    let mut toolchains: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for e in in_layer("toolchain") {
        toolchains.entry(name(&e.path).to_owned()).or_default().push(&e.path);
    }
    let rust: Vec<&String> =
        toolchains.keys().filter(|n| n.starts_with("rust-toolchain") || n.starts_with("rust-default")).collect();
    if rust.len() > 1 || toolchains.values().any(|paths| paths.len() > 1) {
        let names: Vec<String> = toolchains.iter().map(|(n, p)| format!("{n} ×{}", p.len())).collect();
        out.push(format!(
            "more than one toolchain is stored ({}): pin one Rust version (`rust` in the config, the flake's rust-overlay) so every job shares it",
            names.join(", ")
        ));
    }
    for (e, _) in entries.iter().zip(filtered).filter(|(_, f)| !**f) {
        for &r in e.references.iter().filter(|&&r| filtered[r]) {
            out.push(format!(
                "{} is filtered, but {} refers to it: it is pushed anyway (a cache holds whole closures)",
                entries[r].path, e.path
            ));
        }
    }
    // A path whose NAR hash an earlier path has is a copy of it.
    let hashes = first_positions(entries.iter().map(|e| e.nar_hash.as_str()));
    let copies: Vec<&Entry> = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| !e.nar_hash.is_empty() && hashes.get(e.nar_hash.as_str()) != Some(i))
        .map(|(_, e)| e)
        .collect();
    if !copies.is_empty() {
        out.push(format!(
            "{} path(s) have the same contents as another ({} at least): `nix store optimise` hard-links identical files",
            copies.len(),
            mib(total(copies.iter().map(|e| e.nar_size)))
        ));
    }
    out
}

/// Each string to its first position.
pub fn first_positions<'a>(keys: impl Iterator<Item = &'a str>) -> std::collections::HashMap<&'a str, usize> {
    let mut positions = std::collections::HashMap::new();
    for (i, key) in keys.enumerate() {
        positions.entry(key).or_insert(i);
    }
    positions
}

impl Analysis {
    fn filtered_bytes(&self) -> u64 {
        total(self.filtered.iter().map(|(_, bytes)| *bytes))
    }

    /// The analysis as JSON: `{"store", "largest", "layers", "filtered", "recommendations"}`.
    pub fn json(&self) -> Value {
        let largest = self
            .largest
            .iter()
            .map(|(path, nar, closure)| json!({ "path": path, "nar_size": nar, "closure_size": closure }));
        let layers =
            self.layers.iter().map(|(name, paths, bytes)| (*name, json!({ "paths": paths, "nar_bytes": bytes })));
        let filtered: Vec<&String> = self.filtered.iter().map(|(p, _)| p).collect();
        json!({
            "store": { "paths": self.paths, "nar_bytes": self.nar_bytes },
            "largest": largest.collect::<Vec<_>>(),
            "layers": layers.collect::<BTreeMap<_, _>>(),
            "filtered": { "paths": filtered.len(), "nar_bytes": self.filtered_bytes(), "list": filtered },
            "recommendations": self.recommendations,
        })
    }

    /// The analysis as Markdown tables, the recommendations after them.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "Store: {} paths, {} (NAR)\n\n| largest | NAR | closure |\n|---|---:|---:|\n",
            self.paths,
            mib(self.nar_bytes)
        );
        for (path, nar, closure) in &self.largest {
            md += &format!("| {path} | {} | {} |\n", mib(*nar), mib(*closure));
        }
        md += "\n| layer | paths | NAR |\n|---|---:|---:|\n";
        for (name, paths, bytes) in &self.layers {
            md += &format!("| {name} | {paths} | {} |\n", mib(*bytes));
        }
        md += &format!(
            "\nThe push filter keeps {} path(s) out of the cache ({}).\n",
            self.filtered.len(),
            mib(self.filtered_bytes())
        );
        if !self.recommendations.is_empty() {
            md += "\nRecommendations:\n";
            for r in &self.recommendations {
                md += &format!("- {r}\n");
            }
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_the_strategy_layers_by_name() {
        for (path, layer) in [
            ("/nix/store/h-rust-toolchain-1.84.0", "toolchain"),
            ("/nix/store/h-cargo-deps", "cargo dependencies"),
            ("/nix/store/h-bench-app-deps-0.1.0", "cargo dependencies"),
            ("/nix/store/h-dev-tools", "dev tools"),
            ("/nix/store/h-docker-image-harness.tar.gz", "images"),
            ("/nix/store/h-glibc-2.40", "other"),
        ] {
            assert_eq!(layers([path].into_iter()), [layer], "{path}");
        }
    }
}

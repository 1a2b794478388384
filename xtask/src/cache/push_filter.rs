//! The push filter: store paths never worth a cache's space (the seed's `-source$` and
//! `nixpkgs\.tar\.gz$`), applied to the runtime closure of what a task built. A cache must be
//! closed under references (Nix refuses to upload a path whose references it lacks), so a filtered
//! path a kept path refers to is kept anyway and reported, as cachix-action's `pushFilter` does.

use std::collections::{BTreeMap, BTreeSet};

use regex_lite::Regex;

/// The push filter: patterns of store paths never pushed.
#[derive(Debug, Clone)]
pub struct PushFilter {
    patterns: Vec<Regex>,
}

impl PushFilter {
    /// The config's `push-filter` (validated when the config was read).
    pub fn new(patterns: Vec<Regex>) -> PushFilter {
        PushFilter { patterns }
    }

    /// The patterns, as the config wrote them.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(Regex::as_str)
    }

    /// Whether a store path matches one of the patterns.
    pub fn is_match(&self, path: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(path))
    }

    /// Splits a closure (path -> its references) into what may be pushed and what the filter drops.
    pub fn apply(&self, closure: &BTreeMap<String, Vec<String>>) -> Filtered {
        // Keep everything that does not match, then whatever a kept path refers to, until stable.
        let mut keep: BTreeSet<&String> = closure.keys().filter(|p| !self.is_match(p)).collect();
        let mut queue: Vec<&String> = keep.iter().copied().collect();
        while let Some(path) = queue.pop() {
            for (reference, _) in closure[path].iter().filter_map(|r| closure.get_key_value(r)) {
                if keep.insert(reference) {
                    queue.push(reference);
                }
            }
        }
        Filtered {
            dropped: closure.keys().filter(|p| !keep.contains(p)).cloned().collect(),
            kept_anyway: keep.iter().filter(|p| self.is_match(p)).map(|p| p.to_string()).collect(),
            push: keep.into_iter().cloned().collect(),
        }
    }
}

/// A closure split by the push filter: what is pushed and what is not.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Filtered {
    /// Paths that may be pushed (the cache is asked which it already has).
    pub push: BTreeSet<String>,
    /// Paths the filter removed.
    pub dropped: BTreeSet<String>,
    /// Paths matching the filter that are pushed all the same, because a pushed path needs them.
    pub kept_anyway: BTreeSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_filter() -> PushFilter {
        PushFilter::new(vec![Regex::new("-source$").unwrap(), Regex::new(r"nixpkgs\.tar\.gz$").unwrap()])
    }

    fn closure(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges.iter().map(|(p, refs)| (p.to_string(), refs.iter().map(|r| r.to_string()).collect())).collect()
    }

    fn set(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn matches_the_seed_patterns_only() {
        let filter = seed_filter();
        assert!(filter.is_match("/nix/store/0abc-crane-source"));
        assert!(filter.is_match("/nix/store/0abc-nixpkgs.tar.gz"));
        assert!(!filter.is_match("/nix/store/0abc-source-highlight-3.1"));
        assert!(!filter.is_match("/nix/store/0abc-nixpkgs-tar-gz"));
    }

    #[test]
    fn drops_unreferenced_matches_and_keeps_the_rest() {
        let filtered = seed_filter().apply(&closure(&[
            ("/s/a-deps", &["/s/b-toolchain"]),
            ("/s/b-toolchain", &[]),
            ("/s/c-vendor-source", &[]),
            ("/s/d-nixpkgs.tar.gz", &[]),
        ]));
        assert_eq!(filtered.push, set(&["/s/a-deps", "/s/b-toolchain"]));
        assert_eq!(filtered.dropped, set(&["/s/c-vendor-source", "/s/d-nixpkgs.tar.gz"]));
        assert!(filtered.kept_anyway.is_empty());
    }

    #[test]
    fn keeps_a_match_that_a_pushed_path_needs_and_says_so() {
        let filtered = seed_filter().apply(&closure(&[
            ("/s/a-deps", &["/s/b-crate-source", "/s/a-deps"]),
            ("/s/b-crate-source", &["/s/c-inner-source"]),
            ("/s/c-inner-source", &[]),
            ("/s/d-other-source", &[]),
        ]));
        assert_eq!(filtered.push, set(&["/s/a-deps", "/s/b-crate-source", "/s/c-inner-source"]));
        assert_eq!(filtered.kept_anyway, set(&["/s/b-crate-source", "/s/c-inner-source"]));
        assert_eq!(filtered.dropped, set(&["/s/d-other-source"]));
    }
}

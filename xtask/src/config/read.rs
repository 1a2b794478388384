//! Validation of `[workspace.metadata.cache]`: every key is read, every problem collected, and all
//! of them reported at once (cargo's `xtask-bump-check` style), each naming the key.

use anyhow::{ensure, Result};
use regex_lite::Regex;
use toml::de::{DeTable as Table, DeValue as Value};

use super::{is_cache_name, rules::*, Backend, Config, TABLE};

/// What `local-cache` must be: it reaches the generated workflows, so a strict form no value can add a line to.
const LOCAL_CACHE: &str =
    "a relative directory of letters, digits, '.', '_', '-' and '/', without `..`, e.g. \"target/nix-cache\"";
const IMAGES: &str =
    "a table of image name (lowercase, as registries take it) = flake attribute, e.g. harness = \"harnessImage\"";

pub fn config(table: &Table<'_>) -> Result<Config> {
    let mut r = Reader { table, read: Vec::new(), problems: Vec::new() };
    // In the order the keys are read, and listed in messages.
    let config = Config {
        version: r.get("version", "a positive integer, e.g. `version = 1`", int_in(1..=i64::MAX)),
        backend: r.get("backend", "\"cachix\", \"cachix-disabled\" or \"actions-cache\"", |v| {
            let all = [Backend::Cachix, Backend::CachixDisabled, Backend::ActionsCache];
            all.into_iter().find(|b| Some(b.as_str()) == v.as_str())
        }),
        name: r.get("name", "a Cachix cache name: lowercase letters, digits and '-'", string_of(is_cache_name)),
        public_keys: r
            .optional("public-keys", "an array of Nix public keys, \"NAME:BASE64\" each, no two of one name", |v| {
                string_array(v).filter(|keys| keys.iter().all(|k| is_public_key(k)) && distinct_names(keys))
            })
            .unwrap_or_default(),
        local_cache: r.get("local-cache", LOCAL_CACHE, string_of(is_relative_dir)).into(),
        push_filter: r.regexes("push-filter"),
        cache_timeout: r
            .optional("cache-timeout", "a number of seconds from 1 to 600, e.g. 30", int_in(1..=600))
            .unwrap_or(30),
        upstream: r
            .optional("upstream", "an array of binary cache URLs, e.g. [\"https://cache.nixos.org\"]", |v| {
                string_array(v).filter(|urls| urls.iter().all(|u| is_url(u)))
            })
            .unwrap_or_else(|| vec!["https://cache.nixos.org".to_owned()]),
        keep_revisions: r.optional("keep-revisions", "a number of revisions from 1 to 1000, e.g. 5", int_in(1..=1000)),
        // The seed's target, on the deps layer.
        min_hit_rate: r
            .optional("min-hit-rate", "a hit rate from 0 to 1, e.g. 0.8", number_in(0.0..=1.0))
            .unwrap_or(0.8),
        // What a GitHub-hosted job pays before its first `cargo xtask`, from public measurements
        // (docs/measurements.md names each): the job scheduled after the one it needs (6 s), its
        // runner provisioned (3 s), the checkout (1 s), Nix and cachix-action (8 s), the binary (3 s).
        job_setup_seconds: r
            .optional("job-setup-seconds", "seconds from 0 to 3600, e.g. 21", number_in(0.0..=3600.0))
            .unwrap_or(21.0),
        rust: r.get("rust", "a Rust version \"MAJOR.MINOR.PATCH\", e.g. \"1.84.0\"", string_of(is_version)),
        arches: r.get("arches", "a non-empty array of architectures, e.g. [\"x86_64\", \"aarch64\"]", words),
        os: r.get("os", "a non-empty array of runner names, e.g. [\"ubuntu-latest\"]", |v| {
            words(v).filter(|os| os.iter().all(|o| is_runner(o)))
        }),
        deps_attr: r.get("deps.attr", "a flake attribute name, e.g. \"deps\"", string_of(is_attr)),
        images: r.get("images", IMAGES, |v| {
            let pairs = sorted_pairs(v, string_of(is_attr))?;
            non_empty(pairs).filter(|p| p.iter().all(|(k, _)| is_image_name(k)))
        }),
        tests: r.get("tests", "a table of test type = cargo arguments, e.g. unit = [\"test\", \"--workspace\"]", |v| {
            let pairs = sorted_pairs(v, |v| non_empty(string_array(v)?))?;
            non_empty(pairs).filter(|p| p.iter().all(|(k, _)| is_attr(k)))
        }),
    };
    r.finish()?;
    Ok(config)
}

/// Reads keys of the table, collecting one message per problem.
struct Reader<'a> {
    table: &'a Table<'a>,
    /// The keys read (dotted for sub-tables): every other key of the table is unknown.
    read: Vec<&'static str>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A dotted key (`deps.attr`) looks into sub-tables.
    fn lookup(&self, key: &str) -> Option<&'a Value<'a>> {
        let mut parts = key.split('.');
        let first = self.table.get(parts.next()?)?.get_ref();
        parts.try_fold(first, |item, part| Some(item.as_table()?.get(part)?.get_ref()))
    }

    /// A required key's value: a missing or malformed one is a problem (read as the default, never out).
    fn get<T: Default>(&mut self, key: &'static str, expected: &str, parse: impl Fn(&Value) -> Option<T>) -> T {
        if self.lookup(key).is_none() {
            self.problems.push(format!("`{key}` is missing: expected {expected}"));
        }
        self.optional(key, expected, parse).unwrap_or_default()
    }

    /// An optional key's value: `None` when it is missing, or malformed (a problem).
    fn optional<T>(&mut self, key: &'static str, expected: &str, parse: impl Fn(&Value) -> Option<T>) -> Option<T> {
        self.read.push(key);
        let item = self.lookup(key)?;
        let parsed = parse(item);
        if parsed.is_none() {
            self.problems.push(format!("`{key}` must be {expected}, found {}", show(item)));
        }
        parsed
    }

    /// Every problem at once (the unknown keys first), or none.
    fn finish(mut self) -> Result<()> {
        let unknown = self.unknown_keys();
        self.problems.splice(0..0, unknown);
        let (count, list) = (self.problems.len(), self.problems.join("\n  - "));
        ensure!(count == 0, "{TABLE} in the root Cargo.toml has {count} problem(s):\n  - {list}");
        Ok(())
    }

    /// An array of regular expressions; an invalid one is reported with the regex engine's own words.
    fn regexes(&mut self, key: &'static str) -> Vec<Regex> {
        let patterns: Vec<String> = self.get(key, "an array of regular expressions", string_array);
        let mut regexes = Vec::new();
        for pattern in patterns {
            match Regex::new(&pattern) {
                Ok(regex) => regexes.push(regex),
                Err(e) => self.problems.push(format!("`{key}`: `{pattern}` is not a valid regular expression: {e}")),
            }
        }
        regexes
    }

    /// Keys the xtask does not read are typos until proven otherwise: each is reported with the
    /// closest key read. A key read dotted (`deps.attr`) makes its sub-table's keys checked too.
    fn unknown_keys(&self) -> Vec<String> {
        let known = |prefix: &str| {
            let mut keys: Vec<&str> =
                self.read.iter().filter_map(|k| k.strip_prefix(prefix)?.split('.').next()).collect();
            keys.dedup();
            keys
        };
        let keys = known("");
        let problem = |key: String, suggestion: Option<String>| match suggestion {
            Some(known) => format!("`{key}` is not a key of {TABLE}: did you mean `{known}`?"),
            None => format!("`{key}` is not a key of {TABLE}: the keys are {}", keys.join(", ")),
        };
        let mut unknown = Vec::new();
        for (key, item) in self.table.iter() {
            let key = key.get_ref().as_ref();
            if !keys.contains(&key) {
                unknown.push(problem(key.to_owned(), suggest(key, &keys)));
            }
            // Only a sub-table some key was read in (`deps`), not one of names (`images`).
            let subs = known(&format!("{key}."));
            let sub_keys = item.get_ref().as_table().filter(|_| !subs.is_empty()).into_iter().flat_map(|t| t.keys());
            for sub in sub_keys.map(|s| s.get_ref().as_ref()).filter(|s| !subs.contains(s)) {
                unknown.push(problem(format!("{key}.{sub}"), suggest(sub, &subs).map(|s| format!("{key}.{s}"))));
            }
        }
        unknown
    }
}

//! Validation of `[workspace.metadata.cache]`: every key is read, every problem collected, and all
//! of them reported at once (cargo's `xtask-bump-check` style), each naming the key.

use std::path::PathBuf;

use anyhow::{bail, Result};
use regex_lite::Regex;
use toml::de::{DeTable as Table, DeValue as Value};

use super::{
    is_cache_name,
    rules::{
        int, is_attr, is_image_name, is_public_key, is_relative_dir, is_runner, is_version, non_empty, show,
        sorted_pairs, string_array, suggest, words,
    },
    Backend, Config, TABLE,
};

/// The keys of the table (dotted for sub-tables), for the unknown-key check.
const KEYS: [&str; 17] = [
    "version",
    "backend",
    "name",
    "public-key",
    "local-cache",
    "push-filter",
    "cache-timeout",
    "upstream",
    "keep-revisions",
    "min-hit-rate",
    "job-setup-seconds",
    "rust",
    "arches",
    "os",
    "deps",
    "images",
    "tests",
];
const DEPS_KEYS: [&str; 1] = ["attr"];

pub fn config(table: &Table<'_>) -> Result<Config> {
    let mut r = Reader { table, problems: Vec::new() };
    r.unknown_keys();

    let version =
        r.get("version", "a positive integer, e.g. `version = 1`", |v| int(v).filter(|n| *n >= 1).map(|n| n as u64));
    let backend = r.get("backend", "\"cachix\", \"cachix-disabled\" or \"actions-cache\"", |v| {
        Backend::ALL.into_iter().find(|b| Some(b.as_str()) == v.as_str())
    });
    let name = r.get("name", "a Cachix cache name: lowercase letters, digits and '-'", |v| {
        v.as_str().filter(|s| is_cache_name(s)).map(str::to_owned)
    });
    let public_key = r.optional("public-key", "a Nix public key, \"NAME:BASE64\"", |v| {
        v.as_str().filter(|s| is_public_key(s)).map(str::to_owned)
    });
    // It reaches the generated workflows: a strict form, so no value can add a line to them.
    let local_cache = r.get(
        "local-cache",
        "a relative directory of letters, digits, '.', '_', '-' and '/', without `..`, e.g. \"target/nix-cache\"",
        |v| v.as_str().filter(|s| is_relative_dir(s)).map(PathBuf::from),
    );
    let push_filter = r.get("push-filter", "an array of regular expressions", string_array);
    let push_filter = push_filter.and_then(|patterns| r.regexes("push-filter", &patterns));
    let (cache_timeout, upstream, keep_revisions) = cache_settings(&mut r);
    let min_hit_rate = r.optional("min-hit-rate", "a hit rate from 0 to 1, e.g. 0.8", |v| {
        let rate = v.as_float().and_then(|f| f.as_str().parse::<f64>().ok()).or_else(|| int(v).map(|n| n as f64))?;
        (0.0..=1.0).contains(&rate).then_some(rate)
    });
    let job_setup_seconds = r.optional("job-setup-seconds", "seconds from 0 to 3600, e.g. 21", |v| {
        let s = v.as_float().and_then(|f| f.as_str().parse::<f64>().ok()).or_else(|| int(v).map(|n| n as f64))?;
        (0.0..=3600.0).contains(&s).then_some(s)
    });
    let rust = r.get("rust", "a Rust version \"MAJOR.MINOR.PATCH\", e.g. \"1.84.0\"", |v| {
        v.as_str().filter(|s| is_version(s)).map(str::to_owned)
    });
    let arches = r.get("arches", "a non-empty array of architectures, e.g. [\"x86_64\", \"aarch64\"]", words);
    let os = r.get("os", "a non-empty array of runner names, e.g. [\"ubuntu-latest\"]", |v| {
        words(v).filter(|os| os.iter().all(|o| is_runner(o)))
    });
    let deps_attr = r.get("deps.attr", "a flake attribute name, e.g. \"deps\"", |v| {
        v.as_str().filter(|s| is_attr(s)).map(str::to_owned)
    });
    let images = r.get(
        "images",
        "a table of image name (lowercase, as registries take it) = flake attribute, e.g. harness = \"harnessImage\"",
        |v| {
            let pairs = sorted_pairs(v, |v| v.as_str().filter(|s| is_attr(s)).map(str::to_owned))?;
            non_empty(pairs).filter(|p| p.iter().all(|(k, _)| is_image_name(k)))
        },
    );
    let tests =
        r.get("tests", "a table of test type = cargo arguments, e.g. unit = [\"test\", \"--workspace\"]", |v| {
            let pairs = sorted_pairs(v, |v| non_empty(string_array(v)?))?;
            non_empty(pairs).filter(|p| p.iter().all(|(k, _)| is_attr(k)))
        });

    r.finish()?;
    // No problem was found, so every required value is present.
    Ok(Config {
        version: version.unwrap(),
        backend: backend.unwrap(),
        name: name.unwrap(),
        public_key: public_key.flatten(),
        local_cache: local_cache.unwrap(),
        push_filter: push_filter.unwrap(),
        cache_timeout: cache_timeout.unwrap_or(super::DEFAULT_CACHE_TIMEOUT),
        keep_revisions,
        min_hit_rate: min_hit_rate.flatten().unwrap_or(super::DEFAULT_MIN_HIT_RATE),
        job_setup_seconds: job_setup_seconds.flatten().unwrap_or(super::DEFAULT_JOB_SETUP_SECONDS),
        upstream: upstream.unwrap_or_else(|| super::DEFAULT_UPSTREAM.iter().map(|u| u.to_string()).collect()),
        rust: rust.unwrap(),
        arches: arches.unwrap(),
        os: os.unwrap(),
        deps_attr: deps_attr.unwrap(),
        images: images.unwrap(),
        tests: tests.unwrap(),
    })
}

/// The optional settings of how the tasks talk to caches: `cache-timeout`, `upstream`,
/// `keep-revisions` (each `None` when absent or invalid; an invalid one is a problem).
fn cache_settings(r: &mut Reader) -> (Option<u64>, Option<Vec<String>>, Option<u32>) {
    let cache_timeout = r.optional("cache-timeout", "a number of seconds from 1 to 600, e.g. 30", |v| {
        int(v).filter(|n| (1..=600).contains(n)).map(|n| n as u64)
    });
    let upstream = r.optional("upstream", "an array of binary cache URLs, e.g. [\"https://cache.nixos.org\"]", |v| {
        string_array(v).filter(|urls| urls.iter().all(|u| u.starts_with("https://") || u.starts_with("http://")))
    });
    let keep_revisions = r.optional("keep-revisions", "a number of revisions from 1 to 1000, e.g. 5", |v| {
        int(v).filter(|n| (1..=1000).contains(n)).map(|n| n as u32)
    });
    (cache_timeout.flatten(), upstream.flatten(), keep_revisions.flatten())
}

/// Reads keys of the table, collecting one message per problem.
struct Reader<'a> {
    table: &'a Table<'a>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A dotted key (`deps.attr`) looks into sub-tables.
    fn lookup(&self, key: &str) -> Option<&'a Value<'a>> {
        let mut parts = key.split('.');
        let mut item = self.table.get(parts.next()?)?.get_ref();
        for part in parts {
            item = item.as_table()?.get(part)?.get_ref();
        }
        Some(item)
    }

    fn get<T>(&mut self, key: &str, expected: &str, parse: impl Fn(&Value) -> Option<T>) -> Option<T> {
        match self.lookup(key) {
            None => {
                self.problems.push(format!("`{key}` is missing: expected {expected}"));
                None
            }
            Some(item) => self.parse(key, expected, item, parse),
        }
    }

    fn optional<T>(&mut self, key: &str, expected: &str, parse: impl Fn(&Value) -> Option<T>) -> Option<Option<T>> {
        match self.lookup(key) {
            None => Some(None),
            Some(item) => self.parse(key, expected, item, parse).map(Some),
        }
    }

    fn parse<T>(&mut self, key: &str, expected: &str, item: &Value, parse: impl Fn(&Value) -> Option<T>) -> Option<T> {
        let parsed = parse(item);
        if parsed.is_none() {
            self.problems.push(format!("`{key}` must be {expected}, found {}", show(item)));
        }
        parsed
    }

    /// Every problem at once, or none.
    fn finish(&self) -> Result<()> {
        if self.problems.is_empty() {
            return Ok(());
        }
        bail!(
            "{TABLE} in the root Cargo.toml has {} problem(s):\n{}",
            self.problems.len(),
            self.problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
        )
    }

    /// Compiles each pattern; an invalid one is reported with the regex engine's own words.
    fn regexes(&mut self, key: &str, patterns: &[String]) -> Option<Vec<Regex>> {
        let mut regexes = Vec::new();
        for pattern in patterns {
            match Regex::new(pattern) {
                Ok(regex) => regexes.push(regex),
                Err(err) => {
                    self.problems.push(format!("`{key}`: `{pattern}` is not a valid regular expression: {err}"))
                }
            }
        }
        (regexes.len() == patterns.len()).then_some(regexes)
    }

    /// Keys the xtask does not know are typos until proven otherwise: report each with the
    /// closest known key.
    fn unknown_keys(&mut self) {
        let mut unknown = Vec::new();
        for (key, item) in self.table.iter() {
            let (key, item) = (key.get_ref().as_ref(), item.get_ref());
            if !KEYS.contains(&key) {
                unknown.push((key.to_owned(), suggest(key, &KEYS)));
            } else if key == "deps" {
                for sub in item.as_table().into_iter().flat_map(|t| t.keys()) {
                    let sub = sub.get_ref().as_ref();
                    if !DEPS_KEYS.contains(&sub) {
                        unknown.push((format!("deps.{sub}"), suggest(sub, &DEPS_KEYS).map(|s| format!("deps.{s}"))));
                    }
                }
            }
        }
        for (key, suggestion) in unknown {
            self.problems.push(match suggestion {
                Some(known) => format!("`{key}` is not a key of {TABLE}: did you mean `{known}`?"),
                None => format!("`{key}` is not a key of {TABLE}: the keys are {}", KEYS.join(", ")),
            });
        }
    }
}

//! `[workspace.metadata.cache]`: the cache strategy's single source of truth.
//!
//! Read through `cargo metadata`, validated in full: every malformed key is reported at once, each
//! message naming the key, what it expected and what it found.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use xshell::{cmd, Shell};

use crate::push_filter::PushFilter;

/// The table every message points at.
pub const TABLE: &str = "[workspace.metadata.cache]";

/// Where the cache lives when Cachix is the backend, or what replaced it after a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Cachix: the seed's strategy. Keys start with `cachix-v{N}-deps-`.
    Cachix,
    /// Cachix turned off (`cargo xtask rollback --disable-cachix`): keys and workflows stay, the
    /// cachix-action steps are commented out, and the tasks push to the local directory.
    CachixDisabled,
    /// The GitHub Actions cache over the local binary cache directory (`cargo xtask rollback`).
    /// Keys start with `nix-v{N}-deps-`, as before the migration to Cachix.
    ActionsCache,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Cachix, Backend::CachixDisabled, Backend::ActionsCache];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Cachix => "cachix",
            Backend::CachixDisabled => "cachix-disabled",
            Backend::ActionsCache => "actions-cache",
        }
    }

    /// The key prefix this backend's keys start with.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Backend::Cachix | Backend::CachixDisabled => "cachix",
            Backend::ActionsCache => "nix",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub version: u64,
    pub backend: Backend,
    /// The Cachix cache name.
    pub name: String,
    /// The Cachix cache's public signing key, if known.
    pub public_key: Option<String>,
    /// The local binary cache directory, relative to the workspace root.
    pub local_cache: PathBuf,
    pub push_filter: PushFilter,
    pub rust: String,
    pub arches: Vec<String>,
    pub os: Vec<String>,
    /// Layer 1: attribute under `packages.<system>`.
    pub deps_attr: String,
    /// Layer 3: image name and its attribute under `packages.<system>`, in file order.
    pub images: Vec<(String, String)>,
    /// Layer 2: test type (= attribute under `checks.<system>`) and its cargo equivalent.
    pub tests: Vec<(String, Vec<String>)>,
}

impl Config {
    /// Reads the workspace around the current directory: its root and its cache config.
    pub fn load(sh: &Shell) -> Result<(PathBuf, Config)> {
        let json = cmd!(sh, "cargo metadata --no-deps --format-version 1 --offline")
            .quiet()
            .read()
            .context("`cargo metadata` failed: run the xtask from inside the workspace (it needs cargo on PATH)")?;
        let metadata: Value =
            serde_json::from_str(&json).context("`cargo metadata` printed something that is not JSON")?;
        let root = metadata["workspace_root"].as_str().context("`cargo metadata` did not name a workspace root")?;
        let config = Config::from_workspace_metadata(&metadata["metadata"])?;
        Ok((PathBuf::from(root), config))
    }

    /// Validates `workspace.metadata` (the JSON `cargo metadata` prints for it).
    pub fn from_workspace_metadata(metadata: &Value) -> Result<Config> {
        let Some(table) = metadata.get("cache").and_then(Value::as_object) else {
            bail!("{TABLE} is missing from the root Cargo.toml: add the table (see README.md, \"Configuration\")");
        };
        let mut r = Reader { table, problems: Vec::new() };

        let version = r.get("version", "a positive integer, e.g. `version = 1`", |v| v.as_u64().filter(|n| *n >= 1));
        let backend = r.get("backend", "\"cachix\", \"cachix-disabled\" or \"actions-cache\"", |v| {
            Backend::ALL.into_iter().find(|b| Some(b.as_str()) == v.as_str())
        });
        let name = r.get("name", "a Cachix cache name: lowercase letters, digits and '-'", |v| {
            v.as_str().filter(|s| is_cache_name(s)).map(str::to_owned)
        });
        let public_key = r.optional("public-key", "a Nix public key, \"NAME:BASE64\"", |v| {
            v.as_str().filter(|s| is_public_key(s)).map(str::to_owned)
        });
        let local_cache = r.get("local-cache", "a relative directory, e.g. \"target/nix-cache\"", |v| {
            let s = v.as_str().filter(|s| !s.is_empty())?;
            Path::new(s).is_relative().then(|| PathBuf::from(s))
        });
        let push_filter = r.get("push-filter", "an array of regular expressions", |v| {
            let patterns = string_array(v)?;
            PushFilter::new(&patterns).ok()
        });
        let rust = r.get("rust", "a Rust version \"MAJOR.MINOR.PATCH\", e.g. \"1.84.0\"", |v| {
            v.as_str().filter(|s| is_version(s)).map(str::to_owned)
        });
        let arches = r.get("arches", "a non-empty array of architectures, e.g. [\"x86_64\", \"aarch64\"]", |v| {
            non_empty(string_array(v)?).filter(|a| a.iter().all(|s| is_word(s)))
        });
        let os = r.get("os", "a non-empty array of runner names, e.g. [\"ubuntu-latest\"]", |v| {
            non_empty(string_array(v)?).filter(|a| a.iter().all(|s| is_word(s)))
        });
        let deps_attr = r.get("deps.attr", "a flake attribute name, e.g. \"deps\"", |v| {
            v.as_str().filter(|s| is_attr(s)).map(str::to_owned)
        });
        let images = r.get("images", "a table of image name = flake attribute, e.g. harness = \"harnessImage\"", |v| {
            let pairs: Option<Vec<_>> = v
                .as_object()?
                .iter()
                .map(|(k, v)| Some((k.clone(), v.as_str().filter(|s| is_attr(s))?.to_owned())))
                .collect();
            non_empty(pairs?).filter(|p| p.iter().all(|(k, _)| is_word(k)))
        });
        let tests =
            r.get("tests", "a table of test type = cargo arguments, e.g. unit = [\"test\", \"--workspace\"]", |v| {
                let pairs: Option<Vec<_>> =
                    v.as_object()?.iter().map(|(k, v)| Some((k.clone(), non_empty(string_array(v)?)?))).collect();
                non_empty(pairs?).filter(|p| p.iter().all(|(k, _)| is_attr(k)))
            });

        if !r.problems.is_empty() {
            bail!(
                "{TABLE} in the root Cargo.toml has {} problem(s):\n{}",
                r.problems.len(),
                r.problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
            );
        }
        // Every `get` above succeeded, so each value is present.
        Ok(Config {
            version: version.unwrap(),
            backend: backend.unwrap(),
            name: name.unwrap(),
            public_key: public_key.flatten(),
            local_cache: local_cache.unwrap(),
            push_filter: push_filter.unwrap(),
            rust: rust.unwrap(),
            arches: arches.unwrap(),
            os: os.unwrap(),
            deps_attr: deps_attr.unwrap(),
            images: images.unwrap(),
            tests: tests.unwrap(),
        })
    }

    pub fn image_attr(&self, image: &str) -> Result<&str> {
        match self.images.iter().find(|(name, _)| name == image) {
            Some((_, attr)) => Ok(attr),
            None => bail!(
                "unknown image `{image}`: the images are {} ({TABLE}.images)",
                self.images.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    pub fn test_args(&self, test_type: &str) -> Result<&[String]> {
        match self.tests.iter().find(|(name, _)| name == test_type) {
            Some((_, args)) => Ok(args),
            None => bail!(
                "unknown test type `{test_type}`: the test types are {} ({TABLE}.tests)",
                self.tests.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    pub fn check_arch(&self, arch: &str) -> Result<()> {
        if self.arches.iter().any(|a| a == arch) {
            return Ok(());
        }
        bail!("unknown arch `{arch}`: the arches are {} ({TABLE}.arches)", self.arches.join(", "))
    }
}

/// Reads keys of the table, collecting one message per problem.
struct Reader<'a> {
    table: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A dotted key (`deps.attr`) looks into sub-tables.
    fn lookup(&self, key: &str) -> Option<&'a Value> {
        let mut parts = key.split('.');
        let mut value = self.table.get(parts.next()?)?;
        for part in parts {
            value = value.get(part)?;
        }
        Some(value)
    }

    fn get<T>(&mut self, key: &str, expected: &str, parse: impl Fn(&Value) -> Option<T>) -> Option<T> {
        match self.lookup(key) {
            None => {
                self.problems.push(format!("`{key}` is missing: expected {expected}"));
                None
            }
            Some(value) => self.parse(key, expected, value, parse),
        }
    }

    fn optional<T>(&mut self, key: &str, expected: &str, parse: impl Fn(&Value) -> Option<T>) -> Option<Option<T>> {
        match self.lookup(key) {
            None => Some(None),
            Some(value) => self.parse(key, expected, value, parse).map(Some),
        }
    }

    fn parse<T>(&mut self, key: &str, expected: &str, value: &Value, parse: impl Fn(&Value) -> Option<T>) -> Option<T> {
        let parsed = parse(value);
        if parsed.is_none() {
            self.problems.push(format!("`{key}` must be {expected}, found {value}"));
        }
        parsed
    }
}

fn string_array(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|s| s.as_str().map(str::to_owned)).collect()
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn is_cache_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Safe in keys, file names and YAML without quoting: letters, digits, '-', '_', '.'.
fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// A Nix attribute name that needs no quoting.
fn is_attr(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_'".contains(&b))
}

fn is_version(s: &str) -> bool {
    let parts: Vec<_> = s.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_public_key(s: &str) -> bool {
    matches!(s.split_once(':'), Some((name, key)) if !name.is_empty() && key.len() >= 40 && !key.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({ "cache": {
            "version": 1, "backend": "cachix", "name": "nanna-coder",
            "public-key": "nanna-coder.cachix.org-1:U/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4=",
            "local-cache": "target/nix-cache",
            "push-filter": ["-source$", "nixpkgs\\.tar\\.gz$"],
            "rust": "1.84.0", "arches": ["x86_64", "aarch64"], "os": ["ubuntu-latest"],
            "deps": { "attr": "deps" },
            "images": { "harness": "harnessImage", "ollama": "ollamaImage" },
            "tests": { "unit": ["test"], "fmt": ["fmt", "--check"] }
        }})
    }

    #[test]
    fn reads_a_valid_table() {
        let config = Config::from_workspace_metadata(&valid()).unwrap();
        assert_eq!(config.version, 1);
        assert_eq!(config.backend, Backend::Cachix);
        assert_eq!(config.image_attr("ollama").unwrap(), "ollamaImage");
        assert_eq!(config.test_args("fmt").unwrap(), ["fmt", "--check"]);
        assert!(config.push_filter.is_match("/nix/store/abc-foo-source"));
    }

    #[test]
    fn reports_every_problem_at_once_naming_the_key() {
        let mut metadata = valid();
        let cache = metadata["cache"].as_object_mut().unwrap();
        cache.insert("version".into(), json!("one"));
        cache.insert("push-filter".into(), json!(["(unclosed"]));
        cache.remove("rust");
        cache.insert("images".into(), json!({ "harness": 3 }));
        let message = Config::from_workspace_metadata(&metadata).unwrap_err().to_string();
        assert!(message.contains("4 problem(s)"), "{message}");
        assert!(message.contains("`version` must be a positive integer"), "{message}");
        assert!(message.contains("`push-filter` must be an array of regular expressions"), "{message}");
        assert!(message.contains("`rust` is missing"), "{message}");
        assert!(message.contains("`images` must be a table"), "{message}");
    }

    #[test]
    fn a_missing_table_names_the_fix() {
        let message = Config::from_workspace_metadata(&json!({})).unwrap_err().to_string();
        assert!(message.contains("[workspace.metadata.cache] is missing"), "{message}");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let config = Config::from_workspace_metadata(&valid()).unwrap();
        let message = config.image_attr("postgres").unwrap_err().to_string();
        assert!(message.contains("harness, ollama"), "{message}");
        assert!(config.check_arch("riscv64").is_err());
        assert!(config.test_args("bench").is_err());
    }
}

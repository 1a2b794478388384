//! Where the tasks push and pull (`--cache`): a local directory, any Nix store URL, or Cachix.
//! A cache this project owns is read and written directly ([`files`], [`narinfo`]); its pushes
//! record their roots ([`roots`]) one writer at a time ([`lock`]) for [`gc`]; [`verify`] checks it.

pub mod credentials;
pub mod files;
pub mod gc;
pub mod lock;
pub mod narinfo;
pub mod push;
pub mod push_filter;
pub mod roots;
pub mod rotation;
pub mod signatures;
pub mod signing_key;
pub mod verify;

use std::{
    env,
    path::{Path, PathBuf},
};

use anyhow::{ensure, Result};

use self::credentials::split_credentials;
pub(crate) use self::credentials::Credentials;

use crate::{
    command::on_path,
    config::{is_cache_name, Backend, Config},
    github::{self, names::env::CACHIX_AUTH_TOKEN},
};

/// The binary cache a task reads from and pushes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cache {
    /// A binary cache directory on this machine (`file://`), the default with no Cachix token:
    /// signed with a key kept beside it (`DIR.secret`, `DIR.public`) that runners can trust.
    Local {
        /// The directory.
        dir: PathBuf,
    },
    /// Any other Nix store URL (`http(s)://`, `s3://`, `ssh-ng://`, …), pushed with `nix copy`.
    /// The URL never holds credentials: those of `--cache` go to Nix and curl in a netrc file.
    Store {
        /// The URL, without credentials.
        url: String,
        /// The user and password taken out of an HTTP URL, for the run's netrc file.
        credentials: Option<Credentials>,
    },
    /// A Cachix cache, pushed with the `cachix` CLI and pulled from `https://NAME.cachix.org`.
    Cachix {
        /// The cache's name on Cachix.
        name: String,
    },
    /// A cache only read from: Cachix without its token on GitHub Actions, or any cache in a pull
    /// request from a fork (GitHub gives it no secrets).
    ReadOnly {
        /// The cache read from.
        of: Box<Cache>,
        /// Why nothing is pushed to it, for the log and the record.
        why: &'static str,
    },
}

/// The schemes of the store URLs `--cache` takes (with `local?…` and `daemon`).
const SCHEMES: [&str; 7] = ["file", "http", "https", "s3", "ssh", "ssh-ng", "gs"];
/// Why a cache is only read from.
const NO_TOKEN: &str = "CACHIX_AUTH_TOKEN is not set (a fork pull request gets no secrets)";
const FORK: &str = "a pull request from a fork gets no secrets";

/// Whether a Cachix token is set (its value is never printed).
pub fn token_is_set() -> bool {
    env::var(CACHIX_AUTH_TOKEN).is_ok_and(|t| !t.is_empty())
}

impl Cache {
    /// `--cache` if given; else Cachix when the config says so and a token is set; else the local one.
    pub fn resolve(arg: Option<&str>, config: &Config, root: &Path) -> Result<Cache> {
        Ok(match Cache::from_arg(arg, config, root)? {
            cache if !github::is_fork_pull_request() => cache,
            Cache::ReadOnly { of, .. } => Cache::ReadOnly { of, why: FORK },
            cache => Cache::ReadOnly { of: Box::new(cache), why: FORK },
        })
    }

    fn from_arg(arg: Option<&str>, config: &Config, root: &Path) -> Result<Cache> {
        let Some(arg) = arg else {
            let name = config.name.clone();
            return Ok(match (config.backend, token_is_set()) {
                (Backend::Cachix, true) => Cache::Cachix { name },
                (Backend::Cachix, false) if github::is_actions() => {
                    Cache::ReadOnly { of: Box::new(Cache::Cachix { name }), why: NO_TOKEN }
                }
                _ => Cache::Local { dir: root.join(&config.local_cache) },
            });
        };
        if let Some(name) = arg.strip_prefix("cachix:") {
            ensure!(
                is_cache_name(name),
                "`--cache {arg}`: a Cachix cache name is lowercase letters, digits and '-', e.g. cachix:{}",
                config.name
            );
            return Ok(Cache::Cachix { name: name.to_owned() });
        }
        if let Some(path) = arg.strip_prefix("file://") {
            let dir = path.split('?').next().unwrap_or_default();
            ensure!(
                dir.starts_with('/') && !dir.trim_end_matches('/').is_empty(),
                "`--cache {arg}` does not name an absolute directory: use file:///absolute/dir (three slashes), e.g. file://{}",
                root.join(&config.local_cache).display()
            );
            // With parameters it would be a store the xtask only hands to Nix: its pushes would
            // record no roots, and gc would delete what they need.
            ensure!(
                !path.contains('?'),
                "`--cache {arg}`: a directory cache is the directory alone, without parameters: file://{} (the xtask chooses how it writes, and records what each push needs, for gc)",
                dir.trim_end_matches('/')
            );
            return Ok(Cache::Local { dir: PathBuf::from(dir.trim_end_matches('/')) });
        }
        let scheme = SCHEMES.into_iter().find(|k| arg.starts_with(&format!("{k}://")));
        ensure!(
            scheme.is_some() || arg.starts_with("local?") || arg.starts_with("daemon"),
            "`--cache {}` is not a cache: use a Nix store URL (file:///abs/dir, https://host/path, s3://bucket, ssh-ng://host) or cachix:NAME",
            crate::secrets::redact(arg)
        );
        if let Some(scheme) = scheme.filter(|s| *s != "file") {
            let host = arg[scheme.len() + 3..].split(['/', '?']).next().unwrap_or_default();
            ensure!(
                !host.rsplit('@').next().unwrap_or_default().is_empty(),
                "`--cache {}` has no host: use {scheme}://HOST/…, e.g. {scheme}://cache.example.org",
                crate::secrets::redact(arg)
            );
        }
        let (url, credentials) = split_credentials(arg)?;
        Ok(Cache::Store { url, credentials })
    }

    /// The URL Nix reads from.
    pub fn substituter(&self) -> String {
        match self {
            Cache::Local { dir } => format!("file://{}", dir.display()),
            Cache::Store { url, .. } => url.clone(),
            Cache::Cachix { name } => format!("https://{name}.cachix.org"),
            Cache::ReadOnly { of, .. } => of.substituter(),
        }
    }

    /// The `--cache` value that names this cache, credentials left out (a netrc file has them).
    pub fn argument(&self) -> String {
        match self {
            Cache::Cachix { name } => format!("cachix:{name}"),
            Cache::ReadOnly { of, .. } => of.argument(),
            _ => self.substituter(),
        }
    }

    /// What kind of cache it is, for the record: `local`, `cachix`, or the URL's scheme (`https`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Cache::Local { .. } => "local",
            Cache::Store { url, .. } => {
                SCHEMES.into_iter().find(|k| url.starts_with(&format!("{k}://"))).unwrap_or("store")
            }
            Cache::Cachix { .. } => "cachix",
            Cache::ReadOnly { of, .. } => of.kind(),
        }
    }

    /// Whether it is read-only because this is a fork's pull request (which writes nothing).
    pub(crate) fn is_forks(&self) -> bool {
        matches!(self, Cache::ReadOnly { why, .. } if *why == FORK)
    }

    /// How the cache is named in logs and summaries.
    pub fn label(&self) -> String {
        match self {
            Cache::Local { dir } => format!("local directory {}", dir.display()),
            Cache::Store { url, .. } => crate::secrets::redact(url),
            Cache::Cachix { name } => format!("cachix:{name} (https://app.cachix.org/cache/{name})"),
            Cache::ReadOnly { of, .. } => format!("{}, read-only", of.label()),
        }
    }

    /// The public keys a runner trusts for the cache when the xtask signs nothing this run (it
    /// reads the keys it signs with itself), one word: Cachix's own (the config's `public-keys`);
    /// for a cache this project owns that this run only reads (a fork's pull request), the
    /// config's `public-keys` (what the workflows' runners trust) and a local cache's
    /// `DIR.public` (its keys, written for runners, carried with it). `None` when none is known.
    pub(crate) fn trusted_keys(&self, config: &Config) -> Option<String> {
        let owned_read_only = |cache: &Cache| {
            let mut keys = config.public_keys.clone();
            if let Cache::Local { dir } = cache {
                let written = std::fs::read_to_string(signing_key::local_public(dir)).unwrap_or_default();
                keys.extend(written.split_whitespace().map(str::to_owned).filter(|k| !config.public_keys.contains(k)));
            }
            (!keys.is_empty()).then(|| keys.join(" "))
        };
        match self {
            Cache::Cachix { name } if *name == config.name && !config.public_keys.is_empty() => {
                Some(config.public_keys.join(" "))
            }
            Cache::ReadOnly { of, .. } if matches!(**of, Cache::Cachix { .. }) => of.trusted_keys(config),
            Cache::ReadOnly { of, .. } => owned_read_only(of),
            _ => None,
        }
    }

    /// The cache's files, when this project owns it: a directory, or HTTP(S) written with the
    /// credentials of `netrc` (`--cache`'s), else Nix's own.
    pub fn files(&self, timeout: u64, netrc: Option<&Path>) -> Option<files::Files> {
        match self {
            Cache::Local { dir } => Some(files::Files::Dir(dir.clone())),
            Cache::Store { url, .. } if url.starts_with("http://") || url.starts_with("https://") => {
                let base = url.split('?').next().unwrap_or(url).trim_end_matches('/').to_owned();
                let netrc =
                    netrc.map_or_else(|| files::Netrc::Nix(Default::default()), |p| files::Netrc::File(p.into()));
                Some(files::Files::Http(files::Http { base, timeout, netrc }))
            }
            // Read only: what the fresh runner's checks read.
            Cache::ReadOnly { of, .. } => of.files(timeout, netrc),
            _ => None,
        }
    }

    /// Says, once, that nothing will be pushed and why.
    pub(crate) fn announce(&self) {
        if let Cache::ReadOnly { of, why } = self {
            github::notice(&format!("{why}: pulling from {} works, pushing is skipped", of.label()));
        }
    }

    /// What pushing to Cachix needs, checked before anything is built: the CLI and the token
    /// (every problem at once, each with its fix).
    pub fn preflight(&self) -> Result<()> {
        let Cache::Cachix { name } = self else { return Ok(()) };
        let mut problems = Vec::new();
        if !on_path("cachix") {
            problems.push("the `cachix` CLI is not on PATH: install it (`nix profile install nixpkgs#cachix`, or `nix develop` which has it)".to_owned());
        }
        if !token_is_set() {
            problems.push(format!(
                "{CACHIX_AUTH_TOKEN} is not set: export a token with write access to {name} (CI: the repository secret), or push to the local cache by leaving out --cache"
            ));
        }
        ensure!(problems.is_empty(), "cannot push to cachix:{name}:\n  - {}", problems.join("\n  - "));
        Ok(())
    }
}

//! Where the tasks push and pull (`--cache`): a local directory, any Nix store URL, or Cachix.
//! [`push`] describes how each is pushed to; [`push_filter`] what is never pushed; [`gc`] what a
//! cache this project owns keeps.

pub mod gc;
pub mod gc_http;
pub mod push;
pub mod push_filter;

use std::{
    env,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};

use crate::{
    command::on_path,
    config::{is_cache_name, Backend, Config},
    github::{self, names::env::CACHIX_AUTH_TOKEN},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cache {
    /// A binary cache directory on this machine (`file://`): the default with no Cachix token. The
    /// xtask signs what it pushes with a key kept beside the directory (`DIR.secret`, `DIR.public`),
    /// so a runner that trusts the public key can substitute from it.
    Local { dir: PathBuf },
    /// Any other Nix store URL (`http(s)://`, `s3://`, `ssh-ng://`, …), pushed with `nix copy`.
    Store { url: String },
    /// A Cachix cache, pushed with the `cachix` CLI and pulled from `https://NAME.cachix.org`.
    Cachix { name: String },
    /// Cachix without a token on GitHub Actions (a fork pull request gets no secrets): read from,
    /// never pushed to.
    CachixReadOnly { name: String },
}

/// Whether a Cachix token is set (its value is never printed).
pub fn token_is_set() -> bool {
    env::var(CACHIX_AUTH_TOKEN).is_ok_and(|t| !t.is_empty())
}

impl Cache {
    /// `--cache` if given; else Cachix when the config says so and a token is set; else the local
    /// directory of the config.
    pub fn resolve(arg: Option<&str>, config: &Config, root: &Path) -> Result<Cache> {
        let Some(arg) = arg else {
            let name = config.name.clone();
            return Ok(match (config.backend, token_is_set()) {
                (Backend::Cachix, true) => Cache::Cachix { name },
                (Backend::Cachix, false) if github::is_actions() => Cache::CachixReadOnly { name },
                _ => Cache::Local { dir: root.join(&config.local_cache) },
            });
        };
        if let Some(name) = arg.strip_prefix("cachix:") {
            if !is_cache_name(name) {
                bail!(
                    "`--cache {arg}`: a Cachix cache name is lowercase letters, digits and '-', e.g. cachix:{}",
                    config.name
                );
            }
            return Ok(Cache::Cachix { name: name.to_owned() });
        }
        if let Some(path) = arg.strip_prefix("file://") {
            let dir = path.split('?').next().unwrap_or_default();
            if !dir.starts_with('/') || dir.trim_end_matches('/').is_empty() {
                bail!(
                    "`--cache {arg}` does not name an absolute directory: use file:///absolute/dir (three slashes), e.g. file://{}",
                    root.join(&config.local_cache).display()
                );
            }
            if !path.contains('?') {
                return Ok(Cache::Local { dir: PathBuf::from(dir.trim_end_matches('/')) });
            }
        }
        for scheme in ["http://", "https://", "s3://", "ssh://", "ssh-ng://", "gs://"] {
            let host = arg.strip_prefix(scheme).map(|rest| rest.split(['/', '?']).next().unwrap_or_default());
            if host.is_some_and(|h| h.rsplit('@').next().unwrap_or_default().is_empty()) {
                bail!(
                    "`--cache {}` has no host: use {scheme}HOST/…, e.g. {scheme}cache.example.org",
                    crate::secrets::redact(arg)
                );
            }
        }
        let schemes = ["file://", "http://", "https://", "s3://", "ssh://", "ssh-ng://", "gs://", "local?", "daemon"];
        if schemes.iter().any(|s| arg.starts_with(s)) {
            return Ok(Cache::Store { url: arg.to_owned() });
        }
        bail!(
            "`--cache {arg}` is not a cache: use a Nix store URL (file:///abs/dir, https://host/path, s3://bucket, ssh-ng://host) or cachix:NAME"
        )
    }

    /// The URL Nix reads from.
    pub fn substituter(&self) -> String {
        match self {
            Cache::Local { dir } => format!("file://{}", dir.display()),
            Cache::Store { url } => url.clone(),
            Cache::Cachix { name } | Cache::CachixReadOnly { name } => format!("https://{name}.cachix.org"),
        }
    }

    /// How the cache is named in logs and summaries (credentials redacted).
    pub fn label(&self) -> String {
        match self {
            Cache::Local { dir } => format!("local directory {}", dir.display()),
            Cache::Store { url } => crate::secrets::redact(url),
            Cache::Cachix { name } => format!("cachix:{name} (https://app.cachix.org/cache/{name})"),
            Cache::CachixReadOnly { name } => format!("cachix:{name}, read-only (no {CACHIX_AUTH_TOKEN})"),
        }
    }

    /// The key a runner must trust to substitute from this cache, when the xtask knows it.
    pub fn public_key(&self, config: &Config) -> Option<String> {
        match self {
            Cache::Local { .. } => {
                let key = std::fs::read_to_string(self.key_files()?.1).ok()?;
                Some(key.trim().to_owned())
            }
            Cache::Store { .. } => None,
            Cache::Cachix { name } | Cache::CachixReadOnly { name } => {
                config.public_key.clone().filter(|_| name == &config.name)
            }
        }
    }

    /// The signing key files of a local cache: secret, public.
    pub fn key_files(&self) -> Option<(PathBuf, PathBuf)> {
        let Cache::Local { dir } = self else {
            return None;
        };
        Some(Cache::key_files_of(dir))
    }

    fn key_files_of(dir: &Path) -> (PathBuf, PathBuf) {
        let base = dir.display().to_string();
        (PathBuf::from(format!("{base}.secret")), PathBuf::from(format!("{base}.public")))
    }

    /// Says, once, that nothing will be pushed and why.
    pub fn announce(&self) {
        if let Cache::CachixReadOnly { name } = self {
            github::notice(&format!(
                "{CACHIX_AUTH_TOKEN} is not set (a fork pull request gets no secrets): pulling from cachix:{name} works, pushing is skipped"
            ));
        }
    }

    /// What must hold before anything is built: for a local cache, a public key only with its
    /// secret; for Cachix, the CLI and the token. Every problem at once, each with its fix.
    pub fn preflight(&self) -> Result<()> {
        if let Some((secret, public)) = self.key_files() {
            if public.exists() && !secret.exists() {
                bail!(
                    "{} exists but its secret key {} does not: restore the secret key, or delete the public key \
                     and the cache directory (its paths are signed by the lost key) to start afresh",
                    public.display(),
                    secret.display()
                );
            }
        }
        let Cache::Cachix { name } = self else {
            return Ok(());
        };
        let mut problems = Vec::new();
        if !on_path("cachix") {
            problems.push("the `cachix` CLI is not on PATH: install it (`nix profile install nixpkgs#cachix`, or `nix develop` which has it)".to_owned());
        }
        if !token_is_set() {
            problems.push(format!(
                "{CACHIX_AUTH_TOKEN} is not set: export a token with write access to {name} (CI: the repository secret), or push to the local cache by leaving out --cache"
            ));
        }
        if !problems.is_empty() {
            bail!("cannot push to cachix:{name}:\n  - {}", problems.join("\n  - "));
        }
        Ok(())
    }
}

//! Where the tasks push (`--cache`): a local directory, any Nix store URL, or Cachix.

use std::{
    env,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};

use crate::{
    config::{Backend, Config},
    github,
    nix::{self, lit},
    plan::{Cmd, Io, PathSet, Stdin, StepKind},
};

pub const TOKEN_VAR: &str = "CACHIX_AUTH_TOKEN";

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

impl Cache {
    /// `--cache` if given; else Cachix when the config says so and a token is set; else the local
    /// directory of the config.
    pub fn resolve(arg: Option<&str>, config: &Config, root: &Path) -> Result<Cache> {
        let Some(arg) = arg else {
            let token = env::var(TOKEN_VAR).is_ok_and(|t| !t.is_empty());
            let name = config.name.clone();
            return Ok(match (config.backend, token) {
                (Backend::Cachix, true) => Cache::Cachix { name },
                (Backend::Cachix, false) if github::is_actions() => Cache::CachixReadOnly { name },
                _ => Cache::Local { dir: root.join(&config.local_cache) },
            });
        };
        if let Some(name) = arg.strip_prefix("cachix:") {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                bail!(
                    "`--cache {arg}`: a Cachix cache name is lowercase letters, digits and '-', e.g. cachix:{}",
                    config.name
                );
            }
            return Ok(Cache::Cachix { name: name.to_owned() });
        }
        if let Some(path) = arg.strip_prefix("file://") {
            if !path.contains('?') {
                let dir = env::current_dir()?.join(path.trim_end_matches('/'));
                return Ok(Cache::Local { dir });
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

    pub fn label(&self) -> String {
        match self {
            Cache::Local { dir } => format!("local directory {}", dir.display()),
            Cache::Store { url } => url.clone(),
            Cache::Cachix { name } => format!("cachix:{name} (https://app.cachix.org/cache/{name})"),
            Cache::CachixReadOnly { name } => format!("cachix:{name}, read-only (no {TOKEN_VAR})"),
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
        let base = dir.display().to_string();
        Some((PathBuf::from(format!("{base}.secret")), PathBuf::from(format!("{base}.public"))))
    }

    /// Says, once, that nothing will be pushed and why.
    pub fn announce(&self) {
        if let Cache::CachixReadOnly { name } = self {
            github::notice(&format!(
                "{TOKEN_VAR} is not set (a fork pull request gets no secrets): pulling from cachix:{name} works, pushing is skipped"
            ));
        }
    }

    /// What must hold before anything is built: for Cachix, the CLI and the token.
    pub fn preflight(&self) -> Result<()> {
        let Cache::Cachix { name } = self else {
            return Ok(());
        };
        let mut problems = Vec::new();
        if !on_path("cachix") {
            problems.push("the `cachix` CLI is not on PATH: install it (`nix profile install nixpkgs#cachix`, or `nix develop` which has it)".to_owned());
        }
        if env::var(TOKEN_VAR).map_or(true, |t| t.is_empty()) {
            problems.push(format!(
                "{TOKEN_VAR} is not set: export a token with write access to {name} (CI: the repository secret), or push to the local cache by leaving out --cache"
            ));
        }
        if !problems.is_empty() {
            bail!("cannot push to cachix:{name}:\n  - {}", problems.join("\n  - "));
        }
        Ok(())
    }

    /// The steps that push [`PathSet::Push`]: a local cache first makes its signing key if needed.
    pub fn push_steps(&self, key_name: &str) -> Vec<(String, StepKind)> {
        match self {
            Cache::Local { dir } => {
                let (secret, public) = self.key_files().expect("a local cache has key files");
                let generate = nix::nix([lit("key"), lit("generate-secret"), lit("--key-name"), lit(key_name)])
                    .io(Io::Quiet)
                    .stdout_to(secret.clone());
                let convert = nix::nix([lit("key"), lit("convert-secret-to-public")])
                    .io(Io::Quiet)
                    .stdin(Stdin::File(secret.clone()))
                    .stdout_to(public.clone());
                let url = format!("file://{}?secret-key={}", dir.display(), secret.display());
                vec![
                    (
                        "Create the local cache's signing key".to_owned(),
                        StepKind::Ensure { file: public, cmds: vec![generate, convert] },
                    ),
                    (format!("Push to {}", self.label()), StepKind::Push(nix::copy(&url, PathSet::Push))),
                ]
            }
            Cache::Store { url } => vec![(format!("Push to {url}"), StepKind::Push(nix::copy(url, PathSet::Push)))],
            Cache::Cachix { name } => {
                let push = Cmd::new("cachix", [lit("push"), lit(name)])
                    .stdin(Stdin::Paths(PathSet::Push))
                    .needs(format!("it pushes to Cachix: check that {TOKEN_VAR} may write to {name}"));
                vec![(format!("Push to cachix:{name}"), StepKind::Push(push))]
            }
            Cache::CachixReadOnly { .. } => Vec::new(),
        }
    }
}

pub fn on_path(program: &str) -> bool {
    env::var_os("PATH").is_some_and(|path| env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

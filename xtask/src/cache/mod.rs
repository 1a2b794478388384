//! Where the tasks push and pull (`--cache`): a local directory, any Nix store URL, or Cachix.
//!
//! - [`signing_key`]: the key the xtask signs with; [`push`]: the upload commands;
//!   [`push_filter`]: what is never pushed;
//! - [`files`], [`narinfo`]: a cache this project owns, read and written directly; [`lock`],
//!   [`roots`]: what its pushes record, one writer at a time; [`gc`], [`verify`]: what it keeps,
//!   and whether it is sound.

pub mod files;
pub mod gc;
pub mod lock;
pub mod narinfo;
pub mod push;
pub mod push_filter;
pub mod roots;
pub mod signing_key;
pub mod verify;

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
    /// The URL never holds credentials: those of `--cache` go to Nix and curl in a netrc file.
    Store { url: String, credentials: Option<Credentials> },
    /// A Cachix cache, pushed with the `cachix` CLI and pulled from `https://NAME.cachix.org`.
    Cachix { name: String },
    /// Cachix without a token on GitHub Actions (a fork pull request gets no secrets): read from,
    /// never pushed to.
    CachixReadOnly { name: String },
}

/// The user and password of `http(s)://USER:PASSWORD@HOST/…`, for a netrc file.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub host: String,
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ host: {:?}, .. }}", self.host)
    }
}

impl Credentials {
    /// The netrc line curl and Nix read (netrc has no escapes: a word with a space, a quote or a
    /// backslash cannot be written, and is refused when the URL is read).
    pub fn netrc(&self) -> String {
        format!("machine {} login {} password {}\n", self.host, self.user, self.password)
    }
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
        if !schemes.iter().any(|s| arg.starts_with(s)) {
            bail!(
                "`--cache {}` is not a cache: use a Nix store URL (file:///abs/dir, https://host/path, s3://bucket, ssh-ng://host) or cachix:NAME",
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
            Cache::Cachix { name } | Cache::CachixReadOnly { name } => format!("https://{name}.cachix.org"),
        }
    }

    /// How the cache is named in logs and summaries.
    pub fn label(&self) -> String {
        match self {
            Cache::Local { dir } => format!("local directory {}", dir.display()),
            Cache::Store { url, .. } => crate::secrets::redact(url),
            Cache::Cachix { name } => format!("cachix:{name} (https://app.cachix.org/cache/{name})"),
            Cache::CachixReadOnly { name } => format!("cachix:{name}, read-only (no {CACHIX_AUTH_TOKEN})"),
        }
    }

    /// The cache's own public key, when the config knows it (Cachix's); a key the xtask signs
    /// with is found by the signing-key step instead.
    pub fn config_key(&self, config: &Config) -> Option<String> {
        match self {
            Cache::Cachix { name } | Cache::CachixReadOnly { name } if *name == config.name => {
                config.public_key.clone()
            }
            _ => None,
        }
    }

    /// The cache's files, when this project owns it: a directory, or HTTP(S), written with the
    /// credentials of `--cache` (`netrc`), else Nix's own.
    pub fn files(&self, timeout: u64, netrc: Option<&Path>) -> Option<files::Files> {
        match self {
            Cache::Local { dir } => Some(files::Files::Dir(dir.clone())),
            Cache::Store { url, .. } if url.starts_with("http://") || url.starts_with("https://") => {
                let base = url.split('?').next().unwrap_or(url).trim_end_matches('/').to_owned();
                let netrc = match netrc {
                    Some(path) => files::Netrc::File(path.to_path_buf()),
                    None => files::Netrc::Nix(Default::default()),
                };
                Some(files::Files::Http(files::Http { base, timeout, netrc }))
            }
            _ => None,
        }
    }

    /// Says, once, that nothing will be pushed and why.
    pub fn announce(&self) {
        if let Cache::CachixReadOnly { name } = self {
            github::notice(&format!(
                "{CACHIX_AUTH_TOKEN} is not set (a fork pull request gets no secrets): pulling from cachix:{name} works, pushing is skipped"
            ));
        }
    }

    /// What pushing to Cachix needs, checked before anything is built: the CLI and the token.
    /// Every problem at once, each with its fix.
    pub fn preflight(&self) -> Result<()> {
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

/// `scheme://user:password@host/…` -> the URL without them, and the credentials (HTTP only:
/// curl and Nix read them from a netrc file; other schemes keep their user).
fn split_credentials(url: &str) -> Result<(String, Option<Credentials>)> {
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| *s == "http" || *s == "https") else {
        return Ok((url.to_owned(), None));
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host_port)) = authority.rsplit_once('@') else {
        return Ok((url.to_owned(), None));
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (user, password) = (percent_decode(user), percent_decode(password));
    if [&user, &password]
        .iter()
        .any(|w| w.is_empty() || w.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\'))
    {
        bail!(
            "`--cache {}`: the user and password must both be given, without spaces, quotes or backslashes (a netrc file hands them to Nix and curl)",
            crate::secrets::redact(url)
        );
    }
    let host = host_port
        .rsplit_once(':')
        .filter(|(h, _)| !h.ends_with(']') || h.starts_with('['))
        .map_or(host_port, |(h, _)| h);
    let credentials =
        Credentials { host: host.trim_start_matches('[').trim_end_matches(']').to_owned(), user, password };
    Ok((format!("{scheme}://{host_port}{tail}"), Some(credentials)))
}

/// `%XX` escapes of a URL's user-info, decoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_for_a_netrc_file() {
        let (url, creds) = split_credentials("http://ci:s%40cret@127.0.0.1:8080/nix?compression=zstd").unwrap();
        assert_eq!(url, "http://127.0.0.1:8080/nix?compression=zstd");
        let creds = creds.unwrap();
        assert_eq!(creds.netrc(), "machine 127.0.0.1 login ci password s@cret\n");
        assert_eq!(
            split_credentials("https://cache.example/a@b").unwrap(),
            ("https://cache.example/a@b".to_owned(), None)
        );
        assert_eq!(split_credentials("ssh-ng://builder@host").unwrap().0, "ssh-ng://builder@host");
        assert!(split_credentials("http://ci:two%20words@h/").is_err());
    }
}

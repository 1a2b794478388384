//! A registry, spoken to with skopeo (copies, lookups) and buildah (indexes): per-arch manifests
//! under `<image>:<tag>-<arch>`, and under `<image>:<tag>` one index (an OCI image index) naming
//! every arch. skopeo cannot write an index; buildah reads each arch's manifest from the
//! registry, moving no layer, and pushes the index alone.
//!
//! Credentials: with `REGISTRY_TOKEN` (and `REGISTRY_USER`) set, as CI sets them, a login into
//! an auth file in the run's private directory, the token on skopeo's stdin (never in an
//! argument, a file or the log); else skopeo's and buildah's own auth file. A registry on
//! loopback is spoken to over plain HTTP, as Docker does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::{
    command::{Cmd, Io, NoSlots, Stdin},
    github::names::env::{REGISTRY_TOKEN, REGISTRY_USER},
    scratch,
    session::Session,
};

/// `HOST[:PORT]/PREFIX`, as given, and how to speak to it.
pub struct Registry {
    /// Lowercase: repository names are (a GitHub repository's need not be).
    pub name: String,
    loopback: bool,
    /// The run's auth file, after a login.
    auth: Option<PathBuf>,
}

impl Registry {
    pub fn new(name: &str) -> Registry {
        Registry { name: name.trim_end_matches('/').to_lowercase(), loopback: is_loopback(name), auth: None }
    }

    /// `REGISTRY/<image>:<tag>`.
    pub fn reference(&self, image: &str, tag: &str) -> String {
        format!("docker://{}/{image}:{tag}", self.name)
    }

    fn tls(&self, flag: &str) -> Vec<String> {
        if self.loopback {
            vec![format!("{flag}=false")]
        } else {
            Vec::new()
        }
    }

    fn authfile(&self, flag: &str) -> Vec<String> {
        self.auth.iter().flat_map(|a| [flag.to_owned(), a.display().to_string()]).collect()
    }

    /// With `REGISTRY_TOKEN` set: `skopeo login` into an auth file of the run.
    pub fn login(&mut self, session: &Session) -> Result<()> {
        if std::env::var(REGISTRY_TOKEN).map_or(true, |t| t.is_empty()) {
            return Ok(());
        }
        let user = std::env::var(REGISTRY_USER).ok().filter(|u| !u.is_empty()).with_context(|| {
            format!("{REGISTRY_TOKEN} is set but {REGISTRY_USER} is not: set the user the token belongs to")
        })?;
        let auth = scratch::path(session.dry_run, "auth.json")?;
        let host = self.name.split('/').next().unwrap_or_default().to_owned();
        let mut args = vec!["login".to_owned(), "--authfile".to_owned(), auth.display().to_string()];
        args.extend(["--username".to_owned(), user, "--password-stdin".to_owned()]);
        args.extend(self.tls("--tls-verify"));
        args.push(host.clone());
        let cmd = Cmd::lits("skopeo", args)
            .stdin(Stdin::Env(REGISTRY_TOKEN))
            .io(Io::Quiet)
            .hint(format!("it logs in to {host} with {REGISTRY_TOKEN}: check that the token may write packages"));
        run(session, &cmd)?;
        self.auth = Some(auth);
        Ok(())
    }

    /// Copies an archive to `<image>:<tag>`. skopeo compresses each layer first, so it knows the
    /// digest and asks the registry before uploading: a layer the registry has is not sent again,
    /// even from a runner with no local state (skopeo's blob-info cache is empty on every runner).
    pub fn copy(&self, archive: &Path, image: &str, tag: &str) -> Cmd {
        let mut args = vec!["copy".to_owned(), "--dest-precompute-digests".to_owned()];
        args.extend(self.tls("--dest-tls-verify"));
        args.extend(self.authfile("--dest-authfile"));
        args.push(format!("docker-archive:{}", archive.display()));
        args.push(self.reference(image, tag));
        Cmd::lits("skopeo", args).hint(
            "it copies the image to the registry: check skopeo's credentials (`skopeo login`, or REGISTRY_AUTH_FILE)",
        )
    }

    /// Whether the registry has `<image>:<tag>` (its manifest, read raw).
    pub fn has(&self, session: &Session, image: &str, tag: &str) -> bool {
        let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
        args.extend(self.tls("--tls-verify"));
        args.extend(self.authfile("--authfile"));
        args.push(self.reference(image, tag));
        Cmd::lits("skopeo", args).succeeds(&session.sh)
    }

    /// The commands that write `<image>:<tag>` as an index of `<image>:<tag>-<arch>` for each arch:
    /// a manifest list in buildah's local storage, each arch added from the registry, pushed, removed.
    pub fn index(&self, image: &str, tag: &str, arches: &[String]) -> Vec<Cmd> {
        let list = format!("xtask-index-{}-{image}-{tag}", std::process::id());
        let buildah = |args: Vec<String>| {
            Cmd::lits("buildah", args).io(Io::Quiet).hint("it writes the image index (buildah manifest)")
        };
        let mut cmds = vec![buildah(vec!["manifest".into(), "create".into(), list.clone()])];
        for arch in arches {
            let mut args = vec!["manifest".to_owned(), "add".to_owned()];
            args.extend(self.tls("--tls-verify"));
            args.extend(self.authfile("--authfile"));
            args.extend([list.clone(), self.reference(image, &format!("{tag}-{arch}"))]);
            cmds.push(buildah(args));
        }
        let mut push = vec!["manifest".to_owned(), "push".to_owned(), "--format".to_owned(), "oci".to_owned()];
        push.extend(self.tls("--tls-verify"));
        push.extend(self.authfile("--authfile"));
        push.extend([list.clone(), self.reference(image, tag)]);
        cmds.push(buildah(push));
        cmds.push(buildah(vec!["manifest".into(), "rm".into(), list]));
        cmds
    }
}

/// Prints the command in a dry run, runs it otherwise.
pub fn run(session: &Session, cmd: &Cmd) -> Result<()> {
    if session.dry_run {
        println!("{}", cmd.render(None));
    } else {
        cmd.run(&session.sh, &NoSlots)?;
    }
    Ok(())
}

/// Whether the registry's host is this machine: `localhost`, an IPv4 address in 127.0.0.0/8, or
/// `::1` (in brackets, as in a URL), with or without a port. Decided from the parsed host, never
/// from a prefix: `127.attacker.example` is a name like any other.
pub fn is_loopback(registry: &str) -> bool {
    let authority = registry.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        },
        None => authority.split_once(':').map_or(authority, |(host, _)| host),
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// A registry and repository prefix, `HOST[:PORT]/PATH`: the path in lowercase letters, digits
/// and `._-/`, as image names must be.
pub fn check_registry(registry: &str) -> Result<()> {
    let (host, path) = registry.split_once('/').unwrap_or((registry, ""));
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    let path_ok = !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    if !host_ok || !path_ok {
        bail!("{registry:?} is not a registry and repository prefix: use HOST[:PORT]/PATH, the path lowercase (e.g. 127.0.0.1:5000/me)");
    }
    Ok(())
}

/// A tag as the OCI distribution spec allows it: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<()> {
    let first = tag.bytes().next();
    let valid = tag.len() <= 128
        && first.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid {
        bail!(
            "--tag {tag:?} is not an image tag: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-' (e.g. --tag v1.2.3)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_registries_are_plain_http() {
        for registry in ["localhost:5000/x", "127.0.0.1:5000", "127.1.2.3/a/b", "[::1]:5000/x", "localhost"] {
            assert!(is_loopback(registry), "{registry}");
        }
        for registry in [
            "ghcr.io/o/r",
            "registry.example:5000",
            "10.0.0.1:5000",
            "localhost.example.org/x",
            "127.attacker.example:5000/x",
            "127.0.0.1.nip.io/x",
            "[::1]evil:5000",
            "[::2]:5000",
        ] {
            assert!(!is_loopback(registry), "{registry}");
        }
    }

    #[test]
    fn tags_are_checked_before_anything_runs() {
        for tag in ["latest", "v1.2.3", "0123abc", "_x", &"a".repeat(128)] {
            assert!(check_tag(tag).is_ok(), "{tag}");
        }
        for tag in ["", ".x", "-x", "a:b", "a/b", "a b", &"a".repeat(129), "x\nrun: evil"] {
            assert!(check_tag(tag).is_err(), "{tag}");
        }
    }
}

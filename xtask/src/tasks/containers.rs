//! `cargo xtask build-containers`: the CI job of layer 3. It builds the images and pushes their
//! store paths to the cache (as `warm-containers`), then, when asked, turns each image into the
//! files CI needs. An image in the store is a small script that streams it (as
//! `dockerTools.streamLayeredImage` makes), so the image itself never enters the Nix store:
//!
//! - `--out DIR`: `DIR/<image>.tar`, a docker-archive;
//! - `--load`: into docker or podman, whichever is installed;
//! - `--push REGISTRY`: with skopeo to `REGISTRY/<image>:<tag>` for each `--tag` (default: the
//!   commit). Credentials: with `REGISTRY_TOKEN` (and `REGISTRY_USER`) set, as the CI job sets
//!   them, a login into an auth file of this run only (the token on skopeo's stdin, never in an
//!   argument or the log); else skopeo's own auth file or `REGISTRY_AUTH_FILE`. A registry on
//!   loopback is spoken to over plain HTTP, as Docker does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::{
    cli::ImageArgs,
    command::{on_path, Cmd, Io, NoSlots, Stdin},
    github::names::env::{REGISTRY_TOKEN, REGISTRY_USER},
    layers::{self, Layer, Target},
    pipeline::{self, Job, OnPushFailure},
    scratch,
    session::Session,
};

#[derive(clap::Args, Debug)]
pub struct BuildContainers {
    #[command(flatten)]
    images: ImageArgs,
    /// Write each image as DIR/<image>.tar (a docker-archive).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Load each image into docker or podman, whichever is installed.
    #[arg(long)]
    load: bool,
    /// Copy each image to REGISTRY/<image>:<tag> with skopeo (e.g. ghcr.io/OWNER/REPO).
    #[arg(long, value_name = "REGISTRY")]
    push: Option<String>,
    /// A tag for --push (repeatable). Default: the commit ($GITHUB_SHA, else `git rev-parse HEAD`).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

impl BuildContainers {
    pub fn run(&self, session: &Session) -> Result<()> {
        // Bad input is refused before anything is built or any login.
        self.tags.iter().try_for_each(|tag| check_tag(tag))?;
        let engine = if self.load { Some(engine()?) } else { None };
        let args = &self.images;
        let platform = session.platform.for_images(&session.config, args.arch.as_deref())?;
        let targets = layers::images(session, &args.images, &platform)?;
        let job = Job::new(session, "build-containers", targets, args.force.force, OnPushFailure::Fail)?;
        let built = pipeline::run(session, &job)?;
        let targets = job.targets;
        if self.out.is_none() && engine.is_none() && self.push.is_none() {
            return Ok(());
        }
        // Without --out, the archives live in the run's private directory, removed on every exit.
        let dir = match &self.out {
            Some(dir) => std::path::absolute(dir)?,
            None if session.dry_run => PathBuf::from("<run directory>/images"),
            None => scratch::dir()?.join("images"),
        };
        let tags = if self.push.is_some() { self.tags(session)? } else { Vec::new() };
        if session.dry_run {
            println!("\n# then, for each image (--out, --load, --push):");
        } else {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let auth = match &self.push {
            Some(registry) => login(session, registry)?,
            None => None,
        };
        for (i, target) in targets.iter().enumerate() {
            let Layer::Image { image, .. } = &target.layer else { continue };
            let archive = dir.join(format!("{image}.tar"));
            let mut cmds = vec![];
            if let Some(engine) = engine {
                cmds.push(Cmd::lits(engine, ["load", "-i", &archive.display().to_string()]));
            }
            if let Some(registry) = &self.push {
                cmds.extend(tags.iter().map(|tag| push(&archive, registry, image, tag, auth.as_deref())));
            }
            let script = built.outputs.get(i).and_then(|o| o.first());
            self.image(session, target, script.map(String::as_str), &archive, &cmds)?;
        }
        Ok(())
    }

    /// Streams one image to its archive with the script the pipeline built, then runs what is
    /// done with it.
    fn image(
        &self,
        session: &Session,
        target: &Target,
        script: Option<&str>,
        archive: &Path,
        then: &[Cmd],
    ) -> Result<()> {
        let Some(script) = script.filter(|_| !session.dry_run) else {
            println!("\n<the output of {}> > {}", target.attr, archive.display());
            then.iter().for_each(|cmd| println!("{}", cmd.render(None)));
            return Ok(());
        };
        let stream = Cmd::lits(script, Vec::<String>::new())
            .io(Io::Quiet)
            .stdout_to(archive.to_path_buf())
            .hint("it writes the image (a docker-archive) from the store paths it ships");
        stream.run(&session.sh, &NoSlots)?;
        eprintln!("wrote {}", archive.display());
        for cmd in then {
            cmd.run(&session.sh, &NoSlots)?;
        }
        Ok(())
    }

    fn tags(&self, session: &Session) -> Result<Vec<String>> {
        if !self.tags.is_empty() {
            return Ok(self.tags.clone());
        }
        if let Some(sha) = std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()) {
            check_tag(&sha)?;
            return Ok(vec![sha]);
        }
        let head = Cmd::lits("git", ["rev-parse", "HEAD"]).io(Io::Quiet).hint("it tags the image with the commit");
        if session.dry_run {
            return Ok(vec!["<commit>".to_owned()]);
        }
        Ok(vec![head.run_quietly(&session.sh, &NoSlots)?.trim().to_owned()])
    }
}

/// docker, else podman.
fn engine() -> Result<&'static str> {
    match ["docker", "podman"].into_iter().find(|e| on_path(e)) {
        Some(engine) => Ok(engine),
        None => bail!(
            "--load needs docker or podman, and neither is installed: install one, or use --out DIR and load the archive elsewhere"
        ),
    }
}

/// With `REGISTRY_TOKEN` set: `skopeo login` into an auth file in the run's private directory
/// (removed on every exit), the token on skopeo's stdin: never in an argument, a file or the log.
fn login(session: &Session, registry: &str) -> Result<Option<PathBuf>> {
    if std::env::var(REGISTRY_TOKEN).map_or(true, |t| t.is_empty()) {
        return Ok(None);
    }
    let user = std::env::var(REGISTRY_USER).ok().filter(|u| !u.is_empty()).with_context(|| {
        format!("{REGISTRY_TOKEN} is set but {REGISTRY_USER} is not: set the user the token belongs to")
    })?;
    let auth =
        if session.dry_run { PathBuf::from("<run directory>/auth.json") } else { scratch::dir()?.join("auth.json") };
    let host = registry.split('/').next().unwrap_or(registry);
    let mut args = vec!["login", "--authfile"];
    let auth_arg = auth.display().to_string();
    args.extend([auth_arg.as_str(), "--username", &user, "--password-stdin"]);
    if is_loopback(registry) {
        args.push("--tls-verify=false");
    }
    args.push(host);
    let cmd = Cmd::lits("skopeo", args)
        .stdin(Stdin::Env(REGISTRY_TOKEN))
        .io(Io::Quiet)
        .hint(format!("it logs in to {host} with {REGISTRY_TOKEN}: check that the token may write packages"));
    if session.dry_run {
        println!("{}", cmd.render(None));
    } else {
        cmd.run(&session.sh, &NoSlots)?;
    }
    Ok(Some(auth))
}

/// `skopeo copy` of an archive to `REGISTRY/<image>:<tag>`, over plain HTTP to a loopback registry.
fn push(archive: &Path, registry: &str, image: &str, tag: &str, auth: Option<&Path>) -> Cmd {
    let mut args = vec!["copy".to_owned()];
    if is_loopback(registry) {
        args.push("--dest-tls-verify=false".to_owned());
    }
    if let Some(auth) = auth {
        args.extend(["--dest-authfile".to_owned(), auth.display().to_string()]);
    }
    args.push(format!("docker-archive:{}", archive.display()));
    // Repository names are lowercase (a GitHub repository's need not be).
    args.push(format!("docker://{}/{image}:{tag}", registry.trim_end_matches('/').to_lowercase()));
    Cmd::lits("skopeo", args)
        .hint("it copies the image to the registry: check skopeo's credentials (`skopeo login`, or REGISTRY_AUTH_FILE)")
}

/// Whether the registry's host is this machine: `localhost`, an IPv4 address in 127.0.0.0/8, or
/// `::1` (in brackets, as in a URL), with or without a port. Decided from the parsed host, never
/// from a prefix: `127.attacker.example` is a name like any other.
fn is_loopback(registry: &str) -> bool {
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

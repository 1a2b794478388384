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
    command::{lit, on_path, Cmd, Io, NoSlots, Stdin},
    context::Ctx,
    files,
    nix::{self, Attr},
    tasks::warm::ImageArgs,
};

/// The registry token CI passes (`secrets.GITHUB_TOKEN` for GHCR).
pub const REGISTRY_TOKEN: &str = "REGISTRY_TOKEN";

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
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        let images = self.images.selected(ctx)?;
        let engine = if self.load { Some(engine()?) } else { None };
        self.images.run(ctx, "build-containers")?;
        if self.out.is_none() && engine.is_none() && self.push.is_none() {
            return Ok(());
        }
        let dir = match &self.out {
            Some(dir) => std::path::absolute(dir)?,
            None => std::env::temp_dir().join(format!("xtask-images-{}", std::process::id())),
        };
        let tags = if self.push.is_some() { self.tags(ctx)? } else { Vec::new() };
        if ctx.dry_run {
            println!("\n# then, for each image (--out, --load, --push):");
        } else {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let auth = match &self.push {
            Some(registry) => login(ctx, registry, &dir)?,
            None => None,
        };
        for (name, attr) in &images {
            let archive = dir.join(format!("{name}.tar"));
            let mut cmds = vec![];
            if let Some(engine) = engine {
                cmds.push(Cmd::lits(engine, ["load", "-i", &archive.display().to_string()]));
            }
            if let Some(registry) = &self.push {
                cmds.extend(tags.iter().map(|tag| push(&archive, registry, name, tag, auth.as_deref())));
            }
            self.image(ctx, attr, &archive, &cmds)?;
        }
        if let Some(auth) = auth {
            let _ = std::fs::remove_file(auth);
        }
        if self.out.is_none() && !ctx.dry_run {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(())
    }

    /// Streams one image to its archive, then runs what is done with it.
    fn image(&self, ctx: &Ctx, attr: &Attr, archive: &Path, then: &[Cmd]) -> Result<()> {
        let script = nix::nix([lit("eval"), lit("--raw"), lit(format!("{}.outPath", attr.installable(&ctx.flake)))])
            .io(Io::Quiet)
            .needs("it finds the image's stream script (built above)");
        if ctx.dry_run {
            println!("\n$({}) > {}", script.render(None), archive.display());
            then.iter().for_each(|cmd| println!("{}", cmd.render(None)));
            return Ok(());
        }
        let script = script.run(&ctx.sh, &NoSlots)?;
        let stream = Cmd::lits(script.trim(), Vec::<String>::new())
            .io(Io::Quiet)
            .stdout_to(archive.to_path_buf())
            .needs("it writes the image (a docker-archive) from the store paths it ships");
        stream.run(&ctx.sh, &NoSlots)?;
        eprintln!("wrote {}", archive.display());
        for cmd in then {
            cmd.run(&ctx.sh, &NoSlots)?;
        }
        Ok(())
    }

    fn tags(&self, ctx: &Ctx) -> Result<Vec<String>> {
        if !self.tags.is_empty() {
            return Ok(self.tags.clone());
        }
        if let Some(sha) = std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()) {
            return Ok(vec![sha]);
        }
        let head = Cmd::lits("git", ["rev-parse", "HEAD"]).io(Io::Quiet).needs("it tags the image with the commit");
        if ctx.dry_run {
            return Ok(vec!["<commit>".to_owned()]);
        }
        Ok(vec![head.run_quietly(&ctx.sh, &NoSlots)?.trim().to_owned()])
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

/// With `REGISTRY_TOKEN` set: `skopeo login` into an auth file of this run, the token on stdin.
fn login(ctx: &Ctx, registry: &str, dir: &Path) -> Result<Option<PathBuf>> {
    let Some(token) = std::env::var(REGISTRY_TOKEN).ok().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let user = std::env::var("REGISTRY_USER").ok().filter(|u| !u.is_empty()).with_context(|| {
        format!("{REGISTRY_TOKEN} is set but REGISTRY_USER is not: set the user the token belongs to")
    })?;
    let (auth, secret) = (dir.join("auth.json"), dir.join("registry-token"));
    let host = registry.split('/').next().unwrap_or(registry);
    let mut args = vec!["login", "--authfile"];
    let auth_arg = auth.display().to_string();
    args.extend([auth_arg.as_str(), "--username", &user, "--password-stdin"]);
    if is_loopback(registry) {
        args.push("--tls-verify=false");
    }
    args.push(host);
    let cmd = Cmd::lits("skopeo", args)
        .stdin(Stdin::File(secret.clone()))
        .io(Io::Quiet)
        .needs(format!("it logs in to {host} with {REGISTRY_TOKEN}: check that the token may write packages"));
    if ctx.dry_run {
        println!("{}", cmd.render(None));
        return Ok(Some(auth));
    }
    let _ = std::fs::remove_file(&secret);
    files::create_private(&secret, token.as_bytes())?;
    let result = cmd.run(&ctx.sh, &NoSlots);
    let _ = std::fs::remove_file(&secret);
    result?;
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
    Cmd::lits("skopeo", args).needs(
        "it copies the image to the registry: check skopeo's credentials (`skopeo login`, or REGISTRY_AUTH_FILE)",
    )
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback(registry: &str) -> bool {
    let host = registry.split('/').next().unwrap_or_default();
    let host = host.rsplit_once(':').filter(|(h, _)| !h.ends_with(']') || h.starts_with('[')).map_or(host, |(h, _)| h);
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_registries_are_plain_http() {
        for registry in ["localhost:5000/x", "127.0.0.1:5000", "127.1.2.3/a/b", "[::1]:5000/x", "localhost"] {
            assert!(is_loopback(registry), "{registry}");
        }
        for registry in ["ghcr.io/o/r", "registry.example:5000", "10.0.0.1:5000", "localhost.example.org/x"] {
            assert!(!is_loopback(registry), "{registry}");
        }
    }
}

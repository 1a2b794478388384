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

use anyhow::{Context, Result};

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
    /// The registry `HOST[:PORT]/PREFIX`, lowercased, without a trailing `/`; not logged in yet.
    pub fn new(name: &str) -> Registry {
        Registry {
            name: name.trim_end_matches('/').to_lowercase(),
            loopback: super::names::is_loopback(name),
            auth: None,
        }
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
            .hint(format!("it logs in to {host} with {REGISTRY_TOKEN}"));
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
        Cmd::lits("skopeo", args).hint("it copies the image to the registry")
    }

    /// Whether the registry has `<image>:<tag>` (its manifest, read raw).
    pub fn has(&self, image: &str, tag: &str) -> bool {
        let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
        args.extend(self.tls("--tls-verify"));
        args.extend(self.authfile("--authfile"));
        args.push(self.reference(image, tag));
        Cmd::lits("skopeo", args).succeeds()
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
        cmd.run(&NoSlots).map_err(explain)?;
    }
    Ok(())
}

/// A registry command's failure, with what to do about it as its words say: the credentials when
/// the registry refused them, the network when it could not be reached, the registry when it
/// failed itself (a 5xx); else the tool's words alone.
pub(crate) fn explain(err: anyhow::Error) -> anyhow::Error {
    let text = format!("{err:#}").to_lowercase();
    let said = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let what = if said(&["unauthorized", "authentication required", "access to the resource is denied", "forbidden"]) {
        "the registry refused the credentials: check them (`skopeo login`, REGISTRY_AUTH_FILE, or REGISTRY_TOKEN and REGISTRY_USER), and that they may write packages"
    } else if said(&[
        "connection refused",
        "no such host",
        "i/o timeout",
        "network is unreachable",
        "dial tcp",
        "tls handshake",
    ]) {
        "the registry could not be reached: check its address and the network"
    } else if said(&[
        "http status: 50",
        "from registry 50",
        "500 internal server error",
        "502 bad gateway",
        "503 service unavailable",
    ]) {
        "the registry failed on its side (a server error): try again later"
    } else {
        return err;
    };
    err.context(what)
}

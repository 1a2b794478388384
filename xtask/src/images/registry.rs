//! A registry, spoken to with skopeo (copies, lookups) and buildah (indexes, which skopeo cannot
//! write: buildah reads each arch's manifest from the registry, moving no layer): per-arch
//! manifests under `<image>:<tag>-<arch>`, and under `<image>:<tag>` an OCI image index of them.
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

/// The annotation of each entry of an index `publish` writes in a workflow run: the run's number
/// (`$GITHUB_RUN_NUMBER`). A further tag (`latest`) whose index names a later run is left as it is.
pub const RUN_NUMBER: &str = "xtask.run-number";

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

    /// The flags of skopeo and buildah for it (`prefix`: `dest-` for a copy's destination): plain
    /// HTTP on loopback, and after a login the run's auth file.
    fn flags(&self, prefix: &str) -> Vec<String> {
        let tls = self.loopback.then(|| format!("--{prefix}tls-verify=false"));
        let auth = self.auth.iter().flat_map(|a| [format!("--{prefix}authfile"), a.display().to_string()]);
        tls.into_iter().chain(auth).collect()
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
        let args =
            ["login".to_owned(), "--authfile".to_owned(), auth.display().to_string(), "--username".to_owned(), user];
        // Not logged in yet: the flags name no auth file.
        let args = args.into_iter().chain(["--password-stdin".to_owned()]).chain(self.flags("")).chain([host.clone()]);
        let cmd = Cmd::lits("skopeo", args)
            .stdin(Stdin::Env(REGISTRY_TOKEN))
            .io(Io::Quiet)
            .hint(format!("it logs in to {host} with {REGISTRY_TOKEN}"));
        run(session, &cmd)?;
        self.auth = Some(auth);
        Ok(())
    }

    /// Copies an archive to `<image>:<tag>`, the manifest's digest written to `digest`. skopeo
    /// compresses each layer first, so it knows the digest and asks the registry before uploading:
    /// a layer the registry has is not sent again, even from a runner with no local state
    /// (skopeo's blob-info cache is empty on every runner).
    pub fn copy(&self, archive: &Path, image: &str, tag: &str, digest: &Path) -> Cmd {
        let args = ["copy", "--dest-precompute-digests", "--digestfile"].map(str::to_owned);
        let args = args.into_iter().chain([digest.display().to_string()]).chain(self.flags("dest-"));
        let args = args.chain([format!("docker-archive:{}", archive.display()), self.reference(image, tag)]);
        Cmd::lits("skopeo", args).hint("it copies the image to the registry")
    }

    /// Copies the manifest `<image>@<digest>` the registry has to `<image>:<tag>`, byte for byte:
    /// its layers are there already, and nothing is built or uploaded but the manifest.
    pub fn tag_digest(&self, image: &str, digest: &str, tag: &str) -> Cmd {
        self.copy_manifest(format!("docker://{}/{image}@{digest}", self.name), image, tag)
    }

    /// Copies the manifest `<image>:<from>` the registry has to `<image>:<tag>`, as [`Self::tag_digest`].
    pub fn retag(&self, image: &str, from: &str, tag: &str) -> Cmd {
        self.copy_manifest(self.reference(image, from), image, tag)
    }

    fn copy_manifest(&self, from: String, image: &str, tag: &str) -> Cmd {
        let args = ["copy".to_owned(), "--preserve-digests".to_owned()].into_iter().chain(self.flags("src-"));
        let args = args.chain(self.flags("dest-")).chain([from, self.reference(image, tag)]);
        Cmd::lits("skopeo", args).hint("it copies a manifest the registry has under a new tag")
    }

    /// Whether the registry has `<image>:<tag>` (its manifest, read raw).
    pub fn has(&self, image: &str, tag: &str) -> bool {
        self.inspect_raw(image, tag).succeeds()
    }

    fn inspect_raw(&self, image: &str, tag: &str) -> Cmd {
        let args = ["inspect".to_owned(), "--raw".to_owned()].into_iter().chain(self.flags(""));
        Cmd::lits("skopeo", args.chain([self.reference(image, tag)])).hint("it reads a manifest the registry has")
    }

    /// The workflow run that wrote the index `<image>:<tag>`: the highest [`RUN_NUMBER`] of its
    /// entries. `None` when the registry has no such tag, or its manifest names no run (an image's
    /// manifest, an index written outside a workflow run or by an xtask before this annotation).
    pub fn run_number(&self, image: &str, tag: &str) -> Result<Option<u64>> {
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(default)]
            annotations: std::collections::BTreeMap<String, String>,
        }
        let cmd = self.inspect_raw(image, tag);
        let out = cmd.output(&NoSlots)?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            // The registry's error code for a tag it does not have (the distribution spec's).
            if said.to_lowercase().contains("manifest unknown") {
                return Ok(None);
            }
            return Err(explain(anyhow::anyhow!("`{}` failed: {}\n{}", cmd.render(None), cmd.hint, said.trim_end())));
        }
        let index: Index = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("{}/{image}:{tag} is not a manifest (JSON)", self.name))?;
        Ok(index.manifests.iter().filter_map(|entry| entry.annotations.get(RUN_NUMBER)?.parse().ok()).max())
    }

    /// The commands that write `<image>:<tag>` as an index of `<image>:<tag>-<arch>` for each arch:
    /// a manifest list in buildah's local storage, each arch added from the registry (annotated
    /// with the workflow run's number, when there is one: [`RUN_NUMBER`]), pushed, removed.
    pub fn index(&self, image: &str, tag: &str, arches: &[String], run: Option<u64>) -> Vec<Cmd> {
        let list = format!("xtask-index-{}-{image}-{tag}", std::process::id());
        // `buildah manifest VERB… [FLAGS] LIST [REFERENCE]`: the flags where it reads the registry.
        let manifest = |verb: &[&str], reference: Option<String>| {
            let flags = if reference.is_some() { self.flags("") } else { Vec::new() };
            let args = ["manifest"].iter().chain(verb).map(|a| a.to_string()).chain(flags);
            Cmd::lits("buildah", args.chain([list.clone()]).chain(reference))
                .io(Io::Quiet)
                .hint("it writes the image index (buildah manifest)")
        };
        let mut cmds = vec![manifest(&["create"], None)];
        let annotation = run.map(|run| format!("{RUN_NUMBER}={run}"));
        let add: Vec<&str> = ["add"].into_iter().chain(annotation.iter().flat_map(|a| ["--annotation", a])).collect();
        cmds.extend(arches.iter().map(|arch| manifest(&add, Some(self.reference(image, &format!("{tag}-{arch}"))))));
        cmds.extend([
            manifest(&["push", "--format", "oci"], Some(self.reference(image, tag))),
            manifest(&["rm"], None),
        ]);
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

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

/// The annotations of each entry of an index `publish` writes in a workflow run: the workflow
/// (`$GITHUB_WORKFLOW_REF` without its ref: `OWNER/REPO/.github/workflows/ci.yml`) and the run's
/// number in it (`$GITHUB_RUN_NUMBER`). A further tag (`latest`) whose index names a later run of
/// the same workflow is left as it is.
pub(crate) const WRITTEN_BY: (&str, &str) = ("xtask.workflow", "xtask.run-number");

/// A run of a workflow: GitHub numbers each workflow's runs in order, and a re-run keeps its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WorkflowRun {
    /// `OWNER/REPO/.github/workflows/FILE`.
    pub(crate) workflow: String,
    /// Its number (`$GITHUB_RUN_NUMBER`).
    pub(crate) number: u64,
}

impl WorkflowRun {
    /// The workflow run a task is a step of, when GitHub says which (its workflow's file and the
    /// run's number).
    pub(crate) fn of(github: &crate::record::Github) -> Option<WorkflowRun> {
        let workflow = github.workflow_ref.split('@').next().unwrap_or_default();
        let number = github.run_number.parse().ok()?;
        (!workflow.is_empty()).then(|| WorkflowRun { workflow: workflow.to_owned(), number })
    }
}

/// `HOST[:PORT]/PREFIX`, as given, and how to speak to it.
pub(crate) struct Registry {
    /// Lowercase: repository names are (a GitHub repository's need not be).
    pub(crate) name: String,
    loopback: bool,
    /// The run's auth file, after a login.
    auth: Option<PathBuf>,
}

impl Registry {
    /// The registry `HOST[:PORT]/PREFIX`, lowercased, without a trailing `/`; not logged in yet.
    pub(crate) fn new(name: &str) -> Registry {
        Registry {
            name: name.trim_end_matches('/').to_lowercase(),
            loopback: super::names::is_loopback(name),
            auth: None,
        }
    }

    /// `REGISTRY/<image>:<tag>`.
    pub(crate) fn reference(&self, image: &str, tag: &str) -> String {
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
    pub(crate) fn login(&mut self, session: &Session) -> Result<()> {
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
    pub(crate) fn copy(&self, archive: &Path, image: &str, tag: &str, digest: &Path) -> Cmd {
        let args = ["copy", "--dest-precompute-digests", "--digestfile"].map(str::to_owned);
        let args = args.into_iter().chain([digest.display().to_string()]).chain(self.flags("dest-"));
        let args = args.chain([format!("docker-archive:{}", archive.display()), self.reference(image, tag)]);
        Cmd::lits("skopeo", args).hint("it copies the image to the registry")
    }

    /// Copies the manifest `<image>@<digest>` the registry has to `<image>:<tag>`, byte for byte:
    /// its layers are there already, and nothing is built or uploaded but the manifest.
    pub(crate) fn tag_digest(&self, image: &str, digest: &str, tag: &str) -> Cmd {
        self.copy_manifest(format!("docker://{}/{image}@{digest}", self.name), image, tag)
    }

    /// Copies the manifest `<image>:<from>` the registry has to `<image>:<tag>`, as [`Self::tag_digest`].
    pub(crate) fn retag(&self, image: &str, from: &str, tag: &str) -> Cmd {
        self.copy_manifest(self.reference(image, from), image, tag)
    }

    fn copy_manifest(&self, from: String, image: &str, tag: &str) -> Cmd {
        let args = ["copy".to_owned(), "--preserve-digests".to_owned()].into_iter().chain(self.flags("src-"));
        let args = args.chain(self.flags("dest-")).chain([from, self.reference(image, tag)]);
        Cmd::lits("skopeo", args).hint("it copies a manifest the registry has under a new tag")
    }

    /// `skopeo inspect [--raw] REGISTRY/<image>:<tag>` (`@<digest>` for `sha256:…`).
    pub(crate) fn inspect(&self, image: &str, tag: &str, raw: bool) -> Cmd {
        let reference = match tag.starts_with("sha256:") {
            true => format!("docker://{}/{image}@{tag}", self.name),
            false => self.reference(image, tag),
        };
        let args = ["inspect".to_owned()].into_iter().chain(raw.then(|| "--raw".to_owned())).chain(self.flags(""));
        Cmd::lits("skopeo", args.chain([reference])).hint("it reads a manifest the registry has")
    }

    /// What `inspect` printed; `None` when the registry has no such tag (its error code for that,
    /// the distribution spec's `MANIFEST_UNKNOWN`); any other failure is an error, saying why.
    fn read(&self, cmd: &Cmd) -> Result<Option<Vec<u8>>> {
        let out = cmd.output_quietly()?;
        if out.status.success() {
            return Ok(Some(out.stdout));
        }
        let said = String::from_utf8_lossy(&out.stderr);
        // The registry's error codes for a tag it does not have, and for a repository it does
        // not have yet (the distribution spec's `MANIFEST_UNKNOWN`, `NAME_UNKNOWN`).
        if ["manifest unknown", "name unknown"].iter().any(|code| said.to_lowercase().contains(code)) {
            return Ok(None);
        }
        Err(explain(anyhow::anyhow!("`{}` failed: {}\n{}", cmd.render(None), cmd.hint, said.trim_end())))
    }

    /// The OCI architecture of the image `<image>:<tag>` (or `@<digest>`: `amd64`, `arm64`, as
    /// its config says); `None` when the registry has no such tag.
    pub(crate) fn architecture(&self, image: &str, tag: &str) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        struct Inspected {
            #[serde(rename = "Architecture", default)]
            architecture: String,
        }
        let Some(out) = self.read(&self.inspect(image, tag, false))? else { return Ok(None) };
        let inspected: Inspected = serde_json::from_slice(&out)
            .with_context(|| format!("`skopeo inspect` of {}/{image}:{tag} printed no image", self.name))?;
        Ok(Some(inspected.architecture))
    }

    /// The workflow run that wrote the index `<image>:<tag>` (its entries' [`WRITTEN_BY`]
    /// annotations, the latest run of them). `None` when the registry has no such tag, or its
    /// manifest names no run: an image's manifest, or an index written outside a workflow run or
    /// by an xtask before the annotation.
    pub(crate) fn written_by(&self, image: &str, tag: &str) -> Result<Option<WorkflowRun>> {
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
        let Some(out) = self.read(&self.inspect(image, tag, true))? else { return Ok(None) };
        let index: Index = serde_json::from_slice(&out)
            .with_context(|| format!("{}/{image}:{tag} is not a manifest (JSON)", self.name))?;
        let runs = index.manifests.iter().filter_map(|entry| {
            let number = entry.annotations.get(WRITTEN_BY.1)?.parse().ok()?;
            Some(WorkflowRun { workflow: entry.annotations.get(WRITTEN_BY.0)?.clone(), number })
        });
        Ok(runs.max_by_key(|run| run.number))
    }

    /// The commands that write `<image>:<to>` as an index of `<image>:<from>-<arch>` for each arch
    /// (the manifests, by their digests at the time: not `<to>-<arch>`, which another run may move):
    /// a manifest list in buildah's local storage, each arch added from the registry (annotated
    /// with the workflow run that writes it, when there is one: [`WRITTEN_BY`]), pushed, removed.
    pub(crate) fn index(
        &self,
        image: &str,
        from: &str,
        to: &str,
        arches: &[String],
        run: Option<&WorkflowRun>,
    ) -> Vec<Cmd> {
        // buildah's list names must be lowercase repository names, which a tag need not be; the
        // run's id, unique beside runs in other PID namespaces sharing buildah's storage.
        static LISTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = LISTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let list = format!("xtask-index-{}-{n}", scratch::run_id());
        // `buildah manifest VERB… [FLAGS] LIST [REFERENCE]`: the flags where it reads the registry.
        let manifest = |verb: &[&str], reference: Option<String>| {
            let flags = if reference.is_some() { self.flags("") } else { Vec::new() };
            let args = ["manifest"].iter().chain(verb).map(|a| a.to_string()).chain(flags);
            Cmd::lits("buildah", args.chain([list.clone()]).chain(reference))
                .io(Io::Quiet)
                .hint("it writes the image index (buildah manifest)")
        };
        let annotations: Vec<String> = run.map_or(Vec::new(), |run| {
            vec![format!("{}={}", WRITTEN_BY.0, run.workflow), format!("{}={}", WRITTEN_BY.1, run.number)]
        });
        let add: Vec<&str> =
            ["add"].into_iter().chain(annotations.iter().flat_map(|a| ["--annotation", a.as_str()])).collect();
        let mut cmds = vec![manifest(&["create"], None)];
        cmds.extend(arches.iter().map(|arch| manifest(&add, Some(self.reference(image, &format!("{from}-{arch}"))))));
        cmds.extend([manifest(&["push", "--format", "oci"], Some(self.reference(image, to))), manifest(&["rm"], None)]);
        cmds
    }
}

/// Prints the command in a dry run, runs it otherwise.
pub(crate) fn run(session: &Session, cmd: &Cmd) -> Result<()> {
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

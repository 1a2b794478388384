//! `cargo xtask publish --push REGISTRY --tag T [--also-tag T2]… [--image NAME]…`: after every
//! arch's `build-containers --push REGISTRY --tag T` job (and, in CI, every test leg and smoke),
//! writes `REGISTRY/<image>:T` as one index (an OCI image index) of `<image>:T-<arch>` for every
//! arch of the config, so `docker pull REGISTRY/<image>:T` gets each machine its own arch. Each
//! `--also-tag` (CI's `latest`, which the arch jobs never push: they run beside the tests) gets
//! an index of the same manifests, then `<image>:T2-<arch>`, a byte-for-byte copy of `T-<arch>`,
//! image by image; in a workflow run it moves forward only (a later run's stays). An arch whose
//! build the first job proved needless pushed nothing: `--copies` names the manifest an earlier
//! push of the same image made, tagged `T-<arch>` by digest. First, every arch's manifest must be
//! there and of its arch: else it fails, naming each one, and writes nothing.

use anyhow::{ensure, Context, Result};

use crate::{
    images::{
        names,
        registry::{self, Registry, WorkflowRun},
    },
    record::{Copy, Record},
    session::Session,
};

/// Write `REGISTRY/<image>:<tag>` as an index of every arch's `<tag>-<arch>` manifest, and each
/// `--also-tag` from the same manifests.
#[derive(clap::Args, Debug)]
pub struct Publish {
    /// The registry the arch jobs pushed to (e.g. ghcr.io/OWNER/REPO).
    #[arg(long, value_name = "REGISTRY")]
    push: String,
    /// The tag each arch's job pushed (`<image>:<tag>-<arch>` must be there), written as an index.
    #[arg(long, value_name = "TAG")]
    tag: String,
    /// A further tag to write (repeatable): each arch's manifest of `--tag` copied under
    /// `<tag>-<arch>`, and an index.
    #[arg(long = "also-tag", value_name = "TAG")]
    also: Vec<String>,
    /// An image to publish (repeatable). Default: every image of the config.
    #[arg(long = "image", value_name = "NAME")]
    images: Vec<String>,
    /// The manifests to copy by digest first, for the arches whose build the first job proved
    /// needless (`prebuild --prove`'s output `copies`): `[{"image", "arch", "from": "REGISTRY/<image>@<digest>"}]`.
    #[arg(long, value_name = "JSON", default_value = "")]
    copies: String,
}

impl Publish {
    /// Writes each image's index for each tag, once every arch's manifest is found in the registry.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        names::check_registry(&self.push).map_err(|e| anyhow::anyhow!("--push: {e}"))?;
        let config = &session.config;
        std::iter::once(&self.tag).chain(&self.also).try_for_each(|tag| names::check_arch_tags(tag, &config.arches))?;
        let images: Vec<String> = match self.images.as_slice() {
            [] => config.images.iter().map(|(name, _)| name.clone()).collect(),
            names => names.iter().map(|n| config.image_attr(n).map(|_| n.clone())).collect::<Result<_>>()?,
        };
        let copies = self.copies(&config.arches)?;
        let run = record.github.as_ref().and_then(WorkflowRun::of);
        let mut registry = Registry::new(&self.push);
        let pushed = &self.tag;
        if session.dry_run {
            println!("# cargo xtask publish (dry run: nothing is run)");
        }
        record.step("login", format!("Log in to {}", registry.name), &[], || registry.login(session))?;
        let copies: Vec<&Copy> = copies.iter().filter(|c| images.contains(&c.image)).collect();
        self.check_arches(session, &registry, &images, &copies)?;
        for copy in copies {
            let cmd = registry.tag_digest(&copy.image, digest(copy), &format!("{pushed}-{}", copy.arch));
            let title = format!("Tag {} as {}/{}:{pushed}-{}", copy.from, registry.name, copy.image, copy.arch);
            record.step("registry-copy", title, &[&cmd], || registry::run(session, &cmd))?;
        }
        // Image by image: the commit's index, then each further tag (its index, from the same
        // manifests, then its arches' copies); a failure stops before the next image is touched.
        for image in &images {
            self.write_index(session, record, &registry, image, pushed, run.as_ref())?;
            for tag in &self.also {
                if let Some(warning) = self.written_later(session, &registry, image, tag, run.as_ref())? {
                    crate::github::warning(&warning);
                    record.warnings.push(warning);
                    continue;
                }
                self.write_index(session, record, &registry, image, tag, run.as_ref())?;
                for arch in &config.arches {
                    let (from, to) = (format!("{pushed}-{arch}"), format!("{tag}-{arch}"));
                    let cmd = registry.retag(image, &from, &to);
                    let title = format!("Tag {}/{image}:{from} as {to}", registry.name);
                    record.step("registry-copy", title, &[&cmd], || registry::run(session, &cmd))?;
                }
            }
        }
        Ok(())
    }

    /// `--copies`, checked: each names one of the config's arches and a manifest by digest.
    fn copies(&self, arches: &[String]) -> Result<Vec<Copy>> {
        let copies: Vec<Copy> = match self.copies.trim() {
            "" => return Ok(Vec::new()),
            json => serde_json::from_str(json)
                .context("--copies: expected [{\"image\", \"arch\", \"from\"}] (the output of prebuild --prove)")?,
        };
        let mut problems: Vec<String> = copies
            .iter()
            .filter_map(|copy| {
                let hex = digest(copy).strip_prefix("sha256:").unwrap_or_default();
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Some(format!("{} names no manifest by digest (`REGISTRY/<image>@sha256:…`)", copy.from))
                } else if copies.iter().filter(|c| c.image == copy.image && c.arch == copy.arch).count() > 1 {
                    Some(format!("{} {} is given more than once", copy.image, copy.arch))
                } else if !arches.contains(&copy.arch) {
                    Some(format!(
                        "{} is for arch {:?}, which is not one of the config's ({})",
                        copy.from,
                        copy.arch,
                        arches.join(", ")
                    ))
                } else {
                    None
                }
            })
            .collect();
        // A copy given twice says so once.
        problems.sort_unstable();
        problems.dedup();
        ensure!(problems.is_empty(), "--copies: {}", problems.join("; "));
        Ok(copies)
    }

    /// Every `<image>:<tag>-<arch>` (or the manifest a copy puts there) is in the registry, an
    /// image of that arch (its config says): else it fails, naming each one missing or of another
    /// arch, before anything is copied or written.
    fn check_arches(&self, session: &Session, registry: &Registry, images: &[String], copies: &[&Copy]) -> Result<()> {
        let arches = &session.config.arches;
        let each = images.iter().flat_map(|image| arches.iter().map(move |arch| (image, arch)));
        // Where each arch's manifest is: the copy's digest, else the tag the arch's job pushed.
        let at = |image: &str, arch: &str| match copies.iter().find(|c| c.image == image && c.arch == arch) {
            Some(copy) => (digest(copy).to_owned(), format!("{} (to be tagged {}-{arch})", copy.from, self.tag)),
            None => (format!("{}-{arch}", self.tag), format!("{}/{image}:{}-{arch}", registry.name, self.tag)),
        };
        if session.dry_run {
            for (image, arch) in each {
                println!("{}", registry.inspect(image, &at(image, arch).0, false).render(None));
            }
            return Ok(());
        }
        let (mut missing, mut gone, mut other) = (Vec::new(), Vec::new(), Vec::new());
        for (image, arch) in each {
            let (tag, reference) = at(image, arch);
            match registry.architecture(image, &tag)? {
                None if tag.starts_with("sha256:") => gone.push(reference),
                None => missing.push(reference),
                Some(found) if found != names::oci_arch(arch) => {
                    other.push(format!("{reference} is an image for {found}, not {}", names::oci_arch(arch)))
                }
                Some(_) => {}
            }
        }
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "{} arch manifest(s) missing (each arch's `build-containers --push {} --tag {}` pushes one):\n  {}",
                missing.len(),
                self.push,
                self.tag,
                missing.join("\n  ")
            ));
        }
        if !gone.is_empty() {
            problems.push(format!(
                "{} manifest(s) the first job proved reusable are gone from the registry (deleted since; a run with `force_rebuild` pushes them again):\n  {}",
                gone.len(),
                gone.join("\n  ")
            ));
        }
        if !other.is_empty() {
            problems.push(format!(
                "{} arch manifest(s) of another arch (push each arch's own build under its tag):\n  {}",
                other.len(),
                other.join("\n  ")
            ));
        }
        ensure!(problems.is_empty(), "cannot publish: {}", problems.join("\n"));
        Ok(())
    }

    /// Writes `<image>:<tag>` as an index of the manifests `<image>:<self.tag>-<arch>`.
    fn write_index(
        &self,
        session: &Session,
        record: &mut Record,
        registry: &Registry,
        image: &str,
        tag: &str,
        run: Option<&WorkflowRun>,
    ) -> Result<()> {
        let arches = &session.config.arches;
        let cmds = registry.index(image, &self.tag, tag, arches, run);
        let title = format!("Write {}/{image}:{tag}: an index of {}", registry.name, arches.join(", "));
        record.step("index", title.clone(), &cmds.iter().collect::<Vec<_>>(), || {
            let (remove, write) = cmds.split_last().expect("an index has commands");
            let written = write.iter().try_for_each(|cmd| registry::run(session, cmd));
            // The list in buildah's storage goes, whatever happened.
            let _ = registry::run(session, remove);
            written
        })?;
        if !session.dry_run {
            eprintln!("published {}", title.trim_start_matches("Write "));
        }
        Ok(())
    }

    /// Why a further tag of `image` stays as it is, if it does: a further tag moves forward only,
    /// so a re-run of an older workflow run (its tests failed, then passed) does not move
    /// `latest` back from what a later run of the same workflow wrote. Asked in a workflow run
    /// only; the index a run writes names it ([`registry::WRITTEN_BY`]).
    fn written_later(
        &self,
        session: &Session,
        registry: &Registry,
        image: &str,
        tag: &str,
        run: Option<&WorkflowRun>,
    ) -> Result<Option<String>> {
        let Some(run) = run else { return Ok(None) };
        if session.dry_run {
            println!("{}", registry.inspect(image, tag, true).render(None));
            return Ok(None);
        }
        let later = registry.written_by(image, tag)?.filter(|by| by.workflow == run.workflow && by.number > run.number);
        Ok(later.map(|by| {
            format!(
                "{}/{image}:{tag} was written by run {} of {}, a later run than this one ({}): left as it is (this run's images are under {})",
                registry.name, by.number, by.workflow, run.number, self.tag
            )
        }))
    }
}

/// The digest a copy names (`REGISTRY/<image>@sha256:…`, checked by [`Publish::copies`]).
fn digest(copy: &Copy) -> &str {
    copy.from.rsplit_once('@').map_or("", |(_, digest)| digest)
}

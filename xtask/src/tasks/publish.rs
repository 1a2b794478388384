//! `cargo xtask publish --push REGISTRY --tag T [--also-tag T2]… [--image NAME]…`: after every
//! arch's `build-containers --push REGISTRY --tag T` job (and, in CI, every test leg and smoke),
//! writes `REGISTRY/<image>:T` as one index (an OCI image index) of `<image>:T-<arch>` for every
//! arch of the config, so `docker pull REGISTRY/<image>:T` gets each machine its own arch. Each
//! `--also-tag` (CI's `latest`, which the arch jobs never push: they run beside the tests) gets
//! `<image>:T2-<arch>`, a byte-for-byte copy of `T-<arch>`, and its own index, image by image. An
//! arch whose build the first job proved needless pushed nothing: `--copies` names the manifest
//! an earlier push of the same image made, copied by digest under `T-<arch>` first. Fails, naming
//! each missing `T-<arch>`, before it tags or writes anything more.

use anyhow::{bail, ensure, Context, Result};

use crate::{
    images::{
        names,
        registry::{self, Registry},
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
        let tags: Vec<&String> = std::iter::once(&self.tag).chain(&self.also).collect();
        tags.iter().try_for_each(|tag| names::check_arch_tags(tag, &session.config.arches))?;
        let config = &session.config;
        let images: Vec<String> = match self.images.as_slice() {
            [] => config.images.iter().map(|(name, _)| name.clone()).collect(),
            names => names.iter().map(|n| config.image_attr(n).map(|_| n.clone())).collect::<Result<_>>()?,
        };
        let copies: Vec<Copy> = match self.copies.trim() {
            "" => Vec::new(),
            json => serde_json::from_str(json)
                .context("--copies: expected [{\"image\", \"arch\", \"from\"}] (the output of prebuild --prove)")?,
        };
        let mut registry = Registry::new(&self.push);
        // The digest is what is copied, from this registry: a manifest it lacks fails the copy.
        for copy in &copies {
            let digest = copy.from.rsplit_once('@').map_or("", |(_, d)| d);
            let hex = digest.strip_prefix("sha256:").unwrap_or_default();
            ensure!(
                hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
                "--copies: {} names no manifest by digest (`REGISTRY/<image>@sha256:…`)",
                copy.from
            );
        }
        let pushed = &self.tag;
        let run = record.github.as_ref().and_then(|github| github.run_number.parse::<u64>().ok());
        record.step("login", format!("Log in to {}", registry.name), &[], || registry.login(session))?;
        for copy in copies.iter().filter(|c| images.contains(&c.image)) {
            let (_, digest) = copy.from.rsplit_once('@').expect("checked above");
            let cmd = registry.tag_digest(&copy.image, digest, &format!("{pushed}-{}", copy.arch));
            let title = format!("Tag {} as {}/{}:{pushed}-{}", copy.from, registry.name, copy.image, copy.arch);
            record.step("registry-copy", title, &[&cmd], || registry::run(session, &cmd))?;
        }
        if !session.dry_run {
            let missing: Vec<String> = images
                .iter()
                .flat_map(|image| config.arches.iter().map(move |arch| (image, format!("{pushed}-{arch}"))))
                .filter(|(image, tag)| !registry.has(image, tag))
                .map(|(image, tag)| format!("{}/{image}:{tag}", registry.name))
                .collect();
            if !missing.is_empty() {
                bail!(
                    "cannot publish: {} arch manifest(s) missing (each arch's `build-containers --push {} --tag {pushed}` pushes one):\n  {}",
                    missing.len(),
                    self.push,
                    missing.join("\n  ")
                );
            }
        } else {
            println!("# cargo xtask publish (dry run: nothing is run)\n# each <image>:{pushed}-<arch> is checked first (skopeo inspect --raw)");
            if run.is_some() && !self.also.is_empty() {
                println!("# each further tag whose index a later run wrote is left as it is (skopeo inspect --raw)");
            }
        }
        // Image by image, its further tags' arch manifests, then its indexes: a failure stops
        // before the next image is touched.
        for image in &images {
            let mut also = Vec::new();
            for tag in &self.also {
                match self.written_later(session, &registry, image, tag, run)? {
                    Some(warning) => {
                        crate::github::warning(&warning);
                        record.warnings.push(warning);
                    }
                    None => also.push(tag),
                }
            }
            for (tag, arch) in also.iter().flat_map(|t| config.arches.iter().map(move |a| (t, a))) {
                let (from, to) = (format!("{pushed}-{arch}"), format!("{tag}-{arch}"));
                let cmd = registry.retag(image, &from, &to);
                let title = format!("Tag {}/{image}:{from} as {to}", registry.name);
                record.step("registry-copy", title, &[&cmd], || registry::run(session, &cmd))?;
            }
            for tag in std::iter::once(&self.tag).chain(also) {
                let cmds = registry.index(image, tag, &config.arches, run);
                let title = format!("Write {}/{image}:{tag}: an index of {}", registry.name, config.arches.join(", "));
                record.step("index", title.clone(), &cmds.iter().collect::<Vec<_>>(), || {
                    let (remove, write) = cmds.split_last().expect("an index has commands");
                    let written = write.iter().try_for_each(|cmd| registry::run(session, cmd));
                    // The list in buildah's storage goes, whatever happened.
                    let _ = registry::run(session, remove);
                    written
                })?;
                eprintln!("published {}", title.trim_start_matches("Write "));
            }
        }
        Ok(())
    }

    /// Why a further tag of `image` stays as it is, if it does: a further tag moves forward only,
    /// so a re-run of an older workflow run (its tests failed, then passed) does not move
    /// `latest` back from what a later run wrote. Asked of the registry in a workflow run only
    /// (`$GITHUB_RUN_NUMBER`); the index a run writes names its number ([`registry::RUN_NUMBER`]).
    fn written_later(
        &self,
        session: &Session,
        registry: &Registry,
        image: &str,
        tag: &str,
        run: Option<u64>,
    ) -> Result<Option<String>> {
        let Some(run) = run.filter(|_| !session.dry_run) else { return Ok(None) };
        let later = registry.run_number(image, tag)?.filter(|&by| by > run);
        Ok(later.map(|by| {
            format!(
                "{}/{image}:{tag} was written by run {by}, a later run than this one ({run}): left as it is (this run's images are under {})",
                registry.name, self.tag
            )
        }))
    }
}

//! `cargo xtask build-containers`: the CI job of layer 3. It builds the images and pushes their
//! store paths to the cache (the pipeline), then writes, loads or pushes each as asked
//! ([`crate::images`]). A push is one manifest per arch, each arch's job its own:
//! `cargo xtask publish` then writes `REGISTRY/<image>:<tag>` as the index of every arch.

use std::path::PathBuf;

use anyhow::Result;

use crate::{
    cli::ImageArgs,
    command::{Cmd, Io, NoSlots},
    images::{
        self, engine, names,
        registry::{self, Registry},
    },
    layers::{self, Layer},
    pipeline::{self, OnPushFailure, Request},
    record::{Published, Record},
    scratch,
    session::Session,
};

/// The CI build-containers job: build and push images, emit their keys.
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
    /// Copy each image to REGISTRY/<image>:<tag>-<arch> with skopeo (e.g. ghcr.io/OWNER/REPO).
    #[arg(long, value_name = "REGISTRY")]
    push: Option<String>,
    /// A tag for --push (repeatable). Default: the commit ($GITHUB_SHA, else `git rev-parse HEAD`).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

impl BuildContainers {
    /// Builds and pushes the images (the pipeline), then writes, loads or copies each to a registry as asked.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        // Bad input is refused before anything is built or any login.
        if let Some(push) = &self.push {
            names::check_registry(push).map_err(|e| anyhow::anyhow!("--push: {e}"))?;
        }
        self.tags.iter().try_for_each(|tag| names::check_arch_tags(tag, &session.config.arches))?;
        let engine = if self.load { Some(engine::find("--load")?) } else { None };
        let args = &self.images;
        let platform = session.platform.for_images(&session.config, args.arch.as_deref())?;
        let targets = layers::images(session, &args.images, &platform)?;
        let mut request = Request::new(session, "build-containers", targets, args.force.force, OnPushFailure::Fail)?;
        request.fetch_outputs = self.out.is_some() || engine.is_some() || self.push.is_some();
        let built = pipeline::run(session, &request, record)?;
        if !request.fetch_outputs {
            return Ok(());
        }
        let dir = images::archive_dir(session, self.out.as_deref())?;
        let tags = if self.push.is_some() { self.tags(session)? } else { Vec::new() };
        let mut registry = self.push.as_deref().map(Registry::new);
        if let Some(registry) = registry.as_mut() {
            record.step("login", format!("Log in to {}", registry.name), &[], || registry.login(session))?;
        }
        for (i, target) in request.targets.iter().enumerate() {
            let Layer::Image { image, arch } = &target.layer else { continue };
            let archive = dir.join(format!("{image}.tar"));
            let script = built.outputs.get(i).and_then(|o| o.first());
            record.step("image", format!("Write {image} ({arch}) to {}", archive.display()), &[], || {
                images::stream(session, script.map(String::as_str), &target.attr.to_string(), &archive)
            })?;
            if let Some(engine) = engine {
                let load = engine::load(engine, &archive);
                record
                    .step("load", format!("Load {image} into {engine}"), &[&load], || registry::run(session, &load))?;
            }
            for (registry, tag) in registry.iter().flat_map(|r| tags.iter().map(move |t| (r, t))) {
                let tag = format!("{tag}-{arch}");
                let digest = scratch::path(session.dry_run, &format!("digest-{image}-{tag}"))?;
                let copy = registry.copy(&archive, image, &tag, &digest);
                let title = format!("Copy {image} to {}/{image}:{tag}", registry.name);
                record.step("registry-push", title, &[&copy], || registry::run(session, &copy))?;
                // What a later push of the same image copies by digest, building nothing.
                if let (Some(path), Ok(digest)) = (script, std::fs::read_to_string(&digest)) {
                    record.published.push(Published {
                        image: image.clone(),
                        arch: arch.clone(),
                        path: path.clone(),
                        repository: format!("{}/{image}", registry.name),
                        tag,
                        digest: digest.trim().to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    fn tags(&self, session: &Session) -> Result<Vec<String>> {
        if !self.tags.is_empty() {
            return Ok(self.tags.clone());
        }
        if let Some(sha) = std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()) {
            names::check_tag(&sha)?;
            return Ok(vec![sha]);
        }
        let head = Cmd::lits("git", ["rev-parse", "HEAD"]).io(Io::Quiet).hint("it tags the image with the commit");
        if session.dry_run {
            return Ok(vec!["<commit>".to_owned()]);
        }
        Ok(vec![head.run_quietly(&NoSlots)?.trim().to_owned()])
    }
}

//! Layer 3 outside the Nix store: an image in the store is a small script that streams it (as
//! `dockerTools.streamLayeredImage` makes), so the image itself never enters the store. Here: the
//! archive a script writes ([`stream`]), a registry and what it holds ([`registry`]: per-arch
//! manifests, one index per tag), and a container engine that loads and runs images
//! ([`engine`]).

pub mod engine;
pub mod names;
pub mod registry;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::{
    command::{Cmd, Io, NoSlots},
    scratch,
    session::Session,
};

/// Where the archives go: `--out DIR`, or the run's private directory (removed on every exit).
pub(crate) fn archive_dir(session: &Session, out: Option<&Path>) -> Result<PathBuf> {
    out.map_or_else(|| scratch::path(session.dry_run, "images"), |dir| Ok(std::path::absolute(dir)?))
}

/// Runs an image's stream script (a store path the pipeline built) into `archive`, a
/// docker-archive; in a dry run, says so.
pub fn stream(session: &Session, script: Option<&str>, what: &str, archive: &Path) -> Result<()> {
    let Some(script) = script.filter(|_| !session.dry_run) else {
        println!("<the output of {what}> > {}", archive.display());
        return Ok(());
    };
    if let Some(dir) = archive.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Cmd::lits(script, Vec::<String>::new())
        .io(Io::Quiet)
        .stdout_to(archive.to_path_buf())
        .hint("it writes the image (a docker-archive) from the store paths it ships")
        .run(&NoSlots)?;
    eprintln!("wrote {}", archive.display());
    Ok(())
}

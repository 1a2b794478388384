//! `cargo xtask workflows [--check]`: the job graph of every workflow (`xtask::workflows`),
//! rendered as YAML ([`render`]), written or checked.

pub mod render;

use anyhow::{bail, Result};

use std::path::Path;

use xtask::{
    config::Config,
    files::{self, Mode},
    record::Record,
    session::Session,
    workflows,
};

/// Every generated workflow: its path and its text.
pub fn generate(config: &Config) -> Result<Vec<(&'static str, String)>> {
    Ok(workflows::graphs(config)?.iter().map(|w| (w.file, render::workflow(w))).collect())
}

/// Write (or `--check`) the GitHub workflows generated from the config.
#[derive(clap::Args, Debug)]
pub struct Workflows {
    /// Fail, naming each stale workflow and the command that regenerates them.
    #[arg(long)]
    check: bool,
}

impl Workflows {
    /// Writes the workflows that differ from their generated text (or checks them, or says what it would write).
    pub fn run(&self, session: &Session, _record: &mut Record) -> Result<()> {
        let mode = match (self.check, session.dry_run) {
            (true, _) => Mode::Check,
            (false, true) => Mode::DryRun,
            (false, false) => Mode::Write,
        };
        update(&session.root, &generate(&session.config)?, mode)
    }
}

/// Brings every workflow to its generated text; in [`Mode::Check`], fails naming every stale
/// file and the command that regenerates them (`git diff` after it shows the change).
pub fn update(root: &Path, generated: &[(&str, String)], mode: Mode) -> Result<()> {
    let mut stale = Vec::new();
    for (path, text) in generated {
        if files::update(root, path, text, mode)? && mode == Mode::Check {
            stale.push(*path);
        }
    }
    if !stale.is_empty() {
        bail!(
            "{} {} stale (generated from [workspace.metadata.cache]): run `{}` and commit the result",
            stale.join(", "),
            if stale.len() == 1 { "is" } else { "are" },
            workflows::COMMAND
        );
    }
    Ok(())
}

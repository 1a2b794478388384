//! `cargo xtask prebuild [--force] [--prove] [--run-all] [--registry R]`: CI's first job. It builds and
//! pushes the deps layer unless the cache has it (as `warm-deps`); with `--prove` (the first
//! arch's leg), the same evaluation and the same fresh runner's view cover every leg of the later
//! jobs, and it answers which of them must run ([`crate::proof`]).

use anyhow::{Context, Result};

use crate::{
    cli::Force,
    layers,
    pipeline::{self, OnPushFailure, Request},
    proof::Legs,
    record::Record,
    session::Session,
    workflows::{self, CI},
};

/// CI's first job: the deps layer, and with `--prove`, which legs of the later jobs run.
#[derive(clap::Args, Debug)]
pub struct Prebuild {
    #[command(flatten)]
    force: Force,
    /// Answer, for every leg of the later jobs, whether it must run: not when the cache (and the
    /// history) prove it needless (`--prove=false` for CI's other legs).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    prove: bool,
    /// With `--prove`: every leg of the later jobs runs, none proven needless (a dispatch's
    /// `force_rebuild`; `--run-all=false` for CI inputs). The deps layer is not rebuilt for it.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set, default_value_t = false)]
    run_all: bool,
    /// Where a push publishes the images (ghcr.io/OWNER/REPO): a manifest of an earlier push is
    /// copied only from there. Empty: every image leg of a push runs.
    #[arg(long, value_name = "REGISTRY", default_value = "")]
    registry: String,
}

impl Prebuild {
    /// Builds and pushes the deps layer unless the cache has it; with `--prove`, then decides
    /// each leg from what the same run saw of its targets.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let deps = layers::deps(&session.config, session.deps_key()?, &session.platform.system);
        let mut request = Request::new(session, "prebuild", vec![deps], self.force.force, OnPushFailure::Fail)?;
        let graphs = match self.prove {
            true => workflows::graphs(&session.config)?,
            false => Vec::new(),
        };
        let legs = match graphs.iter().find(|w| w.file == CI) {
            Some(workflow) => Some(Legs::of(session, workflow).context("the legs of the later jobs")?),
            None => None,
        };
        request.asked = legs.as_ref().map(|l| l.targets.clone()).unwrap_or_default();
        pipeline::run(session, &request, record)?;
        match legs {
            Some(legs) if !session.dry_run => legs.decide(session, record, self.run_all, &self.registry),
            _ => Ok(()),
        }
    }
}

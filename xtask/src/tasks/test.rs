//! Layer 2, `cargo xtask test --type T`: the CI test-matrix job. With Nix it builds
//! `checks.<system>.<T>` and pushes the job's artifacts; with `--no-nix`, it runs the cargo
//! equivalent from the config directly.

use anyhow::Result;

use crate::{
    cli::Force,
    command::Cmd,
    layers,
    pipeline::{self, OnPushFailure, Plan, Request, StepKind},
    record::Record,
    session::Session,
};

/// The CI test-matrix job: build the flake check of a test type and push its artifacts.
#[derive(clap::Args, Debug)]
pub struct Test {
    /// The test type (a key of the config's `tests`).
    #[arg(long = "type", value_name = "T")]
    test_type: String,
    /// The runner OS, for the job key (default: the config's first).
    #[arg(long, value_parser = crate::cli::runner)]
    os: Option<String>,
    /// The Rust version, for the job key (default: the config's).
    #[arg(long, value_parser = crate::cli::rust_version)]
    rust: Option<String>,
    /// Run the cargo equivalent directly, without Nix.
    #[arg(long)]
    no_nix: bool,
    /// Fail the job when the push fails (by default a warning: the test verdict is the job's).
    #[arg(long)]
    require_push: bool,
    #[command(flatten)]
    force: Force,
}

impl Test {
    /// Builds the check and pushes its artifacts (the pipeline), or runs its cargo equivalent (`--no-nix`).
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let config = &session.config;
        let cargo_args = config.test_args(&self.test_type)?;
        let key = session.deps_key()?;
        let os = self.os.as_deref().unwrap_or(&config.os[0]);
        let rust = self.rust.as_deref().unwrap_or(&config.rust);
        let check = layers::check(config, key, &session.platform.system, &self.test_type, os, rust)?;
        let task = format!("test --type {}", self.test_type);
        let on_push_failure = if self.require_push { OnPushFailure::Fail } else { OnPushFailure::Warn };
        let request = Request::new(session, &task, vec![check], self.force.force, on_push_failure)?;
        if self.no_nix {
            let mut plan = Plan::new(task, Vec::new());
            let cmd = Cmd::lits("cargo", cargo_args).hint(format!("the {} tests failed (see above)", self.test_type));
            plan.step(format!("cargo {}", cargo_args.join(" ")), StepKind::Run(cmd));
            return pipeline::execute(session, plan, &request.keys, record).map(drop);
        }
        pipeline::run(session, &request, record).map(drop)
    }
}

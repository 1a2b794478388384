#![warn(missing_docs)]
//! The maintainer's tasks, which no CI job runs, on the xtask library: `cargo xtask bench`
//! ([`bench`]), `ci` (the workflows' job graph run here, [`local_ci`]), `workflows` (the graph
//! rendered as YAML, [`workflows`]), `bump-version`, `rollback`, `doctor` and `rotate-key`
//! ([`maintenance`]),
//! `analytics` ([`analytics`]). They live in a binary of their own, `xtask-tools`, so the binary
//! every CI job compiles (`xtask`) does not carry them; `cargo xtask` runs whichever binary has
//! the task (`xtask/launch`).

/// The key of the sources this binary was built from ([`xtask::SOURCE_KEY`]), read here too so
/// cargo rebuilds this library for every new key.
pub const SOURCE_KEY: &str = match option_env!("XTASK_SOURCE_KEY") {
    Some(key) => key,
    None => "(built without cargo xtask)",
};

pub mod analytics;
pub mod bench;
pub mod local_ci;
pub mod maintenance;
pub mod workflows;

use anyhow::Result;
use xtask::{record::Record, session::Session};

/// The maintainer's tasks; [`xtask::tasks::Task`] are CI's.
#[derive(clap::Subcommand, Debug)]
pub enum Tool {
    /// Run a workflow's pipeline here, job by job as a fresh runner, timed as GitHub would see it.
    Ci(local_ci::task::Ci),
    /// Write (or `--check`) the GitHub workflows generated from the config.
    Workflows(workflows::Workflows),
    /// Raise the cache version (invalidates every key) and regenerate the workflows.
    BumpVersion(maintenance::bump_version::BumpVersion),
    /// Move from Cachix to the GitHub Actions cache (the seed's rollback), or back with --undo.
    Rollback(maintenance::rollback::Rollback),
    /// Check Nix, the lock files, the key, the cache name, the token, the substituter, the workflows.
    Doctor(maintenance::doctor::Doctor),
    /// Rotate the signing key of a cache this project signs: --new, then (once runners trust it) --retire.
    RotateKey(maintenance::rotate_key::RotateKey),
    /// Measure the speed targets against the bench workspace (real Nix).
    Bench(bench::Bench),
    /// The cache analytics: store size, largest paths, layers, the push filter, recommendations.
    Analytics(analytics::task::Analytics),
}

impl Tool {
    /// Whether its records are kept in the history: the local run's pipeline is, but a fork's
    /// (which writes nothing).
    pub fn kept(&self) -> bool {
        match self {
            Tool::Ci(ci) => !ci.fork(),
            Tool::RotateKey(_) => true,
            _ => false,
        }
    }

    /// Runs the task, filling `record`.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        match self {
            Tool::Ci(task) => task.run(session, record),
            Tool::Workflows(task) => task.run(session, record),
            Tool::BumpVersion(task) => task.run(session, record),
            Tool::Rollback(task) => task.run(session, record),
            Tool::Doctor(task) => task.run(session, record),
            Tool::RotateKey(task) => task.run(session, record),
            Tool::Bench(task) => task.run(session, record),
            Tool::Analytics(task) => task.run(session, record),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, Subcommand};

    /// `cargo xtask` picks the binary by the task's name: its lists are this binary's tasks and
    /// the global options that take a value.
    #[test]
    fn the_launcher_knows_these_tasks_and_the_global_options() {
        let tools = super::Tool::augment_subcommands(clap::Command::new("t"));
        let mut names: Vec<&str> = tools.get_subcommands().map(|c| c.get_name()).collect();
        let mut launcher = xtask_launch::TOOLS.to_vec();
        names.sort();
        launcher.sort();
        assert_eq!(names, launcher);
        let global = xtask::cli::GlobalArgs::augment_args(clap::Command::new("t"));
        let mut valued: Vec<String> = global
            .get_arguments()
            .filter(|a| a.get_action().takes_values())
            .map(|a| format!("--{}", a.get_long().unwrap()))
            .collect();
        let mut launcher: Vec<String> = xtask_launch::VALUED.iter().map(|v| v.to_string()).collect();
        valued.sort();
        launcher.sort();
        assert_eq!(valued, launcher);
    }
}

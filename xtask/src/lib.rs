#![warn(missing_docs)]
//! The project's CI and cache strategy, as a library: the `xtask` binary (`main.rs`) runs the
//! tasks CI jobs run; `xtask-tools` (`xtask/tools`) adds the maintainer's (bench, the local CI run,
//! the workflow generator, bump, rollback, doctor, analytics); the tests use the same types.
//!
//! - `cli.rs`, `session.rs`: the global options, and what they resolve to;
//! - `config/`: `[workspace.metadata.cache]`, read;
//! - `keys.rs`, `layers.rs`: the cache keys, and the three layers as targets;
//! - `command/`, `scratch.rs`, `secrets.rs`, `files.rs`, `numbers.rs`: commands as values and
//!   their runner, the run's private files, what is never printed, files written whole and read
//!   bounded, numbers from outside added without overflow;
//! - `nix/`, `cache/`: the Nix commands and what Nix prints; the caches, their files, locks,
//!   records, gc and verification;
//! - `pipeline/`: the evaluate-ask-build-push steps; `pipeline/fresh_runner/`: what a fresh
//!   runner would fetch and build (hit rates), the step that asks it, and a fresh runner's store
//!   made on this machine;
//! - `record/`: what a run of a task did, one typed value, and how it reads for people;
//! - `history.rs`: the records of the runs that changed a cache, kept where later runs read them;
//! - `workflows/`, `github/`: the job graph the workflows are rendered from, and what they share
//!   with the tasks;
//! - `explain/`: why a fresh runner would build a target, against the history's runs;
//! - `proof.rs`: which legs of the later jobs the cache (and the history) prove needless;
//! - `alerts.rs`, `dashboard/`: what the history says is wrong, and the page that shows it all;
//! - `images/`: image archives, a registry, a container engine;
//! - `tasks/`: the tasks, one module each, arguments with the task.

/// The key of the sources this binary was built from, as `cargo xtask` passes it to cargo
/// (`xtask/launch`): read here, so cargo rebuilds this library for every new key whatever its
/// files' times, and `--version` prints it.
pub const SOURCE_KEY: &str = match option_env!("XTASK_SOURCE_KEY") {
    Some(key) => key,
    None => "(built without cargo xtask)",
};

pub mod alerts;
pub mod cache;
pub mod cli;
pub mod command;
pub mod config;
pub mod dashboard;
pub(crate) mod explain;
pub mod files;
pub mod github;
pub mod history;
pub mod images;
pub mod keys;
pub mod layers;
pub mod nix;
pub mod numbers;
pub mod pipeline;
pub(crate) mod proof;
pub mod record;
pub mod scratch;
pub mod secrets;
pub mod session;
pub mod tasks;
pub mod workflows;

use std::process::ExitCode;

use anyhow::Result;

use crate::{cli::GlobalArgs, record::Record, session::Session};

/// What a task is, for [`main`]: its name (as the command line gives it), and whether its records
/// are kept in the history (the tasks that change a cache).
pub struct TaskInfo<'a> {
    /// The task's name, as the command line gives it (`warm-deps`).
    pub name: &'a str,
    /// Whether its records are kept in the history.
    pub kept: bool,
}

/// Runs one task as `cargo xtask` does: the session resolved once, the task filling its record,
/// the record kept in the history (a task that changes a cache) and written (`--record`), the run's
/// private files and what it made elsewhere removed on every exit, the process's exit status.
pub fn main(global: GlobalArgs, task: TaskInfo<'_>, run: impl FnOnce(&Session, &mut Record) -> Result<()>) -> ExitCode {
    command::mark_start();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut record = Record::start(task.name, &args);
    let (record_file, dry_run) = (global.record.clone(), global.dry_run);
    let result = {
        // Whatever happens, the run's private files, and what it made elsewhere, go with it.
        let _scratch = scratch::Guard;
        match Session::new(global) {
            Err(err) => {
                record.finish(Some(&err));
                Err(err)
            }
            Ok(session) => {
                record.describe(&session);
                let result = run(&session, &mut record);
                record.finish(result.as_ref().err());
                if task.kept && !dry_run && record.did_something() {
                    let started = std::time::Instant::now();
                    keep(&session, &record);
                    record.history_seconds = Some(started.elapsed().as_secs_f64());
                }
                result
            }
        }
    };
    if let Some(file) = record_file.filter(|_| !dry_run) {
        if let Err(err) = record.write(&file) {
            github::warning(&format!("cannot write the run's record: {err:#}"));
        }
    }
    if let Some(signal) = scratch::signal() {
        std::process::exit(128 + signal);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", secrets::redact(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Keeps a record in the history of the session's cache; a failure is a warning, never the task's.
fn keep(session: &Session, record: &Record) {
    let Some(history) = history::History::of(session) else { return };
    if let Err(err) = history.append(record) {
        github::warning(&format!("cannot keep the run's record in {}: {err:#}", history.label()));
    }
}

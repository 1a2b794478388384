//! How a workflow carries the history where no file can be stored in the cache (Cachix): in the
//! GitHub Actions cache. Each job whose tasks keep records saves them when it ends, whatever
//! happened, under a key of its run and leg; the workflow's last job restores the newest history
//! each workflow saved (their union: neither workflow's records are lost to the other's) and
//! every leg's records of this run, keeps the run's pipeline (`cargo xtask history`), and on a
//! push to the default branch saves the whole as the newest history. A pull request reads; only
//! the default branch appends.

use super::{
    graph::{Condition, Role, Step, Uses, Value},
    legs,
    pins::{CACHE_RESTORE, CACHE_SAVE},
    CI, WARMING,
};
use crate::{
    config::{Backend, Config},
    history::{DIR, LOCAL},
};

/// Whether the workflows carry the history (the cache cannot hold it).
pub(crate) fn carried(config: &Config) -> bool {
    config.backend == Backend::Cachix
}

fn uses(role: Role, action: super::pins::Pin, with: Vec<(&'static str, Value)>, condition: Option<Condition>) -> Step {
    Step::Uses(Uses { role, action, with, comment: Vec::new(), disabled: false, id: None, condition })
}

/// The cache key of one leg's records in this run (`leg`: its place in the expanded matrix, or
/// the expression that gives it).
fn records_key(job: &str, leg: &str) -> String {
    format!("xtask-records-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}-{job}-{leg}")
}

/// The key prefix of a workflow's histories.
fn history_prefix(workflow: &str) -> String {
    let name = workflow.rsplit('/').next().unwrap_or(workflow).trim_end_matches(".yml");
    format!("xtask-history-{name}-")
}

/// The records a job's tasks keep in this run: theirs alone, not a history restored beside them
/// (a record's file names its run: `<ms>-<task>-r<run>-<attempt>-<pid>.json`).
fn this_runs_records() -> Value {
    Value::Lit(format!("{LOCAL}/{DIR}/*-r${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}-*"))
}

/// A job's last step: the records its tasks kept, saved whatever happened.
pub(crate) fn save_records(config: &Config, job: &'static str) -> Vec<Step> {
    if !carried(config) {
        return Vec::new();
    }
    let with = vec![("path", this_runs_records()), ("key", Value::Lit(records_key(job, "${{ strategy.job-index }}")))];
    vec![uses(Role::RecordsSave, CACHE_SAVE, with, Some(Condition::Always))]
}

/// A workflow's last job, before its task: the newest history of each workflow, then the records
/// of every leg of `jobs` in this run that saves them.
pub(crate) fn gather(config: &Config, jobs: &[&super::graph::Job]) -> Vec<Step> {
    if !carried(config) {
        return Vec::new();
    }
    let mut steps: Vec<Step> = [CI, WARMING].into_iter().map(|w| restore(w, None)).collect();
    let saves = |job: &&&super::graph::Job| {
        job.steps.iter().any(|s| matches!(s, Step::Uses(Uses { role: Role::RecordsSave, .. })))
    };
    for job in jobs.iter().filter(saves) {
        for (i, _) in legs::legs(job).iter().enumerate() {
            let with = vec![("path", this_runs_records()), ("key", Value::Lit(records_key(job.id, &i.to_string())))];
            steps.push(uses(Role::RecordsRestore, CACHE_RESTORE, with, None));
        }
    }
    steps
}

/// The newest history `workflow` saved, restored into the history's directory.
fn restore(workflow: &str, condition: Option<Condition>) -> Step {
    let prefix = history_prefix(workflow);
    let with = vec![
        ("path", Value::Lit(LOCAL.to_owned())),
        ("key", Value::Lit(format!("{prefix}${{{{ github.run_id }}}}"))),
        ("restore-keys", Value::Lit(prefix)),
    ];
    uses(Role::HistoryRestore, CACHE_RESTORE, with, condition)
}

/// Before a job's build tasks: the newest history of the main pipeline, which each miss is
/// explained against (and whose passing smokes prove a smoke needless, for `prebuild --prove`).
pub(crate) fn restore_newest(config: &Config) -> Vec<Step> {
    match carried(config) {
        true => vec![restore(CI, None)],
        false => Vec::new(),
    }
}

/// A workflow's last step: on a push to the default branch, the history saved as the newest.
pub fn keep(config: &Config, workflow: &str) -> Vec<Step> {
    if !carried(config) {
        return Vec::new();
    }
    let with = vec![
        ("path", Value::Lit(LOCAL.to_owned())),
        (
            "key",
            Value::Lit(format!("{}${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}", history_prefix(workflow))),
        ),
    ];
    vec![uses(Role::HistorySave, CACHE_SAVE, with, Some(Condition::AlwaysOnDefaultBranchPush))]
}

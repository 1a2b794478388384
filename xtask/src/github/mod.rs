//! GitHub Actions' workflow commands and files (`$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`), and its API.

pub mod actions_cache;
pub mod names;

use std::{env, fs::OpenOptions, io::Write, path::PathBuf};

use anyhow::{Context, Result};

/// True under GitHub Actions (`GITHUB_ACTIONS=true`).
pub(crate) fn is_actions() -> bool {
    env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Whether this run is a pull request from a fork (GitHub gives it no secrets), from `$GITHUB_EVENT_PATH`.
pub(crate) fn is_fork_pull_request() -> bool {
    if !is_actions() || !env::var("GITHUB_EVENT_NAME").is_ok_and(|e| e.starts_with("pull_request")) {
        return false;
    }
    let Some(path) = env::var_os("GITHUB_EVENT_PATH") else { return false };
    let event = crate::files::read_bounded(std::path::Path::new(&path), 16 << 20).ok();
    let event = event.and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    event.is_some_and(|event| event["pull_request"]["head"]["repo"]["fork"] == true)
}

/// Asks the runner to mask a secret in the log, from here on.
pub fn mask(secret: &str) {
    command(&format!("add-mask::{secret}"));
}

pub(crate) fn group_start(title: &str) {
    command(&format!("group::{title}"));
}

pub(crate) fn group_end() {
    command("endgroup::");
}

/// A workflow command (`::NAME::VALUE`), under GitHub Actions.
fn command(text: &str) {
    if is_actions() {
        eprintln!("::{text}");
    }
}

/// Says a notice: an annotation on GitHub Actions, `note:` on stderr elsewhere (redacted either way).
pub fn notice(message: &str) {
    annotate("notice", "note", message);
}

/// Says a warning: an annotation on GitHub Actions, `warning:` on stderr elsewhere (redacted either way).
pub fn warning(message: &str) {
    annotate("warning", "warning", message);
}

/// An annotation of a `level` (one message, its lines kept) on GitHub Actions, `prefix: ` elsewhere.
fn annotate(level: &str, prefix: &str, message: &str) {
    let message = crate::secrets::redact(message);
    match is_actions() {
        true => eprintln!("::{level}::{}", message.replace('\n', "%0A")),
        false => eprintln!("{prefix}: {message}"),
    }
}

/// Appends `name=value` lines to `$GITHUB_OUTPUT`.
pub(crate) fn set_outputs<N: AsRef<str>>(outputs: &[(N, String)]) -> Result<()> {
    let lines: String = outputs.iter().map(|(name, value)| format!("{}={value}\n", name.as_ref())).collect();
    append("GITHUB_OUTPUT", &lines)
}

/// Appends markdown to `$GITHUB_STEP_SUMMARY`, when it is set.
pub(crate) fn append_summary(markdown: &str) -> Result<()> {
    match env::var_os("GITHUB_STEP_SUMMARY") {
        Some(_) => append("GITHUB_STEP_SUMMARY", &crate::secrets::redact(markdown)),
        None => Ok(()),
    }
}

fn append(var: &str, text: &str) -> Result<()> {
    let path = env::var_os(var).map(PathBuf::from).with_context(|| {
        format!("${var} is not set: GitHub Actions sets it; outside CI, drop the option that writes it")
    })?;
    let file = OpenOptions::new().create(true).append(true).open(&path);
    let mut file = file.with_context(|| format!("cannot open ${var} ({})", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write ${var} ({})", path.display()))
}

/// Each needed job's result (`$NEEDS`: `${{ toJSON(needs) }}`), in GitHub's order; `None` without it.
pub fn needs() -> Result<Option<Vec<(String, String)>>> {
    use names::env::NEEDS;
    let Ok(needs) = env::var(NEEDS) else { return Ok(None) };
    let needs: serde_json::Value = serde_json::from_str(&needs)
        .with_context(|| format!("${NEEDS} is not JSON: pass `${{{{ toJSON(needs) }}}}`"))?;
    let jobs = needs.as_object().with_context(|| format!("${NEEDS} is not an object of jobs"))?;
    let results = jobs.iter().map(|(job, info)| (job.clone(), info["result"].as_str().unwrap_or("unknown").to_owned()));
    Ok(Some(results.collect()))
}

//! `cargo xtask summary`: the cache-warming workflow's last job. Reads the results of the jobs it
//! needs (`NEEDS: ${{ toJSON(needs) }}`), writes them to the step summary, and fails when one failed.

use std::fmt::Write as _;

use anyhow::{ensure, Context, Result};

use crate::{
    github::{self, names::env::NEEDS, names::output::CACHE_KEY},
    record::Record,
    session::Session,
};

/// Summarize the results of a workflow's jobs ($NEEDS: `toJSON(needs)`) in the step summary.
#[derive(clap::Args, Debug)]
pub struct Summary {}

impl Summary {
    /// Writes the results of the jobs in `$NEEDS` to the step summary; fails when one failed.
    pub fn run(&self, session: &Session, _record: &mut Record) -> Result<()> {
        let jobs = github::needs()?
            .with_context(|| format!("${NEEDS} is not set: the workflow passes `toJSON(needs)` in it"))?;
        let key = session.deps_key()?;

        let mut md = format!(
            "### Cache warming\n\n| | |\n|---|---|\n| {CACHE_KEY} | `{key}` |\n| cache | `{}` |\n\n| job | result |\n|---|---|\n",
            session.config.name
        );
        for (job, result) in &jobs {
            let _ = writeln!(md, "| {job} | {result} |");
            eprintln!("{job}: {result}");
        }
        if session.dry_run {
            print!("# would append to $GITHUB_STEP_SUMMARY:\n{md}");
        } else {
            github::append_summary(&md)?;
        }
        let failed: Vec<&str> = jobs
            .iter()
            .filter(|(_, result)| matches!(result.as_str(), "failure" | "cancelled"))
            .map(|(job, _)| job.as_str())
            .collect();
        ensure!(failed.is_empty(), "these jobs did not succeed: {} (see their logs)", failed.join(", "));
        Ok(())
    }
}

//! `cargo xtask summary`: the cache-warming workflow's last job. Reads the results of the jobs it
//! needs (`NEEDS: ${{ toJSON(needs) }}`), writes them to the step summary, and fails when one failed.

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::{cache_key, github, Ctx};

pub fn run(ctx: &Ctx) -> Result<()> {
    let needs = std::env::var("NEEDS").context("$NEEDS is not set: the workflow passes `toJSON(needs)` in it")?;
    let needs: Value = serde_json::from_str(&needs).context("$NEEDS is not JSON: pass `${{ toJSON(needs) }}`")?;
    let jobs = needs.as_object().context("$NEEDS is not an object of jobs")?;
    let key = cache_key::deps_key(&ctx.root, &ctx.config)?;

    let mut md = format!("### Cache warming\n\n| | |\n|---|---|\n| cache-key | `{key}` |\n| cache | `{}` |\n\n| job | result |\n|---|---|\n", ctx.config.name);
    let mut failed = Vec::new();
    for (job, info) in jobs {
        let result = info["result"].as_str().unwrap_or("unknown");
        md.push_str(&format!("| {job} | {result} |\n"));
        eprintln!("{job}: {result}");
        if matches!(result, "failure" | "cancelled") {
            failed.push(job.as_str());
        }
    }
    if ctx.dry_run {
        print!("# would append to $GITHUB_STEP_SUMMARY:\n{md}");
    } else {
        github::append_summary(&md)?;
    }
    if !failed.is_empty() {
        bail!("these jobs did not succeed: {} (see their logs)", failed.join(", "));
    }
    Ok(())
}

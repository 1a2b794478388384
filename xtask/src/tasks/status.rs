//! `cargo xtask status [--json]`: what a fresh runner would fetch from the cache and build, for
//! each target of the warm set ([`crate::fresh_runner`]). One evaluation; builds nothing, writes
//! nothing.

use anyhow::Result;

use crate::{layers, pipeline, session::Session};

#[derive(clap::Args, Debug)]
pub struct Status {
    /// Print JSON: `{"key", "cache", "targets": [...], "paths", "cached", "hit_rate", "deps_hit_rate"}`.
    #[arg(long)]
    json: bool,
}

impl Status {
    pub fn run(&self, session: &Session) -> Result<()> {
        let key = session.deps_key()?.to_string();
        let plan = pipeline::status_plan(session, layers::warm_set(session)?)?;
        let (_, view) = pipeline::execute(session, plan, &Vec::new())?;
        let Some(view) = view else { return Ok(()) };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&view.json(&key, &session.cache.label()))?);
        } else {
            println!("# cargo xtask status: {key} ({})\n\n{}", session.cache.label(), view.markdown());
        }
        Ok(())
    }
}

//! `cargo xtask status [--json]`: what a fresh runner would fetch from the cache and build, for
//! each target of the warm set ([`crate::fresh_runner`]), from the run's record. One evaluation;
//! builds nothing, writes nothing.

use anyhow::Result;

use crate::json::Value;

use crate::{
    layers, pipeline,
    record::{json::Json, render, Record},
    session::Session,
};

#[derive(clap::Args, Debug)]
pub struct Status {
    /// Print JSON: the record's rates (`paths`, `cached`, `hit_rate`, `byte_hit_rate`,
    /// `deps_hit_rate`, …) with `key`, `cache` and each target's view (`targets`).
    #[arg(long)]
    json: bool,
}

impl Status {
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let key = session.deps_key()?.to_string();
        let plan = pipeline::status_plan(session, layers::warm_set(session)?)?;
        pipeline::execute(session, plan, &Vec::new(), record)?;
        let Some(rates) = &record.rates else { return Ok(()) };
        if self.json {
            let mut json = rates.to_json();
            let targets = record.targets.iter().map(|t| {
                let mut view = t.before.as_ref().map(Json::to_json).unwrap_or_default();
                view.insert("name", t.name.as_str().into());
                view.insert("attr", t.attr.as_str().into());
                view
            });
            json.insert("targets", Value::Array(targets.collect()));
            json.insert("key", key.into());
            json.insert("cache", session.cache.label().into());
            println!("{}", json.to_pretty());
        } else {
            let table = render::views(&record.targets, Some(rates), None);
            println!("# cargo xtask status: {key} ({}){table}", session.cache.label());
        }
        Ok(())
    }
}

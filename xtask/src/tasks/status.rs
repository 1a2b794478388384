//! `cargo xtask status [--json] [--why]`: what a fresh runner would fetch from the cache and
//! build, for each target of the warm set ([`crate::pipeline::fresh_runner`]), from the run's
//! record; with `--why`, the cause of each miss against the history ([`crate::explain`]). One
//! evaluation; builds nothing, writes nothing.

use anyhow::Result;

use serde_json::{json, Value};

use crate::{
    layers, pipeline,
    record::{render, Record},
    session::Session,
};

/// What a fresh runner would fetch from the cache and build, per target, with hit rates.
#[derive(clap::Args, Debug)]
pub struct Status {
    /// Print JSON: the record's rates (`paths`, `cached`, `hit_rate`, `byte_hit_rate`,
    /// `deps_hit_rate`, …) with `key`, `cache` and each target's view (`targets`).
    #[arg(long)]
    json: bool,
    /// Name why a fresh runner would build each target it would build: what changed since the
    /// newest run in the history that had it cached, or what the cache lost.
    #[arg(long)]
    why: bool,
}

impl Status {
    /// Asks what a fresh runner would do (one evaluation, nothing built) and prints it as a table or JSON.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let key = session.deps_key()?.to_string();
        let plan = pipeline::status_plan(session, layers::warm_set(session)?, self.why)?;
        pipeline::execute(session, plan, &Vec::new(), record)?;
        let Some(rates) = &record.rates else { return Ok(()) };
        if self.json {
            let mut json = serde_json::to_value(rates)?;
            let targets = record.targets.iter().map(|t| {
                let mut view = serde_json::to_value(&t.before).unwrap_or_default();
                if let Value::Object(view) = &mut view {
                    view.extend([("name".into(), json!(t.name)), ("attr".into(), json!(t.attr))]);
                    if let Some(why) = &t.why {
                        view.insert("why".into(), json!(why));
                    }
                }
                view
            });
            json["targets"] = targets.collect();
            json["key"] = json!(key);
            json["cache"] = json!(session.cache.label());
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            let table = render::views(&record.targets, Some(rates), None);
            println!("# cargo xtask status: {key} ({}){table}", session.cache.label());
            for target in &record.targets {
                let Some(why) = &target.why else { continue };
                let since = why.since.as_deref().map_or(String::new(), |id| format!(" (since run {id})"));
                println!("why {} is built{since}:", target.name);
                for cause in &why.causes {
                    println!("  - {}", cause.said());
                }
            }
        }
        Ok(())
    }
}

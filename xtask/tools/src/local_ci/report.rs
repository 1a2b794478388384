//! What `cargo xtask ci` says: each job as it ends (result, time, the stand-ins, the summary it
//! wrote), the pipeline's table with its time as GitHub's parallel runners would see it (the
//! critical path through `needs`) beside the sum of its jobs, from its record, and the plan of a
//! dry run.

use std::{collections::BTreeMap, fmt::Write as _};

use serde_json::json;

use super::{
    job::Ran,
    plan::{self, Context, Outcome},
};
use crate::workflows::render;
use xtask::record::Pipeline;
use xtask::workflows::graph::{Step, Value, Workflow};
use xtask::workflows::legs;

/// Prints a job as it ends: its result and time, the stand-ins and fates of its steps, its summary.
pub fn print_job(ran: &Ran) {
    let job = &ran.job;
    let mut text = format!("--- {}: {}", job.name, describe(&ran.outcome));
    if !matches!(ran.outcome, Outcome::Skipped(_)) {
        let _ = write!(text, " in {:.1} s", job.seconds);
        if let Some(start) = job.xtask_start_seconds {
            let _ = write!(text, " (cargo xtask started in {start:.1} s)");
        }
    }
    for line in &ran.log {
        let _ = write!(text, "\n    {line}");
    }
    for task in &job.tasks {
        for (target, why) in &task.why {
            let causes: Vec<String> = why.causes.iter().map(|c| c.said()).collect();
            let _ = write!(text, "\n    why {} builds {target}: {}", task.task, causes.join("; "));
        }
    }
    if !ran.summary.trim().is_empty() {
        let _ = write!(text, "\n    its summary:\n{}", indent(ran.summary.trim_end()));
    }
    eprintln!("{text}");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success => "success".into(),
        Outcome::Failure(why) => format!("FAILED: {why}"),
        Outcome::Skipped(why) => format!("skipped: {why}"),
    }
}

/// The pipeline's table: each job's result, time and `cargo xtask` start, then its time on
/// parallel runners beside the sum of its jobs.
pub fn table(pipeline: &Pipeline, ctx_line: &str) -> String {
    let mut t = format!(
        "\n## {} ({ctx_line})\n\n| job | result | time | cargo xtask start |\n|---|---|---:|---:|\n",
        pipeline.workflow
    );
    for job in &pipeline.jobs {
        let time = if job.result == "skipped" { "-".to_owned() } else { format!("{:.1} s", job.seconds) };
        let start = job.xtask_start_seconds.map_or("-".to_owned(), |s| format!("{s:.1} s"));
        let result = match &job.reason {
            Some(why) => format!("{}: {}", job.result, why.replace('|', "\\|")),
            None => job.result.clone(),
        };
        let _ = writeln!(t, "| {} | {result} | {time} | {start} |", job.name);
    }
    let _ = write!(
        t,
        "\nPipeline: {:.1} s on parallel runners as run here (the critical path through needs), {:.1} s of jobs in all; \
         {:.1} s as GitHub would bill it (each job that runs {:.0} s longer: its runner, checkout, Nix and cache action), \
         {} job level(s) on the critical path.\n",
        pipeline.critical_path_seconds, pipeline.sum_seconds, pipeline.github_seconds, pipeline.setup_seconds, pipeline.levels
    );
    t
}

/// The plan of a dry run: each job of the expanded matrix, in order, whether its condition holds
/// for the event, and each step as it would run (values known only then as placeholders).
pub fn plan(workflow: &Workflow, ctx: &Context) -> (String, serde_json::Value) {
    let mut text = format!("# cargo xtask ci (dry run: nothing is run): {} on {}\n", workflow.file, ctx.event.name());
    let mut legs_json = Vec::new();
    for job in legs::order(workflow).unwrap_or_default() {
        for leg in legs::legs(job) {
            let condition = job.condition.map(|c| plan::holds(c, ctx, &leg));
            let _ = write!(text, "\n# job {} (runs-on {}; needs: {})", leg.name, leg.runner(), job.needs.join(", "));
            if let Some(Err(why)) = &condition {
                let _ = write!(text, ": skipped, {why}");
            }
            text.push('\n');
            let mut steps = Vec::new();
            for step in &job.steps {
                match step {
                    Step::Uses(uses) => {
                        let _ = writeln!(text, "#   stand-in for {}", uses.action.action());
                        steps.push(json!({ "uses": uses.action.action() }));
                    }
                    Step::Xtask(x) => {
                        let env: Vec<String> = x.env.iter().map(|(n, v)| format!("{n}={}", placeholder(v))).collect();
                        let when = x.condition.map(render::condition_yaml);
                        let skip = x
                            .condition
                            .and_then(|c| plan::holds(c, ctx, &leg).err())
                            .map(|w| format!("# skipped ({w}): "));
                        let _ = writeln!(
                            text,
                            "{}{} {}",
                            skip.unwrap_or_default(),
                            env.join(" "),
                            render::run_line(&x.args)
                        );
                        steps.push(json!({ "run": render::run_line(&x.args), "if": when, "id": x.id }));
                    }
                }
            }
            legs_json.push(json!({
                "job": job.id, "name": leg.name, "needs": job.needs, "runs_on": leg.runner(),
                "if": job.condition.map(render::condition_yaml),
                "matrix": leg.values.iter().map(|(a, v)| (a.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
                "matrix_from": job.matrix.as_ref().and_then(|m| m.from.as_ref()).map(render::legs_from),
                "steps": steps,
            }));
        }
    }
    (text, json!({ "workflow": workflow.file, "event": ctx.event.name(), "legs": legs_json }))
}

/// A value as the dry run shows it: literal when known, else its expression.
fn placeholder(value: &Value) -> String {
    match value {
        Value::Lit(s) => s.clone(),
        Value::Secret(name) => format!("<secrets.{name}>"),
        other => format!("<{}>", render::value_yaml(other).trim_start_matches("${{ ").trim_end_matches(" }}")),
    }
}

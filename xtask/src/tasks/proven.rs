//! `cargo xtask proven [--force]`: the first job's answer, for every leg of each later job that
//! a [`Proof`] covers, whether it must run. A leg is proven needless when a fresh runner would
//! build nothing of it: every output and its whole closure fetchable from the cache, whole and
//! signed (the fresh runner's view, one evaluation for every leg); smoke, when its images are,
//! and the history holds a passing smoke of these exact store paths. On a push to the default
//! branch, a container leg is proven only when the history also holds the manifest a push of this
//! exact image made (by digest), which publish copies under this commit's tag ([`COPIES`]). Each
//! answer is a [`Decision`] in the record, a row of the summary, and the job's output named as
//! the job is: `skip`, or the legs that run (`{"include": [...]}`, `run` without a matrix).

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::{
    cli::Force,
    command::NoSlots,
    github::{self, names::output::COPIES},
    history::History,
    keys::DepsKey,
    layers::{self, Target},
    nix::{self, Attr},
    pipeline,
    record::{render::cell, Decision, Record, Why},
    session::{Platform, Session},
    workflows::{
        self,
        graph::{Proof, SKIP},
        legs::{self, Leg},
        runner_platform,
    },
};

/// Which legs of the later jobs run: those the cache (and the history) do not prove needless.
#[derive(clap::Args, Debug)]
pub struct Proven {
    #[command(flatten)]
    force: Force,
}

impl Proven {
    /// Asks what a fresh runner would build of every leg's targets, then decides each leg.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let graphs = workflows::graphs(&session.config)?;
        let workflow = graphs.iter().find(|w| w.file == workflows::CI).expect("ci.yml is always generated");
        let key = session.deps_key()?;
        let mut targets: Vec<Target> = Vec::new();
        let mut legs: Vec<(Leg<'_>, Proof, Vec<usize>)> = Vec::new();
        for job in &workflow.jobs {
            let Some(proof) = job.proof else { continue };
            for leg in legs::legs(job) {
                let mut wanted = Vec::new();
                for target in leg_targets(session, key, proof, &leg)? {
                    let i = targets.iter().position(|t| t.attr == target.attr).unwrap_or_else(|| {
                        targets.push(target);
                        targets.len() - 1
                    });
                    wanted.push(i);
                }
                legs.push((leg, proof, wanted));
            }
        }
        // A leg whose attribute the flake lacks (an arch it does not build) runs, and fails there.
        let attrs: Vec<Attr> = targets.iter().map(|t| t.attr.clone()).collect();
        let has = nix::has_attrs(&session.flake, &attrs, &session.net);
        let present: Vec<bool> = match session.dry_run {
            true => {
                println!("{}", has.render(None));
                vec![true; targets.len()]
            }
            false => {
                serde_json::from_str(&has.run_quietly(&NoSlots)?).context("`nix eval` of the flake's attributes")?
            }
        };
        let mut at = Vec::new();
        let mut evaluated = Vec::new();
        for (target, present) in targets.into_iter().zip(present) {
            at.push(present.then_some(evaluated.len()));
            evaluated.extend(present.then_some(target));
        }
        pipeline::execute(session, pipeline::status_plan(session, evaluated)?, &Vec::new(), record)?;
        if session.dry_run {
            return Ok(());
        }
        for (_, _, wanted) in &mut legs {
            *wanted = wanted.iter().map(|i| at[*i].unwrap_or(usize::MAX)).collect();
        }
        let push = record.github.as_ref().is_some_and(|g| g.event == "push");
        let history = History::of(session).map(|h| h.read().0).unwrap_or_default();
        for (leg, proof, wanted) in &legs {
            let decision = decide(record, leg, *proof, wanted, &history, push, self.force.force);
            record.proven.push(decision);
        }
        let copies: Vec<serde_json::Value> = record
            .proven
            .iter()
            .filter_map(|d| Some(serde_json::json!({ "image": d.matrix.get("image")?, "arch": d.matrix.get("arch")?, "from": d.copy.as_ref()? })))
            .collect();
        let mut outputs = vec![(COPIES, serde_json::Value::from(copies).to_string())];
        for job in workflow.jobs.iter().filter(|j| j.proof.is_some()) {
            let include: Vec<&BTreeMap<String, String>> =
                record.proven.iter().filter(|d| d.runs && d.job == job.id).map(|d| &d.matrix).collect();
            let value = match (include.is_empty(), job.matrix.is_some()) {
                (true, _) => SKIP.to_owned(),
                (false, false) => "run".to_owned(),
                (false, true) => serde_json::json!({ "include": include }).to_string(),
            };
            outputs.push((job.id, value));
        }
        for decision in &record.proven {
            let verdict = if decision.runs { "runs" } else { "skipped" };
            eprintln!("{}: {verdict}: {}", decision.leg, decision.said());
        }
        github::append_summary(&summary(&record.proven))?;
        if github::is_actions() && std::env::var_os("GITHUB_OUTPUT").is_some() {
            github::set_outputs(&outputs)?;
        }
        Ok(())
    }
}

/// What a leg builds.
fn leg_targets(session: &Session, key: &DepsKey, proof: Proof, leg: &Leg<'_>) -> Result<Vec<Target>> {
    let config = &session.config;
    let value = |axis: &str| leg.value(axis).unwrap_or_default().to_owned();
    Ok(match proof {
        Proof::Check => {
            let os = value("os");
            let (kind, arch) = runner_platform(&os).unwrap_or(("linux", "x86_64"));
            let system = format!("{arch}-{kind}");
            vec![layers::check(config, key, &system, &value("test-type"), &os, &config.rust)?]
        }
        Proof::Image => vec![layers::image(config, key, &Platform::of_arch(&value("arch")), &value("image"))?],
        Proof::Smoke => layers::images(session, &[], &Platform::of_arch(leg.arch().unwrap_or("x86_64")))?,
    })
}

/// The sorted output paths of a record's images (of `only` these targets, when given).
fn image_paths(record: &Record, only: Option<&[usize]>) -> Vec<String> {
    let mut paths: Vec<String> = record
        .targets
        .iter()
        .enumerate()
        .filter(|(i, t)| t.layer == "image" && only.is_none_or(|o| o.contains(i)))
        .flat_map(|(_, t)| t.outputs.iter().cloned())
        .collect();
    paths.sort();
    paths
}

/// One leg's answer, from the fresh runner's view of its targets in `record`.
fn decide(
    record: &Record,
    leg: &Leg<'_>,
    proof: Proof,
    wanted: &[usize],
    history: &[Record],
    push: bool,
    force: bool,
) -> Decision {
    let views: Vec<_> = wanted.iter().filter_map(|i| record.targets.get(*i)).collect();
    let sum = |f: &dyn Fn(&crate::record::View) -> usize| -> u64 {
        views.iter().filter_map(|t| t.before.as_ref()).map(|v| f(v) as u64).sum()
    };
    let (paths, to_build, broken) = (sum(&|v| v.paths as usize), sum(&|v| v.to_build.len()), sum(&|v| v.broken.len()));
    let images = image_paths(record, Some(wanted));
    let passed = |r: &&Record| r.task == "smoke" && r.ok() && !images.is_empty() && image_paths(r, None) == images;
    let smoke = history.iter().find(passed).map(|r| r.id.clone());
    // The newest manifest a push of this very image made (its arch's, of the same store path).
    let value = |axis: &str| leg.value(axis).unwrap_or_default();
    let copy = history
        .iter()
        .rev()
        .filter(|r| r.ok())
        .flat_map(|r| &r.published)
        .find(|p| p.image == value("image") && p.arch == value("arch") && images.first() == Some(&p.path))
        .map(|p| format!("{}@{}", p.repository, p.digest));
    let why = match () {
        _ if force => Why::Forced,
        _ if views.len() < wanted.len() => Why::Missing,
        _ if views.iter().any(|t| t.before.is_none()) => Why::Builds,
        _ if broken > 0 => Why::Broken,
        _ if to_build > 0 => Why::Builds,
        _ if proof == Proof::Image && push && copy.is_none() => Why::Publishes,
        _ if proof == Proof::Smoke && smoke.is_none() => Why::NotSmoked,
        _ => Why::Proven,
    };
    Decision {
        job: leg.job.id.to_owned(),
        leg: leg.name.clone(),
        matrix: leg.values.iter().map(|(a, v)| (a.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        runs: why != Why::Proven,
        why,
        key: views.iter().map(|t| t.key.as_str()).collect::<Vec<_>>().join(", "),
        paths,
        to_build,
        broken,
        smoke: smoke.filter(|_| proof == Proof::Smoke),
        copy: copy.filter(|_| proof == Proof::Image && push && why == Why::Proven),
    }
}

/// The summary's table: each leg, whether it runs, and why.
fn summary(decisions: &[Decision]) -> String {
    let mut md = String::from("\n### Which jobs run\n\n| Job | Runs | Why |\n|---|---|---|\n");
    for d in decisions {
        let runs = if d.runs { "yes" } else { "no: skipped" };
        md.push_str(&format!("| {} | {runs} | {} |\n", cell(&d.leg), cell(&d.said())));
    }
    md
}

//! The first job's answer (`cargo xtask prebuild --prove`), for each leg of the later jobs a
//! [`Proof`] covers, whether it must run: not when a fresh runner would build nothing of it (the
//! fresh runner's view of every leg's targets, asked in the prebuild's one evaluation); smoke,
//! when besides the history holds a passing smoke of these exact images; on a push, an image leg
//! when besides the history holds the manifest a push of this image made, which publish tags by
//! digest ([`COPIES`]). Each answer is a [`Decision`] in the record, a row of the summary, and
//! the job's output named as the job.

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::{
    command::NoSlots,
    github::{self, names::output::COPIES},
    history::History,
    images::{names::is_loopback, registry::Registry},
    keys::DepsKey,
    layers::{self, Target},
    nix::{self, Attr},
    record::{render::cell, Copy, Decision, Published, Record, Why},
    session::{Platform, Session},
    workflows::{
        graph::{Proof, Workflow, SKIP},
        legs::{self, Leg},
        runner_platform,
    },
};

/// Every leg a [`Proof`] covers, with the attributes of its targets (`None`: its runner's
/// platform is not known, or the flake lacks one of them: it runs).
pub(crate) struct Legs<'w> {
    workflow: &'w Workflow,
    legs: Vec<(Leg<'w>, Proof, Option<Vec<String>>)>,
    /// What the legs build, each once, of the attributes the flake has: the evaluation asks a
    /// fresh runner about them beside the task's own targets.
    pub targets: Vec<Target>,
}

impl<'w> Legs<'w> {
    /// The legs of `workflow`'s proven jobs and their targets; which of them the flake has is
    /// asked of it (its outputs' names only: no derivation is evaluated).
    pub(crate) fn of(session: &Session, workflow: &'w Workflow) -> Result<Legs<'w>> {
        let key = session.deps_key()?;
        let mut targets: Vec<Target> = Vec::new();
        let mut legs = Vec::new();
        for job in &workflow.jobs {
            let Some(proof) = job.proof else { continue };
            for leg in legs::legs(job) {
                let wanted = leg_targets(session, key, proof, &leg)?;
                let attrs = wanted.as_ref().map(|w| w.iter().map(|t| t.attr.to_string()).collect());
                for target in wanted.into_iter().flatten() {
                    if !targets.iter().any(|t| t.attr == target.attr) {
                        targets.push(target);
                    }
                }
                legs.push((leg, proof, attrs));
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
            false => serde_json::from_str(&has.run_quietly(&NoSlots)?).context("`nix eval` of the flake's outputs")?,
        };
        let targets = targets.into_iter().zip(present).filter_map(|(t, present)| present.then_some(t)).collect();
        Ok(Legs { workflow, legs, targets })
    }

    /// Each leg's answer, from the fresh runner's view of the targets in `record`: into the
    /// record, the summary and the job's outputs. `force` runs every leg; `registry` is where a
    /// push publishes the images (empty: every image leg of a push runs).
    pub(crate) fn decide(&self, session: &Session, record: &mut Record, force: bool, registry: &str) -> Result<()> {
        let run = record.github.clone().unwrap_or_default();
        let push = run.event == "push";
        let registry = (push && !registry.is_empty()).then(|| Registry::new(registry).name);
        // What a record of the history proves: a passing smoke run by this very xtask; a manifest
        // a push of this repository made, to this registry.
        let history = History::of(session).map(|h| h.read().0).unwrap_or_default();
        let pushed =
            |r: &&Record| r.github.as_ref().is_some_and(|g| g.event == "push" && g.repository == run.repository);
        let this_xtask = |r: &&Record| r.xtask.is_some() && r.xtask.as_deref() == option_env!("XTASK_SOURCE_KEY");
        let grounds = Grounds {
            smokes: history.iter().filter(|r| r.task == "smoke" && r.ok()).filter(this_xtask).collect(),
            published: history.iter().filter(|r| r.ok()).filter(pushed).flat_map(|r| &r.published).collect(),
            force,
            push,
            registry,
        };
        for (leg, proof, wanted) in &self.legs {
            let decision = grounds.decide(record, leg, *proof, wanted.as_deref());
            record.proven.push(decision);
        }
        let copies: Vec<Copy> = record.proven.iter().filter_map(Copy::of).collect();
        let mut outputs = vec![(COPIES, serde_json::to_string(&copies)?)];
        for job in self.workflow.jobs.iter().filter(|j| j.proof.is_some()) {
            let include: Vec<&BTreeMap<String, String>> =
                record.proven.iter().filter(|d| d.runs && d.job == job.id).map(|d| &d.matrix).collect();
            let value = match (include.is_empty(), job.matrix.is_some()) {
                (true, _) => SKIP.to_owned(),
                (false, false) => "run".to_owned(),
                (false, true) => serde_json::json!({ "include": include }).to_string(),
            };
            outputs.push((job.id, value));
        }
        record
            .proven
            .iter()
            .for_each(|d| eprintln!("{}: {}: {}", d.leg, ["skipped", "runs"][d.runs as usize], d.said()));
        github::append_summary(&summary(&record.proven))?;
        if github::is_actions() && std::env::var_os("GITHUB_OUTPUT").is_some() {
            github::set_outputs(&outputs)?;
        }
        Ok(())
    }
}

/// What a leg builds; `None` when its runner's platform is not known (it runs).
fn leg_targets(session: &Session, key: &DepsKey, proof: Proof, leg: &Leg<'_>) -> Result<Option<Vec<Target>>> {
    let config = &session.config;
    let value = |axis: &str| leg.value(axis).unwrap_or_default().to_owned();
    Ok(Some(match proof {
        Proof::Check => {
            let os = value("os");
            let Some((kind, arch)) = runner_platform(&os) else { return Ok(None) };
            vec![layers::check(config, key, &format!("{arch}-{kind}"), &value("test-type"), &os, &config.rust)?]
        }
        Proof::Image => vec![layers::image(config, key, &Platform::of_arch(&value("arch")), &value("image"))?],
        Proof::Smoke => layers::images(session, &[], &Platform::of_arch(leg.arch().unwrap_or("x86_64")))?,
    }))
}

/// The sorted output paths of a record's images (of `only` these attributes, when given).
fn image_paths(record: &Record, only: Option<&[String]>) -> Vec<String> {
    let mut paths: Vec<String> = record
        .targets
        .iter()
        .filter(|t| t.layer == "image" && only.is_none_or(|o| o.contains(&t.attr)))
        .flat_map(|t| t.outputs.iter().cloned())
        .collect();
    paths.sort();
    paths
}

/// What a leg's answer rests on beside the cache: the history's passing smokes of this very xtask
/// and manifests pushed to this registry; `--force`; on a push, where it publishes.
struct Grounds<'h> {
    smokes: Vec<&'h Record>,
    published: Vec<&'h Published>,
    force: bool,
    /// A push: an image leg runs unless a manifest of the registry's is there to copy.
    push: bool,
    /// The registry a push publishes to (`None`: none given, so no manifest to copy either).
    registry: Option<String>,
}

impl Grounds<'_> {
    /// The answer, from the fresh runner's view of the leg's targets (`None`: one is not known).
    fn decide(&self, record: &Record, leg: &Leg<'_>, proof: Proof, wanted: Option<&[String]>) -> Decision {
        let views: Vec<&crate::record::Target> =
            wanted.unwrap_or_default().iter().filter_map(|a| record.targets.iter().find(|t| t.attr == *a)).collect();
        let seen: Vec<&crate::record::View> = views.iter().filter_map(|t| t.before.as_ref()).collect();
        let paths = seen.iter().map(|v| v.paths).sum();
        let to_build = seen.iter().map(|v| v.to_build.len() as u64).sum();
        let broken = seen.iter().map(|v| v.broken.len() as u64).sum();
        let images = wanted.map_or(Vec::new(), |w| image_paths(record, Some(w)));
        let value = |axis: &str| leg.value(axis).unwrap_or_default();
        let smoke = self
            .smokes
            .iter()
            .filter(|_| proof == Proof::Smoke && !images.is_empty())
            .find(|r| image_paths(r, None) == images);
        // The newest manifest a push of this very image made (its arch's, of the same store path).
        let copy = self.registry.as_ref().filter(|_| proof == Proof::Image).and_then(|registry| {
            let repository = format!("{registry}/{}", value("image"));
            // A registry on loopback is this machine's stand-in: one registry, whatever its port.
            let path =
                |r: &str| if is_loopback(r) { r.split_once('/').map(|(_, p)| p.to_owned()) } else { Some(r.into()) };
            let same = |p: &&&Published| {
                path(&p.repository) == path(&repository) && p.arch == value("arch") && images.first() == Some(&p.path)
            };
            self.published.iter().rev().find(same).map(|p| format!("{repository}@{}", p.digest))
        });
        let why = match () {
            _ if self.force => Why::Forced,
            _ if seen.len() < wanted.map_or(1, |w| w.len().max(1)) => Why::Unknown,
            _ if broken > 0 => Why::Broken,
            _ if to_build > 0 => Why::Builds,
            _ if proof == Proof::Image && self.push && copy.is_none() => Why::Publishes,
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
            smoke: smoke.map(|r| r.id.clone()),
            copy: copy.filter(|_| why == Why::Proven),
        }
    }
}

/// The summary's table: each leg, whether it runs, and why.
fn summary(decisions: &[Decision]) -> String {
    let runs = |d: &Decision| ["no: skipped", "yes"][d.runs as usize];
    let rows = decisions.iter().map(|d| format!("| {} | {} | {} |\n", cell(&d.leg), runs(d), cell(&d.said())));
    format!("\n### Which jobs run\n\n| Job | Runs | Why |\n|---|---|---|\n{}", rows.collect::<String>())
}

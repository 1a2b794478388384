//! Why a fresh runner would build a target: each miss of a run compared with the newest earlier
//! run in the history that had the same target (same layer, same attribute) cached, and its
//! causes named, the most specific first ([`Cause`]): the cache version, Cargo.lock's crates (the
//! deps layer), flake.lock's inputs, the workspace files its sources take, the flake's own
//! definition; else the cache lost it (and the gc run that dropped its key), or serves it broken;
//! or no earlier run to compare with, said as such.

mod made_of;

use std::collections::{BTreeMap, BTreeSet};

pub(crate) use self::made_of::{basis, made_of};
use crate::record::{Basis, Cause, Crate, Explanation, FlakeInput, Forgotten, MadeOf, Moved, Record, Target, View};

/// Explains each target of `record` a fresh runner would build (its view before the build),
/// against `history` (oldest first).
pub(crate) fn explain(record: &mut Record, history: &[Record]) {
    let Some(basis) = record.basis.clone() else { return };
    for target in &mut record.targets {
        let Some(view) = target.before.as_ref().filter(|v| !cached(v)) else { continue };
        let broken = view.broken.iter().map(|p| format!("{}: {}", p.path, p.why)).collect::<Vec<_>>();
        target.why = Some(explanation(target, &basis, broken, history));
    }
}

/// What the runs of the `dropped` keys had cached, each derivation once (the newest run's): what
/// `gc` keeps of the records it forgets.
pub(crate) fn forgotten(history: &[Record], dropped: &BTreeSet<String>) -> Vec<Forgotten> {
    let mut seen = BTreeSet::new();
    let runs = history.iter().rev().filter(|r| r.deps_key.as_ref().is_some_and(|k| dropped.contains(k)));
    let targets = runs.flat_map(|r| r.targets.iter().map(move |t| (r, t)));
    targets
        .filter(|(_, t)| [&t.before, &t.after].into_iter().flatten().any(cached))
        .filter_map(|(r, t)| {
            let drv = t.made_of.as_ref()?.drv.clone();
            seen.insert(drv.clone()).then(|| Forgotten {
                record: r.id.clone(),
                layer: t.layer.clone(),
                attr: t.attr.clone(),
                drv,
            })
        })
        .collect()
}

/// Whether a fresh runner would build nothing of a target.
fn cached(view: &View) -> bool {
    view.to_build.is_empty() && view.broken.is_empty()
}

fn explanation(target: &Target, basis: &Basis, broken: Vec<String>, history: &[Record]) -> Explanation {
    let broken = (!broken.is_empty()).then_some(Cause::Broken { problems: broken });
    let Some(now) = target.made_of.as_ref() else {
        return Explanation { since: None, causes: broken.into_iter().chain([Cause::NoEarlierRun]).collect() };
    };
    let had = |t: &Target, drv: Option<&str>| {
        t.layer == target.layer
            && t.attr == target.attr
            && t.made_of.as_ref().is_some_and(|m| drv.is_none_or(|d| m.drv == d))
            && [&t.before, &t.after].into_iter().flatten().any(cached)
    };
    let newest = |drv: Option<&str>| {
        let runs = history.iter().rev().filter(|r| r.basis.is_some());
        runs.into_iter().find_map(|r| r.targets.iter().find(|t| had(t, drv)).map(|t| (r, t)))
    };
    // The cache version of a run, when it was not this run's.
    let version = |run: &Record| {
        let was = run.basis.as_ref().map_or(basis.version, |b| b.version);
        (was != basis.version).then_some(Cause::CacheVersion { from: was, to: basis.version })
    };
    let mut causes = Vec::new();
    // The cache had this very derivation: it lost it (or serves it broken).
    if let Some((run, _)) = newest(Some(&now.drv)) {
        causes.extend(version(run));
        let gc = history.iter().filter(|r| r.started_ms >= run.started_ms).find(|r| {
            r.gc.as_ref().is_some_and(|gc| run.deps_key.as_ref().is_some_and(|k| gc.dropped_keys.contains(k)))
        });
        causes.push(broken.unwrap_or_else(|| Cause::Lost { last: run.id.clone(), gc: gc.map(|r| r.id.clone()) }));
        return Explanation { since: Some(run.id.clone()), causes };
    }
    // A gc forgot the run that had it, with the key it dropped.
    let forgotten = history.iter().rev().find_map(|gc| {
        let forgot = gc.gc.as_ref()?.forgotten.iter();
        forgot
            .into_iter()
            .find(|f| f.layer == target.layer && f.attr == target.attr && f.drv == now.drv)
            .map(|f| (gc, f))
    });
    if let Some((gc, forgot)) = forgotten {
        causes.push(broken.unwrap_or_else(|| Cause::Lost { last: forgot.record.clone(), gc: Some(gc.id.clone()) }));
        return Explanation { since: Some(forgot.record.clone()), causes };
    }
    // Another derivation of it was cached: what changed since.
    let Some((run, then)) = newest(None) else {
        return Explanation { since: None, causes: broken.into_iter().chain([Cause::NoEarlierRun]).collect() };
    };
    let (was, made) = (run.basis.as_ref().expect("filtered"), then.made_of.as_ref().expect("filtered"));
    causes.extend(version(run));
    let sources = changed_sources(was, basis, made, now, &target.layer);
    if sources.is_empty() {
        causes.push(Cause::Derivation { differ: differ(&made.inputs, &now.inputs) });
    }
    causes.extend(sources);
    causes.extend(broken);
    Explanation { since: Some(run.id.clone()), causes }
}

/// The lock files' entries and the files that changed between two runs, for a target of `layer`.
fn changed_sources(was: &Basis, now: &Basis, made: &MadeOf, made_now: &MadeOf, layer: &str) -> Vec<Cause> {
    let mut causes: Vec<Cause> = Vec::new();
    causes.extend(crates_moved(was, now).filter(|_| layer == "deps"));
    causes.extend(inputs_moved(was, now));
    if made.files != made_now.files {
        let (a, b) = (&made.files, &made_now.files);
        let changed = a.iter().filter(|(f, h)| b.get(*f).is_some_and(|n| n != *h)).map(|(f, _)| f.clone()).collect();
        let added = b.keys().filter(|f| !a.contains_key(*f)).cloned().collect();
        let removed = a.keys().filter(|f| !b.contains_key(*f)).cloned().collect();
        causes.push(Cause::Files { changed, added, removed });
    }
    causes
}

/// What moved in the deps key's inputs between two runs: the cache version, Cargo.lock's crates,
/// flake.lock's inputs (a dashboard's key change says them).
pub(crate) fn key_moved(was: &Basis, now: &Basis) -> Vec<Cause> {
    let version = (was.version != now.version).then_some(Cause::CacheVersion { from: was.version, to: now.version });
    version.into_iter().chain(crates_moved(was, now)).chain(inputs_moved(was, now)).collect()
}

/// Cargo.lock's packages added, removed, or moved (name: old versions → new), when any did.
fn crates_moved(was: &Basis, now: &Basis) -> Option<Cause> {
    fn versions(b: &Basis) -> BTreeMap<&str, Vec<&Crate>> {
        let mut by_name: BTreeMap<&str, Vec<&Crate>> = BTreeMap::new();
        for c in &b.crates {
            by_name.entry(&c.name).or_default().push(c);
        }
        by_name
    }
    if was.crates == now.crates {
        return None;
    }
    let (before, after) = (versions(was), versions(now));
    let added = after.keys().filter(|n| !before.contains_key(*n)).map(|n| n.to_string()).collect();
    let removed = before.keys().filter(|n| !after.contains_key(*n)).map(|n| n.to_string()).collect();
    let said = |cs: &[&Crate]| cs.iter().map(|c| c.version.as_str()).collect::<Vec<_>>().join(" ");
    let changed = before
        .iter()
        .filter_map(|(name, old)| {
            let new = after.get(name).filter(|new| *new != old)?;
            // The same versions from another source (a checksum that moved) say so.
            let from = match said(old) == said(new) {
                true => format!("{} (another source)", said(old)),
                false => said(old),
            };
            Some(Moved { name: name.to_string(), from, to: said(new) })
        })
        .collect();
    Some(Cause::Crates { added, removed, changed })
}

/// flake.lock's inputs whose revision or hash changed, or that came or went, when any did.
fn inputs_moved(was: &Basis, now: &Basis) -> Option<Cause> {
    if was.inputs == now.inputs {
        return None;
    }
    let short = |i: Option<&FlakeInput>| {
        i.map_or("-".to_owned(), |i| {
            let rev = i.rev.as_deref().map(|r| r.chars().take(7).collect::<String>());
            rev.or_else(|| i.nar_hash.clone()).unwrap_or_else(|| "?".to_owned())
        })
    };
    let names: BTreeSet<&str> = was.inputs.iter().chain(&now.inputs).map(|i| i.name.as_str()).collect();
    let changed = names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (was.inputs.iter().find(|i| i.name == name), now.inputs.iter().find(|i| i.name == name));
            (a != b).then(|| Moved { name: name.to_owned(), from: short(a), to: short(b) })
        })
        .collect();
    Some(Cause::FlakeInputs { changed })
}

/// The names whose hash differs between two sets of inputs, or that came or went.
fn differ(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names.into_iter().filter(|n| a.get(*n) != b.get(*n)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basis(crates: &[(&str, &str)], inputs: &[(&str, &str)]) -> Basis {
        Basis {
            version: 1,
            toolchain: "1.84.0".into(),
            crates: crates
                .iter()
                .map(|(n, v)| Crate { name: (*n).into(), version: (*v).into(), source: None })
                .collect(),
            inputs: inputs
                .iter()
                .map(|(n, r)| FlakeInput { name: (*n).into(), rev: Some((*r).into()), nar_hash: None })
                .collect(),
        }
    }

    #[test]
    fn a_key_change_names_the_crates_and_inputs_that_moved() {
        let was = basis(&[("serde", "1.0.1"), ("tokio", "1.47.1"), ("old", "0.1.0")], &[("nixpkgs", "0147c2f1d5")]);
        let now = basis(&[("serde", "1.0.1"), ("tokio", "1.48.0"), ("new", "2.0.0")], &[("nixpkgs", "abcdef0123")]);
        let moved = |n: &str, f: &str, t: &str| Moved { name: n.into(), from: f.into(), to: t.into() };
        assert_eq!(
            key_moved(&was, &now),
            [
                Cause::Crates {
                    added: vec!["new".into()],
                    removed: vec!["old".into()],
                    changed: vec![moved("tokio", "1.47.1", "1.48.0")]
                },
                Cause::FlakeInputs { changed: vec![moved("nixpkgs", "0147c2f", "abcdef0")] },
            ]
        );
        assert_eq!(key_moved(&was, &was), []);
    }
}

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

/// Explains each of the first `counted` targets of `record` (those it builds, and the deps layer
/// beside them) a fresh runner would build (its view before the build), against `history`
/// (oldest first; an error when it could not be read).
pub(crate) fn explain(record: &mut Record, history: &Result<&[Record], String>, counted: usize) {
    let Some(basis) = record.basis.clone() else { return };
    for target in record.targets.iter_mut().take(counted) {
        let Some(view) = target.before.as_ref().filter(|v| !cached(v)) else { continue };
        let broken = view.broken.iter().map(|p| format!("{}: {}", p.path, p.why)).collect::<Vec<_>>();
        let broken = (!broken.is_empty()).then_some(Cause::Broken { problems: broken });
        target.why = Some(match (history, &target.made_of) {
            (Err(why), _) => unknown(broken, format!("the history could not be read ({why})")),
            (_, None) => unknown(broken, "what it is made of could not be read here".to_owned()),
            (Ok(history), Some(now)) => explanation(target, now, &basis, broken, history),
        });
    }
}

fn unknown(broken: Option<Cause>, why: String) -> Explanation {
    Explanation { since: None, causes: broken.into_iter().chain([Cause::Unknown { why }]).collect() }
}

/// What the runs of the `dropped` keys had cached of what gc `deleted` (store paths), each
/// attribute's derivation once (the newest run's): what `gc` keeps of the records it forgets.
pub(crate) fn forgotten(history: &[Record], dropped: &BTreeSet<String>, deleted: &BTreeSet<&str>) -> Vec<Forgotten> {
    let mut seen = BTreeSet::new();
    let runs = history.iter().rev().filter(|r| r.deps_key.as_ref().is_some_and(|k| dropped.contains(k)));
    let targets = runs.flat_map(|r| r.targets.iter().map(move |t| (r, t)));
    targets
        .filter(|(_, t)| had_cached(t))
        .filter(|(_, t)| t.outputs.iter().any(|o| deleted.contains(o.as_str())))
        .filter_map(|(r, t)| {
            let drv = t.made_of.as_ref()?.drv.clone();
            seen.insert((t.attr.clone(), drv.clone())).then(|| Forgotten {
                record: r.id.clone(),
                layer: t.layer.clone(),
                attr: t.attr.clone(),
                drv,
            })
        })
        .take(MAX_FORGOTTEN)
        .collect()
}

/// At most this many targets a gc record keeps of the runs it forgot.
const MAX_FORGOTTEN: usize = 1_000;
/// At most this many names per list of a cause (the rest counted).
const MAX_NAMED: usize = 50;

/// Whether a fresh runner would build nothing of a target.
fn cached(view: &View) -> bool {
    view.to_build.is_empty() && view.broken.is_empty()
}

/// Whether a run had the target cached, before its build or after its push.
fn had_cached(target: &Target) -> bool {
    [&target.before, &target.after].into_iter().flatten().any(cached)
}

/// Whether a fresh runner would build one of the first `counted` targets of `record`: what
/// [`explain`] explains (the history is read only then).
pub(crate) fn misses(record: &Record, counted: usize) -> bool {
    record.targets.iter().take(counted).any(|t| t.before.as_ref().is_some_and(|v| !cached(v)))
}

fn explanation(target: &Target, now: &MadeOf, basis: &Basis, broken: Option<Cause>, history: &[Record]) -> Explanation {
    let had = |t: &Target, drv: Option<&str>| {
        t.layer == target.layer
            && t.attr == target.attr
            && t.made_of.as_ref().is_some_and(|m| drv.is_none_or(|d| m.drv == d))
            && had_cached(t)
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
        // Its own derivation, when none of its inputs differs (its own attributes changed).
        let mut differ = match made.truncated || now.truncated {
            true => Vec::new(),
            false => differ(&made.inputs, &now.inputs),
        };
        if differ.is_empty() {
            differ.push(name_of(&now.drv));
        }
        causes.push(Cause::Derivation { differ: capped(differ) });
    }
    causes.extend(sources);
    causes.extend(broken);
    Explanation { since: Some(run.id.clone()), causes }
}

/// A store path's name, past its hash.
fn name_of(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split_once('-').map_or(base, |(_, name)| name).to_owned()
}

/// At most [`MAX_NAMED`] names, then how many more.
fn capped(mut names: Vec<String>) -> Vec<String> {
    if names.len() > MAX_NAMED {
        let more = names.len() - MAX_NAMED;
        names.truncate(MAX_NAMED);
        names.push(format!("… and {more} more"));
    }
    names
}

/// The lock files' entries, the toolchain and the files that changed between two runs, for a
/// target of `layer`: Cargo.lock and the toolchain for the deps layer and for what takes a part of
/// its graph that changed.
fn changed_sources(was: &Basis, now: &Basis, made: &MadeOf, made_now: &MadeOf, layer: &str) -> Vec<Cause> {
    let mut causes: Vec<Cause> = Vec::new();
    let deps_moved = layer == "deps" || (made.deps.is_some() && made.deps != made_now.deps);
    if deps_moved && was.toolchain != now.toolchain {
        causes.push(Cause::Toolchain { from: was.toolchain.clone(), to: now.toolchain.clone() });
    }
    causes.extend(crates_moved(was, now).filter(|_| deps_moved));
    causes.extend(inputs_moved(was, now));
    if made.files != made_now.files && !made.truncated && !made_now.truncated {
        let (a, b) = (&made.files, &made_now.files);
        let changed = a.iter().filter(|(f, h)| b.get(*f).is_some_and(|n| n != *h)).map(|(f, _)| f.clone()).collect();
        let added = b.keys().filter(|f| !a.contains_key(*f)).cloned().collect();
        let removed = a.keys().filter(|f| !b.contains_key(*f)).cloned().collect();
        causes.push(Cause::Files { changed: capped(changed), added: capped(added), removed: capped(removed) });
    }
    causes
}

/// What moved in the deps key's inputs between two runs: the cache version, Cargo.lock's crates,
/// flake.lock's inputs (a dashboard's key change says them).
pub(crate) fn key_moved(was: &Basis, now: &Basis) -> Vec<Cause> {
    let version = (was.version != now.version).then_some(Cause::CacheVersion { from: was.version, to: now.version });
    let toolchain = (was.toolchain != now.toolchain)
        .then(|| Cause::Toolchain { from: was.toolchain.clone(), to: now.toolchain.clone() });
    version.into_iter().chain(toolchain).chain(crates_moved(was, now)).chain(inputs_moved(was, now)).collect()
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
    Some(Cause::Crates { added: capped(added), removed: capped(removed), changed })
}

/// flake.lock's inputs whose revision or hash changed, or that came or went, when any did.
fn inputs_moved(was: &Basis, now: &Basis) -> Option<Cause> {
    if was.inputs == now.inputs {
        return None;
    }
    // The short revision, and the hash when the revision alone does not tell the two apart.
    let short = |i: Option<&FlakeInput>, other: Option<&FlakeInput>| {
        i.map_or("-".to_owned(), |i| {
            let rev = i.rev.as_deref().map(|r| r.chars().take(7).collect::<String>()).unwrap_or_default();
            match other.is_some_and(|o| o.rev == i.rev) || rev.is_empty() {
                true => format!("{rev} {}", i.nar_hash.as_deref().unwrap_or("?")).trim().to_owned(),
                false => rev,
            }
        })
    };
    let names: BTreeSet<&str> = was.inputs.iter().chain(&now.inputs).map(|i| i.name.as_str()).collect();
    let changed = names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (was.inputs.iter().find(|i| i.name == name), now.inputs.iter().find(|i| i.name == name));
            (a != b).then(|| Moved { name: name.to_owned(), from: short(a, b), to: short(b, a) })
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

//! `cargo xtask verify [--repair]`: every narinfo of a cache this project owns, checked
//! ([`crate::cache::verify`]): on a directory, all of them; over HTTP, which cannot be listed,
//! those in the closures of the recorded keys. `--repair` uploads again, signed, what this
//! machine's store still has, and says what it could not repair. Fails while a problem remains.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, ensure, Result};

use crate::{
    cache::{
        files::Files,
        gc::Entries,
        narinfo, roots,
        verify::{self, Checks, Finding, Repair},
        Cache,
    },
    command::{NoSlots, Slot, Words},
    config::Backend,
    github::{
        self,
        names::{env::GITHUB_TOKEN, output::REPAIRED},
    },
    nix::{self, json},
    record::{self, Record},
    session::Session,
};

/// Check every narinfo of a cache this project owns; --repair uploads again what this machine's store has.
#[derive(clap::Args, Debug)]
pub struct Verify {
    /// Upload again what this machine's store has of every broken path.
    #[arg(long)]
    repair: bool,
}

impl Verify {
    /// Checks the cache's narinfos into the record's `verify`, repairing when asked; fails while a problem remains.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let Some(files) = session.files() else {
            bail!(
                "verify reads the files of a cache this project owns, a file:// directory or HTTP(S) ({} is neither)",
                session.cache.label()
            );
        };
        let url = session.cache.substituter();
        let public = session.signing.as_ref().map(|k| k.reader());
        if session.dry_run {
            println!("# cargo xtask verify (dry run: nothing is run)\n# cache: {}", session.cache.label());
            println!("# (in the xtask) read every narinfo, check each NAR file's size and hash, and the references");
            let key = Some("<public key>").filter(|_| public.is_some());
            let commands = verify::commands(&url, key, &session.config.upstream, &session.net);
            for cmd in public.iter().map(|k| &k.convert).chain(&commands) {
                println!("{}", cmd.render(None));
            }
            return Ok(());
        }
        if let Some(key) = &session.signing {
            key.check()?;
        }
        let key = match &public {
            Some(k) if k.secret.exists() => Some(k.convert.run(&NoSlots)?.trim().to_owned()),
            _ => session.cache.config_key(&session.config),
        };
        let (net, upstream) = (&session.net, &session.config.upstream);
        let checks = Checks { files: &files, url: &url, net, key: key.as_deref(), upstream };
        let entries = read(&files)?;
        let findings = checks.run(&entries)?;
        let problems = findings.iter().map(|f| record::Finding {
            path: f.path.clone(),
            file: f.file.clone(),
            problem: f.problem.clone(),
        });
        let verified = record.verify.insert(record::Verified {
            checked: (entries.by_path.len() + entries.unreadable.len()) as u64,
            problems: problems.collect(),
            ..record::Verified::default()
        });
        for f in &findings {
            println!("{}: {}: {}", f.path.as_deref().unwrap_or("?"), f.file, f.problem);
        }
        println!("{} narinfo(s) checked, {} problem(s)", verified.checked, findings.len());
        if findings.is_empty() {
            return Ok(());
        }
        ensure!(
            self.repair,
            "the cache {} has {} problem(s): `cargo xtask verify --repair` uploads again what this machine has",
            session.cache.label(),
            findings.len()
        );
        verified.repaired = repair(session, &files, &findings)?;
        // The repair is checked as the cache is now: what is still wrong fails the task.
        let left = checks.run(&read(&files)?)?;
        verified.unrepaired =
            left.iter().map(|f| format!("{}: {}", f.path.as_deref().unwrap_or(&f.file), f.problem)).collect();
        ensure!(
            left.is_empty(),
            "{} problem(s) remain after the repair (what this machine's store lacks cannot be uploaded: build it, then repair again):\n  {}",
            left.len(),
            verified.unrepaired.join("\n  ")
        );
        println!("repaired {} path(s); the cache checks clean", verified.repaired.len());
        replace_actions_cache_entry(session)
    }
}

/// A repaired cache the Actions cache carries (rollback mode) keeps its entry as it was saved: the
/// entry is deleted, and the workflow saves the repaired directory under the same key
/// (`repaired=true`). Without the job's token, the repair lives in this job only (a warning).
fn replace_actions_cache_entry(session: &Session) -> Result<()> {
    // The Actions cache carries the config's local cache directory, and no other.
    let carried = session.root.join(&session.config.local_cache);
    let same = |dir: &std::path::Path| dir.canonicalize().ok().is_some_and(|d| Some(d) == carried.canonicalize().ok());
    let repaired_carried = matches!(&session.cache, Cache::Local { dir } if same(dir));
    if !github::is_actions() || session.config.backend != Backend::ActionsCache || !repaired_carried {
        return Ok(());
    }
    if std::env::var_os(GITHUB_TOKEN).is_none() {
        github::warning(&format!(
            "the repair is in this job's copy of the cache only: the Actions cache keeps its entry as it was saved; give the step {GITHUB_TOKEN} (permissions: actions: write) to replace it"
        ));
        return Ok(());
    }
    let key = session.deps_key()?.to_string();
    let had = github::actions_cache::delete(&key)?;
    let state = if had { "is deleted" } else { "was absent" };
    println!("the Actions cache's entry {key} {state}: the repaired cache is saved under it");
    github::set_outputs(&[(REPAIRED, "true".to_owned())])
}

fn read(files: &Files) -> Result<Entries> {
    Entries::read(files, &roots::all(files)?)
}

/// Acts on each finding as it says, and only on what it proved: deletes the files that are no
/// entry; uploads again each broken entry this machine's store has (its narinfo, and its NAR
/// file when broken, deleted first) and each path the cache lacks that the store has; leaves a
/// broken entry the store lacks as it is. Returns what was uploaded.
fn repair(session: &Session, files: &Files, findings: &[Finding]) -> Result<Vec<String>> {
    let mut replace: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for f in findings {
        match (&f.repair, &f.path) {
            (Repair::Replace { nar }, Some(path)) => {
                let bad = replace.entry(path).or_default();
                *bad = bad.or(nar.as_deref());
                wanted.insert(path.clone());
            }
            (Repair::Upload(missing), _) => drop(wanted.insert(missing.clone())),
            (Repair::Delete, _) => files.delete(&f.file)?,
            _ => {}
        }
    }
    let have: BTreeSet<String> = match wanted.is_empty() {
        true => BTreeSet::new(),
        false => json::parse_valid(&nix::path_infos(PATHS).run(&Words(wanted.iter().cloned().collect()))?)?,
    };
    for (path, nar) in replace.iter().filter(|(p, _)| have.contains(**p)) {
        // Whether its NAR file goes is decided before anything is deleted.
        let broken_nar = match nar {
            Some(nar) if files.nar_is_broken(nar)? => Some(nar),
            _ => None,
        };
        if let Some(narinfo) = narinfo::file_of(path) {
            files.delete(&narinfo)?;
        }
        if let Some(nar) = broken_nar {
            files.delete(nar)?;
        }
    }
    let upload: Vec<String> = wanted.into_iter().filter(|p| have.contains(p)).collect();
    if upload.is_empty() {
        return Ok(upload);
    }
    if let Some(key) = &session.signing {
        nix::sign(&key.secret, None, PATHS, &session.net).run(&Words(upload.clone()))?;
    }
    if let Some((_, upload_cmd)) = session.cache.upload(PATHS, &session.net) {
        upload_cmd.run(&Words(upload.clone()))?;
    }
    Ok(upload)
}

const PATHS: Slot = Slot("<paths>");

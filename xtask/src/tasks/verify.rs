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
        lock::Lock,
        narinfo, roots,
        signing_key::SigningKeys,
        verify::{self, Checked, Checks, Finding, Repair},
        Cache,
    },
    command::{Slot, Words},
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
        let at_hand = session.signing.as_ref().and_then(|k| k.reader());
        if session.dry_run {
            println!("# cargo xtask verify (dry run: nothing is run)\n# cache: {}", session.cache.label());
            println!("# (in the xtask) read every narinfo, check each NAR file's size and hash, and the references");
            let mut keys = session.config.public_keys.clone();
            keys.extend(at_hand.iter().flat_map(|k| &k.keys).map(|_| "<public key>".to_owned()));
            let commands = verify::commands(&url, &keys, &session.config.upstream, &session.net);
            for cmd in at_hand.iter().flat_map(|k| k.cmds()).chain(&commands) {
                println!("{}", cmd.render(None));
            }
            return Ok(());
        }
        if let Some(keys) = &session.signing {
            keys.check()?;
        }
        let keys = trusted(at_hand.as_ref(), &session.config.public_keys)?;
        let (net, upstream) = (&session.net, &session.config.upstream);
        let checks = Checks { files: &files, url: &url, net, keys: &keys, upstream };
        let entries = read(&files)?;
        let Checked { findings, coverage } = checks.run(&entries)?;
        let problems = findings.iter().map(|f| record::Finding {
            path: f.path.clone(),
            file: f.file.clone(),
            problem: f.problem.clone(),
        });
        let verified = record.verify.insert(record::Verified {
            checked: (entries.by_path.len() + entries.unreadable.len()) as u64,
            problems: problems.collect(),
            keys: coverage,
            ..record::Verified::default()
        });
        for f in &findings {
            println!("{}: {}: {}", f.path.as_deref().unwrap_or("?"), f.file, f.problem);
        }
        for key in &verified.keys {
            println!("key {} signs {} of {} narinfo(s)", key.key, key.signs, key.of);
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
        // The repair deletes and writes: under the cache's lock, as gc and a key's rotation (a
        // directory's lock also refuses a `nar/` that is a link, which Nix would write through),
        // and on what the cache holds under it (read again: a gc may have run since).
        let mut lock = files.lock(roots::LOCK_WAIT, roots::lease(session.config.cache_timeout))?;
        let entries = read(&files)?;
        let Checked { findings, .. } = checks.run(&entries)?;
        let repaired = repair(session, &files, &entries, &findings, &mut lock)?;
        drop(lock);
        (verified.repaired, verified.resigned) = (repaired.uploaded, repaired.resigned);
        // The repair is checked as the cache is now: what is still wrong fails the task.
        let Checked { findings: left, coverage } = checks.run(&read(&files)?)?;
        verified.keys = coverage;
        verified.unrepaired =
            left.iter().map(|f| format!("{}: {}", f.path.as_deref().unwrap_or(&f.file), f.problem)).collect();
        ensure!(
            left.is_empty(),
            "{} problem(s) remain after the repair (what this machine's store lacks cannot be uploaded: build it, then repair again):\n  {}",
            left.len(),
            verified.unrepaired.join("\n  ")
        );
        println!(
            "repaired {} path(s), re-signed {} in place; the cache checks clean",
            verified.repaired.len(),
            verified.resigned.len()
        );
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

/// The public keys a cache the xtask signs is checked against: those of the keys at hand, then
/// the config's (what runners trust), each once; none for a cache it does not sign.
fn trusted(at_hand: Option<&SigningKeys>, config: &[String]) -> Result<Vec<String>> {
    let Some(at_hand) = at_hand else { return Ok(Vec::new()) };
    let mut keys = at_hand.publics()?;
    for key in config {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    Ok(keys)
}

/// What a repair did: paths uploaded again, and narinfos signed again in place.
struct Repaired {
    uploaded: Vec<String>,
    resigned: Vec<String>,
}

/// Acts on each finding as it says, and only on what it proved: deletes the files that are no
/// entry; signs again in place each entry signed by no trusted key with no other finding whose
/// NAR (hash and size) and references this machine's store holds too (else it is replaced); uploads again each broken
/// entry this machine's store has (its narinfo, and its NAR file when broken, deleted first) and
/// each path the cache lacks that the store has; leaves a broken entry the store lacks as it is.
fn repair(
    session: &Session,
    files: &Files,
    entries: &Entries,
    findings: &[Finding],
    lock: &mut Lock,
) -> Result<Repaired> {
    // Between its steps it says it is alive (over HTTP, a lease), and stops once it was not.
    lock.renew()?;
    let mut replace: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut unsigned: BTreeSet<&str> = BTreeSet::new();
    // Entries whose own bytes are broken or could not be read: never signed again as they are.
    let mut other: BTreeSet<&str> = BTreeSet::new();
    for f in findings {
        if let (true, Some(path)) = (matches!(f.repair, Repair::Replace { .. } | Repair::Nothing), &f.path) {
            other.insert(path);
        }
        match (&f.repair, &f.path) {
            (Repair::Replace { nar }, Some(path)) => {
                let bad = replace.entry(path).or_default();
                *bad = bad.or(nar.as_deref());
                wanted.insert(path.clone());
            }
            (Repair::Sign, Some(path)) => drop(unsigned.insert(path)),
            (Repair::Upload(missing), _) => drop(wanted.insert(missing.clone())),
            (Repair::Delete, _) => files.delete(&f.file)?,
            _ => {}
        }
    }
    wanted.extend(unsigned.iter().map(|p| p.to_string()));
    let infos = |cmd: crate::command::Cmd, paths: Vec<String>| -> Result<Vec<json::PathInfo>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        json::parse_path_infos(&cmd.run(&Words(paths))?)
    };
    let ours = infos(nix::path_infos(PATHS), wanted.iter().cloned().collect())?;
    let theirs = infos(
        nix::query(&session.cache.substituter(), PATHS, &session.net),
        unsigned.iter().map(|p| p.to_string()).collect(),
    )?;
    let have: BTreeSet<String> = ours.iter().map(|i| i.path.clone()).collect();
    // Signed again in place: sound bytes (no other finding), and the NAR and the references
    // this store holds, as Nix reads them (one form of hash): a signature vouches for all three.
    let same_entry = |path: &str| {
        let find = |infos: &[json::PathInfo]| {
            infos.iter().find(|i| i.path == path).map(|i| {
                let references: BTreeSet<String> = i.references.iter().cloned().collect();
                (i.nar_hash.clone(), i.nar_size, references)
            })
        };
        find(&ours).is_some_and(|o| Some(o) == find(&theirs))
    };
    let resign: Vec<String> =
        unsigned.iter().filter(|p| !other.contains(**p) && same_entry(p)).map(|p| p.to_string()).collect();
    for path in unsigned.iter().filter(|p| !resign.iter().any(|r| r == **p)) {
        replace.entry(path).or_default();
    }
    wanted.retain(|p| !resign.contains(p));
    if let Some(keys) = session.signing.as_ref().filter(|_| !resign.is_empty()) {
        crate::cache::signatures::add(files, entries, &resign, keys, &session.net)?;
        lock.renew()?;
    }
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
    lock.renew()?;
    let upload: Vec<String> = wanted.into_iter().filter(|p| have.contains(p)).collect();
    if upload.is_empty() {
        return Ok(Repaired { uploaded: upload, resigned: resign });
    }
    for cmd in session.signing.iter().flat_map(|k| k.sign(None, PATHS, &session.net)) {
        cmd.run(&Words(upload.clone()))?;
    }
    if let Some((_, upload_cmd)) = session.cache.upload(PATHS, &session.net) {
        upload_cmd.run(&Words(upload.clone()))?;
    }
    Ok(Repaired { uploaded: upload, resigned: resign })
}

const PATHS: Slot = Slot("<paths>");

//! `cargo xtask verify [--repair]`: every narinfo of a cache this project owns, checked
//! ([`crate::cache::verify`]): on a directory, all of them; over HTTP, which cannot be listed,
//! those in the closures of the recorded keys. `--repair` uploads again, signed, what this
//! machine's store still has, and says what it could not repair. Fails while a problem remains.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::{
    cache::{
        files::Files,
        gc::Entries,
        roots,
        verify::{self, Checks, Finding},
    },
    command::{NoSlots, Slot, Words},
    nix::{self, json},
    record::{self, Record},
    session::Session,
};

#[derive(clap::Args, Debug)]
pub struct Verify {
    /// Upload again what this machine's store has of every broken path.
    #[arg(long)]
    repair: bool,
}

impl Verify {
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let Some(files) = session.files() else {
            bail!(
                "verify reads the files of a cache this project owns, a file:// directory or HTTP(S) ({} is neither)",
                session.cache.label()
            );
        };
        let (sh, url) = (&session.sh, session.cache.substituter());
        let public = session.signing.as_ref().map(|k| k.reader());
        if session.dry_run {
            println!("# cargo xtask verify (dry run: nothing is run)\n# cache: {}", session.cache.label());
            println!("# (in the xtask) read every narinfo, check each NAR file's size and hash, and the references");
            for cmd in public.iter().map(|k| &k.convert).chain(&verify::commands(
                &url,
                Some("<public key>").filter(|_| public.is_some()),
                &session.config.upstream,
                &session.net,
            )) {
                println!("{}", cmd.render(None));
            }
            return Ok(());
        }
        if let Some(key) = &session.signing {
            key.check()?;
        }
        let key = match &public {
            Some(k) if k.secret.exists() => Some(k.convert.run(sh, &NoSlots)?.trim().to_owned()),
            _ => session.cache.config_key(&session.config),
        };
        let checks = Checks {
            files: &files,
            url: &url,
            net: &session.net,
            key: key.as_deref(),
            upstream: &session.config.upstream,
        };
        let entries = read(session, &files)?;
        let findings = checks.run(sh, &entries)?;
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
        println!(
            "{} narinfo(s) checked, {} problem(s)",
            entries.by_path.len() + entries.unreadable.len(),
            findings.len()
        );
        if findings.is_empty() {
            return Ok(());
        }
        if !self.repair {
            bail!(
                "the cache {} has {} problem(s): `cargo xtask verify --repair` uploads again what this machine has",
                session.cache.label(),
                findings.len()
            );
        }
        let (repaired, unrepaired) = repair(session, &files, &findings)?;
        (verified.repaired, verified.unrepaired) = (repaired, unrepaired.clone());
        if !unrepaired.is_empty() {
            bail!("could not repair {} path(s) (this machine's store does not have them; build them, then repair again):\n  {}", unrepaired.len(), unrepaired.join("\n  "));
        }
        println!("repaired: a second `cargo xtask verify` checks it");
        Ok(())
    }
}

fn read(session: &Session, files: &Files) -> Result<Entries> {
    let roots: BTreeSet<String> = roots::all(&session.sh, files)?.into_iter().flat_map(|m| m.roots).collect();
    Entries::read(&session.sh, files, &roots)
}

/// Deletes each broken narinfo (and its NAR when that is bad), then uploads the path again from
/// this machine's store, signed; returns what was uploaded again, and what could not be repaired.
fn repair(session: &Session, files: &Files, findings: &[Finding]) -> Result<(Vec<String>, Vec<String>)> {
    let sh = &session.sh;
    let broken: BTreeSet<&String> = findings.iter().filter_map(|f| f.path.as_ref()).collect();
    let missing_refs: BTreeSet<String> = findings
        .iter()
        .filter_map(|f| f.problem.strip_prefix("it refers to ")?.split_once(',').map(|(r, _)| r.to_owned()))
        .collect();
    let wanted: Vec<String> = broken.iter().map(|p| p.to_string()).chain(missing_refs).collect();
    let local = nix::path_infos(PATHS);
    let have: BTreeSet<String> = json::parse_valid(&local.run(sh, &Words(wanted.clone()))?)?;
    let mut unrepaired: Vec<String> =
        findings.iter().filter(|f| f.path.is_none()).map(|f| format!("{}: {}", f.file, f.problem)).collect();
    unrepaired.extend(wanted.iter().filter(|p| !have.contains(*p)).cloned());
    for f in findings.iter().filter(|f| f.path.as_ref().is_some_and(|p| have.contains(p))) {
        files.delete(sh, &f.file)?;
        if let Some(nar) = &f.bad_nar {
            files.delete(sh, nar)?;
        }
    }
    let upload: Vec<String> = wanted.into_iter().filter(|p| have.contains(p)).collect();
    if upload.is_empty() {
        return Ok((upload, unrepaired));
    }
    if let Some(key) = &session.signing {
        nix::sign(&key.secret, None, PATHS, &session.net).run(sh, &Words(upload.clone()))?;
    }
    if let Some((_, upload_cmd)) = session.cache.upload(PATHS, &session.net) {
        upload_cmd.run(sh, &Words(upload.clone()))?;
    }
    Ok((upload, unrepaired))
}

const PATHS: Slot = Slot("<paths>");

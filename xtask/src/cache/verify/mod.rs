//! Whether a cache this project owns is sound, every fault named: each narinfo is under its own
//! path's name and names only store paths; its NAR file has the stated size and `FileHash`; the key
//! signed it; its NAR holds what `NarHash` and `NarSize` say (measured by `nix-store --export`);
//! its references are in the cache or upstream. A repair does only what a finding proved: a broken
//! entry is replaced, a missing reference uploaded, a file that is no entry deleted.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

mod bytes;

use super::{files::Files, gc::Entries, narinfo::NarInfo};
use crate::{
    command::{lit, Cmd, Slot, Words},
    nix::{self, json, verify, Network},
};

/// What a repair does about a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The entry is broken: its narinfo goes, and the path is uploaded again from this machine.
    Replace {
        /// The NAR file to delete with the narinfo, when its bytes are not what its name says.
        nar: Option<String>,
    },
    /// The cache lacks this path: it is uploaded; the entry referring to it stays.
    Upload(String),
    /// The file is no entry: it goes.
    Delete,
    /// Nothing is known to be wrong with the entry itself (the file could not be fetched).
    Nothing,
}

/// What is wrong with one narinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The store path, when the narinfo could be read.
    pub path: Option<String>,
    /// The narinfo file, or why it could not be read.
    pub file: String,
    /// What is wrong, in words.
    pub problem: String,
    /// What `--repair` does about it.
    pub repair: Repair,
}

/// How to reach the cache and what to check against.
pub(crate) struct Checks<'a> {
    pub files: &'a Files,
    /// The cache's URL, for Nix.
    pub url: &'a str,
    pub net: &'a Network,
    /// The public key the cache's paths must be signed by.
    pub key: Option<&'a str>,
    pub upstream: &'a [String],
}

impl Checks<'_> {
    /// Every problem of the cache's narinfos.
    pub fn run(&self, entries: &Entries) -> Result<Vec<Finding>> {
        // `unreadable` names the bad files too.
        let unfetched = entries.unreadable.iter().filter(|m| !entries.bad_files.iter().any(|(_, why)| why == *m));
        let mut findings: Vec<Finding> =
            (entries.bad_files.iter().map(|(file, why)| (file, why.clone(), Repair::Delete)))
                .chain(unfetched.map(|m| (m, "cannot be read (left alone)".to_owned(), Repair::Nothing)))
                .map(|(file, problem, repair)| Finding { path: None, file: file.clone(), problem, repair })
                .collect();
        for info in entries.by_path.values().map(|e| &e.info) {
            for reference in &info.bad_references {
                let problem = format!("it names {reference:?} as a reference, which is no store path");
                findings.push(finding(info, problem, Repair::Replace { nar: None }));
            }
        }
        // Nix reads the signatures and contents from a directory in place; over HTTP, from a mirror
        // of the bytes served (the narinfos, and each NAR file as its hash is checked).
        let mirror = matches!(self.files, Files::Http(_)).then(|| bytes::mirror(entries)).transpose()?;
        let reader = mirror.as_ref().map_or_else(|| self.url.to_owned(), |dir| format!("file://{}", dir.display()));
        let (sound, nar_files) = self.nar_files(entries, mirror.as_deref())?;
        findings.extend(nar_files);
        findings.extend(self.missing_references(entries)?);
        findings.extend(self.signatures(entries, &reader)?);
        findings.extend(self.contents(entries, &sound, &reader)?);
        if let Some(dir) = mirror {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(findings)
    }

    /// References the cache lacks and no upstream cache serves: each to upload.
    fn missing_references(&self, entries: &Entries) -> Result<Vec<Finding>> {
        let mut absent: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
        for (path, entry) in &entries.by_path {
            for reference in entry.info.references.iter().filter(|r| !entries.by_path.contains_key(*r)) {
                absent.entry(reference).or_default().push(path);
            }
        }
        let mut unserved: BTreeSet<String> = absent.keys().map(|r| r.to_string()).collect();
        for upstream in self.upstream {
            if unserved.is_empty() {
                break;
            }
            let query = nix::query(upstream, PATHS, self.net);
            let served = query.run(&Words(unserved.iter().cloned().collect())).and_then(|out| json::parse_valid(&out));
            unserved.retain(|r| !served.as_ref().is_ok_and(|s| s.contains(r)));
        }
        let mut findings = Vec::new();
        for reference in &unserved {
            for path in absent.get(reference).into_iter().flatten() {
                let problem = format!("it refers to {reference}, which neither the cache nor an upstream cache has");
                findings.push(finding(&entries.by_path[*path].info, problem, Repair::Upload(reference.clone())));
            }
        }
        Ok(findings)
    }

    /// The key's signature on every entry (`nix store verify --no-contents`).
    fn signatures(&self, entries: &Entries, reader: &str) -> Result<Vec<Finding>> {
        let Some(key) = self.key.filter(|_| !entries.by_path.is_empty()) else { return Ok(Vec::new()) };
        let cmd = nix::store_verify(reader, PATHS, Some(lit(key)), false, self.net);
        let verdicts = verify::parse(&cmd.output(&Words(entries.by_path.keys().cloned().collect()))?);
        let untrusted = verdicts.untrusted.iter().filter_map(|p| entries.by_path.get(p));
        let problem = || "it is not signed by the key".to_owned();
        Ok(untrusted.map(|e| finding(&e.info, problem(), Repair::Replace { nar: None })).collect())
    }
}

/// A finding of an entry (whose narinfo is under its own path's name: [`Entries`] holds no other).
fn finding(info: &NarInfo, problem: String, repair: Repair) -> Finding {
    let file = super::narinfo::file_of(&info.store_path).unwrap_or_default();
    Finding { path: Some(info.store_path.clone()), file, problem, repair }
}

/// A finding that the entry's NAR is broken (its file may go too: [`Repair::Replace`]).
fn bad_nar(info: &NarInfo, problem: String) -> Finding {
    finding(info, problem, Repair::Replace { nar: Some(info.url.clone()) })
}

const PATHS: Slot = Slot("<paths>");

/// The commands `verify` runs, for the dry run.
pub fn commands(url: &str, key: Option<&str>, upstream: &[String], net: &Network) -> Vec<Cmd> {
    let verify = key.map(|k| nix::store_verify(url, PATHS, Some(lit(k)), false, net));
    upstream.iter().map(|u| nix::query(u, PATHS, net)).chain(verify).chain([nix::export(url, PATHS, net)]).collect()
}

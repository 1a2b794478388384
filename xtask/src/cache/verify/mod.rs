//! Whether a cache this project owns is sound, narinfo by narinfo, every fault of each named:
//! it is a narinfo, under its own path's name, naming only store paths as references; its NAR
//! file exists, has the stated size and `FileHash`; the key signed it (when there is one); its
//! NAR holds what `NarHash` and `NarSize` say (measured here from `nix-store --export`, which
//! decompresses it); every path it refers to is in the cache or an upstream cache.
//!
//! Each finding says what a repair does, and only what it proved: an entry proven broken is
//! replaced (deleted, then uploaded again from this machine's store); a path the cache lacks is
//! uploaded, and the entry that refers to it, sound, stays; a file that is no entry (not a
//! narinfo, or under another path's name) is deleted; what could not be read is left alone.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

mod bytes;

use super::{files::Files, gc::Entries, narinfo::NarInfo};
use crate::{
    command::{lit, Arg, Cmd, Slot, Words},
    nix::{self, json, verify, Network},
};

/// What a repair does about a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The entry is broken: its narinfo goes (and `nar`, its NAR file, when the file's bytes are
    /// not what its name says), and the path is uploaded again from this machine's store.
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
        let bad: BTreeSet<&str> = entries.bad_files.iter().map(|(f, _)| f.as_str()).collect();
        let mut findings: Vec<Finding> = entries
            .bad_files
            .iter()
            .map(|(file, why)| Finding { path: None, file: file.clone(), problem: why.clone(), repair: Repair::Delete })
            .collect();
        findings.extend(entries.unreadable.iter().filter(|m| !bad.iter().any(|f| m.contains(f))).map(|m| Finding {
            path: None,
            file: m.clone(),
            problem: "cannot be read (left alone)".into(),
            repair: Repair::Nothing,
        }));
        for entry in entries.by_path.values() {
            for reference in &entry.info.bad_references {
                let problem = format!("it names {reference:?} as a reference, which is no store path");
                findings.push(finding(&entry.file, &entry.info, problem, Repair::Replace { nar: None }));
            }
        }
        // Nix reads the cache's narinfos and NARs for the signatures and the contents: a
        // directory in place; over HTTP, a mirror of the bytes the server served (narinfos, and
        // each NAR file fetched once, in parallel, as its hash is checked).
        let mirror = match self.files {
            Files::Dir(_) => None,
            Files::Http(_) => Some(bytes::mirror(entries)?),
        };
        let reader = mirror.as_ref().map_or_else(|| self.url.to_owned(), |dir| format!("file://{}", dir.display()));
        let sound = self.nar_files(entries, mirror.as_deref(), &mut findings)?;
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
                let entry = &entries.by_path[*path];
                let problem = format!("it refers to {reference}, which neither the cache nor an upstream cache has");
                findings.push(finding(&entry.file, &entry.info, problem, Repair::Upload(reference.clone())));
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
        let problem = "it is not signed by the key".to_owned();
        Ok(untrusted.map(|e| finding(&e.file, &e.info, problem.clone(), Repair::Replace { nar: None })).collect())
    }
}

fn narinfo_file(info: &NarInfo) -> String {
    super::narinfo::file_of(&info.store_path).unwrap_or_default()
}

fn finding(file: &str, info: &NarInfo, problem: String, repair: Repair) -> Finding {
    Finding { path: Some(info.store_path.clone()), file: file.to_owned(), problem, repair }
}

const PATHS: Slot = Slot("<paths>");

/// The commands `verify` runs, for the dry run.
pub fn commands(url: &str, key: Option<&str>, upstream: &[String], net: &Network) -> Vec<Cmd> {
    let mut cmds: Vec<Cmd> = upstream.iter().map(|u| nix::query(u, PATHS, net)).collect();
    cmds.extend(key.map(|k| nix::store_verify(url, PATHS, Some(Arg::Lit(k.to_owned())), false, net)));
    cmds.push(nix::export(url, PATHS, net));
    cmds
}

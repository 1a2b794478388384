//! Whether a cache this project owns is sound, every fault named: each narinfo is under its own
//! path's name and names only store paths; its NAR file has the stated size and `FileHash`; the key
//! signed it; its NAR holds what `NarHash` and `NarSize` say (measured by `nix-store --export`);
//! its references are in the cache or upstream. A repair does only what a finding proved: a broken
//! entry is replaced, a missing reference uploaded, a file that is no entry deleted, an entry signed
//! by no trusted key re-signed (when its bytes are sound and this machine's store vouches for them).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{ensure, Result};

mod bytes;

use super::{files::Files, gc::Entries, narinfo::NarInfo, signing_key::key_name};
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
    /// The entry is signed by no trusted key (a retired one, say): it is signed again in place
    /// when nothing else is wrong with it and this machine's store has the same NAR and
    /// references, else replaced.
    Sign,
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
    /// The public keys the cache's paths must be signed by (one of them); none: not checked.
    pub keys: &'a [String],
    pub upstream: &'a [String],
}

/// A public key a cache's narinfos are checked against, and how many of them it signs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct KeyCoverage {
    /// The public key, `NAME:BASE64`.
    pub key: String,
    /// Narinfos a valid signature by it is on.
    pub signs: u64,
    /// Narinfos checked.
    pub of: u64,
}

/// What the checks found: every problem, and how many narinfos each trusted key signs.
pub struct Checked {
    /// Every problem, each with its repair.
    pub findings: Vec<Finding>,
    /// Each trusted key, and how many narinfos it signs.
    pub coverage: Vec<KeyCoverage>,
}

impl Checks<'_> {
    /// Every problem of the cache's narinfos, and each key's coverage.
    pub fn run(&self, entries: &Entries) -> Result<Checked> {
        // `unreadable` names the bad files too.
        let unfetched = entries.unreadable.iter().filter(|m| !entries.bad_files.iter().any(|(_, why)| why == *m));
        let mut findings: Vec<Finding> =
            (entries.bad_files.iter().map(|(file, why)| (file, why.clone(), Repair::Delete)))
                .chain(unfetched.map(|m| (m, "cannot be read (left alone)".to_owned(), Repair::Nothing)))
                .map(|(file, problem, repair)| Finding { path: None, file: file.clone(), problem, repair })
                .collect();
        findings.extend(self.missing_references(entries)?);
        let coverage = self.with_reader(entries, |reader, mirror| {
            let coverage = signed_by_each(reader, self.keys, entries, self.net)?;
            findings.extend(untrusted(entries, self.keys, &coverage));
            findings.extend(self.bytes_at(entries, reader, mirror)?);
            Ok(coverage)
        })?;
        Ok(Checked { findings, coverage: coverage.into_iter().map(|(k, _)| k).collect() })
    }

    /// Each key's coverage of the entries, with the paths it signs.
    pub fn coverage(&self, entries: &Entries) -> Result<Vec<(KeyCoverage, BTreeSet<String>)>> {
        self.with_reader(entries, |reader, _| signed_by_each(reader, self.keys, entries, self.net))
    }

    /// What is wrong with the entries' bytes alone: their references, each NAR file against its
    /// size and hash, what each NAR holds. What a signature vouches for is checked before it is given.
    pub fn bytes(&self, entries: &Entries) -> Result<Vec<Finding>> {
        self.with_reader(entries, |reader, mirror| self.bytes_at(entries, reader, mirror))
    }

    fn bytes_at(&self, entries: &Entries, reader: &str, mirror: Option<&std::path::Path>) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        for info in entries.by_path.values().map(|e| &e.info) {
            for reference in &info.bad_references {
                let problem = format!("it names {reference:?} as a reference, which is no store path");
                findings.push(finding(info, problem, Repair::Replace { nar: None }));
            }
        }
        let (sound, nar_files) = self.nar_files(entries, mirror)?;
        findings.extend(nar_files);
        findings.extend(self.contents(entries, &sound, reader)?);
        Ok(findings)
    }

    /// Runs `check` with the store URL Nix reads the entries from: the cache directory in place;
    /// over HTTP, a mirror of the bytes served (the narinfos, and each NAR file as its hash is
    /// checked), removed after.
    fn with_reader<T>(
        &self,
        entries: &Entries,
        check: impl FnOnce(&str, Option<&std::path::Path>) -> Result<T>,
    ) -> Result<T> {
        let mirror = matches!(self.files, Files::Http(_)).then(|| bytes::mirror(entries)).transpose()?;
        let reader = mirror.as_ref().map_or_else(|| self.url.to_owned(), |dir| format!("file://{}", dir.display()));
        let checked = check(&reader, mirror.as_deref());
        if let Some(dir) = mirror {
            // The NAR files may be elsewhere (`nar/` a link there): they go too.
            if let Ok(files) = std::fs::read_link(dir.join("nar")) {
                let _ = std::fs::remove_dir_all(files);
            }
            let _ = std::fs::remove_dir_all(dir);
        }
        checked
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
}

/// Each key's coverage of the entries, with the paths it signs: one `nix store verify
/// --no-contents` per key, trusting that key alone, on `reader` (the cache, or its mirror).
fn signed_by_each(
    reader: &str,
    keys: &[String],
    entries: &Entries,
    net: &Network,
) -> Result<Vec<(KeyCoverage, BTreeSet<String>)>> {
    let all: Vec<String> = entries.by_path.keys().cloned().collect();
    let mut coverage = Vec::new();
    for key in keys {
        let signed: BTreeSet<String> = match all.is_empty() {
            true => BTreeSet::new(),
            false => {
                let cmd = nix::store_verify(reader, PATHS, Some(lit(key)), false, net);
                let out = cmd.output(&Words(all.clone()))?;
                let verdicts = verify::parse(&out);
                // A check that failed vouches for nothing: not a path is counted as signed.
                ensure!(
                    !verdicts.failed,
                    "`nix store verify` could not check the signatures by {key}: {}",
                    String::from_utf8_lossy(&out.stderr).trim_end()
                );
                all.iter().filter(|p| !verdicts.untrusted.contains(*p)).cloned().collect()
            }
        };
        let counted = KeyCoverage { key: key.clone(), signs: signed.len() as u64, of: all.len() as u64 };
        coverage.push((counted, signed));
    }
    Ok(coverage)
}

/// The entries no trusted key signs, each a finding naming the keys that did sign it.
fn untrusted(entries: &Entries, keys: &[String], coverage: &[(KeyCoverage, BTreeSet<String>)]) -> Vec<Finding> {
    if keys.is_empty() {
        return Vec::new();
    }
    let signed = |path: &String| coverage.iter().any(|(_, paths)| paths.contains(path));
    let names: Vec<&str> = keys.iter().map(|k| key_name(k)).collect();
    let unsigned = entries.by_path.iter().filter(|(path, _)| !signed(path));
    unsigned
        .map(|(_, entry)| {
            let by: Vec<&str> = entry.info.sigs.iter().map(|s| key_name(s)).collect();
            let problem = match by.is_empty() {
                true => format!("it is signed by no trusted key ({}): it has no signature", names.join(", ")),
                false => format!(
                    "it is signed by no trusted key ({}): only by {}, which is not trusted",
                    names.join(", "),
                    by.join(", ")
                ),
            };
            finding(&entry.info, problem, Repair::Sign)
        })
        .collect()
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
pub fn commands(url: &str, keys: &[String], upstream: &[String], net: &Network) -> Vec<Cmd> {
    let verify = keys.iter().map(|k| nix::store_verify(url, PATHS, Some(lit(k)), false, net));
    upstream.iter().map(|u| nix::query(u, PATHS, net)).chain(verify).chain([nix::export(url, PATHS, net)]).collect()
}

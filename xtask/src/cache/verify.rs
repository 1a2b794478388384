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
use xshell::Shell;

use super::{
    files::Files,
    gc::Entries,
    narinfo::{nix32, NarInfo},
};
use crate::{
    command::{lit, Arg, Cmd, Slot, Words},
    nix::{self, export, json, verify, Network},
    scratch,
};

/// What a repair does about a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The entry is broken: its narinfo (and `nar`, a bad NAR file) go, and the path is uploaded
    /// again from this machine's store.
    Replace { nar: Option<String> },
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
    pub problem: String,
    pub repair: Repair,
}

/// How to reach the cache and what to check against.
pub struct Checks<'a> {
    pub files: &'a Files,
    /// The cache's URL, for Nix.
    pub url: &'a str,
    pub net: &'a Network,
    /// The public key the cache's paths must be signed by.
    pub key: Option<&'a str>,
    pub upstream: &'a [String],
}

/// NAR files hashed at once: at most this many bytes in memory.
const HASH_BATCH: u64 = 256 << 20;
/// Paths exported at once: at most this many, and this many NAR bytes on disk.
const EXPORT_PATHS: usize = 1000;
const EXPORT_BYTES: u64 = 1 << 30;

impl Checks<'_> {
    /// Every problem of the cache's narinfos.
    pub fn run(&self, sh: &Shell, entries: &Entries) -> Result<Vec<Finding>> {
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
        let sound = self.nar_files(sh, entries, &mut findings)?;
        findings.extend(self.missing_references(sh, entries)?);
        findings.extend(self.signatures(sh, entries)?);
        findings.extend(self.contents(sh, entries, &sound)?);
        Ok(findings)
    }

    /// Each NAR file's size and `FileHash`; the paths whose file is sound.
    fn nar_files(&self, sh: &Shell, entries: &Entries, findings: &mut Vec<Finding>) -> Result<Vec<String>> {
        let urls: Vec<&str> = entries.by_path.values().map(|e| e.info.url.as_str()).collect();
        let sizes = self.files.sizes(sh, &urls)?;
        let mut sized = Vec::new();
        for entry in entries.by_path.values() {
            let (info, bad_nar) = (&entry.info, Repair::Replace { nar: Some(entry.info.url.clone()) });
            let problem = match (sizes.get(&info.url).copied().flatten(), info.file_size, &info.file_hash) {
                (None, ..) => format!("its NAR file {} is missing", info.url),
                (Some(size), Some(expected), _) if size != expected => {
                    format!("its NAR file {} has {size} bytes, its narinfo says {expected}", info.url)
                }
                (_, None, _) | (_, _, None) => "its narinfo lacks FileSize or FileHash".to_owned(),
                (Some(size), ..) => {
                    sized.push((info, size));
                    continue;
                }
            };
            findings.push(finding(&entry.file, info, problem, bad_nar));
        }
        let mut sound = Vec::new();
        for batch in batches(&sized, HASH_BATCH) {
            let names: Vec<&str> = batch.iter().map(|(i, _)| i.url.as_str()).collect();
            let limit = batch.iter().map(|(_, s)| *s).max().unwrap_or(0);
            for ((info, _), got) in batch.iter().zip(self.files.get_many(sh, &names, limit)?) {
                let expected = info.file_hash.as_deref().unwrap_or_default();
                let problem = match got {
                    Ok(Some(bytes)) if hash_matches(expected, &bytes) => {
                        sound.push(info.store_path.clone());
                        continue;
                    }
                    Ok(Some(_)) => format!("its NAR file {} does not hash to its FileHash {expected}", info.url),
                    Ok(None) => format!("its NAR file {} is missing", info.url),
                    Err(err) => format!("its NAR file {} cannot be read: {err:#}", info.url),
                };
                let file = narinfo_file(info);
                findings.push(finding(&file, info, problem, Repair::Replace { nar: Some(info.url.clone()) }));
            }
        }
        Ok(sound)
    }

    /// References the cache lacks and no upstream cache serves: each to upload.
    fn missing_references(&self, sh: &Shell, entries: &Entries) -> Result<Vec<Finding>> {
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
            let served =
                query.run(sh, &Words(unserved.iter().cloned().collect())).and_then(|out| json::parse_valid(&out));
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
    fn signatures(&self, sh: &Shell, entries: &Entries) -> Result<Vec<Finding>> {
        let Some(key) = self.key.filter(|_| !entries.by_path.is_empty()) else { return Ok(Vec::new()) };
        let cmd = nix::store_verify(self.url, PATHS, Some(lit(key)), false, self.net);
        let verdicts = verify::parse(&cmd.output(sh, &Words(entries.by_path.keys().cloned().collect()))?);
        let untrusted = verdicts.untrusted.iter().filter_map(|p| entries.by_path.get(p));
        let problem = "it is not signed by the key".to_owned();
        Ok(untrusted.map(|e| finding(&e.file, &e.info, problem.clone(), Repair::Replace { nar: None })).collect())
    }

    /// What each NAR holds, measured from the bytes: its SHA-256 and size against the narinfo.
    fn contents(&self, sh: &Shell, entries: &Entries, paths: &[String]) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let sized: Vec<(&NarInfo, u64)> =
            paths.iter().map(|p| &entries.by_path[p].info).map(|i| (i, i.nar_size)).collect();
        for batch in batches(&sized, EXPORT_BYTES) {
            for chunk in batch.chunks(EXPORT_PATHS) {
                let infos: Vec<&NarInfo> = chunk.iter().map(|(i, _)| *i).collect();
                findings.extend(self.export(sh, &infos)?);
            }
        }
        Ok(findings)
    }

    /// Exports `infos` (again without the one Nix stops on, until each was read or refused).
    fn export(&self, sh: &Shell, infos: &[&NarInfo]) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let mut todo: Vec<&NarInfo> = infos.to_vec();
        while !todo.is_empty() {
            let file = scratch::dir()?.join(format!("export-{}", todo.len()));
            let cmd = nix::export(self.url, PATHS, self.net).stdout_to(file.clone());
            let ran = cmd.run_quietly(sh, &Words(todo.iter().map(|i| i.store_path.clone()).collect()));
            let (read, _) = export::read_file(&file);
            let _ = std::fs::remove_file(&file);
            for exported in &read {
                let Some(info) = todo.iter().find(|i| i.store_path == exported.path) else { continue };
                let nar = Repair::Replace { nar: Some(info.url.clone()) };
                if !digest_matches(&info.nar_hash, &exported.nar_sha256) {
                    let problem = "its NAR does not hold what its NarHash says".to_owned();
                    findings.push(finding(&narinfo_file(info), info, problem, nar.clone()));
                }
                if exported.nar_size != info.nar_size {
                    let problem =
                        format!("its NAR has {} bytes, its NarSize says {}", exported.nar_size, info.nar_size);
                    findings.push(finding(&narinfo_file(info), info, problem, nar));
                }
            }
            todo.retain(|i| !read.iter().any(|e| e.path == i.store_path));
            let Err(err) = ran else { break };
            // Nix stopped on a path: the first it names of those not read, else the first left.
            let said = format!("{err:#}");
            let Some(stopped) =
                todo.iter().position(|i| said.contains(&i.store_path)).or((!todo.is_empty()).then_some(0))
            else {
                break;
            };
            let info = todo.remove(stopped);
            let problem = format!("its NAR cannot be read (Nix: {})", nix::messages::cause(&err));
            findings.push(finding(&narinfo_file(info), info, problem, Repair::Replace { nar: Some(info.url.clone()) }));
        }
        Ok(findings)
    }
}

/// Whether `bytes` hash to `expected`.
fn hash_matches(expected: &str, bytes: &[u8]) -> bool {
    digest_matches(expected, &hmac_sha256::Hash::hash(bytes))
}

/// Whether a SHA-256 is `expected` as narinfos write it: `sha256:` and Nix's base 32 (or hex).
fn digest_matches(expected: &str, digest: &[u8; 32]) -> bool {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    [format!("sha256:{}", nix32(digest)), format!("sha256:{hex}")].iter().any(|h| h == expected)
}

/// `items` in consecutive batches of at most `max` bytes (one bigger item alone).
fn batches<T>(items: &[(T, u64)], max: u64) -> Vec<&[(T, u64)]> {
    let (mut out, mut start, mut bytes) = (Vec::new(), 0, 0u64);
    for (i, (_, size)) in items.iter().enumerate() {
        if i > start && bytes.saturating_add(*size) > max {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(*size);
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
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

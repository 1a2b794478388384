//! Whether a cache this project owns is sound, narinfo by narinfo: it can be read; its NAR file
//! exists, has the stated size and hash; every path it refers to is in the cache (or served by an
//! upstream cache); the key signed it (when there is one); and its NAR holds what its NAR hash
//! says (`nix store verify`, which decompresses it).

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
    nix::{self, json, verify, Network},
};

/// What is wrong with one narinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The store path, when the narinfo could be read.
    pub path: Option<String>,
    /// The narinfo file, or the unreadable file's message.
    pub file: String,
    pub problem: String,
    /// The NAR file, when it is itself bad (a repair deletes it before uploading again).
    pub bad_nar: Option<String>,
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

impl Checks<'_> {
    /// Every problem of the cache's narinfos.
    pub fn run(&self, sh: &Shell, entries: &Entries) -> Result<Vec<Finding>> {
        let mut findings: Vec<Finding> = entries
            .unreadable
            .iter()
            .map(|message| Finding {
                path: None,
                file: message.clone(),
                problem: "cannot be read".into(),
                bad_nar: None,
            })
            .collect();
        let mut bad_file = BTreeSet::new();
        let urls: Vec<&str> = entries.by_path.values().map(|e| e.info.url.as_str()).collect();
        let sizes = self.files.sizes(sh, &urls)?;
        for entry in entries.by_path.values() {
            let problem = match (sizes.get(&entry.info.url).copied().flatten(), entry.info.file_size) {
                (None, _) => Some(format!("its NAR file {} is missing", entry.info.url)),
                (Some(size), Some(expected)) if size != expected => {
                    Some(format!("its NAR file {} has {size} bytes, its narinfo says {expected}", entry.info.url))
                }
                _ => self.file_hash_problem(sh, &entry.info)?,
            };
            if let Some(problem) = problem {
                bad_file.insert(entry.info.store_path.clone());
                findings.push(finding(&entry.file, &entry.info, problem, true));
            }
        }
        findings.extend(self.missing_references(sh, entries)?);
        let sound: Vec<String> = entries.by_path.keys().filter(|p| !bad_file.contains(*p)).cloned().collect();
        findings.extend(self.nix_verdicts(sh, entries, &sound)?);
        Ok(findings)
    }

    /// The NAR file's hash against `FileHash` (Nix writes `sha256:` and its base 32).
    fn file_hash_problem(&self, sh: &Shell, info: &NarInfo) -> Result<Option<String>> {
        let Some(expected) = &info.file_hash else { return Ok(None) };
        let Some(bytes) = self.files.get(sh, &info.url)? else {
            return Ok(Some(format!("its NAR file {} is missing", info.url)));
        };
        let digest = hmac_sha256::Hash::hash(&bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let actual = [format!("sha256:{}", nix32(&digest)), format!("sha256:{hex}")];
        Ok((!actual.contains(expected))
            .then(|| format!("its NAR file {} does not hash to its FileHash {expected}", info.url)))
    }

    /// References the cache lacks and no upstream cache serves.
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
                findings.push(finding(&entry.file, &entry.info, problem, false));
            }
        }
        Ok(findings)
    }

    /// Signatures (with a key), and contents against the NAR hashes, from `nix store verify`;
    /// when it fails without naming a path, each path is asked alone.
    fn nix_verdicts(&self, sh: &Shell, entries: &Entries, paths: &[String]) -> Result<Vec<Finding>> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let cmd = nix::store_verify(self.url, PATHS, self.key.map(lit), true, self.net);
        let verdicts = verify::parse(&cmd.output(sh, &Words(paths.to_vec()))?);
        let mut findings = Vec::new();
        let mut named = BTreeSet::new();
        let add = |path: &String, problem: &str, bad_nar: bool, findings: &mut Vec<Finding>| {
            if let Some(entry) = entries.by_path.get(path) {
                findings.push(finding(&entry.file, &entry.info, problem.to_owned(), bad_nar));
            }
        };
        for path in &verdicts.modified {
            named.insert(path.clone());
            add(path, "its NAR does not hold what its NAR hash says", true, &mut findings);
        }
        for path in &verdicts.untrusted {
            named.insert(path.clone());
            add(path, "it is not signed by the key", false, &mut findings);
        }
        if verdicts.failed && paths.len() > 1 {
            for path in paths.iter().filter(|p| !named.contains(*p)) {
                let alone = verify::parse(&cmd.output(sh, &Words(vec![path.clone()]))?);
                if alone.failed || !alone.modified.is_empty() {
                    add(
                        path,
                        "its NAR cannot be read (Nix fails on it: truncated or not what it claims)",
                        true,
                        &mut findings,
                    );
                }
            }
        }
        Ok(findings)
    }
}

fn finding(file: &str, info: &NarInfo, problem: String, bad_nar: bool) -> Finding {
    let bad_nar = bad_nar.then(|| info.url.clone());
    Finding { path: Some(info.store_path.clone()), file: file.to_owned(), problem, bad_nar }
}

const PATHS: Slot = Slot("<paths>");

/// The commands `verify` runs, for the dry run.
pub fn commands(url: &str, key: Option<&str>, upstream: &[String], net: &Network) -> Vec<Cmd> {
    let mut cmds: Vec<Cmd> = upstream.iter().map(|u| nix::query(u, PATHS, net)).collect();
    cmds.push(nix::store_verify(url, PATHS, key.map(|k| Arg::Lit(k.to_owned())), true, net));
    cmds
}

//! The checks that read a cache's bytes: each NAR file against its size and `FileHash`, and what
//! each NAR holds (decompressed by `nix-store --export`) against its `NarHash` and `NarSize`.

use sha2::Digest;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{finding, narinfo_file, Checks, Finding, Repair, PATHS};
use crate::{
    cache::{
        gc::Entries,
        narinfo::{nix32, NarInfo},
    },
    command::Words,
    nix::{self, export},
    scratch,
};

/// NAR files hashed at once: at most this many bytes in memory.
const HASH_BATCH: u64 = 256 << 20;
/// Paths exported at once: at most this many, and this many NAR bytes on disk.
const EXPORT_PATHS: usize = 1000;
const EXPORT_BYTES: u64 = 1 << 30;

impl Checks<'_> {
    /// Each NAR file's size and `FileHash` (a sound one copied to the `mirror`); the paths whose
    /// file is sound.
    pub(super) fn nar_files(
        &self,
        entries: &Entries,
        mirror: Option<&Path>,
        findings: &mut Vec<Finding>,
    ) -> Result<Vec<String>> {
        // A directory is asked for each file's size first (one that is no regular file, a FIFO,
        // is that file's fault alone); over HTTP each file's bytes say it.
        let size = |info: &NarInfo| match mirror {
            None => self.files.sizes(&[&info.url]).map(|mut sizes| sizes.remove(&info.url).flatten()),
            Some(_) => Ok(info.file_size),
        };
        let mut sized = Vec::new();
        for entry in entries.by_path.values() {
            let (info, bad_nar) = (&entry.info, Repair::Replace { nar: Some(entry.info.url.clone()) });
            let size = match size(info) {
                Ok(size) => size,
                Err(err) => {
                    let problem = format!("its NAR file {} cannot be read: {err:#}", info.url);
                    findings.push(finding(&entry.file, info, problem, Repair::Nothing));
                    continue;
                }
            };
            let problem = match (size, info.file_size, &info.file_hash) {
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
            for ((info, size), got) in batch.iter().zip(self.files.get_many(&names, limit)?) {
                let expected = info.file_hash.as_deref().unwrap_or_default();
                let problem = match got {
                    Ok(Some(bytes)) if bytes.len() as u64 != *size => {
                        format!("its NAR file {} has {} bytes, its narinfo says {size}", info.url, bytes.len())
                    }
                    Ok(Some(bytes)) if hash_matches(expected, &bytes) => {
                        if let Some(dir) = mirror {
                            write_beside(&dir.join(&info.url), &bytes)?;
                        }
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

    /// What each NAR holds, measured from the bytes: its SHA-256 and size against the narinfo.
    pub(super) fn contents(&self, entries: &Entries, paths: &[String], reader: &str) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let sized: Vec<(&NarInfo, u64)> =
            paths.iter().map(|p| &entries.by_path[p].info).map(|i| (i, i.nar_size)).collect();
        for batch in batches(&sized, EXPORT_BYTES) {
            for chunk in batch.chunks(EXPORT_PATHS) {
                let infos: Vec<&NarInfo> = chunk.iter().map(|(i, _)| *i).collect();
                findings.extend(self.export(&infos, reader)?);
            }
        }
        Ok(findings)
    }

    /// Exports `infos` (again without the one Nix stops on, until each was read or refused).
    fn export(&self, infos: &[&NarInfo], reader: &str) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let mut todo: Vec<&NarInfo> = infos.to_vec();
        while !todo.is_empty() {
            let file = scratch::dir()?.join(format!("export-{}", todo.len()));
            let cmd = nix::export(reader, PATHS, self.net).stdout_to(file.clone());
            let ran = cmd.run_quietly(&Words(todo.iter().map(|i| i.store_path.clone()).collect()));
            let read = export::read_file(&file);
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

/// A binary cache directory of the entries' narinfos as the server served them (their NAR files
/// are added as they are found sound).
pub(super) fn mirror(entries: &Entries) -> Result<PathBuf> {
    let dir = scratch::dir()?.join("verify-mirror");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("nix-cache-info"), "StoreDir: /nix/store\n")?;
    for entry in entries.by_path.values() {
        std::fs::write(dir.join(&entry.file), &entry.text)?;
    }
    Ok(dir)
}

fn write_beside(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(std::fs::write(path, bytes)?)
}

/// Whether `bytes` hash to `expected`.
fn hash_matches(expected: &str, bytes: &[u8]) -> bool {
    digest_matches(expected, &sha2::Sha256::digest(bytes).into())
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

//! The checks that read a cache's bytes: each NAR file against its size and `FileHash`, and what
//! each NAR holds (decompressed by `nix-store --export`) against its `NarHash` and `NarSize`.

use sha2::Digest;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{bad_nar, finding, Checks, Finding, Repair, PATHS};
use crate::{
    cache::{
        gc::Entries,
        narinfo::{file_of, nix32, NarInfo},
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
    /// Each NAR file's size and `FileHash` (over HTTP fetched into the `mirror`): the paths whose
    /// file is sound, and the findings.
    pub(super) fn nar_files(&self, entries: &Entries, mirror: Option<&Path>) -> Result<(Vec<String>, Vec<Finding>)> {
        // A directory is asked for each file's size first (one that is no regular file, a FIFO,
        // is that file's fault alone); over HTTP each file's bytes say it.
        let size = |info: &NarInfo| match mirror {
            None => self.files.sizes(&[&info.url]).map(|mut sizes| sizes.remove(&info.url).flatten()),
            Some(_) => Ok(info.file_size),
        };
        let (mut sized, mut findings) = (Vec::new(), Vec::new());
        for info in entries.by_path.values().map(|e| &e.info) {
            let problem = match (size(info), info.file_size, &info.file_hash) {
                (Err(err), ..) => {
                    let problem = format!("its NAR file {} cannot be read: {err:#}", info.url);
                    findings.push(finding(info, problem, Repair::Nothing));
                    continue;
                }
                (Ok(None), ..) => format!("its NAR file {} is missing", info.url),
                (Ok(Some(size)), Some(expected), _) if size != expected => {
                    format!("its NAR file {} has {size} bytes, its narinfo says {expected}", info.url)
                }
                (_, None, _) | (_, _, None) => "its narinfo lacks FileSize or FileHash".to_owned(),
                (Ok(Some(size)), ..) => {
                    sized.push((info, size));
                    continue;
                }
            };
            findings.push(bad_nar(info, problem));
        }
        // The NAR files go beside the narinfos as served: in memory when they fit, else on disk
        // (`nar/` a link there, which Nix follows to read them).
        if let Some(dir) = mirror.filter(|d| !d.join("nar").exists()) {
            let total = crate::numbers::total(sized.iter().map(|(_, size)| *size));
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let files = scratch::memory_dir(&format!("{name}-nar"), total)?;
            let _ = std::fs::remove_dir_all(&files);
            if !files.starts_with(dir.parent().unwrap_or(dir)) {
                std::fs::create_dir_all(&files)?;
                std::os::unix::fs::symlink(&files, dir.join("nar"))?;
            }
        }
        let mut sound = Vec::new();
        for batch in batches(&sized, HASH_BATCH) {
            let names: Vec<&str> = batch.iter().map(|(i, _)| i.url.as_str()).collect();
            let limit = batch.iter().map(|(_, s)| *s).max().unwrap_or(0);
            // Over HTTP each file is fetched into the mirror, where Nix reads it.
            for ((info, size), got) in batch.iter().zip(self.files.get_many_into(mirror, &names, limit)?) {
                let expected = info.file_hash.as_deref().unwrap_or_default();
                let problem = match got {
                    Ok(Some(bytes)) if bytes.len() as u64 != *size => {
                        format!("its NAR file {} has {} bytes, its narinfo says {size}", info.url, bytes.len())
                    }
                    Ok(Some(bytes)) if digest_matches(expected, &sha2::Sha256::digest(&bytes).into()) => {
                        sound.push(info.store_path.clone());
                        continue;
                    }
                    Ok(Some(_)) => format!("its NAR file {} does not hash to its FileHash {expected}", info.url),
                    Ok(None) => format!("its NAR file {} is missing", info.url),
                    Err(err) => format!("its NAR file {} cannot be read: {err:#}", info.url),
                };
                findings.push(bad_nar(info, problem));
            }
        }
        Ok((sound, findings))
    }

    /// What each NAR holds, measured from the bytes: its SHA-256 and size against the narinfo.
    pub(super) fn contents(&self, entries: &Entries, paths: &[String], reader: &str) -> Result<Vec<Finding>> {
        let sized: Vec<(&NarInfo, u64)> =
            paths.iter().map(|p| &entries.by_path[p].info).map(|i| (i, i.nar_size)).collect();
        let chunks = batches(&sized, EXPORT_BYTES).into_iter().flat_map(|batch| batch.chunks(EXPORT_PATHS));
        Ok(chunks.map(|chunk| self.export(chunk, reader)).collect::<Result<Vec<_>>>()?.concat())
    }

    /// Exports `infos` (again without the one Nix stops on, until each was read or refused).
    fn export(&self, infos: &[(&NarInfo, u64)], reader: &str) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        let mut todo: Vec<&NarInfo> = infos.iter().map(|(info, _)| *info).collect();
        while !todo.is_empty() {
            let file = scratch::dir()?.join(format!("export-{}", todo.len()));
            let cmd = nix::export(reader, PATHS, self.net).stdout_to(file.clone());
            let ran = cmd.run_quietly(&Words(todo.iter().map(|i| i.store_path.clone()).collect()));
            let read = export::read_file(&file);
            let _ = std::fs::remove_file(&file);
            for exported in &read {
                let Some(info) = todo.iter().find(|i| i.store_path == exported.path) else { continue };
                if !digest_matches(&info.nar_hash, &exported.nar_sha256) {
                    findings.push(bad_nar(info, "its NAR does not hold what its NarHash says".to_owned()));
                }
                if exported.nar_size != info.nar_size {
                    let problem =
                        format!("its NAR has {} bytes, its NarSize says {}", exported.nar_size, info.nar_size);
                    findings.push(bad_nar(info, problem));
                }
            }
            todo.retain(|i| !read.iter().any(|e| e.path == i.store_path));
            let (Err(err), false) = (ran, todo.is_empty()) else { break };
            // Nix stopped on a path: the first it names of those not read, else the first left.
            let said = format!("{err:#}");
            let info = todo.remove(todo.iter().position(|i| said.contains(&i.store_path)).unwrap_or(0));
            let problem = format!("its NAR cannot be read (Nix: {})", nix::messages::cause(&err));
            findings.push(bad_nar(info, problem));
        }
        Ok(findings)
    }
}

/// A binary cache directory of the entries' narinfos as served (NAR files added as found sound).
pub(super) fn mirror(entries: &Entries) -> Result<PathBuf> {
    let dir = scratch::memory_dir("verify-mirror", (entries.by_path.len() as u64) << 10)?;
    let _ = std::fs::remove_dir_all(&dir);
    crate::cache::narinfo::write_cache_info(&dir)?;
    for (path, entry) in &entries.by_path {
        std::fs::write(dir.join(file_of(path).unwrap_or_default()), &entry.text)?;
    }
    Ok(dir)
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

//! Retention for a cache this project owns: `gc --keep N` keeps the closures of the newest N keys'
//! recorded paths ([`super::roots`]) and of the keys used within the grace period (a push under way
//! recorded its paths before uploading); the rest of the cache (over HTTP, which cannot be listed,
//! of the recorded closures) goes, under the cache's lock, each narinfo before its NAR file. A
//! narinfo that cannot be read is reported and left alone.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use anyhow::{Context, Result};

use super::{
    files::{Fetched, Files},
    lock::Lock,
    narinfo::{self, NarInfo},
    roots::{self, Manifest},
};

/// A narinfo of the cache (under its own path's name, [`narinfo::file_of`]), and its text.
#[derive(Clone)]
pub struct CachedPath {
    /// The narinfo, parsed.
    pub info: NarInfo,
    /// Its bytes as the cache served them (`verify` mirrors them for Nix).
    pub text: Vec<u8>,
}

/// The cache's narinfos, read: by store path, and the files that could not be read (with why).
#[derive(Default)]
pub struct Entries {
    /// Every narinfo that could be read, by the store path it is for.
    pub by_path: BTreeMap<String, CachedPath>,
    /// Why each unreadable narinfo could not be read (its name in the message).
    pub unreadable: Vec<String>,
    /// Of those, the ones proven broken, and why: not a narinfo, or under another path's name
    /// (where it would stand for that path). The others could not be fetched.
    pub bad_files: Vec<(String, String)>,
}

/// The most a narinfo may have (they are a few hundred bytes).
const MAX_NARINFO: u64 = 1 << 20;

impl Entries {
    /// Every narinfo of a directory; for HTTP, those in the closures of the `manifests`' roots, a
    /// layer of references at a time, each layer fetched at once.
    pub fn read(files: &Files, manifests: &[Manifest]) -> Result<Entries> {
        let mut entries = Entries::default();
        let listed = files.list("").transpose()?;
        let mut names: BTreeSet<String> = match &listed {
            Some(names) => names.iter().filter(|n| n.ends_with(".narinfo")).cloned().collect(),
            None => manifests.iter().flat_map(|m| &m.roots).filter_map(|p| narinfo::file_of(p)).collect(),
        };
        while !names.is_empty() {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut next = BTreeSet::new();
            for (file, got) in names.iter().zip(files.get_many(&refs, MAX_NARINFO)?) {
                if let Some(entry) = entries.add(file, got) {
                    next.extend(entry.info.references.iter().cloned());
                }
            }
            if listed.is_some() {
                break;
            }
            next.retain(|p| !entries.by_path.contains_key(p));
            names = next.iter().filter_map(|p| narinfo::file_of(p)).collect();
        }
        Ok(entries)
    }

    fn add(&mut self, file: &str, got: Fetched) -> Option<&CachedPath> {
        let bytes = got.inspect_err(|err| self.unreadable.push(format!("{err:#}"))).ok()??;
        let problem = match NarInfo::parse(file, &bytes) {
            Ok(info) if narinfo::file_of(&info.store_path).as_deref() == Some(file) => {
                // Each file is read once: its path is not yet an entry.
                return Some(&*self.by_path.entry(info.store_path.clone()).or_insert(CachedPath { info, text: bytes }));
            }
            Ok(info) => format!("{file} says it is {}, whose narinfo has another name", info.store_path),
            Err(err) => format!("{err:#}"),
        };
        self.unreadable.push(problem.clone());
        self.bad_files.push((file.to_owned(), problem));
        None
    }

    /// The entries of `paths` alone (those it has).
    pub fn subset(&self, paths: &[String]) -> Entries {
        let by_path = paths.iter().filter_map(|p| Some((p.clone(), self.by_path.get(p)?.clone()))).collect();
        Entries { by_path, ..Entries::default() }
    }

    /// `roots` and every path they refer to, as far as the cache has them.
    pub fn closure(&self, roots: impl IntoIterator<Item = String>) -> BTreeSet<String> {
        let mut live = BTreeSet::new();
        let mut stack: Vec<String> = roots.into_iter().collect();
        while let Some(path) = stack.pop() {
            let Some(entry) = self.by_path.get(&path) else { continue };
            if live.insert(path) {
                stack.extend(entry.info.references.iter().cloned());
            }
        }
        live
    }
}

/// What a collection keeps and deletes.
pub struct Collection {
    /// Keys whose paths are kept: the newest N and those used within the grace period.
    pub kept_keys: Vec<String>,
    /// Keys whose paths go, with their manifests.
    pub dropped_keys: Vec<String>,
    /// Store paths to delete, with the files that hold each: the narinfo first.
    pub delete: BTreeMap<String, Vec<String>>,
    /// NAR bytes freed.
    pub bytes: u64,
    /// Store paths that stay.
    pub kept: usize,
    /// Narinfos left alone because they could not be read, with why.
    pub unreadable: Vec<String>,
}

/// What `gc --keep N --grace G` would do.
pub(crate) fn collection(files: &Files, keep: usize, grace: Duration) -> Result<Collection> {
    let manifests = roots::all(files)?;
    Ok(Collection::of(&manifests, &Entries::read(files, &manifests)?, keep, grace))
}

impl Collection {
    /// What gc would do with these manifests (newest first) and the cache's narinfos.
    pub fn of(manifests: &[Manifest], entries: &Entries, keep: usize, grace: Duration) -> Collection {
        let young = roots::now_ms().saturating_sub(grace.as_millis() as u64);
        let (kept, dropped): (Vec<_>, Vec<_>) =
            manifests.iter().enumerate().partition(|(i, m)| *i < keep || m.updated >= young);
        let keys = |ms: Vec<(usize, &Manifest)>| ms.into_iter().map(|(_, m)| m.key.clone()).collect();
        let live = entries.closure(kept.iter().flat_map(|(_, m)| m.roots.iter().cloned()));
        // Two paths with the same contents share one NAR file: it goes only with the last of them.
        let kept_nars: BTreeSet<&str> = live.iter().map(|p| entries.by_path[p].info.url.as_str()).collect();
        let (mut delete, mut bytes) = (BTreeMap::new(), 0u64);
        for (path, entry) in entries.by_path.iter().filter(|(p, _)| !live.contains(*p)) {
            bytes = bytes.saturating_add(entry.info.file_size.unwrap_or(entry.info.nar_size));
            let nar = Some(entry.info.url.clone()).filter(|n| !kept_nars.contains(n.as_str()));
            delete.insert(path.clone(), narinfo::file_of(path).into_iter().chain(nar).collect());
        }
        Collection {
            kept_keys: keys(kept),
            dropped_keys: keys(dropped),
            kept: entries.by_path.len() - delete.len(),
            delete,
            bytes,
            unreadable: entries.unreadable.clone(),
        }
    }
}

/// Deletes what the plan says, under the lock it was made under: each narinfo, then its NAR; then
/// the manifests of the keys dropped, and the index.
pub fn collect(files: &Files, lock: &mut Lock, plan: &Collection) -> Result<()> {
    for (path, doomed) in &plan.delete {
        lock.renew()?;
        for file in doomed {
            files.delete(file).with_context(|| format!("cannot delete {path} from {}", files.label()))?;
        }
    }
    for key in &plan.dropped_keys {
        files.delete(&roots::manifest_file(key))?;
    }
    roots::write_index(files, &plan.kept_keys.iter().cloned().collect())
}

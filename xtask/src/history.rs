//! The history: the records of the runs that changed a cache, kept where later runs can read them.
//!
//! - A cache this project owns (a directory, or HTTP): in the cache itself, each record a file of
//!   `xtask-records/` (HTTP, which cannot be listed, also keeps `xtask-records/index.json`, changed
//!   under the cache's lock), at most [`KEEP`] of them (the oldest go first), and `gc` deletes the
//!   records of the keys it drops, with the same retention as their paths.
//! - Cachix, where no file can be stored: the directory `target/xtask-history`, which the
//!   generated workflows carry from run to run in the GitHub Actions cache (every job restores
//!   it; a push to the default branch saves what its jobs added).
//!
//! Reading never fails a task: what cannot be read is a warning, and the rest is read. A read-only
//! cache (a fork's pull request, Cachix without its token) writes nothing.

use std::{collections::BTreeSet, path::PathBuf};

use anyhow::Result;

use crate::{
    cache::{files::Files, roots, Cache},
    record::{Record, MAX_BYTES},
    session::Session,
};

/// The folder of the records.
pub const DIR: &str = "xtask-records";
const INDEX: &str = "xtask-records/index.json";
/// Where the history of a Cachix cache is, under the workspace root.
pub(crate) const LOCAL: &str = "target/xtask-history";
/// Records kept: the newest, about ninety runs of a workflow of ten jobs.
pub const KEEP: usize = 1000;

/// Where a session's cache keeps its history.
pub struct History {
    files: Files,
    /// Records may be written (not a fork, a cache that takes writes).
    writable: bool,
    timeout: u64,
}

impl History {
    /// The history of the session's cache: in the cache when this project owns it, else (Cachix)
    /// in the workspace's `target/xtask-history`; `None` for a cache that keeps none (S3, SSH).
    pub fn of(session: &Session) -> Option<History> {
        let writable = !matches!(session.cache, Cache::ReadOnly { .. });
        let timeout = session.config.cache_timeout;
        if let Some(files) = session.files() {
            return Some(History { files, writable, timeout });
        }
        let cachix = match &session.cache {
            Cache::ReadOnly { of, .. } => matches!(**of, Cache::Cachix { .. }),
            cache => matches!(cache, Cache::Cachix { .. }),
        };
        // A directory of this checkout, carried by the workflow: no credential guards it, but a
        // fork's pull request writes nothing.
        let writable = !session.cache.is_forks();
        cachix.then(|| History { files: Files::Dir(session.root.join(LOCAL)), writable, timeout })
    }

    /// A history in a directory of its own (the dashboard of a saved history).
    pub fn dir(dir: PathBuf) -> History {
        History { files: Files::Dir(dir), writable: false, timeout: 30 }
    }

    /// Where it is, for messages.
    pub fn label(&self) -> String {
        self.files.label()
    }

    /// Keeps a record: its file, then (HTTP) the index, under the cache's lock; the oldest beyond
    /// [`KEEP`] go. An index that cannot be read is never written over: the records it lists
    /// would stay on the server, out of reach and beyond gc. Entries that are not record ids are
    /// dropped from it (each named).
    pub(crate) fn append(&self, record: &Record) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        let _lock = self.files.lock(roots::LOCK_WAIT, roots::lease(self.timeout))?;
        let (mut ids, bad) = self.ids()?;
        for problem in &bad {
            crate::github::warning(&format!("{}: {problem}: left out of the history", self.label()));
        }
        self.files.put(&file(&record.id), &record.to_bytes())?;
        ids.insert(record.id.clone());
        while ids.len() > KEEP {
            let oldest = ids.pop_first().expect("more than KEEP ids");
            self.files.delete(&file(&oldest))?;
        }
        self.write_index(&ids)
    }

    /// Every record it holds, oldest first, and what could not be read (never an error). A
    /// record's id is its file's name, whatever it says of itself, and its numbers must be ones a
    /// run could have measured ([`Record::check`]).
    pub fn read(&self) -> (Vec<Record>, Vec<String>) {
        let (ids, mut problems) = match self.ids() {
            Ok(listing) => listing,
            Err(err) => return (Vec::new(), vec![format!("cannot list the history in {}: {err:#}", self.label())]),
        };
        let files: Vec<String> = ids.iter().map(|id| file(id)).collect();
        let names: Vec<&str> = files.iter().map(String::as_str).collect();
        let fetched = match self.files.get_many(&names, MAX_BYTES) {
            Ok(fetched) => fetched,
            Err(err) => return (Vec::new(), vec![format!("cannot read the history in {}: {err:#}", self.label())]),
        };
        let now = crate::record::now_ms();
        let mut records = Vec::new();
        for ((id, file), bytes) in ids.iter().zip(&files).zip(fetched) {
            let record = bytes.map(|b| b.map(|b| Record::parse(&b).and_then(|r| r.check(now).map(|()| r))));
            match record {
                Ok(Some(Ok(record))) => records.push(Record { id: id.clone(), ..record }),
                Ok(Some(Err(err))) | Err(err) => problems.push(format!("{file}: {err:#}")),
                Ok(None) => {}
            }
        }
        records.sort_by(|a, b| a.started_ms.cmp(&b.started_ms).then(a.id.cmp(&b.id)));
        (records, problems)
    }

    /// Deletes the records of the deps keys `keys` (gc, under its lock); how many went.
    pub fn forget(&self, keys: &BTreeSet<String>) -> Result<u64> {
        let (records, _) = self.read();
        let (mut ids, _) = self.ids()?;
        let mut gone = 0;
        for record in records.iter().filter(|r| r.deps_key.as_ref().is_some_and(|k| keys.contains(k))) {
            self.files.delete(&file(&record.id))?;
            ids.remove(&record.id);
            gone += 1;
        }
        if gone > 0 {
            self.write_index(&ids)?;
        }
        Ok(gone)
    }

    /// The ids of the records (a directory's listing, else the index: an error when it is not a
    /// list), in the records' order (an id starts with its run's start), and the entries that are
    /// not record ids, each named (it costs only itself).
    fn ids(&self) -> Result<(BTreeSet<String>, Vec<String>)> {
        let entries: Vec<Result<String, String>> = match self.files.list(DIR) {
            Some(listed) => {
                let names = listed?.into_iter().filter_map(|n| Some(n.strip_suffix(".json")?.to_owned()));
                names.filter(|n| n != "index").map(|n| if crate::files::is_name(&n) { Ok(n) } else { Err(n) }).collect()
            }
            None => {
                let repair = "so no record is added to it (its records would be lost): restore it, or delete it to \
                              start the history anew";
                self.files.index(INDEX, "record ids", repair)?.unwrap_or_default()
            }
        };
        let bad = entries.iter().filter_map(|e| e.as_ref().err()).map(|e| format!("{e} is not a record id")).collect();
        Ok((entries.into_iter().flatten().collect(), bad))
    }

    fn write_index(&self, ids: &BTreeSet<String>) -> Result<()> {
        match self.files {
            Files::Dir(_) => Ok(()),
            Files::Http(_) => self.files.put(INDEX, &serde_json::to_vec(ids)?),
        }
    }
}

/// A record's file.
fn file(id: &str) -> String {
    format!("{DIR}/{id}.json")
}

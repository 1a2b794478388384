//! Retention for a cache this project owns (a `file://` directory here; HTTP in `gc_http.rs`):
//! each task that pushes records
//! which roots it built under which deps key, in a small manifest beside the narinfos
//! (`xtask-roots/<key>.json`), and `cargo xtask gc --keep N` deletes everything outside the
//! closures of the newest N keys' roots. A kept root's references are always kept: the closure is
//! read from the cache's own narinfos.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};

use crate::{files, json::Json};

pub const MANIFESTS: &str = "xtask-roots";

/// The roots recorded under one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub key: String,
    /// Milliseconds since the epoch of the last task that added roots under the key.
    pub updated: u64,
    pub roots: BTreeSet<String>,
}

/// Adds `roots` to the manifest of `key` in the cache directory `dir`, and marks it newest. A task
/// that adds no root writes nothing (a no-op warm leaves the cache as it was).
pub fn record(dir: &Path, key: &str, roots: &[String]) -> Result<()> {
    let path = dir.join(MANIFESTS).join(format!("{key}.json"));
    let mut manifest = read_manifest(&path).unwrap_or_else(|| Manifest::new(key));
    if !manifest.lacks(roots) {
        return Ok(());
    }
    manifest.add(roots);
    std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
    files::write_atomic(&path, manifest.to_json().as_bytes())
}

impl Manifest {
    pub fn new(key: &str) -> Manifest {
        Manifest { key: key.to_owned(), updated: 0, roots: BTreeSet::new() }
    }

    /// Whether recording `roots` would change the manifest.
    pub fn lacks(&self, roots: &[String]) -> bool {
        self.updated == 0 || roots.iter().any(|r| !self.roots.contains(r))
    }

    /// Adds roots and marks the manifest newest.
    pub fn add(&mut self, roots: &[String]) {
        self.roots.extend(roots.iter().cloned());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        self.updated = now.max(self.updated);
    }

    pub fn to_json(&self) -> String {
        Json::object([
            ("key", Json::from(self.key.as_str())),
            ("updated", Json::from(self.updated)),
            ("roots", Json::Array(self.roots.iter().map(|r| Json::from(r.as_str())).collect())),
        ])
        .pretty()
    }

    pub fn parse(text: &str) -> Option<Manifest> {
        let json = Json::parse(text).ok()?;
        Some(Manifest {
            key: json.get("key").as_str()?.to_owned(),
            updated: json.get("updated").as_f64()? as u64,
            roots: json.get("roots").as_array()?.iter().filter_map(Json::as_str).map(str::to_owned).collect(),
        })
    }
}

fn read_manifest(path: &Path) -> Option<Manifest> {
    Manifest::parse(&std::fs::read_to_string(path).ok()?)
}

/// Every manifest of the cache, newest first.
pub fn manifests(dir: &Path) -> Vec<(PathBuf, Manifest)> {
    let mut found: Vec<(PathBuf, Manifest)> = std::fs::read_dir(dir.join(MANIFESTS))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| read_manifest(&e.path()).map(|m| (e.path(), m)))
        .collect();
    found.sort_by(|(_, a), (_, b)| b.updated.cmp(&a.updated).then(b.key.cmp(&a.key)));
    found
}

/// A narinfo of the cache: its path, references (store paths) and the files that hold it.
struct Entry {
    narinfo: PathBuf,
    nar: Option<PathBuf>,
    references: Vec<String>,
    bytes: u64,
}

/// What a collection keeps and deletes.
pub struct Collection {
    pub kept_keys: Vec<String>,
    pub dropped_keys: Vec<PathBuf>,
    /// Store paths to delete, with the files that hold each.
    pub delete: BTreeMap<String, Vec<PathBuf>>,
    pub bytes: u64,
    pub kept: usize,
}

/// What `gc --keep N` would do to the cache directory `dir`.
pub fn plan(dir: &Path, keep: usize) -> Result<Collection> {
    let entries = read_entries(dir)?;
    let manifests = manifests(dir);
    let (kept, dropped) = manifests.split_at(keep.min(manifests.len()));
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = kept.iter().flat_map(|(_, m)| m.roots.iter().cloned()).collect();
    while let Some(path) = stack.pop() {
        if live.insert(path.clone()) {
            stack.extend(entries.get(&path).into_iter().flat_map(|e| e.references.iter().cloned()));
        }
    }
    // Two paths with the same contents share one NAR file: it goes only with the last of them.
    let kept_nars: BTreeSet<&PathBuf> =
        entries.iter().filter(|(p, _)| live.contains(*p)).filter_map(|(_, e)| e.nar.as_ref()).collect();
    let mut delete = BTreeMap::new();
    let mut bytes = 0;
    for (path, entry) in entries.iter().filter(|(p, _)| !live.contains(*p)) {
        bytes += entry.bytes;
        let nar = entry.nar.clone().filter(|n| !kept_nars.contains(n));
        delete.insert(path.clone(), std::iter::once(entry.narinfo.clone()).chain(nar).collect());
    }
    Ok(Collection {
        kept_keys: kept.iter().map(|(_, m)| m.key.clone()).collect(),
        dropped_keys: dropped.iter().map(|(p, _)| p.clone()).collect(),
        kept: entries.len() - delete.len(),
        delete,
        bytes,
    })
}

/// The narinfos of a cache directory, by store path.
fn read_entries(dir: &Path) -> Result<BTreeMap<String, Entry>> {
    let mut entries = BTreeMap::new();
    for file in std::fs::read_dir(dir).with_context(|| format!("cannot list the cache {}", dir.display()))? {
        let narinfo = file?.path();
        if narinfo.extension().is_none_or(|e| e != "narinfo") {
            continue;
        }
        let text = std::fs::read_to_string(&narinfo)?;
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
        let Some(path) = field("StorePath:") else { continue };
        let store = path.rsplit_once('/').map_or("/nix/store", |(s, _)| s);
        let references = field("References:")
            .unwrap_or_default()
            .split_whitespace()
            .map(|r| format!("{store}/{r}"))
            .filter(|r| r != path)
            .collect();
        let nar = field("URL:").map(|url| dir.join(url));
        let bytes = field("FileSize:").and_then(|s| s.parse().ok()).unwrap_or(0) + text.len() as u64;
        entries.insert(path.to_owned(), Entry { narinfo, nar, references, bytes });
    }
    Ok(entries)
}

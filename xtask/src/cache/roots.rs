//! The roots each pushing task records in a cache this project owns, for `gc`: a manifest per deps
//! key (`xtask-roots/<key>.json`: when it was last used, the store paths its tasks need), and an
//! index of the keys (`xtask-roots/index.json`: HTTP cannot be listed). A task records them before
//! it uploads, under the cache's lock ([`super::lock`]), so gc either ran before (and the push asks
//! the cache what it lacks) or keeps them. A record only adds; a failed push's roots are a leak the
//! next gc of its key collects.

use std::{collections::BTreeSet, time::Duration};

use anyhow::{ensure, Context, Result};

use super::files::Files;
use serde::{Deserialize, Serialize};

/// The folder of the manifests, beside the narinfos.
pub const DIR: &str = "xtask-roots";
const INDEX: &str = "xtask-roots/index.json";

/// The paths recorded under one key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The deps key the paths are recorded under.
    pub key: String,
    /// Milliseconds since the epoch of the last task that recorded under the key.
    pub updated: u64,
    /// The store paths a fresh runner needs, for every task recorded under the key.
    pub roots: BTreeSet<String>,
}

/// How long a task waits for the lock (gc may hold it while it deletes).
pub const LOCK_WAIT: Duration = Duration::from_secs(600);

/// The lease of a holder: generous for a few requests of at most `timeout` seconds each.
pub fn lease(timeout: u64) -> Duration {
    Duration::from_secs((timeout * 6).max(120))
}

/// The manifest of a key.
pub(crate) fn manifest_file(key: &str) -> String {
    format!("{DIR}/{key}.json")
}

/// Adds `roots` to the manifest of `key` and marks the key used now, under the cache's lock; a
/// no-op within a minute of the last use (a warm that changed nothing leaves the cache as it was).
pub fn record(files: &Files, timeout: u64, key: &str, roots: &BTreeSet<String>) -> Result<()> {
    let mut lock = files.lock(LOCK_WAIT, lease(timeout))?;
    let mut manifest = read(files, key)?.unwrap_or_else(|| Manifest { key: key.to_owned(), ..Default::default() });
    let now = now_ms();
    if roots.is_subset(&manifest.roots) && now.saturating_sub(manifest.updated) < 60_000 {
        return Ok(());
    }
    manifest.roots.extend(roots.iter().cloned());
    manifest.updated = now.max(manifest.updated);
    lock.renew()?;
    files.put(&manifest_file(key), &serde_json::to_vec_pretty(&manifest)?)?;
    let mut keys = keys(files)?;
    if keys.insert(key.to_owned()) {
        lock.renew()?;
        write_index(files, &keys)?;
    }
    Ok(())
}

/// The manifest of a key, if any; one that cannot be read is an error naming its repair.
fn read(files: &Files, key: &str) -> Result<Option<Manifest>> {
    let Some(bytes) = files.get(&manifest_file(key))? else { return Ok(None) };
    let file = || format!("{}/{}", files.label(), manifest_file(key));
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a manifest of the xtask: delete it", file()))?;
    // Its file is what gc deletes with its key: a manifest under another key's name (a copy, a
    // corrupt one) would have gc drop the live key's file and keep the stale one.
    ensure!(
        manifest.key == key,
        "{} is the manifest of another key ({}): delete it, or move it to {}",
        file(),
        manifest.key,
        manifest_file(&manifest.key)
    );
    Ok(Some(manifest))
}

/// Every key with a manifest: a directory's listing, else the index, which is an error when not a
/// list (written over, the keys it named would be beyond gc); an entry that is no key is left out.
pub fn keys(files: &Files) -> Result<BTreeSet<String>> {
    if let Some(listed) = files.list(DIR) {
        let keys = listed?.into_iter().filter_map(|n| Some(n.strip_suffix(".json")?.to_owned()));
        return Ok(keys.filter(|k| k != "index").collect());
    }
    let repair = format!("write it again as the JSON list of the keys whose {DIR}/<key>.json are on the server");
    Ok(files.index(INDEX, "keys", &repair)?.into_iter().flatten().flatten().collect())
}

/// Every manifest, newest first.
pub fn all(files: &Files) -> Result<Vec<Manifest>> {
    let mut found: Vec<Manifest> =
        keys(files)?.iter().filter_map(|k| read(files, k).transpose()).collect::<Result<_>>()?;
    found.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.key.cmp(&a.key)));
    Ok(found)
}

pub(crate) fn write_index(files: &Files, keys: &BTreeSet<String>) -> Result<()> {
    files.put(INDEX, &serde_json::to_vec_pretty(keys)?)
}

/// Milliseconds since the epoch (0 when the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

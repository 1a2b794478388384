//! A binary cache directory as the tests read it: its paths and narinfos (by the xtask's own
//! parser), its files, and the history of the runs it keeps.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use super::narinfo;

/// The store paths a binary cache directory holds (from its `.narinfo` files).
pub fn cached_paths(dir: &Path) -> BTreeSet<String> {
    narinfos(dir).into_iter().map(|info| info.store_path).collect()
}

/// Every narinfo of a binary cache directory, read by the xtask's own parser.
pub fn narinfos(dir: &Path) -> Vec<narinfo::NarInfo> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let files = entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "narinfo"));
    files.map(|p| narinfo::NarInfo::parse(&p.display().to_string(), &fs::read(&p).unwrap()).unwrap()).collect()
}

/// Every file of a directory with its size and modification time: to show nothing was written.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files.push((entry.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The store's files of a binary cache (narinfos, NARs, the recorded roots), without the history
/// of the runs (`xtask-records/`), which every run that changes a cache adds to, and the lock
/// (taken to add to it).
pub fn store_files(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let records = dir.join(xtask::history::DIR);
    let lock = |p: &Path| {
        p.parent() == Some(&dir.join("xtask-roots"))
            && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("lock"))
    };
    snapshot(dir).into_iter().filter(|(path, _, _)| !path.starts_with(&records) && !lock(path)).collect()
}

/// The records in a cache's history, oldest first.
pub fn history(dir: &Path) -> Vec<xtask::record::Record> {
    let (records, problems) = xtask::history::History::dir(dir.to_path_buf()).read();
    assert!(problems.is_empty(), "{problems:?}");
    records
}

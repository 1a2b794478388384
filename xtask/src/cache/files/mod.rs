//! The files of a binary cache this project owns, read and written by the xtask itself (gc,
//! verify, the roots it records): a directory (`file://`), or an HTTP server that takes PUT and
//! DELETE (curl, with the credentials Nix uses). Every path must be a
//! [`safe_path`](super::narinfo::safe_path): nothing outside the cache is read, written or deleted.

use sha2::Digest;
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, ensure, Context, Result};

mod beneath;
mod http;

pub(crate) use self::beneath::{found, Beneath};
pub use self::http::{Http, Netrc};

/// Where a cache's files are.
#[derive(Debug, Clone)]
pub enum Files {
    /// A directory on this machine (`file://`).
    Dir(PathBuf),
    /// An HTTP server that takes PUT and DELETE.
    Http(Http),
}

/// What a DELETE did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deleted {
    Yes,
    /// There was no such file.
    Absent,
    /// The cache takes no DELETE (HTTP 405 or 501).
    NotAllowed,
}

/// One file of several fetched at once: its bytes, `None` when absent, or why it could not be read.
pub(crate) type Fetched = Result<Option<Vec<u8>>>;

impl Files {
    /// An index of file names (a JSON list, kept where files cannot be listed: HTTP): each entry a
    /// name, or (`Err`) one that cannot be a file's name (`../x`, a number), which costs only
    /// itself; `None`: no index. One that is not a list is an error naming `what` it lists and its
    /// `repair`, never read as empty: writing it over would lose what it names.
    pub fn index(&self, path: &str, what: &str, repair: &str) -> Result<Option<Vec<Result<String, String>>>> {
        let Some(bytes) = self.get(path)? else { return Ok(None) };
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}/{path} is not a list of {what}: {repair}", self.label()))?;
        let name = |entry: &serde_json::Value| entry.as_str().filter(|n| crate::files::is_name(n)).map(str::to_owned);
        Ok(Some(entries.iter().map(|entry| name(entry).ok_or_else(|| entry.to_string())).collect()))
    }

    /// A file's contents; `None` when the cache has no such file.
    pub fn get(&self, path: &str) -> Result<Option<Vec<u8>>> {
        self.get_many(&[path], MAX_FILE)?.remove(0)
    }

    /// Writes a file whole: a temporary file renamed into place, or one PUT.
    pub fn put(&self, path: &str, bytes: &[u8]) -> Result<()> {
        match self {
            Files::Dir(dir) => {
                let cache = Beneath::open(dir, true).with_context(|| format!("cannot open {}", dir.display()))?;
                cache.write(path, bytes).with_context(|| format!("cannot write {path} in {}", dir.display()))
            }
            Files::Http(http) => {
                let file = crate::scratch::file("upload", bytes)?;
                let status = http.status(&["--upload-file", &file.display().to_string()], path);
                let _ = fs::remove_file(&file);
                match status? {
                    200..=299 => Ok(()),
                    status => bail!(
                        "PUT {}/{path} answered HTTP {status}: the server must take PUT with the write credentials",
                        http.base
                    ),
                }
            }
        }
    }

    /// Writes files whole, each on its own: a directory's by rename, over HTTP by one curl of
    /// parallel PUTs. Fails naming every file that could not be written.
    pub fn put_many(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        match self {
            Files::Dir(_) => files.iter().try_for_each(|(path, bytes)| self.put(path, bytes)),
            Files::Http(http) => http.puts(files),
        }
    }

    /// Deletes a file, if there is one.
    pub fn delete(&self, path: &str) -> Result<()> {
        ensure!(
            self.try_delete(path)? != Deleted::NotAllowed,
            "DELETE {}/{path}: the server does not take DELETE (nginx: dav_methods PUT DELETE)",
            self.label()
        );
        Ok(())
    }

    /// Deletes a file, and says whether it was there, or that the cache takes no DELETE.
    pub(crate) fn try_delete(&self, path: &str) -> Result<Deleted> {
        match self {
            Files::Dir(dir) => {
                let Some(cache) = open(dir)? else { return Ok(Deleted::Absent) };
                let deleted =
                    cache.delete(path).with_context(|| format!("cannot delete {path} in {}", dir.display()))?;
                Ok(if deleted { Deleted::Yes } else { Deleted::Absent })
            }
            Files::Http(http) => match http.status(&["--request", "DELETE"], path)? {
                200..=299 => Ok(Deleted::Yes),
                404 | 410 => Ok(Deleted::Absent),
                405 | 501 => Ok(Deleted::NotAllowed),
                status => bail!(
                    "DELETE {}/{path} answered HTTP {status}: the server must take DELETE with the write credentials",
                    http.base
                ),
            },
        }
    }

    /// Whether a NAR file a repair names is broken: its bytes are not what its name says. Nix names
    /// a NAR file by its hash (`nar/<FileHash>.nar.zst`) and never writes over one: a file that
    /// hashes to its name may be another entry's (two paths of the same contents share one), so it
    /// stays; one that does not would block the upload replacing it. A failed read is an error.
    pub(crate) fn nar_is_broken(&self, nar: &str) -> Result<bool> {
        let Some(named) = nar_name_hash(nar) else { return Ok(false) };
        let Some(size) = self.sizes(&[nar])?.remove(nar).flatten() else { return Ok(false) };
        let bytes = self.get_many(&[nar], size)?.remove(0);
        let bytes = bytes.with_context(|| format!("cannot tell whether {nar} is broken"))?;
        Ok(bytes.is_some_and(|b| super::narinfo::nix32(&sha2::Sha256::digest(&b)) != named))
    }

    /// The size of each file, `None` for one the cache lacks: a stat each, or one curl of HEADs.
    pub fn sizes(&self, paths: &[&str]) -> Result<BTreeMap<String, Option<u64>>> {
        let dir = match self {
            Files::Dir(dir) => dir,
            Files::Http(http) => return http.heads(paths),
        };
        let cache = open(dir)?;
        let size = |path: &&str| {
            let size = cache.as_ref().map(|c| c.size(path)).transpose();
            let size = size.with_context(|| format!("cannot stat {path} in {}", dir.display()))?;
            Ok((path.to_string(), size.flatten()))
        };
        paths.iter().map(size).collect()
    }

    /// Several files' contents, in order, each on its own: `None` for one the cache lacks, an error
    /// for one that cannot be read (larger than `limit`, not a file, an HTTP error). Over HTTP, one
    /// curl fetches them all; fails only when nothing could be asked.
    pub(crate) fn get_many(&self, paths: &[&str], limit: u64) -> Result<Vec<Fetched>> {
        let dir = match self {
            Files::Dir(dir) => dir,
            Files::Http(http) => return http.gets(paths, limit),
        };
        let cache = open(dir)?;
        let read = |path: &&str| {
            let Some(cache) = &cache else { return Ok(None) };
            found(cache.read(path, limit)).with_context(|| format!("cannot read {path} in {}", dir.display()))
        };
        Ok(paths.iter().map(read).collect())
    }

    /// [`Files::get_many`], over HTTP each file also kept as served under its own path in `into`
    /// (a binary cache directory Nix can read); a directory's files are read in place.
    pub(crate) fn get_many_into(&self, into: Option<&Path>, paths: &[&str], limit: u64) -> Result<Vec<Fetched>> {
        match (self, into) {
            (Files::Http(http), Some(dir)) => http.gets_into(dir, paths, limit),
            _ => self.get_many(paths, limit),
        }
    }

    /// The names in a folder of the cache (`""`: the cache itself); `None` over HTTP, never listed.
    pub fn list(&self, folder: &str) -> Option<Result<Vec<String>>> {
        let Files::Dir(dir) = self else { return None };
        let listed = || {
            let Some(cache) = open(dir)? else { return Ok(Vec::new()) };
            cache.list(folder).with_context(|| format!("cannot list {folder:?} in the cache {}", dir.display()))
        };
        Some(listed())
    }

    /// How messages name the cache.
    pub fn label(&self) -> String {
        match self {
            Files::Dir(dir) => dir.display().to_string(),
            Files::Http(http) => http.base.clone(),
        }
    }
}

/// The most a file of the cache read whole may have: a bound, not a size any should reach.
const MAX_FILE: u64 = 1 << 40;

/// The hash a NAR file's name gives (`nar/<52 digits of Nix's base 32>.nar[.ext]`), if it is one.
fn nar_name_hash(nar: &str) -> Option<&str> {
    let (hash, rest) = nar.strip_prefix("nar/")?.split_once('.')?;
    let named = hash.len() == 52 && hash.bytes().all(|b| super::narinfo::NIX32.contains(&b));
    (named && (rest == "nar" || rest.starts_with("nar."))).then_some(hash)
}

/// The cache directory, opened; `None` when it does not exist.
fn open(dir: &Path) -> Result<Option<Beneath>> {
    found(Beneath::open(dir, false)).with_context(|| format!("cannot open the cache {}", dir.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_nar_files_name_gives_its_hash_only_in_the_form_nix_writes() {
        let hash = "064i6c87f5gzq95b6w8ffhjc864xl15hfigy8b9jllb54p5kaq5p";
        for name in [format!("nar/{hash}.nar.zst"), format!("nar/{hash}.nar"), format!("nar/{hash}.nar.xz")] {
            assert_eq!(super::nar_name_hash(&name), Some(hash), "{name}");
        }
        for name in [
            format!("{hash}.nar.zst"),
            format!("nar/{hash}.zst"),
            format!("nar/{}.nar", &hash[1..]),
            "nar/064i6c87f5gzq95b6w8ffhjc864xl15hfigy8b9jllb54p5kaq5e.nar".to_owned(),
        ] {
            assert_eq!(super::nar_name_hash(&name), None, "{name}");
        }
    }
}

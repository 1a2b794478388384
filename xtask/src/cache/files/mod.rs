//! The files of a binary cache this project owns, read and written by the xtask itself (gc,
//! verify, the roots it records): a directory (`file://`), or an HTTP server that takes PUT and
//! DELETE (curl, with the credentials Nix uses). Every path goes through
//! [`safe_path`]: nothing outside the cache is ever read, written or deleted.

use std::{
    collections::BTreeMap,
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use xshell::Shell;

mod beneath;
mod http;

pub use self::{
    beneath::Beneath,
    http::{Http, Netrc},
};
use super::narinfo::safe_path;

/// Where a cache's files are.
#[derive(Debug, Clone)]
pub enum Files {
    Dir(PathBuf),
    Http(Http),
}

/// What a DELETE did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Yes,
    /// There was no such file.
    Absent,
    /// The cache takes no DELETE (HTTP 405 or 501).
    NotAllowed,
}

/// One file of several fetched at once: its bytes, `None` when absent, or why it could not be read.
pub type Fetched = Result<Option<Vec<u8>>>;

impl Files {
    /// A file's contents; `None` when the cache has no such file.
    pub fn get(&self, sh: &Shell, path: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Files::Dir(dir) => {
                match checked(dir, path).map(|()| Beneath::open(dir, false).and_then(|c| c.read(path, MAX_FILE)))? {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("cannot read {path} in {}", dir.display())),
                }
            }
            Files::Http(http) => {
                let file = crate::scratch::dir()?.join("download");
                let _ = fs::remove_file(&file);
                let status = http.status(sh, &["--output", &file.display().to_string()], path)?;
                let bytes = (status == 200).then(|| fs::read(&file)).transpose()?;
                let _ = fs::remove_file(&file);
                match status {
                    200 => Ok(bytes),
                    404 | 410 => Ok(None),
                    _ => bail!("GET {}/{path} answered HTTP {status}", http.base),
                }
            }
        }
    }

    /// Writes a file whole: a temporary file renamed into place, or one PUT.
    pub fn put(&self, sh: &Shell, path: &str, bytes: &[u8]) -> Result<()> {
        match self {
            Files::Dir(dir) => {
                let cache = Beneath::open(dir, true).with_context(|| format!("cannot open {}", dir.display()))?;
                checked(dir, path)?;
                cache.write(path, bytes).with_context(|| format!("cannot write {path} in {}", dir.display()))
            }
            Files::Http(http) => {
                let file = crate::scratch::file("upload", bytes)?;
                let status = http.status(sh, &["--upload-file", &file.display().to_string()], path);
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

    /// Deletes a file; whether it existed.
    pub fn delete(&self, sh: &Shell, path: &str) -> Result<bool> {
        match self.try_delete(sh, path)? {
            Deleted::Yes => Ok(true),
            Deleted::Absent => Ok(false),
            Deleted::NotAllowed => {
                bail!("DELETE {}/{path}: the server does not take DELETE (nginx: dav_methods PUT DELETE)", self.label())
            }
        }
    }

    /// Deletes a file, and says whether it was there, or that the cache takes no DELETE.
    pub fn try_delete(&self, sh: &Shell, path: &str) -> Result<Deleted> {
        match self {
            Files::Dir(dir) => {
                match checked(dir, path).map(|()| Beneath::open(dir, false).and_then(|c| c.delete(path)))? {
                    Ok(true) => Ok(Deleted::Yes),
                    Ok(false) => Ok(Deleted::Absent),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(Deleted::Absent),
                    Err(e) => Err(e).with_context(|| format!("cannot delete {path} in {}", dir.display())),
                }
            }
            Files::Http(http) => match http.status(sh, &["--request", "DELETE"], path)? {
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

    /// The size of each file, `None` for one the cache lacks: a stat each, or one curl of HEADs.
    pub fn sizes(&self, sh: &Shell, paths: &[&str]) -> Result<BTreeMap<String, Option<u64>>> {
        match self {
            Files::Dir(dir) => {
                let cache = match Beneath::open(dir, false) {
                    Ok(cache) => cache,
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        return Ok(paths.iter().map(|p| (p.to_string(), None)).collect())
                    }
                    Err(e) => return Err(e).with_context(|| format!("cannot open the cache {}", dir.display())),
                };
                paths
                    .iter()
                    .map(|path| {
                        checked(dir, path)?;
                        let size =
                            cache.size(path).with_context(|| format!("cannot stat {path} in {}", dir.display()))?;
                        Ok((path.to_string(), size))
                    })
                    .collect()
            }
            Files::Http(http) => http.heads(sh, paths),
        }
    }

    /// Several files' contents, in order, each on its own: `None` for one the cache lacks, an
    /// error for one that cannot be read (larger than `limit`, not a file, an HTTP error). Read one
    /// by one from a directory, fetched by one curl over HTTP (parallel requests on kept-alive
    /// connections); fails only when nothing could be asked.
    pub fn get_many(&self, sh: &Shell, paths: &[&str], limit: u64) -> Result<Vec<Fetched>> {
        match self {
            Files::Dir(dir) => {
                let Ok(cache) = Beneath::open(dir, false) else { return Ok(paths.iter().map(|_| Ok(None)).collect()) };
                let read = |path: &str| {
                    checked(dir, path)?;
                    match cache.read(path, limit) {
                        Ok(bytes) => Ok(Some(bytes)),
                        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(e).with_context(|| format!("cannot read {path} in {}", dir.display())),
                    }
                };
                Ok(paths.iter().map(|path| read(path)).collect())
            }
            Files::Http(http) => http.gets(sh, paths, limit),
        }
    }

    /// The names in a folder of the cache, when it can be listed (a directory; HTTP cannot).
    pub fn list(&self, folder: &str) -> Option<Result<Vec<String>>> {
        let Files::Dir(dir) = self else { return None };
        Some(list(dir, folder))
    }

    /// The narinfo files, when the cache can be listed (a directory; HTTP cannot).
    pub fn narinfos(&self) -> Option<Result<Vec<String>>> {
        let Files::Dir(dir) = self else { return None };
        Some(list(dir, "").map(|names| names.into_iter().filter(|n| n.ends_with(".narinfo")).collect()))
    }

    /// How messages name the cache.
    pub fn label(&self) -> String {
        match self {
            Files::Dir(dir) => dir.display().to_string(),
            Files::Http(http) => http.base.clone(),
        }
    }
}

/// The most a file of the cache read whole may have (a narinfo, a manifest, a NAR file whose
/// hash is checked): a bound, not a size any should reach.
const MAX_FILE: u64 = 1 << 40;

/// Whether `path` is a plain relative path (no `..`, not absolute): the only kind the cache's
/// files are reached by.
fn checked(dir: &Path, path: &str) -> Result<()> {
    if !safe_path(path) {
        bail!("refusing {path:?}: not a plain path inside the cache {}", dir.display());
    }
    Ok(())
}

/// The names in a folder of a cache directory (`""`: the cache itself), none when absent.
fn list(dir: &Path, folder: &str) -> Result<Vec<String>> {
    if !folder.is_empty() {
        checked(dir, folder)?;
    }
    let cache = match Beneath::open(dir, false) {
        Ok(cache) => cache,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot open the cache {}", dir.display())),
    };
    cache.list(folder).with_context(|| format!("cannot list {folder:?} in the cache {}", dir.display()))
}

//! The files of a binary cache this project owns, read and written by the xtask itself (gc,
//! verify, the roots it records): a directory (`file://`), or an HTTP server that takes PUT and
//! DELETE (curl, with the credentials Nix uses). Every path goes through
//! [`safe_path`]: nothing outside the cache is ever read, written or deleted.

use sha2::Digest;
use std::{
    collections::BTreeMap,
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

mod beneath;
mod http;

pub(crate) use self::beneath::Beneath;
pub use self::http::{Http, Netrc};
use super::narinfo::safe_path;

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
    /// An index of file names (a JSON list, kept where files cannot be listed: HTTP): each entry,
    /// a name or, for one that cannot be a file's name (`../x`, a number), the entry itself
    /// (`Err`), which costs only itself. `None`: there is no index. An index that is not a list
    /// is an error saying what it is (`what`) and how to repair it (`repair`): it is never read as
    /// empty, since writing it over would lose what it names.
    pub fn index(&self, path: &str, what: &str, repair: &str) -> Result<Option<Vec<Result<String, String>>>> {
        let Some(bytes) = self.get(path)? else { return Ok(None) };
        let entries: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}/{path} is not a list of {what}: {repair}", self.label()))?;
        let name = |entry: serde_json::Value| match entry.as_str().filter(|n| crate::files::is_name(n)) {
            Some(name) => Ok(name.to_owned()),
            None => Err(entry.to_string()),
        };
        Ok(Some(entries.into_iter().map(name).collect()))
    }

    /// A file's contents; `None` when the cache has no such file.
    pub fn get(&self, path: &str) -> Result<Option<Vec<u8>>> {
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
                let status = http.status(&["--output", &file.display().to_string()], path)?;
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
    pub fn put(&self, path: &str, bytes: &[u8]) -> Result<()> {
        match self {
            Files::Dir(dir) => {
                let cache = Beneath::open(dir, true).with_context(|| format!("cannot open {}", dir.display()))?;
                checked(dir, path)?;
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

    /// Deletes a file; whether it existed.
    pub fn delete(&self, path: &str) -> Result<bool> {
        match self.try_delete(path)? {
            Deleted::Yes => Ok(true),
            Deleted::Absent => Ok(false),
            Deleted::NotAllowed => {
                bail!("DELETE {}/{path}: the server does not take DELETE (nginx: dav_methods PUT DELETE)", self.label())
            }
        }
    }

    /// Deletes a file, and says whether it was there, or that the cache takes no DELETE.
    pub(crate) fn try_delete(&self, path: &str) -> Result<Deleted> {
        match self {
            Files::Dir(dir) => {
                match checked(dir, path).map(|()| Beneath::open(dir, false).and_then(|c| c.delete(path)))? {
                    Ok(true) => Ok(Deleted::Yes),
                    Ok(false) => Ok(Deleted::Absent),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(Deleted::Absent),
                    Err(e) => Err(e).with_context(|| format!("cannot delete {path} in {}", dir.display())),
                }
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

    /// Whether a NAR file a repair names is broken: its bytes read, and not what its name says.
    /// Nix names a NAR file by the hash of its bytes (`nar/<FileHash>.nar.zst`) and never writes
    /// over one: a file whose bytes hash to its name is one Nix wrote, perhaps another entry's (a
    /// narinfo may name any file, and two paths of the same contents share one), so it stays; one
    /// that does not would block the upload meant to replace it, so it goes. A file that cannot
    /// be read is an error: nothing is decided on a failed request.
    pub(crate) fn nar_is_broken(&self, nar: &str) -> Result<bool> {
        let Some(named) = nar_name_hash(nar) else { return Ok(false) };
        let Some(size) = self.sizes(&[nar])?.remove(nar).flatten() else { return Ok(false) };
        match self.get_many(&[nar], size)?.pop() {
            Some(Ok(Some(bytes))) => Ok(super::narinfo::nix32(&sha2::Sha256::digest(&bytes)) != named),
            Some(Ok(None)) => Ok(false),
            Some(Err(err)) => Err(err.context(format!("cannot tell whether {nar} is broken"))),
            None => bail!("no answer for {nar}"),
        }
    }

    /// The size of each file, `None` for one the cache lacks: a stat each, or one curl of HEADs.
    pub fn sizes(&self, paths: &[&str]) -> Result<BTreeMap<String, Option<u64>>> {
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
            Files::Http(http) => http.heads(paths),
        }
    }

    /// Several files' contents, in order, each on its own: `None` for one the cache lacks, an
    /// error for one that cannot be read (larger than `limit`, not a file, an HTTP error). Read one
    /// by one from a directory, fetched by one curl over HTTP (parallel requests on kept-alive
    /// connections); fails only when nothing could be asked.
    pub(crate) fn get_many(&self, paths: &[&str], limit: u64) -> Result<Vec<Fetched>> {
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
            Files::Http(http) => http.gets(paths, limit),
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

/// The hash a NAR file's name gives (`nar/<52 digits of Nix's base 32>.nar[.ext]`), if it is one.
fn nar_name_hash(nar: &str) -> Option<&str> {
    let (hash, rest) = nar.strip_prefix("nar/")?.split_once('.')?;
    let named = hash.len() == 52 && hash.bytes().all(|b| super::narinfo::NIX32.contains(&b));
    (named && (rest == "nar" || rest.starts_with("nar."))).then_some(hash)
}

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

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

mod http;

pub use self::http::{Http, Netrc};
use super::narinfo::safe_path;

/// Where a cache's files are.
#[derive(Debug, Clone)]
pub enum Files {
    Dir(PathBuf),
    Http(Http),
}

/// One file of several fetched at once: its bytes, `None` when absent, or why it could not be read.
pub type Fetched = Result<Option<Vec<u8>>>;

impl Files {
    /// A file's contents; `None` when the cache has no such file.
    pub fn get(&self, sh: &Shell, path: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Files::Dir(dir) => match fs::read(inside(dir, path)?) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("cannot read {path} in {}", dir.display())),
            },
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
            Files::Dir(dir) => crate::files::write_atomic(&inside(dir, path)?, bytes),
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
        match self {
            Files::Dir(dir) => match fs::remove_file(inside(dir, path)?) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e).with_context(|| format!("cannot delete {path} in {}", dir.display())),
            },
            Files::Http(http) => match http.status(sh, &["--request", "DELETE"], path)? {
                200..=299 => Ok(true),
                404 | 410 => Ok(false),
                status => bail!(
                    "DELETE {}/{path} answered HTTP {status}: the server must take DELETE (nginx: dav_methods PUT DELETE)",
                    http.base
                ),
            },
        }
    }

    /// The size of each file, `None` for one the cache lacks: a stat each, or one curl of HEADs.
    pub fn sizes(&self, sh: &Shell, paths: &[&str]) -> Result<BTreeMap<String, Option<u64>>> {
        match self {
            Files::Dir(dir) => paths
                .iter()
                .map(|path| {
                    let size = match fs::metadata(inside(dir, path)?) {
                        Ok(meta) => Some(meta.len()),
                        Err(e) if e.kind() == ErrorKind::NotFound => None,
                        Err(e) => return Err(e).with_context(|| format!("cannot stat {path} in {}", dir.display())),
                    };
                    Ok((path.to_string(), size))
                })
                .collect(),
            Files::Http(http) => http.heads(sh, paths),
        }
    }

    /// Several files' contents, in order, each on its own: `None` for one the cache lacks, an
    /// error for one that cannot be read (larger than `limit`, not a file, an HTTP error). Read one
    /// by one from a directory, fetched by one curl over HTTP (parallel requests on kept-alive
    /// connections); fails only when nothing could be asked.
    pub fn get_many(&self, sh: &Shell, paths: &[&str], limit: u64) -> Result<Vec<Fetched>> {
        match self {
            Files::Dir(dir) => Ok(paths
                .iter()
                .map(|path| match crate::files::read_bounded(&inside(dir, path)?, limit) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("cannot read {path} in {}", dir.display())),
                })
                .collect()),
            Files::Http(http) => http.gets(sh, paths, limit),
        }
    }

    /// The names in a folder of the cache, when it can be listed (a directory; HTTP cannot).
    pub fn list(&self, folder: &str) -> Option<Result<Vec<String>>> {
        let Files::Dir(dir) = self else { return None };
        let list = || -> Result<Vec<String>> {
            let path = inside(dir, folder)?;
            let entries = match fs::read_dir(&path) {
                Ok(entries) => entries,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e).with_context(|| format!("cannot list {}", path.display())),
            };
            let mut names = Vec::new();
            for entry in entries {
                names.push(entry?.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            Ok(names)
        };
        Some(list())
    }

    /// The narinfo files, when the cache can be listed (a directory; HTTP cannot).
    pub fn narinfos(&self) -> Option<Result<Vec<String>>> {
        let Files::Dir(dir) = self else { return None };
        let list = || -> Result<Vec<String>> {
            let mut names = Vec::new();
            for entry in fs::read_dir(dir).with_context(|| format!("cannot list the cache {}", dir.display()))? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if name.ends_with(".narinfo") {
                    names.push(name);
                }
            }
            names.sort();
            Ok(names)
        };
        Some(list())
    }

    /// How messages name the cache.
    pub fn label(&self) -> String {
        match self {
            Files::Dir(dir) => dir.display().to_string(),
            Files::Http(http) => http.base.clone(),
        }
    }
}

/// `dir/path`, when `path` is a plain relative path (checked again after joining).
pub(super) fn inside(dir: &Path, path: &str) -> Result<PathBuf> {
    let joined = dir.join(path);
    if !safe_path(path) || !joined.starts_with(dir) {
        bail!("refusing {path:?}: not a plain path inside the cache {}", dir.display());
    }
    Ok(joined)
}

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

use super::narinfo::safe_path;
use crate::command::{lit, Cmd, Io, NoSlots};

/// Where a cache's files are.
#[derive(Debug, Clone)]
pub enum Files {
    Dir(PathBuf),
    Http(Http),
}

/// An HTTP cache, spoken to with curl.
#[derive(Debug, Clone)]
pub struct Http {
    /// The cache's URL without credentials or query, no trailing slash.
    pub base: String,
    /// Seconds a request may take (`cache-timeout`).
    pub timeout: u64,
    /// The credentials writes need.
    pub netrc: Netrc,
}

/// Where curl finds the credentials to write to an HTTP cache.
#[derive(Debug, Clone)]
pub enum Netrc {
    /// A netrc file of the run (the credentials of `--cache`).
    File(PathBuf),
    /// Nix's own `netrc-file`, as the pushes use it: asked of Nix on the first write only.
    Nix(std::sync::Arc<std::sync::OnceLock<Option<PathBuf>>>),
}

impl Netrc {
    fn path(&self) -> Option<PathBuf> {
        match self {
            Netrc::File(path) => Some(path.clone()),
            Netrc::Nix(found) => found.get_or_init(nix_netrc).clone(),
        }
    }
}

/// Nix's `netrc-file` setting, when the file exists.
fn nix_netrc() -> Option<PathBuf> {
    let sh = Shell::new().ok()?;
    let settings =
        crate::nix::json::Settings::parse(&crate::nix::show_config().run_quietly(&sh, &NoSlots).ok()?).ok()?;
    let path = PathBuf::from(settings.words("netrc-file").into_iter().next()?);
    path.exists().then_some(path)
}

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
fn inside(dir: &Path, path: &str) -> Result<PathBuf> {
    let joined = dir.join(path);
    if !safe_path(path) || !joined.starts_with(dir) {
        bail!("refusing {path:?}: not a plain path inside the cache {}", dir.display());
    }
    Ok(joined)
}

impl Http {
    /// curl with `args` on `urls`; with the write credentials when `args` write.
    fn curl(&self, args: &[&str], urls: &[String]) -> Cmd {
        let timeout = self.timeout.to_string();
        let mut all = vec!["--silent", "--show-error", "--connect-timeout", "5", "--max-time", &timeout];
        let writes = args.iter().any(|a| ["--upload-file", "--request"].contains(a));
        let netrc = if writes { self.netrc.path() } else { None };
        if let Some(netrc) = &netrc {
            all.extend(["--netrc-file", netrc.to_str().unwrap_or_default()]);
        }
        let words = all.into_iter().chain(args.iter().copied()).map(lit).chain(urls.iter().map(lit));
        Cmd::new("curl", words).io(Io::Quiet).hint(format!("it reads and writes the cache's files at {}", self.base))
    }

    fn url(&self, path: &str) -> Result<String> {
        if !safe_path(path) {
            bail!("refusing {path:?}: not a plain path inside the cache {}", self.base);
        }
        Ok(format!("{}/{path}", self.base))
    }

    /// One request; its HTTP status.
    fn status(&self, sh: &Shell, args: &[&str], path: &str) -> Result<u16> {
        let args: Vec<&str> = args.iter().copied().chain(["--write-out", "%{http_code}"]).collect();
        let out = self.curl(&args, &[self.url(path)?]).run_quietly(sh, &NoSlots)?;
        let code = out.trim().rsplit('\n').next().unwrap_or_default();
        code.parse().with_context(|| format!("curl printed no HTTP status for {}/{path}: {out}", self.base))
    }

    /// One curl for every path: HEAD, the status and the length of each, in order.
    fn heads(&self, sh: &Shell, paths: &[&str]) -> Result<BTreeMap<String, Option<u64>>> {
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut args = vec!["--head", "--write-out", "%{http_code} %header{content-length}\\n"];
        // Each URL's headers to nowhere; only --write-out reaches stdout.
        for _ in paths {
            args.extend(["--output", "/dev/null"]);
        }
        let urls: Vec<String> = paths.iter().map(|p| self.url(p)).collect::<Result<_>>()?;
        let out = self.curl(&args, &urls).run_quietly(sh, &NoSlots)?;
        let lines: Vec<&str> = out.lines().collect();
        if lines.len() != paths.len() {
            bail!("curl answered {} of {} HEAD requests to {}", lines.len(), paths.len(), self.base);
        }
        paths
            .iter()
            .zip(lines)
            .map(|(path, line)| {
                let (code, length) = line.split_once(' ').unwrap_or((line, ""));
                let size = match code {
                    "200" => Some(length.trim().parse().with_context(|| format!("HEAD {path}: no Content-Length"))?),
                    "404" | "410" => None,
                    _ => bail!("HEAD {}/{path} answered HTTP {code}", self.base),
                };
                Ok((path.to_string(), size))
            })
            .collect()
    }
}

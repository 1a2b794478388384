//! An HTTP cache's files, spoken to with curl: one request, or one curl for many (HEADs, or GETs
//! in parallel on kept-alive connections), with the credentials writes need.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs,
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, ensure, Context, Result};

use super::{super::narinfo::safe_path, Fetched};
use crate::command::{lit, Cmd, Io, NoSlots};

/// The curl config file of a parallel transfer, in its directory.
const CONFIG: &str = ".curl.config";

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
    let settings = crate::nix::json::Settings::parse(&crate::nix::show_config().run_quietly(&NoSlots).ok()?).ok()?;
    let path = PathBuf::from(settings.words("netrc-file").into_iter().next()?);
    path.exists().then_some(path)
}

impl Http {
    /// curl with `args`; with the write credentials when they write.
    fn curl(&self, args: &[&str]) -> Cmd {
        let timeout = self.timeout.to_string();
        let mut all = vec!["--silent", "--show-error", "--connect-timeout", "5", "--max-time", &timeout];
        let writes = args.iter().any(|a| ["--upload-file", "--request"].contains(a));
        let netrc = writes.then(|| self.netrc.path()).flatten();
        all.extend(netrc.iter().flat_map(|netrc| ["--netrc-file", netrc.to_str().unwrap_or_default()]));
        let hint = format!("it reads and writes the cache's files at {}", self.base);
        Cmd::new("curl", all.into_iter().chain(args.iter().copied()).map(lit)).io(Io::Quiet).hint(hint)
    }

    fn url(&self, path: &str) -> Result<String> {
        ensure!(safe_path(path), "refusing {path:?}: not a plain path inside the cache {}", self.base);
        Ok(format!("{}/{path}", self.base))
    }

    /// One request; its HTTP status.
    pub(super) fn status(&self, args: &[&str], path: &str) -> Result<u16> {
        let out =
            self.curl(&[args, &["--write-out", "%{http_code}", &self.url(path)?]].concat()).run_quietly(&NoSlots)?;
        let code = out.trim().rsplit('\n').next().unwrap_or_default();
        code.parse().with_context(|| format!("curl printed no HTTP status for {}/{path}: {out}", self.base))
    }

    /// One curl for every path, GETs in parallel: each file's bytes (`None` when absent), or why it
    /// could not be read, in order. Fails only when curl could not run.
    pub(super) fn gets(&self, paths: &[&str], limit: u64) -> Result<Vec<Fetched>> {
        let dir = crate::scratch::dir()?.join(format!("gets-{}", paths.len()));
        let got = self.gets_into(&dir, paths, limit);
        let _ = fs::remove_dir_all(&dir);
        got
    }

    /// [`Http::gets`], each file kept as served in `dir`, under its own path (`dir/nar/…`): a
    /// binary cache directory Nix can read, fetched once.
    pub(crate) fn gets_into(&self, dir: &Path, paths: &[&str], limit: u64) -> Result<Vec<Fetched>> {
        // Two paths of the same contents share one NAR file: it is fetched once.
        let unique: BTreeSet<&str> = paths.iter().copied().collect();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let listed: Vec<&str> = unique.iter().copied().collect();
        let (max, prefix) = (limit.to_string(), format!("{}/", dir.display()));
        let write_out = "%{exitcode}\\t%{http_code}\\t%{errormsg}\\t%{filename_effective}\\n";
        let output = |n: usize| format!("output = \"{}\"\n", dir.join(listed[n]).display());
        // Each transfer answers for itself: curl's own status is that of the worst.
        let args = ["--create-dirs", "--max-filesize", &max, "--write-out", write_out];
        let out = self.parallel_with(dir, &listed, output, &args)?.output_quietly()?;
        let _ = fs::remove_file(dir.join(CONFIG));
        let mut found: HashMap<&str, Fetched> = HashMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let [exit, code, error, file] = line.splitn(4, '\t').collect::<Vec<_>>()[..] else { continue };
            let Some(path) = file.strip_prefix(&prefix).and_then(|p| unique.get(p)).copied() else { continue };
            let url = format!("{}/{path}", self.base);
            let got = match (exit, code) {
                ("0", "200") => crate::files::read_bounded(Path::new(file), limit)
                    .map(Some)
                    .with_context(|| format!("cannot read what GET {url} answered")),
                (_, "404" | "410") => Ok(None),
                // CURLE_FILESIZE_EXCEEDED
                ("63", _) => Err(anyhow!("{url} is larger than {limit} bytes")),
                ("0", code) => Err(anyhow!("GET {url} answered HTTP {code}")),
                (exit, _) => Err(anyhow!("GET {url} failed (curl exit {exit}: {error})")),
            };
            if !matches!(got, Ok(Some(_))) {
                // What was not served whole is no file of the cache.
                let _ = fs::remove_file(file);
            }
            found.insert(path, got);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let unanswered = |path: &str| anyhow!("curl gave no answer for {}/{path}: {}", self.base, stderr.trim());
        let answer = |path: &&str| match found.get(path) {
            Some(Ok(bytes)) => Ok(bytes.clone()),
            Some(Err(err)) => Err(anyhow!("{err:#}")),
            None => Err(unanswered(path)),
        };
        Ok(paths.iter().map(answer).collect())
    }

    /// One curl for every path, HEADs in parallel: the length of each (`None` when absent).
    pub(super) fn heads(&self, paths: &[&str]) -> Result<BTreeMap<String, Option<u64>>> {
        // Two paths of the same contents share one NAR file: it is asked once.
        let paths: Vec<&str> = paths.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        let dir = crate::scratch::dir()?.join(format!("heads-{}", paths.len()));
        let write_out = "%{http_code} %header{content-length} %{url_effective}\\n";
        let out = self.parallel(&dir, &paths, false, &["--head", "--write-out", write_out]);
        let out = out.and_then(|cmd| cmd.run_quietly(&NoSlots));
        let _ = fs::remove_dir_all(&dir);
        let by_url: HashMap<String, &str> = paths.iter().map(|p| (format!("{}/{p}", self.base), *p)).collect();
        let mut sizes = BTreeMap::new();
        for line in out?.lines() {
            let [code, length, url] = line.splitn(3, ' ').collect::<Vec<_>>()[..] else { continue };
            let Some(path) = by_url.get(url) else { continue };
            let size = match code {
                "200" => Some(length.trim().parse().with_context(|| format!("HEAD {url}: no Content-Length"))?),
                "404" | "410" => None,
                _ => bail!("HEAD {url} answered HTTP {code}"),
            };
            sizes.insert(path.to_string(), size);
        }
        let (answered, asked) = (sizes.len(), paths.len());
        ensure!(answered == asked, "curl answered {answered} of {asked} HEAD requests to {}", self.base);
        Ok(sizes)
    }

    /// One curl of parallel PUTs, with the write credentials: each file whole. Fails naming
    /// every file the server did not take.
    pub(super) fn puts(&self, files: &[(String, Vec<u8>)]) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let bytes = crate::numbers::total(files.iter().map(|(_, b)| b.len() as u64));
        let dir = crate::scratch::memory_dir(&format!("puts-{}", files.len()), bytes)?;
        fs::create_dir_all(&dir)?;
        for (n, (_, bytes)) in files.iter().enumerate() {
            fs::write(dir.join(format!("up-{n}")), bytes)?;
        }
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        // Each answer's body to nowhere: stdout holds the statuses alone.
        let upload =
            |n: usize| format!("upload-file = \"{}\"\noutput = \"/dev/null\"\n", dir.join(format!("up-{n}")).display());
        let write_out = "%{http_code} %{url_effective}\\n";
        // `--request PUT` as `-T` would: it also marks the request as one that writes.
        let cmd = self.parallel_with(&dir, &paths, upload, &["--request", "PUT", "--write-out", write_out]);
        let out = cmd.and_then(|cmd| cmd.run_quietly(&NoSlots));
        let _ = fs::remove_dir_all(&dir);
        let out = out?;
        let taken: BTreeSet<&str> = out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(code, _)| code.starts_with('2'))
            .map(|(_, url)| url)
            .collect();
        let refused: Vec<&str> =
            paths.iter().copied().filter(|p| !taken.contains(format!("{}/{p}", self.base).as_str())).collect();
        ensure!(
            refused.is_empty(),
            "PUT {}/… was not taken for {} of {} file(s) ({}): the server must take PUT with the write credentials",
            self.base,
            refused.len(),
            paths.len(),
            refused.iter().take(5).copied().collect::<Vec<_>>().join(", ")
        );
        Ok(())
    }

    /// One curl of `args` for every path, in parallel on kept-alive connections: the URLs in a config
    /// file in `dir` (no command line holds ten thousand), each body to `dir/N` when `bodies`.
    fn parallel(&self, dir: &Path, paths: &[&str], bodies: bool, args: &[&str]) -> Result<Cmd> {
        let output = |n: usize| match bodies {
            true => format!("output = \"{}\"\n", dir.join(n.to_string()).display()),
            false => "output = \"/dev/null\"\n".to_owned(),
        };
        self.parallel_with(dir, paths, output, args)
    }

    /// [`Http::parallel`] with `each(n)`'s lines for the n-th URL.
    fn parallel_with(&self, dir: &Path, paths: &[&str], each: impl Fn(usize) -> String, args: &[&str]) -> Result<Cmd> {
        fs::create_dir_all(dir)?;
        let mut text = String::new();
        for (n, path) in paths.iter().enumerate() {
            // Plain paths (checked by `url`) and the run's own directory: nothing to escape.
            text += &format!("url = \"{}\"\n{}", self.url(path)?, each(n));
        }
        let config = dir.join(CONFIG);
        fs::write(&config, text)?;
        let config = config.display().to_string();
        let all = ["--parallel", "--parallel-max", "16", "--config", &config].into_iter().chain(args.iter().copied());
        Ok(self.curl(&all.collect::<Vec<_>>()))
    }
}

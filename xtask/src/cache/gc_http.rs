//! Retention for an HTTP cache this project owns, whose server takes PUT and DELETE (WebDAV, as
//! nginx's `dav_methods PUT DELETE`). The manifests are files of the cache (`xtask-roots/<key>.json`
//! and an index of the keys, since HTTP cannot list), written and deleted with curl and Nix's own
//! `netrc-file`; the closures come from `nix path-info --recursive --store URL`. An HTTP cache
//! cannot be listed, so gc deletes what the recorded roots' closures hold and the kept ones' do not.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use xshell::Shell;

use super::gc::{Manifest, MANIFESTS};
use crate::{
    command::{lit, Cmd, Io, NoSlots},
    files,
    json::Json,
    nix::{self, json::parse_path_infos},
};

/// Each store path to delete, with the cache files that hold it.
pub type Deletions = BTreeMap<String, Vec<String>>;

pub struct Http {
    url: String,
    /// Seconds a request may take (the config's `cache-timeout`).
    timeout: String,
    /// Nix's `netrc-file`: the credentials the pushes use.
    netrc: Option<String>,
}

impl Http {
    pub fn new(sh: &Shell, url: &str, timeout: u64) -> Http {
        let show = nix::nix([lit("show-config"), lit("--json")]).io(Io::Quiet);
        let netrc = show
            .run_quietly(sh, &NoSlots)
            .ok()
            .and_then(|out| Json::parse(&out).ok())
            .and_then(|config| config.get("netrc-file").get("value").as_str().map(str::to_owned))
            .filter(|path| std::path::Path::new(path).exists());
        let url = url.split('?').next().unwrap_or(url).trim_end_matches('/').to_owned();
        Http { url, timeout: timeout.to_string(), netrc }
    }

    fn curl(&self, args: &[&str], path: &str) -> Cmd {
        let mut all = vec!["--silent", "--show-error", "--fail", "--connect-timeout", "5", "--max-time", &self.timeout];
        if let Some(netrc) = &self.netrc {
            all.extend(["--netrc-file", netrc]);
        }
        all.extend(args);
        let url = format!("{}/{path}", self.url);
        Cmd::lits("curl", all.into_iter().map(str::to_owned).chain([url])).io(Io::Quiet).needs(format!(
            "it keeps the cache's manifests: check that {} takes PUT and DELETE with Nix's netrc-file credentials",
            self.url
        ))
    }

    /// A file of the cache; `None` when it does not exist (or cannot be read).
    fn get(&self, sh: &Shell, path: &str) -> Option<String> {
        self.curl(&[], path).run_quietly(sh, &NoSlots).ok()
    }

    fn put(&self, sh: &Shell, path: &str, text: &str) -> Result<()> {
        let file = std::env::temp_dir().join(format!("xtask-manifest-{}.json", std::process::id()));
        files::write_atomic(&file, text.as_bytes())?;
        let result = self.curl(&["--upload-file", &file.display().to_string()], path).run_quietly(sh, &NoSlots);
        let _ = std::fs::remove_file(&file);
        result.map(drop)
    }

    fn delete(&self, sh: &Shell, path: &str) -> Result<()> {
        self.curl(&["--request", "DELETE"], path).run_quietly(sh, &NoSlots).map(drop)
    }

    fn keys(&self, sh: &Shell) -> BTreeSet<String> {
        let index = self.get(sh, &format!("{MANIFESTS}/index.json")).and_then(|t| Json::parse(&t).ok());
        index
            .and_then(|i| i.as_array().map(|keys| keys.iter().filter_map(Json::as_str).map(str::to_owned).collect()))
            .unwrap_or_default()
    }

    fn manifest(&self, sh: &Shell, key: &str) -> Option<Manifest> {
        Manifest::parse(&self.get(sh, &format!("{MANIFESTS}/{key}.json"))?)
    }

    /// Adds `roots` to the manifest of `key` (and the key to the index) when one is new.
    pub fn record(&self, sh: &Shell, key: &str, roots: &[String]) -> Result<()> {
        let mut manifest = self.manifest(sh, key).unwrap_or_else(|| Manifest::new(key));
        if !manifest.lacks(roots) {
            return Ok(());
        }
        manifest.add(roots);
        self.put(sh, &format!("{MANIFESTS}/{key}.json"), &manifest.to_json())?;
        let mut keys = self.keys(sh);
        if keys.insert(key.to_owned()) {
            self.write_index(sh, &keys)?;
        }
        Ok(())
    }

    fn write_index(&self, sh: &Shell, keys: &BTreeSet<String>) -> Result<()> {
        let index = Json::Array(keys.iter().map(|k| Json::from(k.as_str())).collect());
        self.put(sh, &format!("{MANIFESTS}/index.json"), &index.pretty())
    }

    /// What `gc --keep N` would delete: each store path with the cache files that hold it.
    /// The kept keys, the deletions, and their NAR bytes.
    pub fn plan(&self, sh: &Shell, keep: usize) -> Result<(Vec<String>, Deletions, u64)> {
        let mut manifests: Vec<Manifest> = self.keys(sh).iter().filter_map(|k| self.manifest(sh, k)).collect();
        manifests.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.key.cmp(&a.key)));
        let (kept, _) = manifests.split_at(keep.min(manifests.len()));
        let closure = |manifests: &[Manifest]| -> Result<BTreeMap<String, (String, u64)>> {
            let roots: Vec<String> = manifests.iter().flat_map(|m| m.roots.iter().cloned()).collect();
            if roots.is_empty() {
                return Ok(BTreeMap::new());
            }
            let args = ["path-info", "--json", "--recursive", "--store", &self.url].map(lit);
            let cmd = nix::nix(args.into_iter().chain(roots.into_iter().map(lit))).io(Io::Quiet);
            let infos = parse_path_infos(&cmd.run_quietly(sh, &NoSlots)?)?;
            Ok(infos.into_iter().map(|i| (i.path, (i.url, i.nar_size))).collect())
        };
        let (all, live) = (closure(&manifests)?, closure(kept)?);
        let kept_nars: BTreeSet<&String> = live.values().map(|(nar, _)| nar).collect();
        let gone: Vec<_> = all.iter().filter(|(path, _)| !live.contains_key(*path)).collect();
        let bytes = gone.iter().map(|(_, (_, size))| size).sum();
        let delete = gone
            .into_iter()
            .map(|(path, (nar, _))| {
                let hash = path.rsplit('/').next().unwrap_or_default().split('-').next().unwrap_or_default();
                let files =
                    std::iter::once(format!("{hash}.narinfo")).chain((!kept_nars.contains(nar)).then(|| nar.clone()));
                (path.clone(), files.filter(|f| !f.is_empty()).collect())
            })
            .collect();
        Ok((kept.iter().map(|m| m.key.clone()).collect(), delete, bytes))
    }

    /// Deletes the files of the plan and the manifests of the keys not kept.
    pub fn collect(&self, sh: &Shell, kept: &[String], delete: &Deletions) -> Result<()> {
        for file in delete.values().flatten() {
            self.delete(sh, file).with_context(|| format!("cannot delete {file} from {}", self.url))?;
        }
        let keys = self.keys(sh);
        for key in keys.iter().filter(|k| !kept.contains(k)) {
            self.delete(sh, &format!("{MANIFESTS}/{key}.json"))?;
        }
        self.write_index(sh, &kept.iter().cloned().collect())
    }
}

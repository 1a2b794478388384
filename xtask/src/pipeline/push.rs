//! The push steps: what the cache has of the candidates and whether it is sound, what upstream
//! caches serve, signatures, repairs, and the upload. Nothing the cache says is trusted: a present
//! path whose NAR file is missing or short is uploaded again, and a path the key cannot verify is
//! re-signed only when its NAR hash and size equal those of the path built here (else it is
//! replaced by this build and named: signing it would vouch for contents nobody built here).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use super::{plan::OnPushFailure, state::State};
use crate::{
    cache::{files::Files, narinfo::safe_path},
    command::Cmd,
    nix::messages::cause,
    nix::{
        json::{self, PathInfo},
        verify,
    },
    numbers::{total, total_known},
    record::{render::mib, Problem},
};

/// The paths whose NAR file the cache lacks or holds at another size than its narinfo says.
pub(crate) fn unsound_files(files: &Files, infos: &[PathInfo]) -> Result<BTreeMap<String, String>> {
    // A narinfo may name any file: only plain paths inside the cache are looked at.
    let urls: Vec<&str> = infos.iter().map(|i| i.url.as_str()).filter(|u| safe_path(u)).collect();
    let sizes = files.sizes(&urls)?;
    let mut broken = BTreeMap::new();
    for info in infos {
        let problem = match (sizes.get(&info.url).copied().flatten(), info.download_size) {
            _ if info.url.is_empty() => continue,
            _ if !safe_path(&info.url) => format!("its narinfo points outside the cache ({:?})", info.url),
            // Nix can neither check nor re-sign a narinfo without them.
            (_, None) => "its narinfo lacks FileSize".to_owned(),
            _ if info.download_hash.is_none() => "its narinfo lacks FileHash".to_owned(),
            (None, _) => format!("its NAR file {} is missing", info.url),
            (Some(size), Some(expected)) if size != expected => {
                format!("its NAR file {} has {size} bytes, its narinfo says {expected}", info.url)
            }
            _ => continue,
        };
        broken.insert(info.path.clone(), problem);
    }
    Ok(broken)
}

impl State {
    /// Which candidates the cache has, sound, and like this build; the rest is to push.
    pub(super) fn missing(&mut self, cmd: &Cmd, files: Option<&Files>, cache: &str) -> Result<String> {
        let infos = match cmd.run(self).and_then(|out| json::parse_path_infos(&out)) {
            Ok(infos) => infos,
            Err(err) => {
                self.warn(
                    format!("cannot reach the cache {cache}: {}", cause(&err)),
                    ": taken as empty, the task goes on",
                );
                Vec::new()
            }
        };
        self.nar_files = infos.iter().filter(|i| safe_path(&i.url)).map(|i| (i.path.clone(), i.url.clone())).collect();
        if let Some(files) = files {
            for (path, why) in unsound_files(files, &infos)? {
                eprintln!("  broken in the cache: {path}: {why} (uploaded again)");
                let nar = self.nar_files.get(&path).cloned();
                self.repair.insert(path, (why, nar));
            }
        }
        for info in infos.iter().filter(|i| !self.repair.contains_key(&i.path)) {
            if self.local.get(&info.path).is_some_and(|l| l.nar_hash != info.nar_hash || l.nar_size != info.nar_size) {
                self.differs.insert(info.path.clone());
            }
        }
        let valid: BTreeSet<&String> =
            infos.iter().map(|i| &i.path).filter(|p| !self.repair.contains_key(*p)).collect();
        (self.present_paths, self.push) = self.candidates.iter().cloned().partition(|p| valid.contains(p));
        self.push.retain(|p| !self.repair.contains_key(p));
        self.present = self.present_paths.len();
        Ok(format!(
            "{} already in the cache, {} to push, {} to repair{}",
            self.present,
            self.push.len(),
            self.repair.len(),
            if self.differs.is_empty() { String::new() } else { format!(", {} unlike this build", self.differs.len()) }
        ))
    }

    /// Leaves out of the push what an upstream cache serves. An upstream that cannot be reached
    /// serves nothing (a warning): the push is then larger, never wrong.
    pub(super) fn upstream(&mut self, queries: &[(String, Cmd)]) -> String {
        if self.push.is_empty() {
            return "nothing to push: not asked".to_owned();
        }
        for (url, query) in queries {
            if self.unreachable.contains(url) {
                continue;
            }
            match query.run(self).and_then(|out| json::parse_valid(&out)) {
                Ok(served) => {
                    self.push.retain(|p| !served.contains(p));
                    self.upstream += served.len();
                }
                Err(err) => {
                    self.unreachable.insert(url.clone());
                    self.warn(
                        format!("cannot reach the upstream cache {url}: {}", cause(&err)),
                        ": everything the cache lacks is pushed",
                    );
                }
            }
        }
        format!("{} served upstream, {} to push", self.upstream, self.push.len())
    }

    /// Which present paths the key cannot verify.
    pub(super) fn verify(&mut self, cmd: &Cmd) -> Result<String> {
        if self.present_paths.is_empty() {
            return Ok("the cache has none of the paths: nothing to check".to_owned());
        }
        let output = cmd.output(self)?;
        let verdicts = verify::parse(&output);
        if verdicts.failed && verdicts.untrusted.is_empty() {
            let problem =
                format!("cannot check the cache's signatures: {}", String::from_utf8_lossy(&output.stderr).trim_end());
            self.warn(problem, "");
        }
        for path in &verdicts.untrusted {
            eprintln!("  not signed by the key: {path}");
        }
        self.unsigned = verdicts.untrusted;
        let (all, bad) = (self.present_paths.len(), self.unsigned.len());
        Ok(format!("{} of {all} signed by the key", all - bad))
    }

    /// Checks the cache's own bytes of the present paths it would vouch for (those to re-sign),
    /// or with `every` (`--force`) of every present path: `nix store verify` decompresses each NAR
    /// and hashes it against its narinfo's NarHash, which the missing step found equal to this
    /// build's. A path whose bytes differ (a narinfo naming another NAR, a flipped byte) is
    /// repaired, never signed.
    pub(super) fn contents(&mut self, cmd: &Cmd, every: bool) -> Result<String> {
        self.checked = match every {
            true => self.present_paths.iter().filter(|p| !self.repair.contains_key(*p)).cloned().collect(),
            false => self.unsigned.iter().filter(|p| !self.differs.contains(*p)).cloned().collect(),
        };
        if self.checked.is_empty() {
            return Ok("nothing to check".to_owned());
        }
        let verdicts = verify::parse(&cmd.output(self)?);
        let mut bad = verdicts.modified;
        // Nix stopped on a path it could not read at all: each is asked alone.
        if verdicts.failed {
            let all = std::mem::take(&mut self.checked);
            let unnamed: Vec<&String> = all.iter().filter(|p| !bad.contains(*p)).collect();
            for path in unnamed {
                self.checked = vec![path.clone()];
                let alone = verify::parse(&cmd.output(self)?);
                if alone.failed || !alone.modified.is_empty() {
                    bad.insert(path.clone());
                }
            }
            self.checked = all;
        }
        for path in &bad {
            eprintln!("  the cache's bytes of {path} are not what its narinfo says: it is replaced by this build");
            self.unsigned.remove(path);
            let why = "its NAR does not hold what its narinfo says (the cache's bytes differ)".to_owned();
            self.repair.insert(path.clone(), (why, self.nar_files.get(path).cloned()));
        }
        Ok(format!("{} checked, {} whose bytes differ (to upload again)", self.checked.len(), bad.len()))
    }

    /// Signs the paths to push in the local store, and in the cache the present paths the key
    /// cannot verify whose contents are this build's; the others are replaced by this build.
    pub(super) fn sign(&mut self, sign: &[Cmd], resign: &[Cmd], can_repair: bool) -> Result<String> {
        let (same, differ): (Vec<String>, Vec<String>) =
            self.unsigned.iter().cloned().partition(|p| !self.differs.contains(p));
        self.resign = same;
        for path in differ {
            let problem = format!(
                "{path} in the cache is not signed by the key and its contents differ from the path built here (NAR hash or size)"
            );
            if can_repair {
                self.warn(problem, ": it is replaced by this build, never signed as it was");
                self.repair.insert(path, ("unsigned, and unlike this build".to_owned(), None));
            } else {
                self.warn(problem, ": it is not signed; delete it from the cache, then push again");
            }
        }
        let to_sign: Vec<String> = self.push.iter().chain(self.repair.keys()).cloned().collect();
        let pushing = std::mem::replace(&mut self.push, to_sign);
        if !self.push.is_empty() {
            sign.iter().try_for_each(|cmd| cmd.run(self).map(drop))?;
        }
        self.push = pushing;
        if !self.resign.is_empty() {
            resign.iter().try_for_each(|cmd| cmd.run(self).map(drop))?;
        }
        Ok(format!(
            "signed {} to push, re-signed {} in the cache",
            self.push.len() + self.repair.len(),
            self.resign.len()
        ))
    }

    /// Deletes the narinfos of what is to be uploaded again: the push then sees them missing.
    pub(super) fn repair(&mut self, files: &Files) -> Result<String> {
        for (path, (why, nar)) in &self.repair {
            self.repairs.push(Problem { path: path.clone(), why: why.clone() });
            let Some(narinfo) = crate::cache::narinfo::file_of(path) else { continue };
            // Nix never writes over a NAR file: a broken one left in place would stay broken.
            // Decided before anything is deleted.
            let broken_nar = match nar {
                Some(nar) => files.nar_is_broken(nar)?.then_some(nar),
                None => None,
            };
            eprintln!("  {path}: {why}: its narinfo is deleted, to be uploaded again");
            files.delete(&narinfo)?;
            if let Some(nar) = broken_nar {
                files.delete(nar)?;
            }
        }
        self.repaired = self.repair.len();
        self.push.extend(std::mem::take(&mut self.repair).into_keys());
        self.present = self.present.saturating_sub(self.repaired);
        Ok(format!("{} to upload again", self.repaired))
    }

    /// Pushes the paths the cache lacks, listing them one a line rather than in one long command
    /// line. A failed push fails the task, or is a warning (`test`): the build's verdict stands.
    pub(super) fn push(&mut self, cmd: &Cmd, cache: &str, on_failure: OnPushFailure) -> Result<String> {
        if self.push.is_empty() {
            eprintln!("the cache has every path: nothing to push");
            return Ok("nothing to push".to_owned());
        }
        eprintln!("$ {}", cmd.render(None));
        for path in &self.push {
            eprintln!("  {path}");
        }
        if let Err(err) = cmd.run_quietly(self) {
            if on_failure == OnPushFailure::Fail {
                return Err(err.context(format!("cannot push to {cache} (the build itself succeeded)")));
            }
            self.warn(
                format!("cannot push to {cache}: {}", cause(&err)),
                " (the build's verdict stands; --require-push fails the task on this)",
            );
            return Ok("push failed (a warning)".to_owned());
        }
        self.pushed = self.push.len();
        self.pushed_bytes = total(self.push.iter().filter_map(|p| self.local.get(p)).map(|i| i.nar_size));
        Ok(format!("pushed {} path(s), {}", self.pushed, mib(self.pushed_bytes)))
    }

    /// What the cache now holds of the pushed paths: the bytes of their narinfos and NAR files.
    /// A pushed path it does not hold, whole, is an error: the push did not land.
    pub(super) fn landed(&mut self, query: &Cmd, files: &Files) -> Result<()> {
        let infos = json::parse_path_infos(&query.run_quietly(self)?)?;
        let held: BTreeSet<&String> = infos.iter().map(|i| &i.path).collect();
        if let Some(lost) = self.push.iter().find(|p| !held.contains(p)) {
            anyhow::bail!("the cache does not hold {lost} after the push: it did not land");
        }
        let narinfos: Vec<String> = self.push.iter().filter_map(|p| crate::cache::narinfo::file_of(p)).collect();
        let names: Vec<&str> = narinfos.iter().map(String::as_str).collect();
        let narinfo_bytes = total_known(files.sizes(&names)?.into_values());
        let nar_bytes = total_known(infos.iter().map(|i| i.download_size));
        self.pushed_file_bytes = narinfo_bytes.zip(nar_bytes).map(|(a, b)| a.saturating_add(b));
        Ok(())
    }
}

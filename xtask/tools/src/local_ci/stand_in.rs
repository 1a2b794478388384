//! What stands in, in a local run, for each `uses:` step of a job: the checkout is the working
//! tree, Nix is this machine's, the cache is `--cache`; the xtask's binary is kept between jobs
//! under the workflow's own key, as the actions cache keeps it.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::LocalRun;
use xtask::workflows::graph::{Role, Uses};

/// What stands in for a `uses:` step here.
pub fn stand_in(p: &LocalRun<'_>, uses: &Uses, target: &Path, restored: &mut bool) -> Result<String> {
    Ok(match uses.role {
        Role::Checkout => "the working tree".to_owned(),
        Role::InstallNix => "this machine's Nix".to_owned(),
        Role::Cachix if uses.disabled => "disabled in the workflow".to_owned(),
        Role::Cachix => format!("{}, the substituter every step is given (--cache)", p.session.cache.label()),
        Role::NixCache => "the local binary cache directory, kept between jobs".to_owned(),
        Role::NixCacheSave => "the local binary cache directory is the cache itself: nothing to save".to_owned(),
        // The history: a cache this project owns holds it (--cache); only Cachix's would travel in
        // the actions cache, and Cachix cannot stand in here.
        Role::RecordsSave | Role::HistoryRestore | Role::RecordsRestore | Role::HistorySave => {
            format!("{} keeps the history itself: nothing to carry", p.session.cache.label())
        }
        Role::PagesUpload => "the dashboard stays where the summary wrote it".to_owned(),
        Role::PagesDeploy => "no GitHub Pages here: the dashboard is the file".to_owned(),
        Role::XtaskBinary => {
            let kept = p.xtask_cache.join(&p.xtask_key);
            if kept.is_dir() {
                copy_dir(&kept, &target.join("xtask-bin"))?;
                format!("restored the xtask's binary from {}", kept.display())
            } else {
                *restored = false;
                format!("no xtask binary kept in {} (saved after the job)", p.xtask_cache.display())
            }
        }
    })
}

/// Saves the job's `target/xtask-bin` under the key, as actions/cache does after a miss.
pub fn save_xtask(p: &LocalRun<'_>, target: &Path) -> Result<()> {
    let bin = target.join("xtask-bin");
    let kept = p.xtask_cache.join(&p.xtask_key);
    if bin.is_dir() && !kept.exists() {
        let partial = p.xtask_cache.join(format!(".{}.{}", p.xtask_key, std::process::id()));
        copy_dir(&bin, &partial)?;
        if std::fs::rename(&partial, &kept).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest).with_context(|| format!("cannot copy to {}", dest.display()))?;
        }
    }
    Ok(())
}

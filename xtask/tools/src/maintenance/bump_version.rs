//! `cargo xtask bump-version [--to N] [--force]`: the seed's manual invalidation
//! (`sed -i 's/cachix-v1/cachix-v2/g' …`) as one safe step. Raises `version`, regenerates the
//! workflows, prints the old and the new deps key. When any file still names the old prefix, it
//! reports every place and changes nothing.

use std::path::Path;

use anyhow::{bail, Result};

use super::change::Change;
use xtask::{record::Record, session::Session};

/// Raise the cache version (invalidates every key) and regenerate the workflows.
#[derive(clap::Args, Debug)]
pub struct BumpVersion {
    /// The new version (default: the current one plus one).
    #[arg(long, value_name = "N")]
    to: Option<u64>,
    /// Allow a version lower than the current one.
    #[arg(long)]
    force: bool,
}

impl BumpVersion {
    /// Raises the version in Cargo.toml and regenerates the workflows, once no file names the old key prefix.
    pub fn run(&self, session: &Session, _record: &mut Record) -> Result<()> {
        run(session, self.to, self.force)
    }
}

fn run(session: &Session, to: Option<u64>, force: bool) -> Result<()> {
    let old = session.config.version;
    let new = to.unwrap_or(old + 1);
    if new == old {
        bail!("the cache version is already {old}: pass --to with another version");
    }
    if new == 0 {
        bail!("--to 0: cache versions start at 1 (keys read `-v1-`, `-v2-`, …): pass --to 1 or higher");
    }
    if new < old && !force {
        bail!("--to {new} is lower than the current version {old}: keys would collide with older caches; pass --force to do it anyway");
    }
    // The lock files first: a bad one is named before the tree is searched.
    session.deps_key()?;
    let prefix = format!("{}-v{old}-", session.config.backend.key_prefix());
    let stale = find(&session.root, &prefix)?;
    if !stale.is_empty() {
        bail!(
            "{} place(s) name the old key prefix `{prefix}`; make them derive the key (`cargo xtask cache-key`) or drop them, then bump again. Nothing was changed.\n  {}",
            stale.len(),
            stale.join("\n  ")
        );
    }

    let (old_key, new_key) = super::apply(session, &[Change::Version(new)])?;
    eprintln!("cache version {old} -> {new}: every key changes, so the next CI run and cache warming build afresh");
    eprintln!(
        "watch next: the first run of prebuild-deps (and cache-warming on main) fills the cache under the new key;"
    );
    eprintln!("old entries stay in the cache but are no longer used.");
    println!("old key: {old_key}");
    println!("new key: {new_key}");
    Ok(())
}

/// `file:line` of every line naming `needle`, in the tree (not .git, not target).
fn find(root: &Path, needle: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if name != ".git" && name != "target" {
                    dirs.push(path);
                }
                continue;
            }
            // Only regular files: a FIFO would wait for a writer, a link may lead anywhere.
            if !kind.is_file() {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            for (n, line) in text.lines().enumerate() {
                if line.contains(needle) {
                    let rel = path.strip_prefix(root).unwrap_or(&path);
                    found.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
    }
    Ok(found)
}

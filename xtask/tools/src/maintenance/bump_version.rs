//! `cargo xtask bump-version [--to N] [--force]`: the seed's manual invalidation
//! (`sed -i 's/cachix-v1/cachix-v2/g' …`) as one safe step. Raises `version`, regenerates the
//! workflows, prints the old and the new deps key. When any file still names the old prefix, it
//! reports every place and changes nothing.

use std::path::Path;

use anyhow::{ensure, Result};

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
        let old = session.config.version;
        let new = self.to.unwrap_or(old + 1);
        ensure!(new != old, "the cache version is already {old}: pass --to with another version");
        ensure!(new != 0, "--to 0: cache versions start at 1 (keys read `-v1-`, `-v2-`, …): pass --to 1 or higher");
        ensure!(
            new > old || self.force,
            "--to {new} is lower than the current version {old}: keys would collide with older caches; pass --force to do it anyway"
        );
        // The lock files first: a bad one is named before the tree is searched.
        session.deps_key()?;
        let prefix = format!("{}-v{old}-", session.config.backend.key_prefix());
        let stale = find(&session.root, &prefix)?;
        ensure!(
            stale.is_empty(),
            "{} place(s) name the old key prefix `{prefix}`; make them derive the key (`cargo xtask cache-key`) or drop them, then bump again. Nothing was changed.\n  {}",
            stale.len(),
            stale.join("\n  ")
        );
        let (old_key, new_key) = super::apply(session, Change::Version(new))?;
        eprintln!("cache version {old} -> {new}: every key changes, so the next CI run and cache warming build afresh");
        eprintln!(
            "watch next: the first run of prebuild-deps (and cache-warming on main) fills the cache under the new key;"
        );
        eprintln!("old entries stay in the cache but are no longer used.");
        println!("old key: {old_key}");
        println!("new key: {new_key}");
        Ok(())
    }
}

/// `file:line` of every line naming `needle`, in the tree (not .git, not target).
fn find(root: &Path, needle: &str) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            // Only regular files are read: a FIFO would wait for a writer, a link may lead anywhere.
            let (path, kind) = (entry.path(), entry.file_type()?);
            if kind.is_dir() && entry.file_name() != ".git" && entry.file_name() != "target" {
                dirs.push(path);
            } else if let Some(Ok(text)) = kind.is_file().then(|| std::fs::read_to_string(&path)) {
                let rel = path.strip_prefix(root).unwrap_or(&path).display();
                let lines = text.lines().enumerate().filter(|(_, line)| line.contains(needle));
                found.extend(lines.map(|(n, line)| format!("{rel}:{}: {}", n + 1, line.trim())));
            }
        }
    }
    Ok(found)
}

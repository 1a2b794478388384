//! The signatures on a cache's narinfos, changed in place (a key rotation, a repair): a key's
//! signature added by Nix (`nix store sign` on the cache directory; over HTTP on a mirror of the
//! narinfos, written back by parallel PUTs), a key's removed (its `Sig:` lines dropped). Each
//! narinfo is written whole (a directory's by rename, an HTTP server's by its own temporary
//! file): stopped at any point, every narinfo is as it was or as it is meant to be.

use std::path::Path;

use anyhow::{Context, Result};

use super::{
    files::Files,
    gc::Entries,
    narinfo,
    signing_key::{key_name, SigningKeys},
};
use crate::{
    command::{Slot, Words},
    nix::Network,
    scratch,
};

const PATHS: Slot = Slot("<paths>");

/// Adds a signature by each key to the narinfos of `paths` (the caller batches them, and holds
/// the cache's lock). Nix signs what the narinfo says (its `NarHash`, `NarSize` and
/// references): the caller has checked the bytes first.
pub fn add(files: &Files, entries: &Entries, paths: &[String], keys: &SigningKeys, net: &Network) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    {
        let chunk = paths;
        match files {
            Files::Dir(dir) => {
                for cmd in keys.sign(Some(&format!("file://{}", dir.display())), PATHS, net) {
                    cmd.run(&Words(chunk.to_vec()))?;
                }
            }
            Files::Http(_) => {
                let mirror = mirror(entries, chunk)?;
                let signed = (|| {
                    for cmd in keys.sign(Some(&format!("file://{}", mirror.display())), PATHS, net) {
                        cmd.run(&Words(chunk.to_vec()))?;
                    }
                    let read = |path: &String| -> Result<(String, Vec<u8>)> {
                        let file = narinfo::file_of(path).with_context(|| format!("{path} is not a store path"))?;
                        let bytes = std::fs::read(mirror.join(&file))
                            .with_context(|| format!("cannot read the signed narinfo of {path}"))?;
                        Ok((file, bytes))
                    };
                    chunk.iter().map(read).collect::<Result<Vec<_>>>()
                })();
                let _ = std::fs::remove_dir_all(&mirror);
                files.put_many(&signed?)?;
            }
        }
    }
    Ok(())
}

/// Removes every signature by the key named `name` from the narinfos of `paths` (the caller
/// batches them): a narinfo without one is left as it is. Returns how many were written.
pub fn remove(files: &Files, entries: &Entries, paths: &[String], name: &str) -> Result<usize> {
    let changed: Vec<(String, Vec<u8>)> = paths
        .iter()
        .filter_map(|path| {
            let entry = entries.by_path.get(path)?;
            let text = String::from_utf8_lossy(&entry.text);
            let kept: Vec<&str> = text.lines().filter(|l| !signed_by(l, name)).collect();
            let file = narinfo::file_of(path)?;
            (kept.len() != text.lines().count()).then(|| (file, format!("{}\n", kept.join("\n")).into_bytes()))
        })
        .collect();
    files.put_many(&changed)?;
    Ok(changed.len())
}

/// Whether a narinfo's line is a signature by the key named `name`.
fn signed_by(line: &str, name: &str) -> bool {
    line.strip_prefix("Sig: ").is_some_and(|sig| sig.contains(':') && key_name(sig) == name)
}

/// A binary cache directory of the narinfos of `paths` as the cache serves them, for Nix to
/// sign (it needs no NAR file for that).
fn mirror(entries: &Entries, paths: &[String]) -> Result<std::path::PathBuf> {
    let dir = scratch::memory_dir(&format!("sign-mirror-{}", paths.len()), (paths.len() as u64) << 10)?;
    let _ = std::fs::remove_dir_all(&dir);
    narinfo::write_cache_info(&dir)?;
    for path in paths {
        let entry = entries.by_path.get(path).with_context(|| format!("{path} has no narinfo in the cache"))?;
        let file = narinfo::file_of(path).with_context(|| format!("{path} is not a store path"))?;
        std::fs::write(Path::new(&dir).join(file), &entry.text)?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signature_is_by_the_key_it_names_alone() {
        assert!(super::signed_by("Sig: old-1:abc==", "old-1"));
        assert!(!super::signed_by("Sig: old-10:abc==", "old-1"));
        assert!(!super::signed_by("References: old-1:abc", "old-1"));
    }
}

//! The kept binaries, `<target>/xtask-bin/<key>/<binary>`, each beside `<binary>.sha256`, the
//! hash of its bytes written when it was kept. A kept binary runs only when it is still those
//! bytes: a regular file (not a link), of the launcher's own owner, writable by no one else,
//! whose hash is the recorded one. A file planted there, or one changed since, is not run: it
//! goes, and the binary is built again.
//!
//! What this does not stop: someone who can write both files (the target directory, or the
//! actions cache CI restores it from) can plant a binary and its hash alike. On GitHub, a cache
//! written by a pull request is that pull request's alone; the default branch's caches are
//! written only by its own workflow runs.

use std::{
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use crate::key::file_hash;

/// Binaries kept: the newest few (a maintainer switching branches finds theirs).
const KEEP: usize = 4;

/// Whether the kept binary may run: `Ok` when it is the one the launcher kept, `Err(why not)`.
pub fn verified(binary: &Path) -> Result<(), String> {
    let meta = fs::symlink_metadata(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    let launcher = std::env::current_exe().and_then(fs::metadata).map_err(|e| format!("the launcher: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!("{} is not a regular file", binary.display()));
    }
    if meta.uid() != launcher.uid() || meta.mode() & 0o022 != 0 {
        return Err(format!("{} is another user's, or others may write it", binary.display()));
    }
    let recorded = fs::read_to_string(sha_file(binary)).map_err(|e| format!("its recorded hash: {e}"))?;
    let actual = file_hash(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    match recorded.trim() == actual {
        true => Ok(()),
        false => Err(format!("{} is not the binary that was kept (its bytes changed)", binary.display())),
    }
}

/// Whether a built binary holds the key it was built for (the libraries embed it): a binary cargo
/// judged fresh from older sources does not.
pub fn holds(binary: &Path, key: &str) -> io::Result<bool> {
    Ok(fs::read(binary)?.windows(key.len()).any(|w| w == key.as_bytes()))
}

/// Forgets a kept binary that may not run.
pub fn discard(binary: &Path) {
    if let Some(dir) = binary.parent() {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Copies the built binary to `kept/key/name` with its hash (whole or not at all), and removes
/// all but the newest [`KEEP`] binaries.
pub fn keep(built: &Path, kept: &Path, key: &str, name: &str) -> io::Result<()> {
    let partial = kept.join(format!(".{key}.{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    fs::create_dir_all(&partial)?;
    let copy = partial.join(name);
    fs::copy(built, &copy)?;
    // Its owner's alone to write, whatever the umask made of the build.
    fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    fs::write(sha_file(&copy), file_hash(&copy)? + "\n")?;
    // Another run kept the same binary first: theirs stays.
    if fs::rename(&partial, kept.join(key)).is_err() {
        fs::remove_dir_all(&partial)?;
    }
    let mut entries: Vec<_> = fs::read_dir(kept)?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    entries.sort_by(|a, b| b.cmp(a));
    for (_, dir) in entries.into_iter().skip(KEEP) {
        let _ = fs::remove_dir_all(dir);
    }
    Ok(())
}

fn sha_file(binary: &Path) -> PathBuf {
    let mut name = binary.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    binary.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_the_binary_that_was_kept_runs() {
        let dir = std::env::temp_dir().join(format!("xtask-launch-kept-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let built = dir.join("built");
        fs::write(&built, "#!/bin/sh\necho real\n").unwrap();
        let kept = dir.join("xtask-bin");
        keep(&built, &kept, "k", "xtask").unwrap();
        let binary = kept.join("k/xtask");
        assert_eq!(verified(&binary), Ok(()));

        // Bytes changed since (a planted file in its place): refused.
        fs::write(&binary, "#!/bin/sh\necho planted\n").unwrap();
        assert!(verified(&binary).unwrap_err().contains("not the binary that was kept"));
        // A planted file with no recorded hash, a link, one others may write: refused.
        let planted = kept.join("k/planted");
        fs::write(&planted, "#!/bin/sh\necho planted\n").unwrap();
        assert!(verified(&planted).unwrap_err().contains("recorded hash"));
        keep(&built, &kept, "k2", "xtask").unwrap();
        let good = kept.join("k2/xtask");
        fs::set_permissions(&good, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(verified(&good).unwrap_err().contains("others may write"));
        let link = kept.join("k/link");
        std::os::unix::fs::symlink(&built, &link).unwrap();
        assert!(verified(&link).unwrap_err().contains("not a regular file"));
        discard(&link);
        assert!(!link.parent().unwrap().exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}

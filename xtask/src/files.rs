//! Files the tasks write: whole or not at all (a temporary file beside the target, then a
//! rename), and generated files through one [`update`] that writes, checks or only says.

use std::{
    fs,
    io::{self, Read, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
};

use anyhow::{Context, Result};

/// What a generator does with the text it made (ruff_dev's `Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write the files that differ.
    Write,
    /// Write nothing; report the files that differ.
    Check,
    /// Write nothing; say what would be written (`--dry-run`).
    DryRun,
}

/// Brings `root/path` to `text` according to `mode`, saying what it did on stderr (write, dry
/// run); whether the file differed from `text` (in [`Mode::Check`]: is stale).
pub fn update(root: &Path, path: &str, text: &str, mode: Mode) -> Result<bool> {
    let full = root.join(path);
    if fs::read_to_string(&full).is_ok_and(|current| current == text) {
        return Ok(false);
    }
    match mode {
        Mode::Write => {
            write_atomic(&full, text.as_bytes())?;
            eprintln!("{path}: written");
        }
        Mode::DryRun => println!("# would write {path}"),
        Mode::Check => {}
    }
    Ok(true)
}

/// Creates `path` with `contents`, readable by its owner only, unless another process got there
/// first (a temporary file hard-linked into place); whether this call created it.
pub fn create_private(path: &Path, contents: &[u8]) -> Result<bool> {
    via_temp(path, contents, true, |tmp| match fs::hard_link(tmp, path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        linked => linked.map(|()| true),
    })
}

/// Writes a file whole or not at all: a temporary file beside it, synced, then renamed over it.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    via_temp(path, contents, false, |tmp| fs::rename(tmp, path))
}

/// Writes `contents` to a new temporary file beside `path` (mode 0600 when `private`), then has
/// `place` put it where it belongs; the temporary file never stays.
fn via_temp<T>(path: &Path, contents: &[u8], private: bool, place: impl FnOnce(&Path) -> io::Result<T>) -> Result<T> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().context("cannot write a path without a file name")?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let write = || {
        let _ = fs::remove_file(&tmp);
        let mode = if private { 0o600 } else { 0o666 };
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        place(&tmp)
    };
    let done = write().with_context(|| format!("cannot write {}", path.display()));
    let _ = fs::remove_file(&tmp);
    done
}

/// [`read_open`] of a file opened without blocking (a FIFO would wait for a writer forever).
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_open(fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?, limit)
}

/// An open file's bytes, when it is a regular file (a link to /dev/zero never ends) of at most
/// `limit` bytes: never more are read, whatever the file does meanwhile.
pub(crate) fn read_open(file: fs::File, limit: u64) -> io::Result<Vec<u8>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if !file.metadata()?.is_file() {
        return Err(invalid("not a regular file (a FIFO, a device or a directory)".into()));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(invalid(format!("over the {limit} bytes this file may have")));
    }
    Ok(bytes)
}

/// Whether a name from outside (a history's index, a cache's) can be one file's name: letters,
/// digits, `-`, `_` and `.`, not starting with a dot (no `..`, no path), at most 200 bytes.
pub(crate) fn is_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    !name.is_empty() && name.len() <= 200 && !name.starts_with('.') && name.chars().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = temp("atomic");
        let path = dir.join("sub/file.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(fs::read_dir(dir.join("sub")).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_private_file_is_created_once_and_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("private");
        let path = dir.join("key.secret");
        assert!(create_private(&path, b"first").unwrap());
        assert!(!create_private(&path, b"second").unwrap(), "an existing file is never replaced");
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn each_mode_writes_checks_or_only_says() {
        let dir = temp("modes");
        fs::create_dir_all(&dir).unwrap();
        assert!(update(&dir, "a", "new\n", Mode::DryRun).unwrap());
        assert!(!dir.join("a").exists(), "a dry run wrote");
        assert!(update(&dir, "a", "new\n", Mode::Check).unwrap(), "stale");
        assert!(!dir.join("a").exists(), "a check wrote");
        assert!(update(&dir, "a", "new\n", Mode::Write).unwrap());
        assert_eq!(fs::read_to_string(dir.join("a")).unwrap(), "new\n");
        assert!(!update(&dir, "a", "new\n", Mode::Check).unwrap(), "up to date");
        fs::remove_dir_all(dir).unwrap();
    }
}

//! The run's private directory: the files a run must write and must not leave behind (the netrc
//! that hands a cache's credentials to Nix and curl, image archives, a registry's auth file and
//! token). Created on first use with mode 0700 under the temporary directory, and removed on every
//! exit: when [`Guard`] (held by `main`) drops, after an error or a panic, and on SIGINT, SIGTERM
//! or SIGHUP (a cancelled CI job).

use std::{fs, os::unix::fs::DirBuilderExt, path::PathBuf, sync::Mutex};

use anyhow::{Context, Result};

static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The run's directory, created (0700) on first use.
pub fn dir() -> Result<PathBuf> {
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = dir.as_ref() {
        return Ok(dir.clone());
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!("xtask-{}-{nanos}", std::process::id()));
    fs::DirBuilder::new().mode(0o700).create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    watch_signals();
    *dir = Some(path.clone());
    Ok(path)
}

/// A file of the run's directory, readable by this user only.
pub fn file(name: &str, contents: &[u8]) -> Result<PathBuf> {
    let path = dir()?.join(name);
    let _ = fs::remove_file(&path);
    crate::files::create_private(&path, contents)?;
    Ok(path)
}

/// Removes the run's directory, if it was made.
pub fn remove() {
    let taken = DIR.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(dir) = taken {
        if fs::remove_dir_all(&dir).is_err() {
            // A store Nix made here has read-only directories: writable again, then removed.
            writable(&dir);
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

fn writable(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            writable(&entry.path());
        }
    }
}

/// Removes the run's directory when dropped: `main` holds one for the whole run.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        remove();
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove the directory, then exit as the signal would have.
fn watch_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            remove();
            std::process::exit(128 + signal);
        }
    });
}

//! One writer at a time for a cache's bookkeeping ([`super::roots`], `gc`): gc never works from a
//! view a push is changing, and two pushes never lose each other's roots.
//!
//! - A directory: `flock` on `xtask-roots/lock` (released by the kernel when the process ends).
//! - HTTP: a token file, `xtask-roots/lock`, present while the lock is free. DELETE is the one
//!   atomic operation a plain WebDAV server offers (of two DELETEs, one gets 404): whoever deleted
//!   the token holds the lock, and puts it back to release it. The holder first writes
//!   `xtask-roots/lock-holder` (who, since when): a token missing longer than the lease was left by
//!   a holder that died, and is put back. Without DELETE no lock is needed (nothing can delete):
//!   pushes go on with a warning, and gc refuses.

use std::{
    fs,
    os::fd::AsRawFd,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};

use super::{
    files::{Beneath, Deleted, Files},
    roots::{now_ms, DIR},
};

use crate::github;

const TOKEN: &str = "xtask-roots/lock";
const HOLDER: &str = "xtask-roots/lock-holder";
/// How long a new cache's first token creators wait for each other (the window is one request).
const SETTLE: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(200);

/// The lock, held until dropped.
pub struct Lock {
    held: Held,
    /// When the lock was taken or last renewed: a holder past its lease must stop writing.
    renewed: Instant,
    lease: Duration,
}

enum Held {
    /// The open lock file: the kernel releases the `flock` when it is closed.
    Dir(#[allow(dead_code)] fs::File),
    Http(Files),
    /// A cache nothing can delete from (no DELETE): there is nothing to exclude.
    NoDelete,
}

impl Files {
    /// Takes the cache's lock, waiting at most `wait`; over HTTP, others take it from a holder that
    /// did not renew it within `lease`.
    pub fn lock(&self, wait: Duration, lease: Duration) -> Result<Lock> {
        let held = match self {
            Files::Dir(dir) => Held::Dir(lock_dir(dir, wait)?),
            Files::Http(_) if take_token(self, wait, lease)? => Held::Http(self.clone()),
            Files::Http(http) => {
                github::warning(&format!(
                    "{} takes PUT but not DELETE: pushes need no lock there, and gc (which deletes) is unavailable",
                    http.base
                ));
                Held::NoDelete
            }
        };
        Ok(Lock { held, renewed: Instant::now(), lease })
    }
}

impl Lock {
    /// Whether the lock excludes other writers (a cache that takes DELETE): what gc needs.
    pub fn deletes(&self) -> bool {
        !matches!(self.held, Held::NoDelete)
    }

    /// Says that the holder is alive (HTTP: a new `lock-holder`), and fails when the lease ran out
    /// (another process may have taken the lock: the holder must stop writing). A directory's
    /// `flock` has no lease: the kernel holds it as long as the process lives.
    pub(crate) fn renew(&mut self) -> Result<()> {
        ensure!(
            !matches!(self.held, Held::Http(_)) || self.renewed.elapsed() <= self.lease,
            "held the cache's lock longer than its lease ({} s): stopping before another writer",
            self.lease.as_secs()
        );
        if let Held::Http(files) = &self.held {
            files.put(HOLDER, &me(true))?;
        }
        self.renewed = Instant::now();
        Ok(())
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let Held::Http(files) = &self.held else { return };
        if let Err(err) = files.put(TOKEN, b"") {
            github::warning(&format!(
                "cannot release the lock of {} ({err:#}): others wait for its lease to end",
                files.label()
            ));
        }
    }
}

/// The cache directory's lock: `flock` on `xtask-roots/lock`, reached without following a link.
fn lock_dir(cache: &Path, wait: Duration) -> Result<fs::File> {
    let path = cache.join(DIR).join("lock");
    let (shown, secs) = (path.display(), wait.as_secs());
    let beneath = Beneath::open(cache, true).with_context(|| format!("cannot open {}", cache.display()))?;
    // Nix writes the NAR files under nar/: never through a link (the cache itself may be one).
    ensure!(
        !cache.join("nar").symlink_metadata().is_ok_and(|m| m.is_symlink()),
        "{}/nar is a symbolic link: Nix would write the cache's NAR files through it, and links in a cache are never followed; make it a directory",
        cache.display()
    );
    let file = beneath.open_rw(&format!("{DIR}/lock")).with_context(|| format!("cannot open {shown}"))?;
    // A blocking flock, in a thread: the kernel wakes a waiter the moment the lock is free (a
    // loop of tries would lose to a holder that takes it again at once), and the wait is bounded.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // SAFETY: flock on a descriptor this thread owns; no memory is involved.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0;
        // errno is this thread's own.
        let _ = sender.send(if locked { Ok(file) } else { Err(std::io::Error::last_os_error()) });
    });
    match receiver.recv_timeout(wait) {
        Ok(locked) => locked.with_context(|| format!("cannot lock {shown}")),
        Err(_) => bail!(
            "{shown} is locked by another task (gc, or a push recording its paths) for over {secs} s: try again when it is done"
        ),
    }
}

/// Who holds the lock, and since when (seconds since the epoch): the `lock-holder` file.
#[derive(serde::Serialize, serde::Deserialize)]
struct Holder {
    owner: String,
    since: u64,
    /// The holder's machine (its name and boot) and process, and whether it wrote this as the
    /// one that won the lock (a waiter writes it too, before it tries): a winner of this machine
    /// that is gone (killed) left the lock, which is taken over at once rather than after its lease.
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    won: bool,
}

impl Holder {
    /// Whether it won the lock, and is a process of this machine that no longer runs.
    fn gone_from_here(&self) -> bool {
        let (Some(host), Some(pid), true) = (&self.host, self.pid, self.won) else { return false };
        if Some(host) != this_machine().as_ref() {
            return false;
        }
        // SAFETY: kill with signal 0 only asks whether the process exists; errno is this thread's.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        !alive && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }
}

/// This machine, as the kernel names it and this boot of it: a name alone may be another's.
fn this_machine() -> Option<String> {
    let read = |file| Some(fs::read_to_string(file).ok()?.trim().to_owned()).filter(|s| !s.is_empty());
    Some(format!("{} boot {}", read("/proc/sys/kernel/hostname")?, read("/proc/sys/kernel/random/boot_id")?))
}

/// The `lock-holder` file of this process: `won` once it holds the lock.
fn me(won: bool) -> Vec<u8> {
    let (host, pid) = (this_machine(), std::process::id());
    let owner = format!("{} pid {pid}", host.as_deref().unwrap_or_default());
    let holder = Holder { owner, since: now_ms() / 1000, host, pid: Some(pid), won };
    serde_json::to_vec(&holder).expect("a holder is always JSON")
}

/// Takes the token: `true` once held, `false` when the cache takes no DELETE (405, 501).
fn take_token(files: &Files, wait: Duration, lease: Duration) -> Result<bool> {
    let deadline = Instant::now() + wait;
    loop {
        if files.sizes(&[TOKEN])?.values().any(Option::is_some) {
            files.put(HOLDER, &me(false))?;
            match files.try_delete(TOKEN)? {
                Deleted::Yes => {
                    // The holder's record says it won (a waiter's may have come after).
                    files.put(HOLDER, &me(true))?;
                    return Ok(true);
                }
                Deleted::NotAllowed => return Ok(false),
                // Another process deleted it first.
                Deleted::Absent => {}
            }
        } else {
            match files.get(HOLDER)?.and_then(|bytes| serde_json::from_slice::<Holder>(&bytes).ok()) {
                // A cache whose lock was never used.
                None => {
                    files.put(TOKEN, b"")?;
                    std::thread::sleep(SETTLE);
                    continue;
                }
                Some(info) if info.gone_from_here() => {
                    github::warning(&format!(
                        "the lock of {} was held by {}, a process of this machine that is gone: taking it over",
                        files.label(),
                        info.owner
                    ));
                    files.put(TOKEN, b"")?;
                    continue;
                }
                Some(info) if (now_ms() / 1000).saturating_sub(info.since) > lease.as_secs() => {
                    github::warning(&format!(
                        "the lock of {} was held by {} since {} s ago, past its lease: taking it over",
                        files.label(),
                        info.owner,
                        (now_ms() / 1000).saturating_sub(info.since)
                    ));
                    files.put(TOKEN, b"")?;
                    continue;
                }
                Some(_) => {}
            }
        }
        ensure!(
            Instant::now() <= deadline,
            "the cache {} is locked by another task (gc, or a push recording its roots) for over {} s: try again when it is done",
            files.label(),
            wait.as_secs()
        );
        std::thread::sleep(POLL + Duration::from_millis(u64::from(std::process::id() % 100)));
    }
}

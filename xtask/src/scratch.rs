//! What a run must not leave behind: its private directory (mode 0700: the netrc handing a cache's
//! credentials to Nix and curl, image archives, a registry's auth), and what it made elsewhere (the
//! smoke's containers), each with the command that removes it. Both go on every exit: when
//! [`Guard`] (held by `main`) drops, and on SIGINT, SIGTERM or SIGHUP (a cancelled CI job).

use std::{
    fs,
    os::unix::fs::DirBuilderExt,
    path::PathBuf,
    sync::{
        atomic::{AtomicI32, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::command::{self, Cmd};

static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
/// The run's directory in memory (`/dev/shm`), when one was asked for and could be made.
static MEMORY: Mutex<Option<PathBuf>> = Mutex::new(None);
/// Where Linux keeps a file system in memory for every user.
const SHM: &str = "/dev/shm";
static UNDO: Mutex<Vec<Undo>> = Mutex::new(Vec::new());

/// How what the run made is removed: each object `list` prints (one id a line: what carries the
/// run's own label), removed by `remove` with the ids after its arguments; nothing else is touched.
pub(crate) struct Undo {
    pub list: Cmd,
    pub remove: Cmd,
}
/// The signal that stopped the run, or 0.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The signal that stopped the run, if one did: `main` exits with 128 + it.
pub fn signal() -> Option<i32> {
    Some(SIGNAL.load(Ordering::SeqCst)).filter(|s| *s != 0)
}

/// Registers how something the run made outside its directory is removed (by [`undo`], on exit).
pub(crate) fn on_exit(undo: Undo) {
    UNDO.lock().unwrap_or_else(|e| e.into_inner()).push(undo);
    watch_signals();
}

/// Runs the registered removals now, newest first, each once (under the lock: whoever comes
/// second finds them done); a failure is ignored (the thing may never have been made).
pub fn undo() {
    for Undo { list, mut remove } in UNDO.lock().unwrap_or_else(|e| e.into_inner()).drain(..).rev() {
        let ids = list.run_after_stop().unwrap_or_default();
        if !ids.trim().is_empty() {
            remove.args.extend(ids.split_whitespace().map(command::lit));
            let _ = remove.run_after_stop();
        }
    }
}

/// The run's id: its PID and 8 random hex digits, so two runs in PID namespaces of their own
/// (two jobs on one machine, each PID 1) never share a name for what they make outside.
pub(crate) fn run_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        // A random number per process (std's hasher keys), beside the PID.
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        format!("{}-{:08x}", std::process::id(), random as u32)
    })
}

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

/// A directory of the run's own for `name`, in memory (`/dev/shm`, 0700) when the memory file
/// system has `4 × bytes` free, else in the run's directory: what is written there and soon read
/// once (a mirror of a cache's files) costs no disk. Removed with the run's directory.
pub fn memory_dir(name: &str, bytes: u64) -> Result<PathBuf> {
    let fits = free_bytes(std::path::Path::new(SHM)).is_some_and(|free| free / 4 >= bytes);
    let mut memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    if memory.is_none() && fits {
        sweep_memory();
        let path = std::path::Path::new(SHM).join(dir()?.file_name().unwrap_or_default());
        *memory = fs::DirBuilder::new().mode(0o700).create(&path).ok().map(|()| path);
    }
    match memory.as_ref().filter(|_| fits) {
        Some(memory) => Ok(memory.join(name)),
        None => Ok(dir()?.join(name)),
    }
}

/// Removes the memory directories of runs of this machine that are gone (killed: nothing else
/// removed them), `xtask-<pid>-…`, this user's own.
fn sweep_memory() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    for entry in fs::read_dir(SHM).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("xtask-").and_then(|r| r.split('-').next()?.parse::<i32>().ok()) else {
            continue;
        };
        if process_gone(pid) && entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether no process `pid` runs on this machine any more (its directories are nobody's).
pub fn process_gone(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only asks whether the process exists.
    (unsafe { libc::kill(pid, 0) }) != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Removes `dir` and everything under it, a store Nix made there included (its directories are
/// read-only: made writable again first). Best effort: what cannot be removed stays.
pub fn remove_tree(dir: &std::path::Path) {
    if fs::remove_dir_all(dir).is_err() {
        writable(dir);
        let _ = fs::remove_dir_all(dir);
    }
}

/// The bytes free to this user on the file system of `path`.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a NUL-terminated path and a zeroed struct statvfs fills; nothing else is touched.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// A file of the run's directory, readable by this user only.
pub fn file(name: &str, contents: &[u8]) -> Result<PathBuf> {
    let path = dir()?.join(name);
    let _ = fs::remove_file(&path);
    crate::files::create_private(&path, contents)?;
    Ok(path)
}

/// `name` in the run's directory; in a dry run, `<run directory>/NAME`, and nothing is made.
pub fn path(dry_run: bool, name: &str) -> Result<PathBuf> {
    Ok(if dry_run { PathBuf::from("<run directory>") } else { dir()? }.join(name))
}

/// Removes the run's directories, if they were made.
pub fn remove() {
    if let Some(memory) = MEMORY.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = fs::remove_dir_all(memory);
    }
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = dir.take() {
        remove_tree(&dir);
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
pub(crate) struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        undo();
        remove();
    }
}

/// On SIGINT, SIGTERM or SIGHUP: stop the commands (SIGTERM), wait for them to end (at most 10 s:
/// one that ignores SIGTERM is then killed), undo, remove the directory, and exit as the signal
/// would have. Watched from the first thing the run makes.
fn watch_signals() {
    static WATCHING: std::sync::Once = std::sync::Once::new();
    WATCHING.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
        std::thread::spawn(move || {
            let Some(signal) = signals.forever().next() else { return };
            SIGNAL.store(signal, Ordering::SeqCst);
            command::stop();
            let deadline = Instant::now() + Duration::from_secs(10);
            while command::running() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            command::kill();
            undo();
            remove();
            std::process::exit(128 + signal);
        });
    });
}

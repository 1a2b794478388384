//! The files of a cache directory, walked from its own directory one component at a time
//! (`openat` with `O_NOFOLLOW`): a link planted in the cache (`nar/` pointing elsewhere) is refused,
//! never followed. (The directory the maintainer names may itself be a link.)

use std::{
    ffi::CString,
    fs::File,
    io::{self, Write},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
};

use super::super::narinfo::safe_path;

/// A cache directory, opened.
pub(crate) struct Beneath {
    root: OwnedFd,
    shown: PathBuf,
}

impl Beneath {
    /// The cache directory (created when `create` and it does not exist).
    pub fn open(root: &Path, create: bool) -> io::Result<Beneath> {
        if create {
            std::fs::create_dir_all(root)?;
        }
        let file = File::open(root)?;
        if !file.metadata()?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a directory", root.display())));
        }
        Ok(Beneath { root: file.into(), shown: root.to_path_buf() })
    }

    /// A file's bytes, at most `limit` of them; a regular file only (not a FIFO, a device, a link).
    pub fn read(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        let (dir, name) = self.parent(path, false)?;
        crate::files::read_open(File::from(self.at(&dir, name, libc::O_RDONLY | libc::O_NONBLOCK, 0, path)?), limit)
    }

    /// A file's size (`None`: absent); a link or anything but a regular file is an error.
    pub fn size(&self, path: &str) -> io::Result<Option<u64>> {
        let found = found(self.parent(path, false).and_then(|(dir, name)| stat(&dir, name)))?;
        let Some(stat) = found else { return Ok(None) };
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFREG => Ok(Some(stat.st_size as u64)),
            libc::S_IFLNK => Err(self.link(path)),
            _ => Err(invalid(format!("{path} is not a regular file"))),
        }
    }

    /// Writes a file whole: a temporary file beside it renamed into place (directories created).
    pub fn write(&self, path: &str, bytes: &[u8]) -> io::Result<()> {
        let (dir, name) = self.parent(path, true)?;
        let tmp = format!(".{name}.{}.tmp", std::process::id());
        (|| {
            let mut file =
                File::from(self.at(&dir, &tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644, path)?);
            file.write_all(bytes)?;
            file.sync_all()?;
            let (from, to) = (cstring(&tmp)?, cstring(name)?);
            // SAFETY: valid descriptors and NUL-terminated names.
            check(unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) })
        })()
        .inspect_err(|_| drop(unlink(&dir, &tmp)))
    }

    /// Deletes a file (a link is deleted itself, never what it points to); whether it existed.
    pub fn delete(&self, path: &str) -> io::Result<bool> {
        Ok(found(self.parent(path, false).and_then(|(dir, name)| unlink(&dir, name)))?.is_some())
    }

    /// The names in a folder of the cache (`""`: the cache itself), sorted; none when absent.
    pub fn list(&self, folder: &str) -> io::Result<Vec<String>> {
        if !folder.is_empty() && !safe_path(folder) {
            return Err(self.refused(folder));
        }
        let Some(dir) = found(self.walk(folder, false, folder))? else { return Ok(Vec::new()) };
        // The descriptor's own directory: /proc names the open directory, not a path to resolve.
        let entries = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?;
        let mut names =
            entries.map(|e| Ok(e?.file_name().to_string_lossy().into_owned())).collect::<io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    }

    /// A file opened for writing, created when absent (the lock file).
    pub(crate) fn open_rw(&self, path: &str) -> io::Result<File> {
        let (dir, name) = self.parent(path, true)?;
        self.at(&dir, name, libc::O_RDWR | libc::O_CREAT, 0o644, path).map(File::from)
    }

    /// The directory holding `path` (a [`safe_path`]), walked following no link, and the file's name.
    fn parent<'p>(&self, path: &'p str, create: bool) -> io::Result<(OwnedFd, &'p str)> {
        if !safe_path(path) {
            return Err(self.refused(path));
        }
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        Ok((self.walk(folder, create, path)?, name))
    }

    fn walk(&self, folder: &str, create: bool, path: &str) -> io::Result<OwnedFd> {
        let mut dir = self.root.try_clone()?;
        for component in folder.split('/').filter(|c| !c.is_empty()) {
            let flags = libc::O_RDONLY | libc::O_DIRECTORY;
            dir = match self.at(&dir, component, flags, 0, path) {
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                    let c = cstring(component)?;
                    // SAFETY: a valid descriptor and a NUL-terminated name.
                    match check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), 0o755) }) {
                        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                        _ => self.at(&dir, component, flags, 0, path)?,
                    }
                }
                other => other?,
            };
        }
        Ok(dir)
    }

    /// `openat` beneath `dir`, never through a link.
    fn at(&self, dir: &OwnedFd, name: &str, flags: i32, mode: libc::mode_t, path: &str) -> io::Result<OwnedFd> {
        let c = cstring(name)?;
        let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: a valid descriptor and a NUL-terminated name; the result is checked.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, libc::c_uint::from(mode)) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            // O_NOFOLLOW on a link: ELOOP; O_DIRECTORY on one: ENOTDIR.
            return match e.raw_os_error() {
                Some(libc::ELOOP) => Err(self.link(path)),
                Some(libc::ENOTDIR) if is_link(dir, name) => Err(self.link(path)),
                _ => Err(e),
            };
        }
        // SAFETY: a descriptor openat just returned, owned by nothing else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn refused(&self, path: &str) -> io::Error {
        invalid(format!("refusing {path:?}: not a plain path inside the cache {}", self.shown.display()))
    }

    fn link(&self, path: &str) -> io::Error {
        let cache = self.shown.display();
        let message = format!(
            "refusing {path:?} in the cache {cache}: a symbolic link is on its way, and links in a cache are never followed"
        );
        io::Error::new(io::ErrorKind::PermissionDenied, message)
    }
}

/// `Ok(None)` for what is absent.
pub(crate) fn found<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        other => other.map(Some),
    }
}

/// A system call's result: 0, or the error it set.
fn check(result: libc::c_int) -> io::Result<()> {
    (result == 0).then_some(()).ok_or_else(io::Error::last_os_error)
}

fn stat(dir: &OwnedFd, name: &str) -> io::Result<libc::stat> {
    let c = cstring(name)?;
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor, a NUL-terminated name, a stat buffer of the right type.
    check(unsafe { libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(stat)
}

fn is_link(dir: &OwnedFd, name: &str) -> bool {
    stat(dir, name).is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

fn unlink(dir: &OwnedFd, name: &str) -> io::Result<()> {
    let c = cstring(name)?;
    // SAFETY: a valid descriptor and a NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) })
}

fn cstring(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| invalid(format!("refusing {name:?}: a NUL byte in a file name")))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-beneath-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("cache")).unwrap();
        dir
    }

    #[test]
    fn files_are_written_read_listed_and_deleted_beneath_the_cache() {
        let dir = cache("plain");
        let b = Beneath::open(&dir.join("cache"), false).unwrap();
        b.write("xtask-roots/k.json", b"{}").unwrap();
        assert_eq!(b.read("xtask-roots/k.json", 10).unwrap(), b"{}");
        assert_eq!(b.size("xtask-roots/k.json").unwrap(), Some(2));
        assert_eq!(b.size("xtask-roots/none.json").unwrap(), None);
        assert_eq!(b.list("xtask-roots").unwrap(), ["k.json"]);
        assert!(b.read("xtask-roots/k.json", 1).is_err(), "over the limit");
        assert!(b.delete("xtask-roots/k.json").unwrap());
        assert!(!b.delete("xtask-roots/k.json").unwrap());
        assert!(b.list("nothing").unwrap().is_empty());
    }

    #[test]
    fn a_link_in_the_cache_is_never_followed() {
        let dir = cache("links");
        let outside = dir.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("victim"), "precious").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("cache/nar")).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), dir.join("cache/x.narinfo")).unwrap();
        let b = Beneath::open(&dir.join("cache"), false).unwrap();
        for result in [b.delete("nar/victim").map(drop), b.write("nar/new", b"x"), b.read("nar/victim", 100).map(drop)]
        {
            let err = result.unwrap_err();
            assert!(err.to_string().contains("never followed"), "{err}");
        }
        assert!(b.read("x.narinfo", 100).unwrap_err().to_string().contains("never followed"));
        assert!(b.size("x.narinfo").unwrap_err().to_string().contains("never followed"));
        assert!(b.list("nar").unwrap_err().to_string().contains("never followed"));
        // The link itself may go; what it points to stays.
        assert!(b.delete("x.narinfo").unwrap());
        assert_eq!(std::fs::read_to_string(outside.join("victim")).unwrap(), "precious");
        assert!(!outside.join("new").exists());
    }
}

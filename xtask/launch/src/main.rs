//! `cargo xtask` (the alias in `.cargo/config.toml`): runs the xtask binary built from the
//! sources as they are now. Binaries are kept in `<target>/xtask-bin/<key>/xtask`, the key a hash
//! of the xtask's sources, the lock file, the manifests and the toolchain; a kept one is run at
//! once, else `cargo build --profile xtask --package xtask` builds it and it is kept.
//!
//! Why: cargo decides whether a workspace crate is fresh by the modification times of its
//! sources, which a fresh checkout sets to now, so a CI job that restores the target directory
//! still compiles the xtask (the bulk of its compile time). A key of the contents does not care
//! about times: CI restores `target/xtask-bin` (actions/cache, keyed by `hashFiles` of the same
//! files) and each job runs the binary the first job built, after compiling only this crate.

use std::{
    env,
    ffi::OsString,
    fs,
    hash::{DefaultHasher, Hasher},
    io,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

/// Binaries kept: the newest few (a maintainer switching branches finds theirs).
const KEEP: usize = 3;

fn main() -> ExitCode {
    match launch() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: cargo xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

fn launch() -> io::Result<ExitCode> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize()?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => env::current_dir()?.join(dir),
        None => root.join("target"),
    };
    let kept = target.join("xtask-bin");
    let key = key(&root, &cargo)?;
    let binary = kept.join(&key).join("xtask");
    if !binary.is_file() {
        eprintln!("cargo xtask: building the xtask (no binary of these sources is kept in {})", kept.display());
        let status = Command::new(&cargo)
            .args(["build", "--profile", "xtask", "--package", "xtask", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .status()?;
        if !status.success() {
            return Ok(ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8));
        }
        let built = target.join("xtask/xtask");
        // Sources changed while it built: run what was built, keep nothing.
        if self::key(&root, &cargo)? != key {
            return run(&built);
        }
        keep(&built, &kept, &key)?;
    }
    run(&binary)
}

/// Runs the xtask with this process's arguments, in its place.
fn run(binary: &Path) -> io::Result<ExitCode> {
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = Command::new(binary).args(&args).exec();
        Err(io::Error::new(err.kind(), format!("cannot run {}: {err}", binary.display())))
    }
    #[cfg(not(unix))]
    {
        let status = Command::new(binary).args(&args).status()?;
        Ok(ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8))
    }
}

/// Copies the binary to `kept/key/xtask` (whole or not at all), and removes all but the newest
/// `KEEP` binaries.
fn keep(built: &Path, kept: &Path, key: &str) -> io::Result<()> {
    fs::create_dir_all(kept)?;
    let partial = kept.join(format!(".{key}.{}", std::process::id()));
    fs::create_dir_all(&partial)?;
    fs::copy(built, partial.join("xtask"))?;
    // Another run kept the same binary first: theirs stays.
    if fs::rename(&partial, kept.join(key)).is_err() {
        fs::remove_dir_all(&partial)?;
    }
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(kept)?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    entries.sort();
    let excess = entries.len().saturating_sub(KEEP);
    for (_, dir) in entries.into_iter().take(excess) {
        let _ = fs::remove_dir_all(dir);
    }
    Ok(())
}

/// A hash of what the binary is built from: the xtask's files (not its tests, not this
/// crate), the workspace's manifest and lock file, cargo's config, and the toolchain.
fn key(root: &Path, cargo: &OsString) -> io::Result<String> {
    let mut files = Vec::new();
    walk(&root.join("xtask"), &mut files, &|path| {
        let name = path.file_name().unwrap_or_default();
        !(name == "target" || path == root.join("xtask/tests") || path == root.join("xtask/launch"))
    })?;
    files.extend(
        ["Cargo.lock", "Cargo.toml", ".cargo/config.toml"].map(|f| root.join(f)).into_iter().filter(|p| p.is_file()),
    );
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in &files {
        let contents = fs::read(file)?;
        hasher.write(file.strip_prefix(root).unwrap_or(file).as_os_str().as_encoded_bytes());
        hasher.write_usize(contents.len());
        hasher.write(&contents);
    }
    hasher.write(&Command::new(cargo).arg("-vV").output()?.stdout);
    Ok(format!("{:016x}", hasher.finish()))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, enter: &dyn Fn(&Path) -> bool) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            if enter(&path) {
                walk(&path, files, enter)?;
            }
        } else {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, file: &str, text: &str) {
        let path = root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A kept binary is run only for the sources it was built from: every file the xtask is built
    /// from changes the key; its tests, this launcher and a checkout's new times do not.
    #[test]
    fn the_key_follows_the_sources_not_their_times() {
        let root = env::temp_dir().join(format!("xtask-launch-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for file in [
            "xtask/src/main.rs",
            "xtask/nix-path-info/src/lib.rs",
            "xtask/tests/it/main.rs",
            "xtask/launch/src/main.rs",
        ] {
            write(&root, file, "fn main() {}\n");
        }
        write(&root, "Cargo.toml", "[workspace]\n");
        write(&root, "Cargo.lock", "version = 4\n");
        let cargo = OsString::from("cargo");
        let first = key(&root, &cargo).unwrap();

        // A fresh checkout: the same contents, new modification times.
        let main = root.join("xtask/src/main.rs");
        fs::write(&main, fs::read(&main).unwrap()).unwrap();
        assert_eq!(key(&root, &cargo).unwrap(), first);
        for file in ["xtask/tests/it/main.rs", "xtask/launch/src/main.rs"] {
            write(&root, file, "fn main() { changed() }\n");
            assert_eq!(key(&root, &cargo).unwrap(), first, "{file} is not built into the xtask");
        }

        let mut keys = vec![first];
        for (file, text) in [
            ("xtask/src/main.rs", "fn main() { changed() }\n"),
            ("xtask/src/new.rs", "\n"),
            ("xtask/nix-path-info/src/lib.rs", "\n"),
            ("Cargo.lock", "version = 4\n# another dependency\n"),
            ("Cargo.toml", "[workspace]\nmembers = []\n"),
            (".cargo/config.toml", "[build]\n"),
        ] {
            write(&root, file, text);
            let next = key(&root, &cargo).unwrap();
            assert!(!keys.contains(&next), "a change to {file} must change the key");
            keys.push(next);
        }
        // The same bytes under another name are another source.
        fs::rename(root.join("xtask/src/new.rs"), root.join("xtask/src/renamed.rs")).unwrap();
        assert!(!keys.contains(&key(&root, &cargo).unwrap()), "a renamed file must change the key");
        fs::remove_dir_all(&root).unwrap();
    }
}

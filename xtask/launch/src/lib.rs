//! `cargo xtask` (the alias in `.cargo/config.toml`): runs the xtask binary built from the
//! sources as they are now: `xtask` (the tasks CI jobs run) or, for the maintainer's tasks and
//! `--help`, `xtask-tools` ([`Binary::for_args`]). Binaries are kept in
//! `<target>/xtask-bin/<key>/<binary>`, the key a hash of the sources the binary is built from,
//! the lock file, the manifests and the toolchain; a kept one is run at once, else
//! `cargo build --profile <binary> --package <binary>` builds it and it is kept.
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
const KEEP: usize = 4;

/// The tasks of `xtask-tools` (the maintainer's: no CI job runs them).
pub const TOOLS: [&str; 7] = ["ci", "workflows", "bump-version", "rollback", "doctor", "bench", "analytics"];
/// The global options that take a value (`--flake REF`), for finding the task's name.
pub const VALUED: [&str; 5] = ["--flake", "--cache", "--signing-key", "--system", "--record"];

/// One of the two binaries, each its own package, built with the profile of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Binary {
    Xtask,
    Tools,
}

impl Binary {
    /// The binary with the task the arguments name: `xtask-tools` for the maintainer's tasks and
    /// when no task is named (`--help`), else `xtask`.
    fn for_args(args: &[OsString]) -> Binary {
        let mut words = args.iter().map(|a| a.to_string_lossy());
        while let Some(word) = words.next() {
            if VALUED.contains(&word.as_ref()) {
                words.next();
            } else if !word.starts_with('-') {
                return if TOOLS.contains(&word.as_ref()) || word == "help" { Binary::Tools } else { Binary::Xtask };
            }
        }
        Binary::Tools
    }

    fn name(self) -> &'static str {
        match self {
            Binary::Xtask => "xtask",
            Binary::Tools => "xtask-tools",
        }
    }
}

/// `cargo xtask`'s `main`.
pub fn main() -> ExitCode {
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
    let which = Binary::for_args(&env::args_os().skip(1).collect::<Vec<_>>());
    let name = which.name();
    let key = key(&root, &cargo, which)?;
    let binary = kept.join(&key).join(name);
    if !binary.is_file() {
        eprintln!("cargo xtask: building {name} (no binary of these sources is kept in {})", kept.display());
        let status = Command::new(&cargo)
            .args(["build", "--profile", name, "--package", name, "--bin", name, "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .status()?;
        if !status.success() {
            return Ok(ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8));
        }
        let built = target.join(name).join(name);
        // Sources changed while it built: run what was built, keep nothing.
        if self::key(&root, &cargo, which)? != key {
            return run(&built);
        }
        keep(&built, &kept, &key, name)?;
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

/// Copies the binary to `kept/key/name` (whole or not at all), and removes all but the newest
/// `KEEP` binaries.
fn keep(built: &Path, kept: &Path, key: &str, name: &str) -> io::Result<()> {
    fs::create_dir_all(kept)?;
    let partial = kept.join(format!(".{key}.{}", std::process::id()));
    fs::create_dir_all(&partial)?;
    fs::copy(built, partial.join(name))?;
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
/// crate; `xtask/tools` only for `xtask-tools`), the workspace's manifest and lock file, cargo's
/// config, and the toolchain.
fn key(root: &Path, cargo: &OsString, binary: Binary) -> io::Result<String> {
    let mut files = Vec::new();
    let skipped = |path: &Path| {
        path == root.join("xtask/tests")
            || path == root.join("xtask/launch")
            || (binary == Binary::Xtask && path == root.join("xtask/tools"))
    };
    walk(&root.join("xtask"), &mut files, &|path| {
        let name = path.file_name().unwrap_or_default();
        !(name == "target" || skipped(path))
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
    hasher.write(binary.name().as_bytes());
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
    fn the_maintainers_tasks_and_help_run_the_tools_binary() {
        let args = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        for (words, binary) in [
            (&["warm"][..], Binary::Xtask),
            (&["--flake", "ci", "warm", "--force"], Binary::Xtask),
            (&["--dry-run", "test", "--type", "unit"], Binary::Xtask),
            (&["ci", "--event", "push"], Binary::Tools),
            (&["--cache", "file:///c", "bench"], Binary::Tools),
            (&["--help"], Binary::Tools),
            (&[], Binary::Tools),
            (&["help", "warm"], Binary::Tools),
        ] {
            assert_eq!(Binary::for_args(&args(words)), binary, "{words:?}");
        }
    }

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
        let first = key(&root, &cargo, Binary::Xtask).unwrap();

        // A fresh checkout: the same contents, new modification times.
        let main = root.join("xtask/src/main.rs");
        fs::write(&main, fs::read(&main).unwrap()).unwrap();
        assert_eq!(key(&root, &cargo, Binary::Xtask).unwrap(), first);
        for file in ["xtask/tests/it/main.rs", "xtask/launch/src/main.rs"] {
            write(&root, file, "fn main() { changed() }\n");
            assert_eq!(key(&root, &cargo, Binary::Xtask).unwrap(), first, "{file} is not built into the xtask");
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
            let next = key(&root, &cargo, Binary::Xtask).unwrap();
            assert!(!keys.contains(&next), "a change to {file} must change the key");
            keys.push(next);
        }
        // The same bytes under another name are another source.
        fs::rename(root.join("xtask/src/new.rs"), root.join("xtask/src/renamed.rs")).unwrap();
        assert!(!keys.contains(&key(&root, &cargo, Binary::Xtask).unwrap()), "a renamed file must change the key");
        fs::remove_dir_all(&root).unwrap();
    }
}

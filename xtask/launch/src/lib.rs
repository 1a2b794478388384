//! `cargo xtask` (the alias in `.cargo/config.toml`): runs the binary built from the sources as
//! they are now, `xtask` (the tasks CI jobs run) or `xtask-tools` ([`binary_for`]), kept in
//! `<target>/xtask-bin/<key>/` ([`key`]) and run once its bytes are checked ([`kept`]), else built
//! (`cargo build --locked`) and kept. Checkouts sharing a target directory each build and run
//! their own ([`build_dir`]).
//!
//! Why: cargo decides whether a workspace crate is fresh by the modification times of its
//! sources, which a fresh checkout sets to now, so a CI job that restores the target directory
//! still compiles the xtask (the bulk of its compile time). A key of the contents does not care
//! about times: CI restores `target/xtask-bin` (actions/cache, keyed by `hashFiles` of the same
//! files) and each job runs the binary the first job built, after compiling only this crate.

mod kept;
mod key;

use std::{
    env,
    ffi::OsString,
    io,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

/// The tasks of `xtask-tools` (the maintainer's: no CI job runs them).
pub const TOOLS: [&str; 8] =
    ["ci", "workflows", "bump-version", "rollback", "doctor", "rotate-key", "bench", "analytics"];
/// The secrets CI gives the tasks' steps, kept from the build of the xtask.
const SECRETS: [&str; 3] = ["CACHIX_AUTH_TOKEN", "REGISTRY_TOKEN", "GITHUB_TOKEN"];
/// What the launcher passes cargo as the key of the sources it builds (see [`key`]).
pub const SOURCE_KEY: &str = "XTASK_SOURCE_KEY";
/// The global options that take a value (`--flake REF`), for finding the task's name.
pub const VALUED: [&str; 5] = ["--flake", "--cache", "--signing-key", "--system", "--record"];

/// The binary (a package, built with the profile of its name) with the task the arguments name:
/// `xtask-tools` for the maintainer's tasks and when no task is named (`--help`), else `xtask`.
fn binary_for(args: &[OsString]) -> &'static str {
    let mut words = args.iter().map(|a| a.to_string_lossy());
    while let Some(word) = words.next() {
        if VALUED.contains(&word.as_ref()) {
            words.next();
        } else if !word.starts_with('-') {
            return if TOOLS.contains(&word.as_ref()) || word == "help" { "xtask-tools" } else { "xtask" };
        }
    }
    "xtask-tools"
}

/// `cargo xtask`'s `main`.
pub fn main() -> ExitCode {
    launch().unwrap_or_else(|err| {
        eprintln!("error: cargo xtask: {err}");
        ExitCode::FAILURE
    })
}

fn launch() -> io::Result<ExitCode> {
    let root = checkout()?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => env::current_dir()?.join(dir),
        None => root.join("target"),
    };
    let kept = target.join("xtask-bin");
    let name = binary_for(&env::args_os().skip(1).collect::<Vec<_>>());
    let key = key::key(&root, &target, &cargo, name, env::vars_os())?;
    let binary = kept.join(&key).join(name);
    if binary.exists() || binary.is_symlink() {
        let Err(why) = kept::verified(&binary) else { return run(&binary) };
        eprintln!("cargo xtask: not running the kept binary: {why}; building it again");
        kept::discard(&binary);
    }
    eprintln!("cargo xtask: building {name} (no binary of these sources is kept in {})", kept.display());
    let build = build_dir(&root, &target);
    // `--locked`: the key is of the lock file as committed; cargo never rewrites it first.
    let mut build_cmd = Command::new(&cargo);
    build_cmd
        .args(["build", "--locked", "--profile", name, "--package", name, "--bin", name, "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&build)
        // The libraries read the key (`option_env!`), so cargo rebuilds them for every new key,
        // whatever the sources' times say (cargo judges them by their times), and the binary holds it.
        .env(SOURCE_KEY, &key);
    // The tasks' secrets are theirs: no build script of a dependency sees them.
    for secret in SECRETS {
        build_cmd.env_remove(secret);
    }
    let status = build_cmd.status()?;
    if !status.success() {
        return Ok(ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8));
    }
    let built = build.join(name).join(name);
    if !kept::holds(&built, &key)? {
        return Err(io::Error::other(format!(
            "cargo built {} without the key of these sources ({SOURCE_KEY}={key}): not running or keeping it",
            built.display()
        )));
    }
    // Sources changed while it built: run what was built, keep nothing.
    if key::key(&root, &target, &cargo, name, env::vars_os())? != key {
        return run(&built);
    }
    kept::keep(&built, &kept, &key, name)?;
    run(&binary)
}

/// The checkout this `cargo xtask` runs in, found at run time (checkouts sharing a target
/// directory share the launcher's binary): the one of the package cargo names
/// (`CARGO_MANIFEST_DIR`), else the nearest at or above the current directory.
fn checkout() -> io::Result<PathBuf> {
    let from_cargo = env::var_os("CARGO_MANIFEST_DIR").map(|dir| Path::new(&dir).join("../.."));
    from_cargo
        .into_iter()
        .chain(env::current_dir()?.ancestors().map(Path::to_path_buf))
        .find(|dir| dir.join("xtask/launch/Cargo.toml").is_file() && dir.join("Cargo.toml").is_file())
        .ok_or_else(|| io::Error::other("no checkout of this workspace here: run `cargo xtask` inside it"))?
        .canonicalize()
}

/// Where cargo builds the binary: the checkout's own target directory, or, in a target directory
/// another checkout may share (`CARGO_TARGET_DIR`), a part of it for this checkout alone. Cargo
/// judges a workspace crate fresh by its files' relative paths and times, so in a shared directory
/// another checkout's build (of other sources, older than its output) passes for this one's.
fn build_dir(root: &Path, target: &Path) -> PathBuf {
    if target == root.join("target") {
        return target.to_path_buf();
    }
    let checkout = key::hex(&hmac_sha256::Hash::hash(root.as_os_str().as_encoded_bytes()));
    target.join("xtask-build").join(&checkout[..16])
}

/// Runs the xtask with this process's arguments, in its place.
fn run(binary: &Path) -> io::Result<ExitCode> {
    let err = std::os::unix::process::CommandExt::exec(Command::new(binary).args(env::args_os().skip(1)));
    Err(io::Error::new(err.kind(), format!("cannot run {}: {err}", binary.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maintainers_tasks_and_help_run_the_tools_binary() {
        let args = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        for (words, binary) in [
            (&["warm"][..], "xtask"),
            (&["--flake", "ci", "warm", "--force"], "xtask"),
            (&["--dry-run", "test", "--type", "unit"], "xtask"),
            (&["ci", "--event", "push"], "xtask-tools"),
            (&["--cache", "file:///c", "bench"], "xtask-tools"),
            (&["--help"], "xtask-tools"),
            (&[], "xtask-tools"),
            (&["help", "warm"], "xtask-tools"),
        ] {
            assert_eq!(binary_for(&args(words)), binary, "{words:?}");
        }
    }
}

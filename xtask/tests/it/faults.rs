//! Faults and secrets, provoked for real: concurrent warms on a new cache, credentials in cache
//! URLs, a lost secret key, a failing build under GitHub Actions, bad input.

use std::{fs, os::unix::fs::PermissionsExt, process::Command};

use crate::support::*;

#[test]
fn concurrent_warms_on_a_new_cache_agree_on_one_signing_key() {
    needs!(Nix);
    let ex = Example::new("race");
    let children: Vec<_> = (0..8)
        .map(|_| {
            ex.cmd(&["warm-deps"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        Run::from(child.wait_with_output().unwrap()).ok();
    }
    let secret = ex.dir.join("cache.secret");
    assert_eq!(fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600, "the secret key is private");
    // Every path in the cache verifies with the one public key: a fresh store that requires
    // signatures substitutes the whole layer without building.
    let deps = ex.installable("packages.x86_64-linux.deps");
    let (build, _) = fresh_runner(&ex.url, Some(&ex.public_key()), &[&deps], "");
    assert!(build.status.success(), "the cache is not signed by its public key:\n{}", build.stderr);
}

#[test]
fn a_warm_never_replaces_an_existing_secret_key() {
    needs!(Nix);
    // A run that lost the race finds the winner's secret but no public key yet: it must derive
    // the public key from that secret, not make a key of its own.
    let ex = Example::new("keep-secret");
    let dir = &ex.dir;
    let secret = nix(&["key", "generate-secret", "--key-name", "winner-1"]).stdout;
    fs::write(dir.join("cache.secret"), &secret).unwrap();
    fs::set_permissions(dir.join("cache.secret"), fs::Permissions::from_mode(0o600)).unwrap();
    run(&mut ex.cmd(&["warm-deps"])).ok();
    assert_eq!(fs::read_to_string(dir.join("cache.secret")).unwrap(), secret, "the secret key was replaced");
    assert!(fs::read_to_string(dir.join("cache.public")).unwrap().starts_with("winner-1:"));
}

#[test]
fn credentials_in_a_cache_url_are_masked_and_never_printed() {
    needs!(Nix);
    let url = "http://ci:s3cret@127.0.0.1:9/cache";
    let out = run(xtask()
        .args(["warm", "--dry-run", "--cache", url])
        .env("GITHUB_ACTIONS", "true")
        .env("CACHIX_AUTH_TOKEN", "t0k3n-value"));
    let out = out.ok();
    let first: Vec<&str> = out.stderr.lines().take(2).collect();
    assert_eq!(first, ["::add-mask::t0k3n-value", "::add-mask::ci:s3cret"], "masks come first:\n{}", out.stderr);
    // The credentials leave the URL: Nix and curl read them from a netrc file of the run.
    assert!(out.stdout.contains("# cache: http://127.0.0.1:9/cache\n"), "{}", out.stdout);
    assert!(out.stdout.contains("--store http://127.0.0.1:9/cache "), "{}", out.stdout);
    assert!(out.stdout.contains("--option netrc-file '<run directory>/netrc'"), "{}", out.stdout);
    assert!(!out.stdout.contains("s3cret") && !out.stdout.contains("t0k3n-value"), "{}", out.stdout);
    assert!(!out.stdout.contains("***"), "nothing left to redact: {}", out.stdout);

    // The error of a real run names the cache without its credentials, which no command line has.
    let failed = run(&mut Example::new("secret-url").cmd_on(url, &["warm"])).failed();
    assert!(failed.stderr.contains("cannot push to http://127.0.0.1:9/cache"), "{}", failed.stderr);
    assert!(!failed.stderr.contains("s3cret") && !failed.stderr.contains("ci:"), "{}", failed.stderr);
}

#[test]
fn a_cache_url_without_an_absolute_directory_or_a_host_is_refused_before_anything_runs() {
    let dir = workspace("bad-urls", Some(b"{}"), Some(b"version = 4\n"));
    let files =
        || fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect::<std::collections::BTreeSet<_>>();
    let before = files();
    for (url, expected) in [
        ("file://", "does not name an absolute directory: use file:///absolute/dir"),
        ("file://relative/dir", "does not name an absolute directory: use file:///absolute/dir"),
        ("http://", "has no host: use http://HOST/"),
        ("https:///nix", "has no host: use https://HOST/"),
        // A directory with parameters would be a store the xtask only hands to Nix, unprotected
        // from gc.
        (
            "file:///tmp/cache?compression=none",
            "a directory cache is the directory alone, without parameters: file:///tmp/cache",
        ),
    ] {
        let out = run(xtask().current_dir(&dir).args(["warm", "--cache", url]).env("PATH", cargo_only_path())).failed();
        assert!(out.stderr.contains(expected), "{url}: {}", out.stderr);
        assert!(!out.stderr.contains("==>"), "{url}: a step ran");
        assert_eq!(files(), before, "{url}: something was written");
    }
    for path in ["target/nix-cache", "target/nix-cache.secret", "target/nix-cache.public"] {
        let ignored = run(Command::new("git").args(["check-ignore", "-q", path]).current_dir(workspace_root()));
        assert!(ignored.status.success(), "{path} (the default cache or its keys) must be ignored by git");
    }
}

#[test]
fn a_public_key_without_its_secret_is_an_error_before_anything_is_built() {
    let dir = temp_dir("lost-key");
    fs::write(dir.join("cache.public"), "nanna-coder-local-1:AAAA\n").unwrap();
    let url = format!("file://{}", dir.join("cache").display());
    let out = run(xtask().args(["warm-deps", "--cache", &url])).failed();
    assert!(out.stderr.contains("cache.public exists but its secret key"), "{}", out.stderr);
    assert!(!out.stderr.contains("==>"), "a step ran: {}", out.stderr);
}

#[test]
fn a_failed_run_still_writes_its_summary_and_its_outputs() {
    needs!(Nix);
    let ex = Example::new("fails");
    let nix = fs::read_to_string(ex.flake.join("flake.nix")).unwrap();
    let failing = nix.replace(r#"deps = mk "deps" ''echo"#, r#"deps = mk "deps" ''exit 3; echo"#);
    fs::write(ex.flake.join("flake.nix"), failing).unwrap();
    let (output, summary) = (ex.dir.join("github-output"), ex.dir.join("summary.md"));
    let out = run(ex
        .cmd(&["prebuild"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary))
    .failed();
    assert!(out.stderr.contains("failed at \"Build packages.x86_64-linux.deps\""), "{}", out.stderr);
    let written = fs::read_to_string(&output).unwrap();
    assert!(written.starts_with(&format!("cache-key={}", deps_prefix())), "{written}");
    let summary = fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("| result | **failed** at: Build packages.x86_64-linux.deps |"), "{summary}");
    assert!(summary.contains("| Evaluate packages.x86_64-linux.deps |"), "{summary}");
}

#[test]
fn bad_input_gets_one_message_naming_the_problem_and_the_fix() {
    let empty = workspace("empty-lock", Some(b"{}"), Some(b""));
    let out = run(xtask().current_dir(&empty).arg("cache-key")).failed();
    assert!(
        out.stderr.contains("Cargo.lock is empty") && out.stderr.contains("`cargo generate-lockfile`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "no key for an empty lock file: {}", out.stdout);

    let dir = workspace("bump-zero", Some(b"{}"), Some(b"version = 4\n"));
    let out = run(tools().current_dir(&dir).args(["bump-version", "--to", "0"])).failed();
    assert!(out.stderr.contains("cache versions start at 1") && !out.stderr.contains("--force"), "{}", out.stderr);

    let broken = workspace("toml-syntax", Some(b"{}"), Some(b"version = 4\n"));
    let manifest = fs::read_to_string(broken.join("Cargo.toml")).unwrap();
    fs::write(broken.join("Cargo.toml"), manifest.replace("version = 1", "version = = 1")).unwrap();
    let out = run(xtask().current_dir(&broken).arg("cache-key")).failed();
    assert!(out.stderr.contains("Cargo.toml is not valid TOML") && out.stderr.contains("line"), "{}", out.stderr);
    // Not the hint of a missing workspace or cargo: the parser's own message is the whole story.
    assert!(!out.stderr.contains("no workspace") && !out.stderr.contains("cargo on PATH"), "{}", out.stderr);
}

#[test]
fn a_flake_input_that_cannot_be_downloaded_is_named_with_the_way_to_go_on() {
    needs!(Nix);
    let ex = Example::new("no-network");
    let flake = &ex.flake;
    let text = fs::read_to_string(flake.join("flake.nix")).unwrap();
    // An input on a host that never resolves (.invalid), as GitHub is without network.
    let with_input = text.replacen(
        "{",
        "{\n  inputs.remote = { url = \"https://inputs.invalid/remote.tar.gz\"; flake = false; };",
        1,
    );
    fs::write(flake.join("flake.nix"), with_input).unwrap();
    fs::remove_file(flake.join("flake.lock")).unwrap();
    let out = run(&mut ex.cmd(&["warm-deps"])).failed();
    assert!(
        out.stderr.contains("cannot download a flake input: 'https://inputs.invalid/remote.tar.gz'"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--flake xtask/tests/example-flake"), "{}", out.stderr);
    assert!(!out.stderr.contains("defines the attribute"), "{}", out.stderr);
}

/// A registry that fails, or that cannot be reached, is named as such: not as credentials.
#[test]
fn a_registry_that_fails_or_cannot_be_reached_is_named_for_what_it_is() {
    needs!(Nix);
    let ex = Example::new("registry-faults");
    const FAILING: &str = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for (registry, expected) in [
        (format!("127.0.0.1:{}/x", fake_server(Some(FAILING))), "the registry failed on its side"),
        (format!("127.0.0.1:{}/x", closed_port()), "the registry could not be reached"),
    ] {
        let out =
            run(&mut ex.cmd(&["build-containers", "--image", "harness", "--push", &registry, "--tag", "t1"])).failed();
        let error = out.stderr.lines().filter(|l| l.starts_with("error:")).collect::<Vec<_>>().join("\n");
        assert!(error.contains(expected) && !error.contains("credentials"), "{registry}: {}", out.stderr);
    }
}

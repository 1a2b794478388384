//! Tried as a hostile user would, beyond the cache's contents: planted signing keys, credentials
//! on command lines and in Nix's caches, what a failed or cancelled run leaves behind, a child
//! printing bytes that are not UTF-8, a registry that only looks local, dry runs without tools.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use crate::support::*;

/// A secret key that `plant` puts beside a new cache (`cache.secret`), from a real one: refused
/// before anything runs, the error naming the key and saying `expected`; and as `--signing-key`.
fn a_planted_key_is_refused(name: &str, plant: fn(&Path, &Path), expected: &str) {
    let ex = Example::new(name);
    let real = ex.dir.join("real.secret");
    fs::write(&real, nix(&["key", "generate-secret", "--key-name", "planted-1"]).stdout).unwrap();
    fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
    let key = ex.dir.join("cache.secret");
    plant(&real, &key);
    let local = run(&mut ex.cmd(&["warm-deps"])).failed();
    assert!(
        local.stderr.contains(expected) && local.stderr.contains(&key.display().to_string()),
        "{name}: {}",
        local.stderr
    );
    assert!(!local.stderr.contains("==>") && !ex.cache.exists(), "{name}: something ran");
    let given = run(xtask().args([
        "warm-deps",
        "--dry-run",
        "--cache",
        "http://127.0.0.1:9/c",
        "--signing-key",
        &key.display().to_string(),
    ]))
    .failed();
    assert!(given.stderr.contains(expected), "--signing-key {name}: {}", given.stderr);
}

#[test]
fn a_signing_key_that_is_a_symbolic_link_is_refused() {
    needs!(Nix);
    a_planted_key_is_refused(
        "linked-key",
        |real, key| std::os::unix::fs::symlink(real, key).unwrap(),
        "is a symbolic link, which is never followed",
    );
}

#[test]
fn a_signing_key_that_others_may_read_is_refused() {
    needs!(Nix);
    a_planted_key_is_refused(
        "shared-key",
        |real, key| {
            fs::copy(real, key).unwrap();
            fs::set_permissions(key, fs::Permissions::from_mode(0o644)).unwrap();
        },
        "has mode 0644: group or others may read it",
    );
}

#[test]
fn a_signing_key_of_another_user_is_refused() {
    needs!(Nix);
    a_planted_key_is_refused(
        "others-key",
        |real, key| {
            fs::copy(real, key).unwrap();
            fs::set_permissions(key, fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(key, Some(65534), None).unwrap();
        },
        "belongs to user 65534, not to this user",
    );
}

#[test]
fn credentials_reach_nix_and_curl_only_through_a_private_netrc_gone_after_the_run() {
    needs!(Nix, Nginx);
    let flake = example_flake("netrc");
    let dir = workspace_with("netrc", "");
    let nginx = nginx(&dir.join("nginx"), "ci", "s3cret");
    let url = nginx.url.replace("http://", "http://ci:s3cret@");
    let (tmp, nix_cache) = (temp_dir("netrc-tmp"), temp_dir("netrc-nix-cache"));
    let with_env = |args: &[&str]| {
        let mut cmd = xtask();
        cmd.current_dir(&dir).args(args).args(["--cache", &url]).env("TMPDIR", &tmp).env("XDG_CACHE_HOME", &nix_cache);
        recorded(&mut cmd)
    };
    let (warm, record) = with_env(&["warm", "--flake", &flake.display().to_string()]);
    let warm = warm.ok();
    assert_eq!(record.pushed.paths, 9, "{:#?}", record.pushed);
    let bytes = String::from_utf8_lossy(&record.to_bytes()).into_owned();
    assert!(!bytes.contains("s3cret") && !bytes.contains("ci:"), "a credential in the record: {bytes}");
    let commands: Vec<&str> = warm.stderr.lines().filter(|l| l.starts_with("$ ")).collect();
    assert!(commands.iter().any(|c| c.contains("--option netrc-file ")), "{commands:?}");
    for command in &commands {
        assert!(
            !command.contains("s3cret") && !command.contains("***") && !command.contains("ci:"),
            "a credential on a command line: {command}"
        );
    }
    with_env(&["gc", "--keep", "1", "--grace", "0"]).0.ok();
    let leftovers: Vec<_> = fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(leftovers.is_empty(), "the run left {leftovers:?} in its temporary directory");
    for file in walk(&nix_cache) {
        let bytes = fs::read(&file).unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"s3cret"), "{} holds the password", file.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().unwrap().is_dir() {
            files.extend(walk(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

#[test]
fn a_cancelled_run_leaves_no_credentials_behind() {
    needs!(Nix);
    let ex = Example::new("cancelled");
    let tmp = temp_dir("cancelled-tmp");
    // A cache that never answers: the run waits on it, holding the netrc of its credentials.
    let url = format!("http://ci:s3cret@127.0.0.1:{}", fake_server(None));
    let mut child = ex
        .cmd_on(&url, &["warm-deps"])
        .env("TMPDIR", &tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !walk(&tmp).iter().any(|f| f.ends_with("netrc")) {
        assert!(Instant::now() < deadline, "the run never wrote its netrc");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a signal to a child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::into_raw(status) >> 8, 128 + libc::SIGTERM, "{status:?}");
    assert!(walk(&tmp).is_empty(), "left behind: {:?}", walk(&tmp));
}

#[test]
fn a_failed_publish_leaves_neither_the_image_nor_the_registry_login_behind() {
    needs!(Nix);
    let ex = Example::new("publish-leftovers");
    let tmp = temp_dir("publish-tmp");
    let registry = format!("127.0.0.1:{}/x", closed_port());
    let publish = |token: Option<&str>| {
        let mut cmd = ex.cmd(&["build-containers", "--image", "harness", "--push", &registry, "--tag", "t1"]);
        cmd.env("TMPDIR", &tmp).env("REGISTRY_USER", "bot");
        if let Some(token) = token {
            cmd.env("REGISTRY_TOKEN", token);
        }
        let (out, record) = recorded(&mut cmd);
        (out.failed(), record)
    };
    // Without a token: the image archive is written, then the copy fails.
    let (copy, record) = publish(None);
    let steps: Vec<(&str, bool)> =
        record.steps.iter().skip_while(|s| s.kind != "image").map(|s| (s.kind.as_str(), s.ok)).collect();
    assert_eq!(
        steps,
        [("image", true), ("registry-push", false)],
        "the archive was written, the copy failed: {}",
        copy.stderr
    );
    assert!(walk(&tmp).is_empty(), "left behind: {:?}", walk(&tmp));
    // With a token: the login into the run's auth file fails.
    let (login, record) = publish(Some("ghs_s3cr3t"));
    assert!(!login.stderr.contains("ghs_s3cr3t") && !login.stdout.contains("ghs_s3cr3t"), "the token was printed");
    assert!(record.steps.last().is_some_and(|s| s.kind == "login" && !s.ok), "{:#?}", record.steps);
    assert!(!String::from_utf8_lossy(&record.to_bytes()).contains("ghs_s3cr3t"), "the token is in the record");
    assert!(walk(&tmp).is_empty(), "left behind: {:?}", walk(&tmp));
}

#[test]
fn a_child_printing_bytes_that_are_not_utf8_is_relayed_to_its_end() {
    let bin = temp_dir("fake-cargo");
    let script = bin.join("cargo");
    fs::write(&script, "#!/bin/sh\nprintf 'ok \\377\\376 bytes\\n'\ni=0\nwhile [ $i -lt 20000 ]; do i=$((i+1)); echo \"line $i\"; done\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths([bin.clone(), cargo_only_path(), "/usr/bin".into(), "/bin".into()]).unwrap();
    let cache = format!("file://{}", bin.join("cache").display());
    let out = run(xtask().args(["test", "--type", "unit", "--no-nix", "--cache", &cache]).env("PATH", path)).ok();
    assert!(
        out.stderr.contains("ok \u{FFFD}\u{FFFD} bytes") && out.stderr.contains("line 20000\n"),
        "{}",
        &out.stderr[..out.stderr.len().min(500)]
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "stdout holds the keys only, the child's output went to stderr: {}", out.stdout);
    assert!(lines[1].ends_with("-unit"), "the job key is the last line: {}", out.stdout);
}

#[test]
fn a_failed_commands_own_error_ends_the_output_however_long_its_log() {
    let bin = temp_dir("failing-cargo");
    let script = bin.join("cargo");
    // An error it went on from, 20,000 lines of log, then the error it stopped on.
    let body = "echo \"error: unable to download 'https://cache.example/x.narinfo'\" >&2\n\
                i=0\nwhile [ $i -lt 20000 ]; do i=$((i+1)); echo \"line $i\" >&2; done\n\
                echo 'error: could not compile `harness` (bin \"harness\")' >&2\necho '  disk full' >&2\nexit 101\n";
    fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let path = std::env::join_paths([bin.clone(), cargo_only_path(), "/usr/bin".into(), "/bin".into()]).unwrap();
    let cache = format!("file://{}", bin.join("cache").display());
    let out = run(xtask().args(["test", "--type", "unit", "--no-nix", "--cache", &cache]).env("PATH", path)).failed();
    // The xtask's last words name the command, then repeat what it said of its failure.
    let (_, tail) = out.stderr.rsplit_once("line 20000\n").expect("the log was relayed");
    let failed = tail.rfind("`cargo` failed").unwrap_or_else(|| panic!("{tail}"));
    let said = &tail[failed..];
    assert!(said.contains("error: unable to download 'https://cache.example/x.narinfo'\n"), "{tail}");
    assert!(said.contains("error: could not compile `harness` (bin \"harness\")\n  disk full"), "{tail}");
    assert!(!tail[failed..].contains("line 1"), "only the error is repeated: {tail}");
}

#[test]
fn a_host_that_only_looks_local_keeps_tls() {
    let dry = |registry: &str| {
        run(xtask().args(["build-containers", "--image", "harness", "--push", registry, "--tag", "t", "--dry-run"]))
            .ok()
            .stdout
    };
    assert!(dry("127.0.0.1:5000/x").contains("--dest-tls-verify=false"));
    for registry in ["127.attacker.example:5000/x", "localhost.attacker.example/x", "127.0.0.1.nip.io/x"] {
        assert!(!dry(registry).contains("tls-verify=false"), "{registry}: TLS turned off");
    }
}

#[test]
fn a_dry_run_needs_no_tools_and_says_what_a_real_run_would_miss() {
    let out = run(xtask()
        .args(["pin", "--dry-run", "--cache", "cachix:nanna-coder"])
        .env("CACHIX_AUTH_TOKEN", "t0k3n")
        .env("PATH", cargo_only_path()))
    .ok();
    assert!(out.stdout.contains("cachix pin nanna-coder "), "{}", out.stdout);
    assert!(
        out.stdout.contains("# warning: a real run would stop here: cannot push to cachix:nanna-coder"),
        "{}",
        out.stdout
    );
    let out = run(xtask().args(["warm", "--dry-run"]).env("PATH", cargo_only_path())).ok();
    assert!(out.stdout.contains("# warning: a real run would stop here: Nix is not installed"), "{}", out.stdout);
}

#[test]
fn a_registry_token_is_handed_to_skopeo_on_stdin_and_never_printed() {
    let out = run(xtask()
        .args(["build-containers", "--image", "harness", "--push", "ghcr.io/Owner/Repo", "--tag", "abc", "--dry-run"])
        .env("REGISTRY_USER", "bot")
        .env("REGISTRY_TOKEN", "ghs_s3cr3t"))
    .ok();
    assert!(
        out.stdout.contains("printf '%s' \"$REGISTRY_TOKEN\" | skopeo login --authfile '<run directory>/auth.json' --username bot --password-stdin ghcr.io\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--dest-authfile "), "{}", out.stdout);
    assert!(
        out.stdout.contains("docker://ghcr.io/owner/repo/harness:abc-x86_64"),
        "lowercase, the arch's tag: {}",
        out.stdout
    );
    assert!(!out.stdout.contains("ghs_s3cr3t") && !out.stderr.contains("ghs_s3cr3t"), "the token was printed");
}

//! Cache keys against the seed's shell formula, and of each layer and arch, and what each backend
//! would run (Cachix cannot be reached from here: its command line is what is tested).

use std::{fs, path::Path, process::Command};

use crate::support::*;

fn shell_formula(dir: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("echo cachix-v$0-deps-$(sha256sum flake.lock | cut -c1-16)-$(sha256sum Cargo.lock | cut -c1-16)")
        .arg(cache_version().to_string())
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_deps_key_is_byte_identical_to_the_seed_formula() {
    let real = fs::read(workspace_root().join("flake.lock")).unwrap();
    let cases: [(&str, &[u8], &[u8]); 4] = [
        ("real", &real, b"version = 4\n"),
        // An empty lock file is an error (tests/faults.rs): the smallest ones that are not.
        ("tiny", b"{}", b"#"),
        ("binary", &[0, 159, 146, 150, 255, 10], b"\r\n\tx"),
        ("large", &vec![b'x'; 1 << 20], "ünïcode 🦀\n".as_bytes()),
    ];
    for (name, flake, cargo) in cases {
        let dir = workspace(&format!("key-{name}"), Some(flake), Some(cargo));
        let out = run(xtask().arg("cache-key").current_dir(&dir)).ok();
        assert_eq!(out.stdout, format!("{}\n", shell_formula(&dir)), "case {name}");
    }
    // And in the real workspace.
    let out = run(xtask().arg("cache-key")).ok();
    assert_eq!(out.last_line(), shell_formula(&workspace_root()));
}

#[test]
fn job_container_and_json_keys_extend_the_deps_key() {
    let deps = shell_formula(&workspace_root());
    let job = run(xtask().args(["cache-key", "--os", "macos-14", "--rust", "1.85.0", "--test-type", "clippy"])).ok();
    assert_eq!(job.last_line(), format!("{deps}-macos-14-1.85.0-clippy"));
    let image = run(xtask().args(["cache-key", "--image", "ollama", "--arch", "aarch64"])).ok();
    assert_eq!(image.last_line(), format!("{deps}-container-ollama-aarch64"));

    let json: serde_json::Value =
        serde_json::from_str(&run(xtask().args(["cache-key", "--json"])).ok().stdout).unwrap();
    assert_eq!(json["deps"], deps);
    assert_eq!(json["jobs"]["ubuntu-latest-unit"], format!("{deps}-ubuntu-latest-1.84.0-unit"));
    assert_eq!(json["containers"]["harness-x86_64"], format!("{deps}-container-harness-x86_64"));

    let output = temp_dir("github-output").join("out");
    run(xtask().args(["cache-key", "--github-output", "--image", "harness"]).env("GITHUB_OUTPUT", &output)).ok();
    assert_eq!(
        fs::read_to_string(&output).unwrap(),
        format!(
            "cache-key={deps}\ncontainer-key={deps}-container-harness-x86_64\nrestore-key={}\n",
            &deps[..deps.len() - 16]
        )
    );
}

#[test]
fn a_missing_lock_file_names_the_file_and_the_command_that_creates_it() {
    let dir = workspace("no-locks", None, Some(b"#"));
    let out = run(xtask().arg("cache-key").current_dir(&dir)).failed();
    assert!(out.stderr.contains("flake.lock is missing") && out.stderr.contains("`nix flake lock`"), "{}", out.stderr);
    assert!(!out.stderr.contains("Cargo.lock is missing"), "{}", out.stderr);
    assert!(out.stdout.is_empty());

    let dir = workspace("no-cargo-lock", Some(b"{}"), None);
    let out = run(xtask().arg("cache-key").current_dir(&dir)).failed();
    assert!(
        out.stderr.contains("Cargo.lock is missing") && out.stderr.contains("`cargo generate-lockfile`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_malformed_config_lists_every_problem_once() {
    let dir = workspace("bad-config", Some(b"{}"), Some(b"#"));
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let manifest = manifest.replace("version = 1", "version = 0").replace(r#"rust = "1.84.0""#, r#"rust = "latest""#);
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    let out = run(xtask().arg("cache-key").current_dir(&dir)).failed();
    assert!(out.stderr.contains("has 2 problem(s)"), "{}", out.stderr);
    assert!(out.stderr.contains("`version` must be a positive integer, e.g. `version = 1`, found 0"), "{}", out.stderr);
    assert!(
        out.stderr.contains(r#"`rust` must be a Rust version "MAJOR.MINOR.PATCH", e.g. "1.84.0", found "latest""#),
        "{}",
        out.stderr
    );
}

/// A stand-in `cachix` on PATH (the real CLI needs the service): it only has to exist.
fn fake_cachix() -> std::ffi::OsString {
    let bin = temp_dir("fake-cachix");
    let script = bin.join("cachix");
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = std::env::var_os("PATH").unwrap();
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap()
}

#[test]
fn cachix_pushes_with_its_cli_paths_on_stdin_and_pulls_from_its_url() {
    // The words of its commands depend on the Nix version.
    needs!(Nix);
    // With a token and no --cache, the config's Cachix cache is the default.
    let out =
        run(xtask().args(["warm-deps", "--dry-run"]).env("CACHIX_AUTH_TOKEN", "t0k3n").env("PATH", fake_cachix())).ok();
    assert!(out.stdout.contains("# cache: cachix:nanna-coder"), "{}", out.stdout);
    assert!(
        out.stdout.contains("printf '%s\\n' <paths the cache lacks> | cachix push nanna-coder\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("{} {NETWORK} --store https://nanna-coder.cachix.org <outputs>", path_info_json())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--option extra-substituters <the cache, unless unreachable> --option extra-trusted-public-keys nanna-coder.cachix.org-1:"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("t0k3n"), "the token was printed");
    assert!(!out.stdout.contains("warning"), "{}", out.stdout);

    // Without a token, the default is the local directory.
    let local = run(xtask().args(["warm-deps", "--dry-run"])).ok();
    assert!(
        local
            .stdout
            .contains(&format!("# cache: local directory {}", workspace_root().join("target/nix-cache").display())),
        "{}",
        local.stdout
    );
}

#[test]
fn cachix_without_the_cli_or_a_token_fails_before_anything_is_built() {
    let out = run(xtask().args(["warm", "--cache", "cachix:nanna-coder"]).env("PATH", cargo_only_path())).failed();
    assert!(out.stderr.contains("cannot push to cachix:nanna-coder"), "{}", out.stderr);
    assert!(
        out.stderr.contains("`cachix` CLI is not on PATH") && out.stderr.contains("CACHIX_AUTH_TOKEN is not set"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("==>"), "a step ran: {}", out.stderr);

    let out = run(xtask().args(["warm", "--cache", "cachix:nanna-coder"]).env("PATH", fake_cachix())).failed();
    assert!(
        out.stderr.contains("CACHIX_AUTH_TOKEN is not set") && !out.stderr.contains("not on PATH"),
        "{}",
        out.stderr
    );
}

#[test]
fn any_nix_store_url_is_pushed_with_nix_copy_and_bad_ones_are_refused() {
    for url in ["s3://bucket?region=eu-west-1", "ssh-ng://builder@host", "https://cache.example/nix"] {
        let out = run(xtask().args(["build-containers", "--image", "ollama", "--dry-run", "--cache", url])).ok();
        assert!(
            out.stdout.contains(&format!("copy --no-recursive {NETWORK} --to {}", support_quote(url))),
            "{url}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains("packages.x86_64-linux.ollamaImage") && !out.stdout.contains("harnessImage"),
            "{}",
            out.stdout
        );
    }
    let out = run(xtask().args(["warm", "--cache", "/tmp/somewhere"])).failed();
    assert!(out.stderr.contains("is not a cache: use a Nix store URL (file:///abs/dir"), "{}", out.stderr);
    let out = run(xtask().args(["build-containers", "--arch", "riscv64", "--dry-run"])).failed();
    assert!(out.stderr.contains("unknown arch `riscv64`: the arches are x86_64, aarch64"), "{}", out.stderr);
}

#[test]
fn test_without_nix_runs_the_configured_cargo_command() {
    let out = run(xtask().args(["test", "--type", "clippy", "--no-nix", "--dry-run"])).ok();
    assert!(out.stdout.contains("\ncargo clippy --workspace --all-targets -- -D warnings\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("nix "), "{}", out.stdout);
}

/// The bounds every command that talks to a cache gets (the default `cache-timeout`).
const NETWORK: &str = "--option connect-timeout 5 --option download-attempts 3 --option stalled-download-timeout 30 --option narinfo-cache-positive-ttl 0 --option narinfo-cache-negative-ttl 0";

fn support_quote(url: &str) -> String {
    if url.contains('?') {
        format!("'{url}'")
    } else {
        url.to_owned()
    }
}

#[test]
fn without_a_token_on_github_actions_pulls_work_and_pushes_are_skipped_with_a_notice() {
    // The words of its commands depend on the Nix version.
    needs!(Nix);
    let out = run(xtask().args(["prebuild", "--dry-run"]).env("GITHUB_ACTIONS", "true")).ok();
    assert!(
        out.stderr.contains("::notice::CACHIX_AUTH_TOKEN is not set (a fork pull request gets no secrets): pulling from cachix:nanna-coder")
            && out.stderr.contains("works, pushing is skipped"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains(&format!("{} {NETWORK} --store https://nanna-coder.cachix.org <outputs>", path_info_json())),
        "pulls: {}",
        out.stdout
    );
    assert!(out.stdout.contains("--option extra-substituters <the cache, unless unreachable>"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("Push") && !out.stdout.contains("cachix push") && !out.stdout.contains("nix copy"),
        "{}",
        out.stdout
    );
}

#[test]
fn cachix_pins_the_deps_layer_and_each_image_under_their_keys() {
    let out =
        run(xtask().args(["warm", "--dry-run"]).env("CACHIX_AUTH_TOKEN", "t0k3n").env("PATH", fake_cachix())).ok();
    let key = run(xtask().arg("cache-key")).ok().last_line().to_owned();
    let keep = cache_config()["keep-revisions"].as_u64().unwrap();
    for name in [key.clone(), format!("{key}-container-harness-x86_64"), format!("{key}-container-ollama-x86_64")] {
        let pin = format!("cachix pin nanna-coder {name} <output of the target> --keep-revisions {keep}\n");
        assert!(out.stdout.contains(&pin), "{pin}: {}", out.stdout);
    }
    assert!(!out.stdout.contains("t0k3n"));

    // Pins are Cachix's: a cache this project owns is told so.
    let local = run(xtask().args(["pin", "--dry-run"])).failed();
    assert!(local.stderr.contains("pins are Cachix's"), "{}", local.stderr);
}

#[test]
fn an_image_built_for_another_system_gets_that_systems_container_key() {
    let out =
        run(xtask().args(["warm-containers", "--system", "aarch64-linux", "--image", "harness", "--dry-run"])).ok();
    assert!(out.stdout.contains("packages.aarch64-linux.harnessImage"), "{}", out.stdout);
    assert!(out.stdout.contains("-container-harness-aarch64\n"), "the key names the arch built: {}", out.stdout);
    assert!(!out.stdout.contains("x86_64"), "{}", out.stdout);
    // --arch A builds A-linux; with a --system that says otherwise it is refused.
    let out = run(xtask().args(["build-containers", "--arch", "aarch64", "--image", "ollama", "--dry-run"])).ok();
    assert!(
        out.stdout.contains("packages.aarch64-linux.ollamaImage") && out.stdout.contains("-container-ollama-aarch64\n")
    );
    let out =
        run(xtask().args(["build-containers", "--arch", "aarch64", "--system", "x86_64-linux", "--dry-run"])).failed();
    assert!(
        out.stderr.contains("--arch aarch64 builds for aarch64-linux, but --system says x86_64-linux"),
        "{}",
        out.stderr
    );
}

#[test]
fn warm_containers_emits_each_key_once() {
    needs!(Nix);
    let ex = Example::new("one-image");
    let output = ex.dir.join("github-output");
    let out = run(ex
        .cmd(&["warm-containers", "--image", "harness"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output))
    .ok();
    let keys: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(keys.len(), 2, "the deps key, then the container key: {}", out.stdout);
    assert!(keys[0].starts_with(&deps_prefix()) && keys[1] == format!("{}-container-harness-x86_64", keys[0]));
    assert_eq!(fs::read_to_string(&output).unwrap(), format!("cache-key={}\ncontainer-key={}\n", keys[0], keys[1]));
}

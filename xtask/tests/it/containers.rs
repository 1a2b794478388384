//! Layer 3 with real tools: streamed images written as docker-archives that skopeo accepts,
//! pushed to a real registry (Debian's docker-registry, the CNCF distribution registry, on
//! 127.0.0.1), and an app-only change that pushes only the changed paths to the cache. No
//! container runtime runs here, so `--load` is checked by its command line and its error.

use std::{
    fs,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::*;

struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        require("docker-registry", "apt-get install -y docker-registry");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.join("registry.yml");
        let storage = dir.join("registry");
        fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, port }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo_inspect(reference: &str) -> serde_json::Value {
    require("skopeo", "apt-get install -y skopeo");
    let out = run(Command::new("skopeo").args(["inspect", "--tls-verify=false", reference]));
    assert!(out.status.success(), "skopeo does not accept {reference}: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn cache_bytes(dir: &Path) -> u64 {
    snapshot(dir).iter().map(|(_, len, _)| len).sum()
}

#[test]
fn images_are_written_as_archives_and_pushed_to_a_registry_with_each_tag() {
    require_nix();
    let flake = example_flake("images");
    let dir = flake.parent().unwrap().to_path_buf();
    let registry = Registry::start(&dir);
    let (out, repo) = (dir.join("images"), format!("127.0.0.1:{}/nanna-coder", registry.port));
    run(xtask()
        .args(["build-containers", "--flake", &flake.display().to_string()])
        .args(["--cache", &format!("file://{}", dir.join("cache").display())])
        .args(["--out", &out.display().to_string(), "--push", &repo, "--tag", "0123abc", "--tag", "latest"]))
    .ok();
    for image in ["harness", "ollama"] {
        let archive = out.join(format!("{image}.tar"));
        let local = skopeo_inspect(&format!("docker-archive:{}", archive.display()));
        assert_eq!(local["Layers"].as_array().unwrap().len(), 2, "{image}: a layer per shipped path");
        let pushed = skopeo_inspect(&format!("docker://{repo}/{image}:0123abc"));
        let mut tags: Vec<&str> = pushed["RepoTags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        tags.sort();
        assert_eq!(tags, ["0123abc", "latest"], "{image}");
        assert_eq!(skopeo_inspect(&format!("docker://{repo}/{image}:latest"))["Digest"], pushed["Digest"]);
    }
    // The image is streamed: the store holds its script, not a tarball.
    let script = out_path(&flake, "packages.x86_64-linux.harnessImage");
    assert!(fs::metadata(&script).unwrap().len() < 4096, "{script} is not a small script");
}

#[test]
fn an_app_only_change_pushes_only_the_changed_paths() {
    require_nix();
    let flake = example_flake("image-change");
    let dir = flake.parent().unwrap().to_path_buf();
    let cache = dir.join("cache");
    let build =
        |out: &str| {
            run(xtask()
                .args(["build-containers", "--image", "harness", "--flake", &flake.display().to_string()])
                .args(["--cache", &format!("file://{}", cache.display()), "--out", out]))
            .ok()
        };
    build(&dir.join("before").display().to_string());
    let (first, image) = (cache_bytes(&cache), fs::metadata(dir.join("before/harness.tar")).unwrap().len());
    fs::write(flake.join("app"), "0.1.1\n").unwrap();
    let second = build(&dir.join("after").display().to_string());
    let pushed = cache_bytes(&cache) - first;
    assert!(second.stderr.contains("pushed 2 path(s)"), "the app and the image's script: {}", second.stderr);
    assert!(pushed * 50 < image, "an app change pushed {pushed} bytes for an image of {image}");
    let after = skopeo_inspect(&format!("docker-archive:{}", dir.join("after/harness.tar").display()));
    let before = skopeo_inspect(&format!("docker-archive:{}", dir.join("before/harness.tar").display()));
    assert_ne!(after["Layers"][0], before["Layers"][0], "the app's layer changed");
    assert_eq!(after["Layers"][1], before["Layers"][1], "the certificates' layer did not");
}

#[test]
fn load_uses_docker_or_podman_and_says_when_neither_is_installed() {
    let out = run(xtask()
        .args(["build-containers", "--image", "harness", "--load", "--dry-run"])
        .env("PATH", cargo_only_path()))
    .failed();
    assert!(out.stderr.contains("--load needs docker or podman, and neither is installed"), "{}", out.stderr);

    let bin = temp_dir("fake-podman");
    fs::write(bin.join("podman"), "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(bin.join("podman"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = std::env::join_paths([bin, cargo_only_path()]).unwrap();
    let out = run(xtask()
        .args(["build-containers", "--image", "harness", "--load", "--out", "/tmp/images", "--dry-run"])
        .env("PATH", path))
    .ok();
    assert!(out.stdout.contains("\npodman load -i /tmp/images/harness.tar\n"), "{}", out.stdout);
}

#[test]
fn ci_publishes_to_ghcr_from_the_default_branch_only_and_only_that_job_writes_packages() {
    let text = fs::read_to_string(workspace_root().join(".github/workflows/ci.yml")).unwrap();
    let ci = &yaml_rust2::YamlLoader::load_from_str(&text).unwrap()[0];
    for (name, job) in ci["jobs"].as_hash().unwrap() {
        let writes = job["permissions"]["packages"].as_str() == Some("write");
        assert_eq!(writes, name.as_str() == Some("build-containers"), "{name:?}: packages: write");
    }
    let steps = ci["jobs"]["build-containers"]["steps"].as_vec().unwrap();
    let publish: Vec<_> = steps.iter().filter(|s| s["run"].as_str().is_some_and(|r| r.contains("--push"))).collect();
    assert_eq!(publish.len(), 1);
    assert!(publish[0]["run"].as_str().unwrap().contains(r#"--push "ghcr.io/$REPOSITORY" --tag "$SHA" --tag latest"#));
    let when = publish[0]["if"].as_str().unwrap();
    assert!(
        when.contains("github.event_name == 'push'") && when.contains("github.event.repository.default_branch"),
        "{when}"
    );
    // The other steps build and cache on every event.
    assert!(steps
        .iter()
        .any(|s| s["run"].as_str().is_some_and(|r| r.starts_with("cargo xtask build-containers"))
            && s["if"].is_badvalue()));
}

#[test]
fn a_registry_token_is_handed_to_skopeo_on_stdin_and_never_printed() {
    let out = run(xtask()
        .args(["build-containers", "--image", "harness", "--push", "ghcr.io/Owner/Repo", "--tag", "abc", "--dry-run"])
        .env("REGISTRY_USER", "bot")
        .env("REGISTRY_TOKEN", "ghs_s3cr3t"))
    .ok();
    assert!(out.stdout.contains("skopeo login --authfile "), "{}", out.stdout);
    assert!(
        out.stdout.contains("printf '%s' \"$REGISTRY_TOKEN\" | skopeo login --authfile '<run directory>/auth.json' --username bot --password-stdin ghcr.io\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--dest-authfile "), "{}", out.stdout);
    assert!(out.stdout.contains("docker://ghcr.io/owner/repo/harness:abc"), "lowercase: {}", out.stdout);
    assert!(!out.stdout.contains("ghs_s3cr3t") && !out.stderr.contains("ghs_s3cr3t"), "the token was printed");
}

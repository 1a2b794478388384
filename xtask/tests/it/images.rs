//! Layer 3 with real tools: streamed images as docker-archives, each arch pushed under its own
//! tag to a real registry (Debian's docker-registry on 127.0.0.1) and joined by `publish` into one
//! index; a republish after an app-only change, from a runner with no local state, that uploads
//! only the changed layers (a proxy counts the bytes); the images loaded into a real engine and
//! run together (`smoke`). The aarch64 images are the same shell scripts built as aarch64-linux
//! (`extra-platforms`): stand-ins for an arch this machine cannot run.

use std::{fs, process::Command};

use xtask::record::Record;

use crate::support::{images::*, *};

fn skopeo(args: &[&str]) -> serde_json::Value {
    let out = run(Command::new("skopeo").args(args));
    assert!(out.status.success(), "skopeo {}: {}", args.join(" "), out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn inspect(reference: &str, raw: bool) -> serde_json::Value {
    let mut args = vec!["inspect", "--tls-verify=false"];
    if raw {
        args.push("--raw");
    }
    skopeo(&[args, vec![reference]].concat())
}

/// A registry of the example's own, and the repository its images go to (`HOST/nanna-coder`).
fn registry(ex: &Example) -> (Registry, String) {
    let registry = Registry::start(&ex.dir.join("registry")).unwrap();
    let repo = format!("{}/nanna-coder", registry.host);
    (registry, repo)
}

fn build_containers(ex: &Example, args: &[&str]) -> (Run, Record) {
    ex.task(&[&["build-containers"], args].concat())
}

#[test]
fn each_arch_is_pushed_under_its_tag_and_publish_joins_them_in_one_index() {
    needs!(Nix, Registry);
    let ex = Example::new("index");
    let (_registry, repo) = registry(&ex);
    let out = ex.dir.join("images");
    for arch in ["x86_64", "aarch64"] {
        let args = ["--arch", arch, "--out", &out.display().to_string(), "--push", &repo, "--tag", "c0ffee"];
        let (built, record) = build_containers(&ex, &args);
        built.ok();
        let done: Vec<(&str, bool)> =
            record.steps.iter().skip_while(|s| s.kind != "image").map(|s| (s.kind.as_str(), s.ok)).collect();
        let image_steps = [("image", true), ("registry-push", true)];
        assert_eq!(done, [image_steps, image_steps].concat(), "{arch}: each image written, then copied");
        let local = inspect(&format!("docker-archive:{}", out.join("harness.tar").display()), false);
        assert_eq!(local["Layers"].as_array().unwrap().len(), 2, "{arch}: a layer per shipped path");
    }
    // Streamed: the store holds the image's script, never a tarball of what it ships.
    let script = out_path(&ex.flake, "packages.x86_64-linux.harnessImage");
    assert!(fs::metadata(&script).unwrap().len() < 4096, "{script} is not a small script");
    // `latest` is publish's alone (in CI it runs once every test and smoke passed): the arch jobs
    // pushed the commit's tag, and publish copies each arch's manifest under `latest-<arch>`.
    let latest = |arch: &str| format!("docker://{repo}/harness:latest-{arch}");
    let publish = ["publish", "--push", &repo, "--tag", "c0ffee", "--also-tag", "latest"];
    let (publish, record) = recorded(xtask().args(publish));
    publish.ok();
    let indexes: Vec<&str> =
        record.steps.iter().filter(|s| s.kind == "index" && s.ok).map(|s| s.title.as_str()).collect();
    assert_eq!(indexes.len(), 4, "an index per image and tag: {:#?}", record.steps);
    for arch in ["x86_64", "aarch64"] {
        let commit = inspect(&format!("docker://{repo}/harness:c0ffee-{arch}"), false);
        assert_eq!(
            inspect(&latest(arch), false)["Digest"],
            commit["Digest"],
            "{arch}: the commit's manifest, by digest"
        );
    }
    for image in ["harness", "ollama"] {
        for tag in ["c0ffee", "latest"] {
            let index = inspect(&format!("docker://{repo}/{image}:{tag}"), true);
            assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json", "{index:#}");
            let manifests = index["manifests"].as_array().unwrap();
            let platforms: Vec<&str> =
                manifests.iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
            assert_eq!(platforms, ["amd64", "arm64"], "{image}:{tag}: one tag, both platforms");
            for (manifest, arch) in manifests.iter().zip(["x86_64", "aarch64"]) {
                let own = inspect(&format!("docker://{repo}/{image}:{tag}-{arch}"), false);
                assert_eq!(manifest["digest"], own["Digest"], "{image}:{tag}: {arch}'s entry is its manifest");
            }
        }
    }
    // Each platform's manifest is that platform's image: its config says the arch.
    let arm = inspect(&format!("docker://{repo}/harness:c0ffee-aarch64"), false);
    assert_eq!(arm["Architecture"], "arm64", "{arm:#}");
}

#[test]
fn publish_names_every_missing_arch_and_writes_no_index() {
    needs!(Nix, Registry);
    let ex = Example::new("index-missing");
    let (registry, repo) = registry(&ex);
    build_containers(&ex, &["--image", "harness", "--arch", "x86_64", "--push", &repo, "--tag", "t1"]).0.ok();
    let publish = ["publish", "--push", &repo, "--tag", "t1", "--also-tag", "latest", "--image", "harness"];
    let out = run(xtask().args(publish)).failed();
    assert!(
        out.stderr.contains("1 arch manifest(s) missing") && out.stderr.contains(&format!("{repo}/harness:t1-aarch64")),
        "{}",
        out.stderr
    );
    // Nothing was written: no index, and no arch's manifest under the further tag.
    let written = |tag: &str| {
        let reference = format!("docker://{repo}/harness:{tag}");
        run(Command::new("skopeo").args(["inspect", "--tls-verify=false", "--raw", &reference])).status.success()
    };
    for tag in ["t1", "latest", "latest-x86_64"] {
        assert!(!written(tag), "{tag} was written");
    }
    // A copy (`--copies`, what the first job proved) that names the x86_64 image for aarch64:
    // refused, naming it, and nothing is written.
    let x86 = inspect(&format!("docker://{repo}/harness:t1-x86_64"), false);
    let from = format!("{repo}/harness@{}", x86["Digest"].as_str().unwrap());
    let copies = format!(r#"--copies=[{{"image": "harness", "arch": "aarch64", "from": "{from}"}}]"#);
    let publish = ["publish", "--push", &repo, "--tag", "t1", "--also-tag", "latest", "--image", "harness", &copies];
    let out = run(xtask().args(publish)).failed();
    let wrong = format!("{from} (to be tagged t1-aarch64) is an image for amd64, not arm64");
    assert!(out.stderr.contains(&wrong), "{}", out.stderr);
    for tag in ["t1", "t1-aarch64", "latest", "latest-x86_64"] {
        assert!(!written(tag), "{tag} was written");
    }
    let copies = format!(r#"--copies=[{{"image": "harness", "arch": "riscv64", "from": "{from}"}}]"#);
    let out = run(xtask().args(["publish", "--push", &repo, "--tag", "t1", "--image", "harness", &copies])).failed();
    assert!(out.stderr.contains(r#"is for arch "riscv64", which is not one of the config's"#), "{}", out.stderr);
    // Two copies for one arch: only one could be checked and tagged, so neither is.
    let copy = format!(r#"{{"image": "harness", "arch": "x86_64", "from": "{from}"}}"#);
    let copies = format!("--copies=[{copy}, {copy}]");
    let out = run(xtask().args(["publish", "--push", &repo, "--tag", "t1", "--image", "harness", &copies])).failed();
    assert!(out.stderr.contains("harness x86_64 is given more than once"), "{}", out.stderr);
    // A repository no arch ever pushed to (the registry knows no such name): each one missing.
    let nobody = format!("{}/nobody", registry.host);
    let out = run(xtask().args(["publish", "--push", &nobody, "--tag", "t1", "--image", "harness"])).failed();
    assert!(out.stderr.contains("2 arch manifest(s) missing"), "{}", out.stderr);
}

/// "Re-run failed jobs" on an older commit's workflow run, after a newer commit's run published,
/// runs the older run's publish: `latest` stays the newer run's, while the older run's own tag is
/// written. A later run moves `latest` on, and so does a re-run of the run that wrote it.
#[test]
fn latest_moves_forward_only_a_rerun_of_an_older_run_leaves_it() {
    needs!(Nix, Registry);
    let ex = Example::new("latest-forward");
    let (_registry, repo) = registry(&ex);
    let push = |tag: &str| {
        for arch in ["x86_64", "aarch64"] {
            build_containers(&ex, &["--image", "harness", "--arch", arch, "--push", &repo, "--tag", tag]).0.ok();
        }
    };
    push("older");
    fs::write(ex.flake.join("app"), "0.1.1\n").unwrap();
    push("newer");
    let digest = |tag: &str| inspect(&format!("docker://{repo}/harness:{tag}"), false)["Digest"].clone();
    let (older, newer) = (digest("older-x86_64"), digest("newer-x86_64"));
    assert_ne!(older, newer, "the app change changed the image");
    // Each entry of an index names the workflow and the run that wrote it.
    let index_run = |tag: &str| {
        let index = inspect(&format!("docker://{repo}/harness:{tag}"), true);
        let entries = index["manifests"].as_array().unwrap().iter().map(|m| {
            let annotation = |key: &str| m["annotations"][key].as_str().unwrap_or_default().to_owned();
            format!("{}#{}", annotation("xtask.workflow"), annotation("xtask.run-number"))
        });
        entries.collect::<Vec<_>>().join(" ")
    };
    const CI: &str = "octo/app/.github/workflows/ci.yml";
    let publish_in = |workflow: &str, tag: &str, run: &str, also: &[&str]| {
        let mut cmd = xtask();
        cmd.args(["publish", "--push", &repo, "--tag", tag, "--image", "harness"]);
        cmd.args(also.iter().flat_map(|t| ["--also-tag", t]));
        cmd.env("GITHUB_ACTIONS", "true").env("GITHUB_RUN_NUMBER", run);
        let (out, record) = recorded(cmd.env("GITHUB_WORKFLOW_REF", format!("{workflow}@refs/heads/main")));
        out.ok();
        record
    };
    let publish = |tag: &str, run: &str| publish_in(CI, tag, run, &["latest"]);
    let latest = || (digest("latest-x86_64"), digest("latest-aarch64"));
    // A further tag may have capitals (buildah's list, whose name must not, is named apart).
    assert!(publish_in(CI, "newer", "12", &["latest", "Stable"]).warnings.is_empty());
    assert_eq!(latest(), (newer.clone(), digest("newer-aarch64")));
    assert_eq!(digest("Stable-x86_64"), newer);
    assert_eq!(index_run("latest"), format!("{CI}#12 {CI}#12"));

    // Run 11, of the older commit, re-run after a flaky test: its own tag is written, `latest` stays.
    let rerun = publish("older", "11");
    assert_eq!(rerun.warnings.len(), 1, "{:#?}", rerun.warnings);
    assert_eq!(latest(), (newer.clone(), digest("newer-aarch64")));
    assert_eq!(index_run("latest"), format!("{CI}#12 {CI}#12"));
    assert_eq!(index_run("older"), format!("{CI}#11 {CI}#11"), "the older run's own index is written");
    assert!(!rerun.steps.iter().any(|s| s.kind == "registry-copy"), "nothing was copied under latest-<arch>");

    // A re-run of run 12 itself moves it as before, and a later run moves it on.
    assert!(publish("newer", "12").warnings.is_empty());
    assert!(publish("older", "13").warnings.is_empty());
    assert_eq!(latest(), (older, digest("older-aarch64")));
    assert_eq!(index_run("latest"), format!("{CI}#13 {CI}#13"));
    // Another workflow numbers its runs apart: its run 900 holds nothing back from ci.yml's 14.
    assert!(publish_in("octo/app/.github/workflows/release.yml", "newer", "900", &["latest"]).warnings.is_empty());
    assert!(publish("newer", "14").warnings.is_empty());
    assert_eq!(digest("latest-x86_64"), newer);
}

#[test]
fn an_app_only_change_pushes_and_uploads_only_what_changed_from_a_runner_with_no_state() {
    needs!(Nix, Registry);
    let ex = Example::new("image-change");
    let (flake, dir) = (&ex.flake, &ex.dir);
    let (registry, repo) = registry(&ex);
    let cache_bytes = || store_files(&ex.cache).iter().map(|(_, len, _)| len).sum::<u64>();
    let publish = |tag: &str| {
        let out = dir.join(tag).display().to_string();
        build_containers(&ex, &["--image", "harness", "--out", &out, "--push", &repo, "--tag", tag])
    };
    publish("first").0.ok();
    let (first_cache, image) = (cache_bytes(), fs::metadata(dir.join("first/harness.tar")).unwrap().len());
    let first_upload = registry.sent();
    fs::write(flake.join("app"), "0.1.1\n").unwrap();
    // A fresh runner: skopeo's record of what registries hold is gone.
    let _ = fs::remove_file("/var/lib/containers/cache/blob-info-cache-v1.boltdb");
    let (second, record) = publish("second");
    second.ok();
    let (pushed, uploaded) = (cache_bytes() - first_cache, registry.sent() - first_upload);
    eprintln!("an app-only change: {pushed} bytes to the cache, {uploaded} bytes to the registry (the first push: {first_upload}), for an image of {image}");
    assert_eq!(record.pushed.paths, 2, "the app and the image's script: {:#?}", record.pushed);
    assert!(pushed * 50 < image, "an app change pushed {pushed} bytes to the cache for an image of {image}");
    assert!(
        uploaded * 10 < first_upload,
        "an app change uploaded {uploaded} bytes to the registry, the first push {first_upload}"
    );
    let after = inspect(&format!("docker-archive:{}", dir.join("second/harness.tar").display()), false);
    let before = inspect(&format!("docker-archive:{}", dir.join("first/harness.tar").display()), false);
    assert_ne!(after["Layers"][0], before["Layers"][0], "the app's layer changed");
    assert_eq!(after["Layers"][1], before["Layers"][1], "the certificates' layer did not");
}

#[test]
fn load_puts_an_image_into_the_engine_that_runs() {
    needs!(Nix, Engine);
    let ex = Example::for_flake(runnable_flake("load"));
    // The smokes load the same tag: none runs meanwhile, and the tag is gone before the load.
    let _one = smoke_lock();
    let _ = run(Command::new("docker").args(["rmi", "--force", "harness:latest"]));
    let (built, record) = build_containers(&ex, &["--image", "harness", "--load"]);
    built.ok();
    assert!(record.steps.iter().any(|s| s.kind == "load" && s.ok), "{:#?}", record.steps);
    let out = run(Command::new("docker").args(["run", "--rm", "harness:latest", "--help"]));
    assert!(out.status.success() && out.stdout.contains("Usage"), "{}{}", out.stdout, out.stderr);
}

#[test]
fn load_without_an_engine_says_so_and_the_dry_run_shows_the_command() {
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
fn ci_pushes_each_arch_then_publishes_once_from_the_default_branch() {
    let text = fs::read_to_string(workspace_root().join(".github/workflows/ci.yml")).unwrap();
    let ci = &yaml_rust2::YamlLoader::load_from_str(&text).unwrap()[0];
    let jobs = &ci["jobs"];
    for (name, job) in jobs.as_hash().unwrap() {
        let writes = job["permissions"]["packages"].as_str() == Some("write");
        let pushes = ["build-containers", "publish"].contains(&name.as_str().unwrap());
        assert_eq!(writes, pushes, "{name:?}: packages: write only where the job pushes to GHCR");
    }
    let steps = jobs["build-containers"]["steps"].as_vec().unwrap();
    let push: Vec<_> = steps.iter().filter(|s| s["run"].as_str().is_some_and(|r| r.contains("--push"))).collect();
    assert_eq!(push.len(), 1);
    // A container leg runs beside the tests: it pushes the commit's tag alone, never `latest`.
    let run_line = push[0]["run"].as_str().unwrap();
    assert!(run_line.ends_with(r#"--push "ghcr.io/$REPOSITORY" --tag "$SHA""#) && !run_line.contains("latest"));
    let default_branch = |when: &str| {
        when.contains("github.event_name == 'push'") && when.contains("github.event.repository.default_branch")
    };
    assert!(default_branch(push[0]["if"].as_str().unwrap()));
    let publish = &jobs["publish"];
    assert!(default_branch(publish["if"].as_str().unwrap()), "publish runs on the default branch only");
    let needs: Vec<&str> = publish["needs"].as_vec().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(["test-matrix", "build-containers", "smoke"].iter().all(|j| needs.contains(j)), "{needs:?}");
    let run_step = publish["steps"].as_vec().unwrap().iter().find_map(|s| s["run"].as_str()).unwrap();
    // The manifests of the arches proven needless are tagged by digest (the first job's `copies`).
    let publish_line =
        r#"cargo xtask publish --push "ghcr.io/$REPOSITORY" --tag "$SHA" --also-tag latest --copies="$COPIES""#;
    assert_eq!(run_step, publish_line);
    let smoke = jobs["smoke"]["steps"].as_vec().unwrap().iter().find_map(|s| s["run"].as_str()).unwrap();
    assert_eq!(smoke, "cargo xtask smoke --skip-ask", "the real ollama image has no model");
}

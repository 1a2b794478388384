//! What the cache is for, measured: `status` (what a fresh runner would fetch and build) and
//! `analytics` (what the store holds), against real Nix.

use crate::support::*;
use xtask::record::Record;

fn status_json(ex: &Example) -> serde_json::Value {
    let out = run(&mut ex.cmd(&["status", "--json"])).ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn target<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()
}

#[test]
fn status_sees_what_a_fresh_runner_would_fetch_and_build_and_changes_nothing() {
    needs!(Nix);
    let ex = Example::new("status");
    let cache = &ex.cache;

    // Nothing cached yet (the cache does not even exist, and status does not create it).
    let empty = status_json(&ex);
    assert!(!cache.exists(), "status created the cache");
    assert_eq!(empty["cached"], 0);
    assert_eq!(empty["hit_rate"], 0.0);
    assert_eq!(target(&empty, "deps")["to_build"].as_array().unwrap().len(), 4, "{empty:#}");

    run(&mut ex.cmd(&["warm-deps"])).ok();
    let before = snapshot(cache);
    let status = status_json(&ex);
    assert_eq!(snapshot(cache), before, "status wrote to the cache");
    assert!(!is_valid_in_store(&out_path(&ex.flake, "checks.x86_64-linux.unit")), "status built a check");

    let deps = target(&status, "deps");
    assert_eq!(deps["cached"], deps["paths"], "{status:#}");
    assert_eq!(deps["to_build"], serde_json::json!([]));
    assert_eq!(status["deps_hit_rate"], 1.0);
    // Each check needs the deps layer (cached) and builds only itself.
    let unit = target(&status, "check unit");
    assert_eq!(unit["to_build"], serde_json::json!(["harness-unit"]), "{status:#}");
    assert_eq!(unit["cached"], 4);
    // The sources and the tarball come from their origin: not misses.
    assert!(deps["from_origin"].as_u64().unwrap() >= 2, "{status:#}");
    let (paths, cached) = (status["paths"].as_f64().unwrap(), status["cached"].as_f64().unwrap());
    assert_eq!(status["hit_rate"].as_f64().unwrap(), cached / paths);
    assert!(status["key"].as_str().unwrap().starts_with(&deps_prefix()));
}

#[test]
fn every_ci_task_summary_shows_the_fresh_runner_view() {
    needs!(Nix);
    let ex = Example::new("status-summary");
    let (summary, file) = (ex.dir.join("summary.md"), ex.dir.join("record.json"));
    run(ex
        .cmd(&["test", "--type", "unit"])
        .args(["--record", &file.display().to_string()])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary))
    .ok();
    let record = Record::read(&file).unwrap();
    // Before the build, an empty cache: a fresh runner builds the check and the deps layer.
    let (unit, deps) = (record.target("check unit").unwrap(), record.target("deps").unwrap());
    assert!(unit.built_here && !deps.built_here);
    let to_build = &unit.before.as_ref().unwrap().to_build;
    assert!(to_build.len() == 5 && to_build.contains(&"harness-unit".to_owned()), "{record:#?}");
    assert_eq!(record.rates.as_ref().unwrap().cached, 0);
    // After the push (the check with its build inputs, the deps layer): it fetches all, builds nothing.
    for target in [unit, deps] {
        let after = target.after.as_ref().unwrap();
        assert!(after.to_build.is_empty() && after.cached == after.paths, "{target:#?}");
    }
    let after = record.rates_after.as_ref().unwrap();
    assert_eq!((after.paths, after.cached, after.hit_rate, after.deps_hit_rate), (5, 5, 1.0, 1.0));
    // The job summary is the record, rendered.
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("#### What a fresh runner would fetch and build"), "{summary}");
    assert!(summary.contains(&format!("After the push: {}.", xtask::record::render::rates(after))), "{summary}");
    let row = summary.lines().find(|l| l.starts_with("| check unit |")).unwrap_or_default();
    assert!(row.starts_with("| check unit | 5 | 0 | 2 | ") && row.ends_with(" | 1 of 1 cached |"), "{summary}");
    assert!(summary.contains("```mermaid\ngantt\n"), "{summary}");
}

/// A store dump with what analytics must notice: two toolchains, a large cargo-deps artifact, a
/// filtered source that a kept path refers to, and two paths with the same contents.
fn dump() -> Vec<serde_json::Value> {
    let mib = 1 << 20;
    let entry = |hash: &str, name: &str, size: u64, refs: &[&str], nar: &str| {
        serde_json::json!({
            "path": format!("/nix/store/{hash}-{name}"),
            "narHash": format!("sha256-{nar}"),
            "narSize": size,
            "references": refs.iter().map(|r| format!("/nix/store/{r}")).collect::<Vec<_>>(),
            "signatures": ["k-1:sig"],
        })
    };
    vec![
        entry("00000000000000000000000000000001", "rust-toolchain-1.84.0", 900 * mib, &[], "a"),
        entry("00000000000000000000000000000002", "rust-toolchain-1.83.0", 850 * mib, &[], "b"),
        entry(
            "00000000000000000000000000000003",
            "cargo-deps",
            300 * mib,
            &["00000000000000000000000000000001-rust-toolchain-1.84.0"],
            "c",
        ),
        entry("00000000000000000000000000000004", "app-source", mib, &[], "d"),
        entry(
            "00000000000000000000000000000005",
            "app-0.1.0",
            2 * mib,
            &["00000000000000000000000000000004-app-source", "00000000000000000000000000000003-cargo-deps"],
            "e",
        ),
        entry(
            "00000000000000000000000000000006",
            "docker-image-app.tar.gz",
            40 * mib,
            &["00000000000000000000000000000005-app-0.1.0"],
            "f",
        ),
        entry("00000000000000000000000000000007", "dev-tools", 10 * mib, &[], "g"),
        entry("00000000000000000000000000000008", "dev-tools-copy", 10 * mib, &[], "g"),
    ]
}

#[test]
fn analytics_reads_a_saved_dump_in_either_form() {
    let dir = temp_dir("analytics");
    let list = dump();
    let object: serde_json::Map<String, serde_json::Value> = list
        .iter()
        .map(|e| {
            let mut e = e.clone();
            let path = e.as_object_mut().unwrap().remove("path").unwrap();
            (path.as_str().unwrap().to_owned(), e)
        })
        .chain([("/nix/store/00000000000000000000000000000009-gone".to_owned(), serde_json::Value::Null)])
        .collect();
    let mib = 1u64 << 20;
    for (form, json) in [("list", serde_json::json!(list)), ("object", serde_json::json!(object))] {
        let file = dir.join(format!("{form}.json"));
        std::fs::write(&file, json.to_string()).unwrap();
        let out =
            run(tools().args(["analytics", "--json", "--top", "2", "--path-info", &file.display().to_string()])).ok();
        let a: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(a["store"]["paths"], 8, "{form}");
        assert_eq!(a["store"]["nar_bytes"], (900 + 850 + 300 + 1 + 2 + 40 + 10 + 10) * mib, "{form}");
        let largest = a["largest"].as_array().unwrap();
        assert_eq!(largest.len(), 2);
        assert!(largest[0]["path"].as_str().unwrap().ends_with("-rust-toolchain-1.84.0"));
        // The image's closure: itself, the app, its source, cargo-deps and the toolchain.
        let image =
            run(tools().args(["analytics", "--json", "--top", "8", "--path-info", &file.display().to_string()])).ok();
        let image: serde_json::Value = serde_json::from_str(&image.stdout).unwrap();
        let image = image["largest"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["path"].as_str().unwrap().ends_with(".tar.gz"))
            .unwrap()
            .clone();
        assert_eq!(image["closure_size"], (40 + 2 + 1 + 300 + 900) * mib, "{form}");
        assert_eq!(a["layers"]["toolchain"]["paths"], 2);
        assert_eq!(a["layers"]["cargo dependencies"]["nar_bytes"], 300 * mib);
        assert_eq!(a["layers"]["images"]["paths"], 1);
        assert_eq!(a["layers"]["dev tools"]["paths"], 2);
        assert_eq!(a["filtered"]["paths"], 1);
        assert_eq!(a["filtered"]["nar_bytes"], mib);
        let recommendations: Vec<&str> =
            a["recommendations"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let says = |what: &str| recommendations.iter().any(|r| r.contains(what));
        assert!(says("rebuilt and pushed again on every Cargo.lock change"), "{recommendations:#?}");
        assert!(says("more than one toolchain is stored"), "{recommendations:#?}");
        assert!(
            says("-app-source is filtered, but /nix/store/00000000000000000000000000000005-app-0.1.0 refers to it"),
            "{recommendations:#?}"
        );
        assert!(says("1 path(s) have the same contents as another (10.0 MiB at least)"), "{recommendations:#?}");
    }
}

#[test]
fn analytics_reads_every_path_of_this_machines_store() {
    needs!(Nix);
    // Other tests add paths meanwhile, and none deletes any: the count lies between the store's
    // before and after.
    let count = || nix(&["path-info", "--all"]).stdout.lines().count() as u64;
    let _no_deletions = no_deletions_from_the_store();
    let before = count();
    let out = run(tools().args(["analytics", "--json", "--top", "3"])).ok();
    let after = count();
    let a: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let paths = a["store"]["paths"].as_u64().unwrap();
    assert!(before <= paths && paths <= after, "{before} <= {paths} <= {after}");
    let largest = a["largest"].as_array().unwrap();
    assert_eq!(largest.len(), 3);
    let size = |i: usize| largest[i]["nar_size"].as_u64().unwrap();
    assert!(size(0) >= size(1) && size(1) >= size(2), "{largest:#?}");
    let first = largest[0]["path"].as_str().unwrap();
    let mut args: Vec<&str> = path_info_json().split(' ').collect();
    args.push(first);
    let info: serde_json::Value = serde_json::from_str(&nix(&args).stdout).unwrap();
    // A list before Nix 2.19, an object keyed by path since (format 1).
    let entry = if info.is_array() { &info[0] } else { &info[first] };
    assert_eq!(entry["narSize"].as_u64(), Some(size(0)), "{info:#}");
}

/// A PATH whose `nix` and `nix-store` write each call's arguments (one line) to `log`, then run
/// the real ones.
fn logging_nix(dir: &std::path::Path, log: &std::path::Path) -> std::ffi::OsString {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("logging-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = std::env::var_os("PATH").unwrap();
    for tool in ["nix", "nix-store"] {
        let real = std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file()).unwrap();
        let script = format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} \"$@\"\n", log.display(), real.display());
        std::fs::write(bin.join(tool), script).unwrap();
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap()
}

#[test]
fn each_task_evaluates_the_flake_once() {
    needs!(Nix);
    let ex = Example::new("evaluations");
    let dir = &ex.dir;
    let flake_arg = ex.flake.display().to_string();
    let images = dir.join("images").display().to_string();
    let tasks: [&[&str]; 6] = [
        &["warm"],
        &["warm"],
        &["test", "--type", "unit"],
        &["build-containers", "--image", "harness", "--out", &images],
        &["status"],
        &["warm", "--force"],
    ];
    for (n, task) in tasks.iter().enumerate() {
        let (log, file) = (dir.join(format!("calls-{n}.log")), dir.join(format!("record-{n}.json")));
        // Under GitHub Actions: the job summary asks again what a fresh runner would do.
        run(ex
            .cmd(task)
            .args(["--record", &file.display().to_string()])
            .env("PATH", logging_nix(dir, &log))
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", dir.join("summary.md")))
        .ok();
        let calls = std::fs::read_to_string(&log).unwrap();
        // Evaluating the flake needs its path; every later command names store paths only.
        let evaluations: Vec<&str> = calls.lines().filter(|l| l.contains(&flake_arg)).collect();
        assert_eq!(
            evaluations.len(),
            1,
            "`{}` evaluated the flake {} times:\n{}",
            task.join(" "),
            evaluations.len(),
            evaluations.join("\n")
        );
        // The record counts what the logging nix saw.
        assert_eq!(Record::read(&file).unwrap().evaluations, 1, "`{}`", task.join(" "));
    }
}

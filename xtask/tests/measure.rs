//! What the cache is for, measured: `status` (what a fresh runner would fetch and build) and
//! `analytics` (what the store holds), against real Nix.

mod support;

use support::*;

fn status_json(flake: &std::path::Path, cache: &str) -> serde_json::Value {
    let out = run(xtask().args(["status", "--json", "--flake", &flake.display().to_string(), "--cache", cache])).ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn target<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["targets"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()
}

#[test]
fn status_sees_what_a_fresh_runner_would_fetch_and_build_and_changes_nothing() {
    require_nix();
    let flake = example_flake("status");
    let cache = flake.parent().unwrap().join("cache");
    let url = format!("file://{}", cache.display());

    // Nothing cached yet (the cache does not even exist, and status does not create it).
    let empty = status_json(&flake, &url);
    assert!(!cache.exists(), "status created the cache");
    assert_eq!(empty["cached"], 0);
    assert_eq!(empty["hit_rate"], 0.0);
    assert_eq!(target(&empty, "deps")["to_build"].as_array().unwrap().len(), 4, "{empty:#}");

    run(xtask().args(["warm-deps", "--flake", &flake.display().to_string(), "--cache", &url])).ok();
    let before = snapshot(&cache);
    let status = status_json(&flake, &url);
    assert_eq!(snapshot(&cache), before, "status wrote to the cache");
    assert!(!is_valid_in_store(&out_path(&flake, "checks.x86_64-linux.unit")), "status built a check");

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
    require_nix();
    let flake = example_flake("status-summary");
    let dir = flake.parent().unwrap().to_path_buf();
    let summary = dir.join("summary.md");
    run(xtask()
        .args(["test", "--type", "unit", "--flake", &flake.display().to_string()])
        .args(["--cache", &format!("file://{}", dir.join("cache").display())])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary))
    .ok();
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("#### What a fresh runner would fetch and build"), "{summary}");
    // The check was pushed with its build inputs (the deps layer): a fresh runner fetches all of
    // it, and builds nothing.
    assert!(summary.contains("| unit | 1 | 1 | 3 | nothing |"), "{summary}");
    assert!(summary.contains("| deps | 4 | 4 | 3 | nothing |"), "{summary}");
    assert!(summary.contains("5 of 5 paths from the cache (hit rate 1.00; deps layer 1.00)"), "{summary}");
}

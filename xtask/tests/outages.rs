//! Cache outages, provoked for real: a refused connection, a host that does not resolve, a
//! server answering 503, one that never answers. The policy: asking an unreachable cache counts
//! as empty (a warning naming it) and the build goes on; `test` keeps its verdict and warns about
//! the push (`--require-push` fails it); `warm` and `prebuild` fail after the build, naming the
//! cache and the cause. The summary and the job outputs are written either way.

mod support;

use std::{
    fs,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use support::*;

const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Runs the xtask from `dir` under GitHub Actions; kills it (and fails the test) after `limit`.
fn run_in(dir: &Path, args: &[&str], limit: Duration) -> (Run, String, String) {
    let (output, summary) = (dir.join("github-output"), dir.join("summary.md"));
    let _ = (fs::remove_file(&output), fs::remove_file(&summary));
    let mut child = xtask()
        .current_dir(dir)
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("`xtask {}` hung: still running after {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = Run::from(child.wait_with_output().unwrap());
    (run, fs::read_to_string(output).unwrap_or_default(), fs::read_to_string(summary).unwrap_or_default())
}

#[test]
fn an_unreachable_cache_never_turns_a_test_job_red() {
    require_nix();
    let flake = example_flake("outage-test");
    // A short stall timeout, so the server that never answers is given up on quickly.
    let dir = workspace_with("outage-test", "cache-timeout = 2");
    let flake = flake.display().to_string();
    let caches = [
        ("connection refused", format!("http://127.0.0.1:{}", closed_port())),
        ("no such host", "http://cache.invalid".to_owned()),
        ("503", format!("http://127.0.0.1:{}", fake_server(Some(UNAVAILABLE)))),
        ("never answers", format!("http://127.0.0.1:{}", fake_server(None))),
    ];
    for (fault, url) in &caches {
        let args = ["test", "--type", "unit", "--flake", &flake, "--cache", url];
        let (out, outputs, summary) = run_in(&dir, &args, Duration::from_secs(120));
        let out = out.ok();
        assert!(
            out.stderr.contains(&format!("::warning::cannot reach the cache {url}: ")),
            "{fault}: no warning naming the cache:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("==> [3/8] Build checks.x86_64-linux.unit"), "{fault}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("::warning::cannot push to {url}: ")), "{fault}: {}", out.stderr);
        assert!(out.last_line().ends_with("-unit"), "{fault}: the job key is printed: {}", out.stdout);
        assert!(outputs.contains("job-key="), "{fault}: {outputs}");
        assert!(summary.contains("| warning | cannot push to"), "{fault}: {summary}");
    }

    // --require-push: the push is part of the verdict.
    let url = &caches[0].1;
    let args = ["test", "--type", "unit", "--require-push", "--flake", &flake, "--cache", url];
    let (out, outputs, summary) = run_in(&dir, &args, Duration::from_secs(60));
    let out = out.failed();
    assert!(out.stderr.contains(&format!("cannot push to {url} (the build itself succeeded)")), "{}", out.stderr);
    assert!(outputs.contains("job-key="), "{outputs}");
    assert!(summary.contains("| result | **failed** at: Push to"), "{summary}");
}

#[test]
fn warm_against_an_unreachable_cache_builds_then_fails_naming_the_cache() {
    require_nix();
    let flake = example_flake("outage-warm");
    let dir = workspace_with("outage-warm", "");
    let url = format!("http://127.0.0.1:{}", fake_server(Some(UNAVAILABLE)));
    let args = ["warm-deps", "--flake", &flake.display().to_string(), "--cache", &url];
    let (out, outputs, summary) = run_in(&dir, &args, Duration::from_secs(120));
    let out = out.failed();
    assert!(out.stderr.contains("<== [3/8] Build packages.x86_64-linux.deps: done"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("error: step [8/8] Push to {url}: cannot push to {url} (the build itself succeeded)")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("503"), "the cause is named: {}", out.stderr);
    assert!(is_valid_in_store(&out_path(&flake, "packages.x86_64-linux.deps")), "the build's result is kept");
    assert!(outputs.starts_with(&format!("cache-key={}", deps_prefix())), "{outputs}");
    assert!(summary.contains("| warning | cannot reach the cache"), "{summary}");
}

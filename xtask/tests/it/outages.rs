//! Cache outages, provoked for real: a refused connection, a host that does not resolve, a
//! server answering 503, one that never answers. The policy: asking an unreachable cache counts
//! as empty (a warning naming it), the build goes on without it as a substituter; `test` keeps its
//! verdict and warns about the push (`--require-push` fails it); `warm` and `prebuild` fail after
//! the build, naming the cache and the cause. The summary and the job outputs are written either
//! way. The faults run at once, each in its own process.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use xtask::record::{Record, StepRun};

use crate::support::*;

const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// The xtask started from `dir` under GitHub Actions, its outputs, summary and record in `files`.
fn start(dir: &Path, files: &Path, args: &[&str]) -> Child {
    fs::create_dir_all(files).unwrap();
    xtask()
        .current_dir(dir)
        .args(args)
        .arg("--record")
        .arg(files.join("record.json"))
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", files.join("github-output"))
        .env("GITHUB_STEP_SUMMARY", files.join("summary.md"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the child; kills it (and fails the test) after `limit`. The run, the outputs, the
/// summary, and the record: what it did.
fn finish(mut child: Child, files: &Path, limit: Duration) -> (Run, String, String, Record) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the xtask hung: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = Run::from(child.wait_with_output().unwrap());
    let read = |name: &str| fs::read_to_string(files.join(name)).unwrap_or_default();
    let record =
        Record::read(&files.join("record.json")).unwrap_or_else(|e| panic!("no record ({e:#}): {}", run.stderr));
    (run, read("github-output"), read("summary.md"), record)
}

/// The record's step of a kind, which must have run.
fn step<'r>(record: &'r Record, kind: &str) -> &'r StepRun {
    record.steps.iter().find(|s| s.kind == kind).unwrap_or_else(|| panic!("no {kind} step: {:#?}", record.steps))
}

#[test]
fn an_unreachable_cache_never_turns_a_test_job_red() {
    needs!(Nix);
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
    let runs: Vec<(&str, &String, PathBuf, Child)> = caches
        .iter()
        .enumerate()
        .map(|(i, (fault, url))| {
            let files = dir.join(format!("run-{i}"));
            let child = start(&dir, &files, &["test", "--type", "unit", "--flake", &flake, "--cache", url]);
            (*fault, url, files, child)
        })
        .collect();
    for (fault, url, files, child) in runs {
        let (out, outputs, summary, record) = finish(child, &files, Duration::from_secs(180));
        let out = out.ok();
        assert!(
            out.stderr.contains(&format!("::warning::cannot reach the cache {url}: ")),
            "{fault}: no warning naming the cache:\n{}",
            out.stderr
        );
        let build = step(&record, "build");
        assert!(build.ok, "{fault}: {build:#?}");
        assert!(
            !build.commands.iter().any(|c| c.contains("--option extra-substituters http")),
            "{fault}: built with the dead cache: {build:#?}"
        );
        let warned = |what: &str| record.warnings.iter().any(|w| w.starts_with(&format!("{what} {url}: ")));
        assert!(warned("cannot reach the cache") && warned("cannot push to"), "{fault}: {:?}", record.warnings);
        assert!(out.stderr.contains(&format!("::warning::cannot push to {url}: ")), "{fault}: {}", out.stderr);
        assert!(out.last_line().ends_with("-unit"), "{fault}: the job key is printed: {}", out.stdout);
        assert!(outputs.contains("job-key="), "{fault}: {outputs}");
        assert!(summary.contains("| warning | cannot push to"), "{fault}: {summary}");
    }

    // --require-push: the push is part of the verdict.
    let url = &caches[0].1;
    let files = dir.join("require-push");
    let child = start(&dir, &files, &["test", "--type", "unit", "--require-push", "--flake", &flake, "--cache", url]);
    let (out, outputs, summary, record) = finish(child, &files, Duration::from_secs(60));
    let out = out.failed();
    assert!(step(&record, "build").ok && !record.ok(), "{record:#?}");
    assert!(out.stderr.contains(&format!("cannot push to {url} (the build itself succeeded)")), "{}", out.stderr);
    assert!(outputs.contains("job-key="), "{outputs}");
    assert!(summary.contains("| result | **failed** at: Record what the push needs"), "{summary}");
}

#[test]
fn warm_against_an_unreachable_cache_builds_then_fails_naming_the_cache() {
    needs!(Nix);
    let flake = example_flake("outage-warm");
    let dir = workspace_with("outage-warm", "");
    let url = format!("http://127.0.0.1:{}", fake_server(Some(UNAVAILABLE)));
    let files = dir.join("run");
    let child = start(&dir, &files, &["warm-deps", "--flake", &flake.display().to_string(), "--cache", &url]);
    let (out, outputs, summary, record) = finish(child, &files, Duration::from_secs(120));
    let out = out.failed();
    assert!(step(&record, "build").ok, "the build ran and succeeded: {:#?}", record.steps);
    assert!(out.stderr.contains(&format!("cannot push to {url} (the build itself succeeded)")), "{}", out.stderr);
    assert!(out.stderr.contains("503"), "the cause is named: {}", out.stderr);
    assert!(is_valid_in_store(&out_path(&flake, "packages.x86_64-linux.deps")), "the build's result is kept");
    assert!(outputs.starts_with(&format!("cache-key={}", deps_prefix())), "{outputs}");
    assert!(summary.contains("| warning | cannot reach the cache"), "{summary}");
}

//! `cargo xtask history`, a generated workflow's last job where the history travels in the
//! GitHub Actions cache (Cachix): the records this run's jobs kept, by job and matrix leg, become
//! the run's pipeline, kept in the history; another run's records are not part of it; a job
//! whose tasks keep no record has the result GitHub gives it; a fork keeps nothing.

use std::fs;

use xtask::{
    config::Config,
    record::{Github, Record, SCHEMA},
    workflows::{graphs, legs},
};

use crate::support::*;

const RUN: &str = "4242";

fn record(job: &str, matrix: &[(&'static str, String)], run_id: &str, start_s: u64, seconds: f64) -> Record {
    let started_ms = 1_800_000_000_000 + start_s * 1000;
    let github = Github {
        workflow: "CI".into(),
        run_id: run_id.into(),
        run_attempt: "1".into(),
        job: job.into(),
        matrix: matrix.iter().map(|(axis, value)| (axis.to_string(), value.clone())).collect(),
        event: "pull_request".into(),
        ..Github::default()
    };
    let leg: Vec<&str> = matrix.iter().map(|(_, value)| value.as_str()).collect();
    let id = format!("{started_ms}-test-r{run_id}-1-{job}-{}", leg.join("-"));
    Record { schema: SCHEMA, id, task: "test".into(), started_ms, seconds, github: Some(github), ..Record::default() }
}

#[test]
fn a_runs_pipeline_is_its_jobs_records_by_leg_kept_in_the_history() {
    let repo = repo_copy("history-run");
    let config = Config::from_manifest(&read(&repo, "Cargo.toml")).unwrap();
    let ci = graphs(&config).unwrap().into_iter().find(|w| w.name == "CI").unwrap();
    let job = |id: &str| ci.jobs.iter().find(|j| j.id == id).unwrap();
    let local = repo.join("target/xtask-history");
    let kept = local.join("xtask-records");
    fs::create_dir_all(&kept).unwrap();
    let write = |r: Record| fs::write(kept.join(format!("{}.json", r.id)), r.to_bytes()).unwrap();

    // This run: prebuild from 0 s to 100 s; each test leg from 110 s, the last one failing after
    // 50 s; one container leg; smoke, publish and the others kept nothing.
    write(record("prebuild-deps", &[], RUN, 0, 100.0));
    let tests = legs::legs(job("test-matrix"));
    for (i, leg) in tests.iter().enumerate() {
        let mut r = record("test-matrix", &leg.values, RUN, 110, 30.0 + i as f64);
        if i == tests.len() - 1 {
            r.seconds = 50.0;
            r.error = Some("clippy found warnings".into());
        }
        write(r);
    }
    let containers = legs::legs(job("build-containers"));
    write(record("build-containers", &containers[0].values, RUN, 170, 200.0));
    // Another run's record of the same job: not part of this run.
    write(record("prebuild-deps", &[], "4241", 0, 900.0));

    let out = repo.join("pipeline.json");
    let needs = r#"{"prebuild-deps":{"result":"success"},"test-matrix":{"result":"failure"},
        "build-containers":{"result":"failure"},"smoke":{"result":"skipped"},"publish":{"result":"success"}}"#;
    let summary = repo.join("summary.md");
    let ran = run(binary_for(&["history"])
        .current_dir(&repo)
        .args(["history", "--record", &out.display().to_string()])
        .env_remove("CACHIX_AUTH_TOKEN")
        .env_remove("GITHUB_EVENT_PATH")
        .envs([("GITHUB_ACTIONS", "true"), ("GITHUB_WORKFLOW", "CI"), ("GITHUB_RUN_ID", RUN)])
        .envs([("GITHUB_RUN_ATTEMPT", "1"), ("GITHUB_JOB", "history"), ("GITHUB_EVENT_NAME", "pull_request")])
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("NEEDS", needs))
    .ok();
    let pipeline = Record::read(&out).unwrap().pipeline.unwrap_or_else(|| panic!("no pipeline: {}", ran.stderr));

    let leg =
        |name: &str| pipeline.jobs.iter().find(|j| j.name == name).unwrap_or_else(|| panic!("{name}: {pipeline:#?}"));
    let prebuild = leg(&job("prebuild-deps").name);
    assert_eq!((prebuild.result.as_str(), prebuild.start_seconds, prebuild.seconds), ("success", 0.0, 100.0));
    assert_eq!(prebuild.tasks.len(), 1, "another run's record is not this run's");
    for (i, test) in tests.iter().enumerate() {
        let kept = leg(&test.name);
        let failed = i == tests.len() - 1;
        assert_eq!(kept.result, if failed { "failure" } else { "success" }, "{kept:#?}");
        assert_eq!(kept.start_seconds, 110.0);
        assert_eq!(kept.seconds, if failed { 50.0 } else { 30.0 + i as f64 });
    }
    assert_eq!(leg(&containers[0].name).result, "success");
    for other in &containers[1..] {
        assert_eq!(leg(&other.name).result, "failure", "GitHub's word for a leg that kept nothing");
    }
    assert_eq!(leg(&job("publish").name).result, "success", "publish keeps no record: GitHub's word");
    assert_eq!(leg(&job("smoke").name).result, "skipped");
    assert_eq!(pipeline.critical_path_seconds, 370.0, "the last task ends at 170 s + 200 s");
    assert_eq!(pipeline.workflow, ".github/workflows/ci.yml");

    // Kept in the history the workflow carries, for the next run and the dashboard.
    let kept = history(&local);
    assert!(kept.iter().any(|r| r.task == "history" && r.pipeline.as_ref() == Some(&pipeline)), "{kept:#?}");

    // A fork's pull request keeps nothing.
    let event = repo.join("event.json");
    fs::write(&event, r#"{"pull_request":{"head":{"repo":{"fork":true}}}}"#).unwrap();
    let fork = run(binary_for(&["history"])
        .current_dir(&repo)
        .arg("history")
        .env_remove("CACHIX_AUTH_TOKEN")
        .envs([("GITHUB_ACTIONS", "true"), ("GITHUB_WORKFLOW", "CI"), ("GITHUB_RUN_ID", "4243")])
        .envs([("GITHUB_RUN_ATTEMPT", "1"), ("GITHUB_JOB", "history"), ("GITHUB_EVENT_NAME", "pull_request")])
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_STEP_SUMMARY", &summary))
    .ok();
    assert_eq!(history(&local).len(), kept.len(), "a fork kept a record: {}", fork.stderr);

    // Outside a workflow run there is no run to keep: one message, nothing kept.
    let before = kept.len();
    let refused = run(binary_for(&["history"]).current_dir(&repo).arg("history").env_remove("GITHUB_RUN_ID")).failed();
    assert!(refused.stderr.contains("GITHUB_RUN_ID is not set"), "{}", refused.stderr);
    assert_eq!(history(&local).len(), before);
}

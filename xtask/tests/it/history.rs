//! `cargo xtask history`, a generated workflow's last job where the history travels in the
//! GitHub Actions cache (Cachix): the records this run's jobs kept, by job and matrix leg, become
//! the run's pipeline, kept in the history; another run's records are not part of it; a job
//! whose tasks keep no record has the result GitHub gives it; a fork keeps nothing.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use xtask::{
    config::Config,
    record::{Github, Record, SCHEMA},
    workflows::{
        graph::{Job, Workflow},
        graphs, legs,
    },
};

use crate::support::*;

const RUN: &str = "4242";

fn record(job: &str, matrix: &[(&'static str, String)], run_id: &str, start_s: u64, seconds: f64) -> Record {
    let started_ms = 1_760_000_000_000 + start_s * 1000;
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

/// The CI workflow's graph, as the config of a copy of the repository generates it.
fn ci_graph(repo: &Path) -> Workflow {
    let config = Config::from_manifest(&read(repo, "Cargo.toml")).unwrap();
    graphs(&config).unwrap().into_iter().find(|w| w.name == "CI").unwrap()
}

fn job<'w>(ci: &'w Workflow, id: &str) -> &'w Job {
    ci.jobs.iter().find(|j| j.id == id).unwrap()
}

/// The records this run's jobs kept, in the history the workflow carries (`target/xtask-history`
/// of `repo`, which this returns): prebuild from 0 s to 100 s; each test leg from 110 s, the last
/// one failing after 50 s; one container leg; smoke, publish and the others kept nothing. And
/// another run's record of the same job: not part of this run.
fn keep_this_runs_records(repo: &Path, ci: &Workflow) -> PathBuf {
    let local = repo.join("target/xtask-history");
    let kept = local.join("xtask-records");
    fs::create_dir_all(&kept).unwrap();
    let write = |r: Record| fs::write(kept.join(format!("{}.json", r.id)), r.to_bytes()).unwrap();
    let prebuild = legs::legs(job(ci, "prebuild-deps"));
    write(record("prebuild-deps", &prebuild[0].values, RUN, 0, 100.0));
    let tests = legs::legs(job(ci, "test-matrix"));
    for (i, leg) in tests.iter().enumerate() {
        let mut r = record("test-matrix", &leg.values, RUN, 110, 30.0 + i as f64);
        if i == tests.len() - 1 {
            r.seconds = 50.0;
            r.error = Some("clippy found warnings".into());
        }
        write(r);
    }
    write(record("build-containers", &legs::legs(job(ci, "build-containers"))[0].values, RUN, 170, 200.0));
    write(record("prebuild-deps", &prebuild[0].values, "4241", 0, 900.0));
    local
}

/// `cargo xtask dashboard` of the history in an nginx cache, written to `out`: the run, and the page.
fn dashboard_of(nginx: &Nginx, out: &Path) -> (Run, String) {
    let shown = run(xtask()
        .args(["dashboard", "--cache", &nginx.url, "--out", &out.display().to_string()])
        .env("NIX_CONFIG", nix_config(&format!("netrc-file = {}", nginx.netrc.display()))))
    .ok();
    (shown, fs::read_to_string(out.join("index.html")).unwrap())
}

/// `cargo xtask history` in `repo`, as the workflow's last job of the run `run_id` runs it.
fn history_job(repo: &Path, run_id: &str) -> Command {
    let mut cmd = binary_for(&["history"]);
    cmd.current_dir(repo)
        .arg("history")
        .env_remove("CACHIX_AUTH_TOKEN")
        .envs([("GITHUB_ACTIONS", "true"), ("GITHUB_WORKFLOW", "CI"), ("GITHUB_RUN_ID", run_id)])
        .envs([("GITHUB_RUN_ATTEMPT", "1"), ("GITHUB_JOB", "history"), ("GITHUB_EVENT_NAME", "pull_request")])
        .env("GITHUB_STEP_SUMMARY", repo.join("summary.md"));
    cmd
}

#[test]
fn a_runs_pipeline_is_its_jobs_records_by_leg_kept_in_the_history() {
    let repo = repo_copy("history-run");
    let ci = ci_graph(&repo);
    let local = keep_this_runs_records(&repo, &ci);
    let (tests, containers) = (legs::legs(job(&ci, "test-matrix")), legs::legs(job(&ci, "build-containers")));

    let out = repo.join("pipeline.json");
    let needs = r#"{"prebuild-deps":{"result":"success"},"test-matrix":{"result":"failure"},
        "build-containers":{"result":"failure"},"smoke":{"result":"skipped"},"publish":{"result":"success"}}"#;
    let ran = run(history_job(&repo, RUN)
        .args(["--record", &out.display().to_string()])
        .env_remove("GITHUB_EVENT_PATH")
        .env("NEEDS", needs))
    .ok();
    let pipeline = Record::read(&out).unwrap().pipeline.unwrap_or_else(|| panic!("no pipeline: {}", ran.stderr));

    let leg =
        |name: &str| pipeline.jobs.iter().find(|j| j.name == name).unwrap_or_else(|| panic!("{name}: {pipeline:#?}"));
    let prebuild = legs::legs(job(&ci, "prebuild-deps"));
    let first = leg(&prebuild[0].name);
    assert_eq!((first.result.as_str(), first.start_seconds, first.seconds), ("success", 0.0, 100.0));
    assert_eq!(first.tasks.len(), 1, "another run's record is not this run's");
    for other in &prebuild[1..] {
        assert_eq!(leg(&other.name).result, "success", "a leg that kept nothing has GitHub's word");
    }
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
    assert_eq!(leg(&job(&ci, "publish").name).result, "success", "publish keeps no record: GitHub's word");
    assert_eq!(leg(&job(&ci, "smoke").name).result, "skipped");
    assert_eq!(pipeline.critical_path_seconds, 370.0, "the last task ends at 170 s + 200 s");
    assert_eq!(pipeline.workflow, ".github/workflows/ci.yml");

    // Kept in the history the workflow carries, for the next run and the dashboard.
    let kept = history(&local);
    assert!(kept.iter().any(|r| r.task == "history" && r.pipeline.as_ref() == Some(&pipeline)), "{kept:#?}");
}

#[test]
fn a_forks_pull_request_keeps_nothing_in_the_history() {
    let repo = repo_copy("history-fork");
    let local = keep_this_runs_records(&repo, &ci_graph(&repo));
    let before = history(&local).len();
    let event = repo.join("event.json");
    fs::write(&event, r#"{"pull_request":{"head":{"repo":{"fork":true}}}}"#).unwrap();
    let fork = run(history_job(&repo, "4243").env("GITHUB_EVENT_PATH", &event)).ok();
    assert_eq!(history(&local).len(), before, "a fork kept a record: {}", fork.stderr);
}

#[test]
fn outside_a_workflow_run_history_keeps_nothing() {
    let repo = repo_copy("history-outside");
    let local = keep_this_runs_records(&repo, &ci_graph(&repo));
    // Outside a workflow run there is no run to keep: one message, nothing kept.
    let before = history(&local).len();
    let refused = run(binary_for(&["history"]).current_dir(&repo).arg("history").env_remove("GITHUB_RUN_ID")).failed();
    assert!(refused.stderr.contains("GITHUB_RUN_ID is not set"), "{}", refused.stderr);
    assert_eq!(history(&local).len(), before);
}

/// Reading a history never fails a task: a record that is not JSON, one of another schema, one
/// too big and one that is not a file are each named, the rest read, on a directory and over
/// HTTP, and the dashboard renders what was read, the problems on the page. A task refused on bad
/// input keeps nothing.
#[test]
fn a_history_is_read_around_what_cannot_be_read_and_a_refused_task_keeps_nothing() {
    needs!(Nginx);
    let dir = temp_dir("history-faults");
    let nginx = nginx(&dir.join("nginx"), "ci", "s3cret");
    for root in [dir.join("cache"), nginx.www.clone()] {
        let kept = root.join("xtask-records");
        fs::create_dir_all(&kept).unwrap();
        let good = record("prebuild-deps", &[], RUN, 0, 12.0);
        fs::write(kept.join(format!("{}.json", good.id)), good.to_bytes()).unwrap();
        fs::write(kept.join("1-not-json.json"), "<html>").unwrap();
        let future = String::from_utf8(good.to_bytes()).unwrap().replacen("\"schema\": 1", "\"schema\": 99", 1);
        fs::write(kept.join("2-future.json"), future).unwrap();
        fs::write(kept.join("3-huge.json"), vec![b' '; 5 << 20]).unwrap();
        fs::create_dir(kept.join("4-a-dir.json")).unwrap();
        // HTTP cannot be listed: the index names them.
        let ids = ["1-not-json", "2-future", "3-huge", "4-a-dir", good.id.as_str()];
        fs::write(kept.join("index.json"), serde_json::to_string(&ids).unwrap()).unwrap();
    }
    let (records, problems) = xtask::history::History::dir(dir.join("cache")).read();
    assert_eq!(records.len(), 1, "{problems:?}");
    for (file, why) in [("1-not-json", "not JSON"), ("2-future", "schema 99"), ("3-huge", "bytes"), ("4-a-dir", "")] {
        assert!(problems.iter().any(|p| p.contains(file) && p.contains(why)), "{file}: {problems:#?}");
    }

    let (shown, page) = dashboard_of(&nginx, &dir.join("page"));
    assert!(page.contains("1 run(s) in the history"), "{}", shown.stderr);
    for file in ["1-not-json", "2-future", "3-huge"] {
        assert!(page.contains(file), "{file} is not named on the page: {}", shown.stderr);
    }

    // Refused before anything ran: no record in the cache.
    let cache = dir.join("refused");
    let refused = run(xtask().args(["test", "--type", "bench", "--cache", &format!("file://{}", cache.display())]));
    refused.failed();
    assert!(!cache.join("xtask-records").exists(), "a refused task kept a record");
}

/// A record anyone who can write the cache's `xtask-records/` could plant: bytes near 2^64 (the
/// dashboard's sums saturate, no panic), another record's id (a record's id is its file's name),
/// a start at the end of time and a hit rate of 1e308 (refused, each named), bidi controls in its
/// words (never reach the page).
#[test]
fn a_planted_record_neither_stops_the_dashboard_nor_passes_for_another() {
    let dir = temp_dir("history-planted");
    let kept = dir.join("history/xtask-records");
    fs::create_dir_all(&kept).unwrap();
    let write = |file: &str, r: &Record| fs::write(kept.join(format!("{file}.json")), r.to_bytes()).unwrap();
    let mut huge = record("prebuild-deps", &[], RUN, 0, 12.0);
    huge.pushed.nar_bytes = u64::MAX - 1;
    huge.fetched.nar_bytes = u64::MAX - 1;
    huge.task = "warm\u{202e}gnp.exe".into();
    write(&huge.id.clone(), &huge);
    let mut spoof = record("test-matrix", &[], RUN, 1, 3.0);
    spoof.id = huge.id.clone();
    write("1760000000001-test-spoof", &spoof);
    let mut future = record("test-matrix", &[], RUN, 2, 3.0);
    future.started_ms = u64::MAX;
    write("1760000000002-test-future", &future);
    let mut rate = record("test-matrix", &[], RUN, 3, 3.0);
    rate.rates = Some(xtask::record::Rates { hit_rate: 1e308, ..Default::default() });
    write("1760000000003-test-rate", &rate);

    let (records, problems) = xtask::history::History::dir(dir.join("history")).read();
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [huge.id.as_str(), "1760000000001-test-spoof"], "{problems:#?}");
    for (file, why) in [("test-future", "starts in the future"), ("test-rate", "hit rate is 1e308")] {
        assert!(problems.iter().any(|p| p.contains(file) && p.contains(why)), "{file}: {problems:#?}");
    }

    let out = dir.join("page");
    let history = dir.join("history").display().to_string();
    let shown = run(xtask().args(["dashboard", "--history", &history, "--out", &out.display().to_string()])).ok();
    let page = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("2 run(s) in the history"), "{}", shown.stderr);
    assert!(!page.contains('\u{202e}'), "a bidi control reached the page");
}

/// An HTTP cache's history index that cannot be read is named and never written over (its
/// records would be lost beyond gc); an entry of it that is not a record id costs only itself, is
/// named, and the next warm leaves it out.
#[test]
fn an_unreadable_history_index_is_never_overwritten_and_a_bad_entry_costs_only_itself() {
    needs!(Nix, Nginx);
    let ex = Example::in_workspace("history-index", "");
    let dir = &ex.dir;
    let nginx = nginx(&dir.join("nginx"), "ci", "s3cret");
    let warm = || {
        let file = dir.join("record.json");
        let ran = run(ex.cmd_on_nginx(&nginx, &["warm-deps"]).args(["--record", &file.display().to_string()])).ok();
        (ran, Record::read(&file).unwrap())
    };
    let index = nginx.www.join("xtask-records/index.json");
    let ids = || serde_json::from_slice::<Vec<serde_json::Value>>(&fs::read(&index).unwrap()).unwrap();
    let (_, first) = warm();
    assert_eq!(ids(), [serde_json::json!(first.id)]);

    // Cut short: the next warm keeps no record, writes nothing over it, and says why.
    let truncated = format!("[\"{}\", \"17", first.id);
    fs::write(&index, &truncated).unwrap();
    let (ran, second) = warm();
    assert_eq!(fs::read_to_string(&index).unwrap(), truncated, "the unreadable index was written over");
    assert!(!nginx.www.join(format!("xtask-records/{}.json", second.id)).exists(), "a record was kept beside it");
    assert!(ran.stderr.contains("index.json is not a list of record ids"), "{}", ran.stderr);

    // One entry that would leave the folder, one that is no string: each costs only itself.
    fs::write(&index, serde_json::to_vec(&serde_json::json!(["../../x", 5, first.id])).unwrap()).unwrap();
    let (shown, page) = dashboard_of(&nginx, &dir.join("page"));
    assert!(page.contains("1 run(s) in the history"), "{}", shown.stderr);
    assert!(page.contains("../../x") && page.contains("5 is not a record id"), "the bad entries are not named");
    let (_, third) = warm();
    assert_eq!(ids(), [serde_json::json!(first.id), serde_json::json!(third.id)], "the bad entries are kept");
}

//! ci.yml, the seed's main pipeline: prebuild-deps, then test-matrix beside build-containers, then
//! the images run together (smoke) and, on the default branch, once every test and smoke passed,
//! one index per tag (publish).
//!
//! The seed orders build-containers after test-matrix. Here the images build beside the tests,
//! and what leaves the pipeline waits for them instead: a container leg pushes its arch's
//! manifest under the commit's tag alone (`<sha>-<arch>`), and publish, which needs every test
//! leg and smoke, writes the indexes people pull (`<sha>`, `latest`) and `latest-<arch>`. A pull
//! request that changes the app then runs two job levels after the first, not three: on GitHub
//! each level pays its runner's set-up (`docs/measurements.md`).

use super::{
    graph::{Cancel, Condition, Job, Matrix, Proof, RunsOn, Step, Trigger, Value, Word, Workflow, Xtask},
    history, per_arch, runner,
    setup::{pushing, setup},
    CI,
};
use crate::{
    config::Config,
    github::names::{
        env::{DEPS_CACHE_KEY, NEEDS},
        output::{CACHE_KEY, COPIES},
        step::PREBUILD,
    },
    record::HISTORY_JOB,
};

const PREBUILD_JOB: &str = "prebuild-deps";

pub fn graph(config: &Config) -> Workflow {
    let mut jobs =
        vec![prebuild(config), test_matrix(config), build_containers(config), smoke(config), publish(config)];
    let proven: Vec<&'static str> = jobs.iter().filter(|j| j.proof.is_some()).map(|j| j.id).collect();
    jobs[0]
        .outputs
        .extend(proven.into_iter().chain([COPIES]).map(|id| (id, Value::Step { step: PREBUILD, output: id })));
    Workflow {
        file: CI,
        name: "CI",
        title: "The main pipeline: prebuild-deps -> test-matrix beside build-containers -> smoke -> publish.",
        triggers: vec![
            Trigger::Push { branches: vec!["main"], paths: Vec::new() },
            Trigger::PullRequest,
            Trigger::Dispatch { force: Some("Run every job, even those the cache proves needless") },
        ],
        concurrency: ("ci", Cancel::PullRequests),
        jobs: with_history(config, jobs),
    }
}

/// What a job that pushes to GHCR needs.
fn registry_env() -> [(&'static str, Value); 4] {
    [
        ("REPOSITORY", Value::Github("repository")),
        ("SHA", Value::Github("sha")),
        ("REGISTRY_USER", Value::Github("actor")),
        ("REGISTRY_TOKEN", Value::Secret("GITHUB_TOKEN")),
    ]
}

/// The deps key the prebuild job emits, for the jobs after it.
fn deps_key_env() -> (&'static str, Value) {
    (DEPS_CACHE_KEY, Value::Needs { job: PREBUILD_JOB, output: CACHE_KEY })
}

/// `--push "ghcr.io/$REPOSITORY" --tag "$SHA"`: the commit's tag, which a container leg pushes
/// before the tests pass.
fn to_ghcr() -> [Word; 4] {
    [Word::Lit("--push"), Word::Registry, Word::Lit("--tag"), Word::Var("SHA")]
}

/// The jobs, and (when the workflow carries the history) a last job that keeps the run's
/// pipeline: whatever happened, after every other job.
fn with_history(config: &Config, mut jobs: Vec<Job>) -> Vec<Job> {
    if !history::carried(config) {
        return jobs;
    }
    let task = Step::Xtask(Xtask::new([Word::Lit("history")]).env([(NEEDS, Value::NeedsJson)]));
    let job = Job::new(HISTORY_JOB, HISTORY_JOB, RunsOn::Label("ubuntu-latest"))
        .needs(&jobs.iter().map(|j| j.id).collect::<Vec<_>>())
        .when(Condition::Always)
        .steps(setup(config, false))
        .steps(history::gather(config, &jobs.iter().collect::<Vec<_>>()))
        .steps([task])
        .steps(history::keep(config, CI));
    jobs.push(job);
    jobs
}

/// The deps layer, built on each arch's runner (so an aarch64 container job fetches its own);
/// every leg emits the same key (it names no arch). The first arch's leg also answers, for every
/// later job, which of its legs the cache (and the history) prove needless: evaluation is the
/// same on every arch, and the runner leaves an output a leg did not set out of the job's
/// outputs (actions/runner, JobExtension.cs), so the other legs cannot overwrite the answer.
fn prebuild(config: &Config) -> Job {
    let first = Condition::Matrix { axis: "runner", equals: runner(&config.arches[0]).expect("checked in graphs") };
    let args = [
        Word::Lit("prebuild"),
        Word::Flag("--prove", "PROVE"),
        Word::Flag("--run-all", "FORCE_REBUILD"),
        Word::Flag("--registry", "REGISTRY"),
    ];
    let prebuild = Xtask::new(args)
        .id(PREBUILD)
        .comment(&[
            "The deps layer; on the first arch's leg, in the same evaluation, which legs of the later",
            "jobs run: those the cache does not prove needless.",
        ])
        .env([
            ("PROVE", Value::Holds(first)),
            ("FORCE_REBUILD", Value::Input("force_rebuild")),
            ("REGISTRY", Value::Registry),
        ]);
    let mut job = Job::new(PREBUILD_JOB, "prebuild-deps ({arch})", RunsOn::Axis("runner"))
        .matrix(per_arch(config, Vec::new()))
        .steps(setup(config, true))
        .steps(history::restore_newest(config))
        .steps([pushing(config, prebuild)])
        .steps(history::save_records(config, PREBUILD_JOB));
    job.outputs = vec![(CACHE_KEY, Value::Step { step: PREBUILD, output: CACHE_KEY })];
    job
}

fn test_matrix(config: &Config) -> Job {
    let tests: Vec<String> = config.tests.iter().map(|(t, _)| t.clone()).collect();
    let test = Xtask::new([
        Word::Lit("test"),
        Word::Lit("--type"),
        Word::Var("TEST_TYPE"),
        Word::Lit("--os"),
        Word::Var("MATRIX_OS"),
    ])
    .env([("TEST_TYPE", Value::Matrix("test-type")), ("MATRIX_OS", Value::Matrix("os")), deps_key_env()]);
    Job::new("test-matrix", "test ({os}, {test-type})", RunsOn::Axis("os"))
        .needs(&[PREBUILD_JOB])
        .matrix(Matrix {
            fail_fast: Some(false),
            axes: vec![("os", config.os.clone()), ("test-type", tests)],
            include: Vec::new(),
            from: None,
        })
        .proven_by(PREBUILD_JOB, Proof::Check)
        .steps(setup(config, true))
        .steps(history::restore_newest(config))
        .steps([pushing(config, test)])
        .steps(history::save_records(config, "test-matrix"))
}

fn build_containers(config: &Config) -> Job {
    let images: Vec<String> = config.images.iter().map(|(i, _)| i.clone()).collect();
    let image = [("IMAGE", Value::Matrix("image")), ("ARCH", Value::Matrix("arch")), deps_key_env()];
    let build = [
        Word::Lit("build-containers"),
        Word::Lit("--image"),
        Word::Var("IMAGE"),
        Word::Lit("--arch"),
        Word::Var("ARCH"),
    ];
    let push = Xtask::new(build.clone().into_iter().chain(to_ghcr()))
        .when(Condition::DefaultBranchPush)
        .comment(&[
            "Pull requests build and cache the images; pushes to the default branch also push each",
            "arch's manifest under the commit's tag (`<sha>-<arch>`); publish, after the tests, tags latest.",
        ])
        .env(image.clone())
        .env(registry_env());
    let mut job = Job::new("build-containers", "container ({image}, {arch})", RunsOn::Axis("runner"))
        .needs(&[PREBUILD_JOB])
        .matrix(per_arch(config, vec![("image", images)]))
        .proven_by(PREBUILD_JOB, Proof::Image)
        .steps(setup(config, true))
        .steps(history::restore_newest(config))
        .steps([pushing(config, Xtask::new(build).env(image)), pushing(config, push)])
        .steps(history::save_records(config, "build-containers"));
    job.writes = vec![("packages", "it pushes each arch's manifest under the commit's tag (default branch only)")];
    job
}

/// The images run together on x86_64 (GitHub's ubuntu runners have Docker). The real ollama
/// image ships no model, so `ask` is skipped.
fn smoke(config: &Config) -> Job {
    let mut smoke = Xtask::new([Word::Lit("smoke"), Word::Lit("--skip-ask")]).env([deps_key_env()]);
    smoke.needs_engine = true;
    Job::new("smoke", "smoke (x86_64)", RunsOn::Label("ubuntu-latest"))
        .needs(&[PREBUILD_JOB, "build-containers"])
        .proven_by(PREBUILD_JOB, Proof::Smoke)
        .steps(setup(config, true))
        .steps(history::restore_newest(config))
        .steps([pushing(config, smoke)])
        .steps(history::save_records(config, "smoke"))
}

/// One index per tag, of every arch, once every arch's job pushed and every test and smoke
/// passed; the default branch only. `latest` (and `latest-<arch>`) is written here alone.
fn publish(config: &Config) -> Job {
    let latest = [Word::Lit("--also-tag"), Word::Lit("latest")];
    let copies = Word::Flag("--copies", "COPIES");
    let mut publish = Xtask::new([Word::Lit("publish")].into_iter().chain(to_ghcr()).chain(latest).chain([copies]))
        .env(registry_env())
        .env([("COPIES", Value::Needs { job: PREBUILD_JOB, output: COPIES })])
        .comment(&[
            "The manifests of the legs proven needless are copied by digest under this commit's tag;",
            "`latest` and its arches are written here alone, once every test leg and smoke passed.",
        ]);
    // zizmor takes any `cargo … publish` for a crate upload that should use trusted publishing;
    // this one writes image indexes to GHCR with the job's own short-lived GITHUB_TOKEN.
    publish.line_comment = Some("zizmor: ignore[use-trusted-publishing]");
    publish.needs_buildah = true;
    let mut job = Job::new("publish", "publish", RunsOn::Label("ubuntu-latest"))
        .needs(&[PREBUILD_JOB, "test-matrix", "build-containers", "smoke"])
        .when(Condition::DefaultBranchPushUnlessFailed)
        .steps(setup(config, false))
        .steps([Step::Xtask(publish)]);
    job.writes = vec![("packages", "it writes each tag's index, and latest-<arch>, to GHCR")];
    job
}

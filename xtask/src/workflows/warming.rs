//! cache-warming.yml, the seed's cache warming: pre-populates the cache from main.

use super::{
    graph::{Cancel, Condition, Job, Matrix, Role, RunsOn, Step, Trigger, Uses, Value, Word, Workflow, Xtask},
    history,
    pins::{CACHE_SAVE, DEPLOY_PAGES, UPLOAD_PAGES},
    setup::{pushing, setup},
    WARMING,
};
use crate::{
    config::{Backend, Config},
    github::names::{
        env::{GITHUB_TOKEN, NEEDS},
        output, step,
    },
};

pub fn graph(config: &Config) -> Workflow {
    let paths = ["flake.lock", "Cargo.lock", "Cargo.toml", "\"**/Cargo.toml\"", WARMING].map(str::to_owned).to_vec();
    Workflow {
        file: WARMING,
        name: "Cache warming",
        title: "The seed's cache warming: pre-populates the cache from main.",
        triggers: {
            let mut triggers =
                vec![Trigger::Push { branches: vec!["main"], paths }, Trigger::Dispatch { force: Some(FORCE) }];
            // A cache this project owns is read byte by byte every day.
            triggers.extend(owned(config).then_some(Trigger::Schedule { cron: VERIFY_CRON }));
            triggers
        },
        concurrency: ("cache-warming", Cancel::Never),
        jobs: {
            let warming = [warm_dependencies(config), warm_containers(config), warm_cross_platform(config)];
            let verify = verify(config);
            let summary = summary(config, &warming, verify.as_ref());
            warming.into_iter().chain(verify).chain([summary]).chain(pages(config)).collect()
        },
    }
}

/// When a cache this project owns is verified: every day, at an hour GitHub's runners are quiet.
const VERIFY_CRON: &str = "17 4 * * *";

/// Whether the workflows carry a cache this project owns: the local binary cache in the GitHub
/// Actions cache (`cargo xtask rollback`). (Cachix is its own; with Cachix disabled the local
/// cache lives one job.)
fn owned(config: &Config) -> bool {
    config.backend == Backend::ActionsCache
}

/// For a cache this project owns: after the warming and every day, every byte of it checked and
/// what is broken repaired (`cargo xtask verify --repair`). The Actions cache keeps an entry as it
/// was saved: a repair deletes the entry (the REST API, with the job's token, `actions: write`),
/// and the repaired directory is saved under the same key.
fn verify(config: &Config) -> Option<Job> {
    if !owned(config) {
        return None;
    }
    let repair = Xtask::new([Word::Lit("verify"), Word::Lit("--repair")])
        .id(step::VERIFY)
        .env([(GITHUB_TOKEN, Value::Github("token"))]);
    let save = Step::Uses(Uses {
        role: Role::NixCacheSave,
        action: CACHE_SAVE,
        with: vec![
            ("path", super::setup::carried(config)),
            ("key", Value::Step { step: step::KEY, output: output::CACHE_KEY }),
        ],
        comment: vec!["The repaired cache, under the key whose broken entry verify deleted.".into()],
        disabled: false,
        id: None,
        condition: Some(Condition::Output { step: step::VERIFY, output: output::REPAIRED, equals: "true" }),
    });
    let mut job = Job::new("verify", "verify", RunsOn::Label("ubuntu-latest"))
        .needs(&["warm-dependencies", "warm-containers"])
        .when(Condition::Always)
        .steps(setup(config, true))
        .steps([Step::Xtask(repair), save])
        .steps(history::save_records(config, "verify"));
    job.writes = vec![("actions", "verify --repair deletes the cache entry it replaces")];
    job.comment = vec![
        "The cache this project owns, read byte by byte (each NAR's bytes, not only its narinfo's".into(),
        "word) and repaired: after each warming, and every day.".into(),
    ];
    Some(job)
}

/// What the dispatch's `force_rebuild` does here.
const FORCE: &str = "Build and push even when the cache already has everything";

fn force() -> (&'static str, Value) {
    ("FORCE_REBUILD", Value::Input("force_rebuild"))
}

fn warm_dependencies(config: &Config) -> Job {
    let warm = Xtask::new([Word::Lit("warm-deps"), Word::Flag("--force", "FORCE_REBUILD")]).env([force()]);
    Job::new("warm-dependencies", "warm-dependencies ({arch})", RunsOn::Axis("runner"))
        .matrix(super::per_arch(config, Vec::new()))
        .steps(setup(config, true))
        .steps(history::restore_newest(config))
        .steps([pushing(config, warm)])
        .steps(history::save_records(config, "warm-dependencies"))
}

fn warm_containers(config: &Config) -> Job {
    let images: Vec<String> = config.images.iter().map(|(i, _)| i.clone()).collect();
    let warm = Xtask::new([
        Word::Lit("warm-containers"),
        Word::Lit("--image"),
        Word::Var("IMAGE"),
        Word::Flag("--force", "FORCE_REBUILD"),
    ])
    .env([("IMAGE", Value::Matrix("image")), force()]);
    Job::new("warm-containers", "warm-containers ({image})", RunsOn::Label("ubuntu-latest"))
        .needs(&["warm-dependencies"])
        .matrix(Matrix { fail_fast: Some(false), axes: vec![("image", images)], include: Vec::new(), from: None })
        .steps(setup(config, true))
        .steps(history::restore_newest(config))
        .steps([pushing(config, warm)])
        .steps(history::save_records(config, "warm-containers"))
}

fn warm_cross_platform(config: &Config) -> Job {
    let others: Vec<String> = config.arches.iter().skip(1).cloned().collect();
    let warm = Xtask::new([
        Word::Lit("warm-containers"),
        Word::Lit("--arch"),
        Word::Var("ARCH"),
        Word::Flag("--force", "FORCE_REBUILD"),
    ])
    .env([("ARCH", Value::Matrix("arch")), force()]);
    let mut job = Job::new("warm-cross-platform", "warm-cross-platform ({arch})", RunsOn::Label("ubuntu-latest"))
        .needs(&["warm-dependencies"])
        .when(Condition::Var { name: "WARM_CROSS_PLATFORM", equals: "true" })
        .matrix(Matrix {
            fail_fast: None,
            axes: vec![("arch", if others.is_empty() { config.arches.clone() } else { others })],
            include: Vec::new(),
            from: None,
        })
        .steps(setup(config, true))
        .steps(history::restore_newest(config))
        .steps([pushing(config, warm)])
        .steps(history::save_records(config, "warm-cross-platform"));
    job.comment = vec![
        "Disabled, as in the seed: cross-platform caches. Images for the other arches are built natively".into(),
        "by CI's build-containers job; set the repository variable WARM_CROSS_PLATFORM=true to enable it.".into(),
    ];
    job
}

/// The results of the jobs (the warming's, and verify's where it runs: its verdict is in the
/// table); where the workflow carries the history, the run kept in it and the dashboard rendered
/// from it, uploaded as the Pages artifact on the default branch.
fn summary(config: &Config, warming: &[Job], verify: Option<&Job>) -> Job {
    let summary = Xtask::new([Word::Lit("summary")]).env([(NEEDS, Value::NeedsJson)]);
    let mut job = Job::new("summary", "summary", RunsOn::Label("ubuntu-latest"))
        .needs(&warming.iter().chain(verify).map(|j| j.id).collect::<Vec<_>>())
        .when(Condition::Always)
        .steps(setup(config, false))
        .steps(history::gather(config, &warming.iter().collect::<Vec<_>>()));
    if history::carried(config) {
        let dashboard = Xtask::new([Word::Lit("dashboard"), Word::Lit("--out"), Word::Lit(DASHBOARD)]);
        job = job.steps([
            Step::Xtask(Xtask::new([Word::Lit("history")]).env([(NEEDS, Value::NeedsJson)])),
            Step::Xtask(dashboard.when(Condition::AlwaysOnDefaultBranchPush)),
        ]);
    }
    job = job.steps([Step::Xtask(summary)]).steps(history::keep(config, WARMING));
    if history::carried(config) {
        let with = vec![("path", Value::Lit(DASHBOARD.to_owned()))];
        let upload = Uses {
            role: Role::PagesUpload,
            action: UPLOAD_PAGES,
            with,
            comment: vec!["The dashboard, for the pages job to deploy.".into()],
            disabled: false,
            id: None,
            condition: Some(Condition::AlwaysOnDefaultBranchPush),
        };
        job = job.steps([Step::Uses(upload)]);
    }
    job
}

/// Where the summary job writes the dashboard.
const DASHBOARD: &str = "target/xtask-dashboard";

/// The dashboard on GitHub Pages, from the default branch.
fn pages(config: &Config) -> Option<Job> {
    if !history::carried(config) {
        return None;
    }
    let deploy = Uses {
        role: Role::PagesDeploy,
        action: DEPLOY_PAGES,
        with: Vec::new(),
        comment: Vec::new(),
        disabled: false,
        id: Some("deployment"),
        condition: None,
    };
    let mut job = Job::new("pages", "pages", RunsOn::Label("ubuntu-latest"))
        .needs(&["summary"])
        .when(Condition::DefaultBranchPush)
        .steps([Step::Uses(deploy)]);
    job.writes =
        vec![("pages", "it deploys the dashboard"), ("id-token", "GitHub Pages verifies the deployment with it")];
    job.environment = Some(("github-pages", Value::Step { step: "deployment", output: "page_url" }));
    job.comment = vec!["The dashboard of the cache, rendered by the summary job, on GitHub Pages.".into()];
    Some(job)
}

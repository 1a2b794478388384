//! cache-warming.yml, the seed's cache warming: pre-populates the cache from main.

use super::{
    graph::{Condition, Job, Matrix, RunsOn, Step, Trigger, Value, Word, Workflow, Xtask},
    setup::{pushing, setup},
    WARMING,
};
use crate::{config::Config, github::names::env::NEEDS};

pub fn graph(config: &Config) -> Workflow {
    let paths = ["flake.lock", "Cargo.lock", "Cargo.toml", "\"**/Cargo.toml\"", WARMING].map(str::to_owned).to_vec();
    Workflow {
        file: WARMING,
        name: "Cache warming",
        title: "The seed's cache warming: pre-populates the cache from main.",
        triggers: vec![Trigger::Push { branches: vec!["main"], paths }, Trigger::Dispatch { force: true }],
        concurrency: ("cache-warming", false),
        jobs: vec![warm_dependencies(config), warm_containers(config), warm_cross_platform(config), summary(config)],
    }
}

fn force() -> (&'static str, Value) {
    ("FORCE_REBUILD", Value::Input("force_rebuild"))
}

fn warm_dependencies(config: &Config) -> Job {
    let warm = Xtask::new([Word::Lit("warm-deps"), Word::Flag("--force", "FORCE_REBUILD")]).env([force()]);
    Job::new("warm-dependencies", "warm-dependencies", RunsOn::Label("ubuntu-latest"))
        .steps(setup(config, true))
        .steps([pushing(config, warm)])
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
        .matrix(Matrix { fail_fast: Some(false), axes: vec![("image", images)], include: Vec::new() })
        .steps(setup(config, true))
        .steps([pushing(config, warm)])
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
        })
        .steps(setup(config, true))
        .steps([pushing(config, warm)]);
    job.comment = vec![
        "Disabled, as in the seed: cross-platform caches. Images for the other arches are built natively".into(),
        "by CI's build-containers job; set the repository variable WARM_CROSS_PLATFORM=true to enable it.".into(),
    ];
    job
}

fn summary(config: &Config) -> Job {
    let summary = Xtask::new([Word::Lit("summary")]).env([(NEEDS, Value::NeedsJson)]);
    Job::new("summary", "summary", RunsOn::Label("ubuntu-latest"))
        .needs(&["warm-dependencies", "warm-containers", "warm-cross-platform"])
        .when(Condition::Always)
        .steps(setup(config, false))
        .steps([Step::Xtask(summary)])
}

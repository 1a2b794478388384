//! ci.yml, the seed's main pipeline: prebuild-deps -> test-matrix -> build-containers.

use std::fmt::Write as _;

use super::{
    header, list, runner,
    steps::{expr, setup, xtask, xtask_if, xtask_without_secrets},
    CI,
};
use crate::{
    config::Config,
    github::names::{env::DEPS_CACHE_KEY, output::CACHE_KEY, step::PREBUILD},
};

const PREBUILD_JOB: &str = "prebuild-deps";

pub fn generate(config: &Config) -> String {
    let mut y = header(CI, "The seed's main pipeline: prebuild-deps -> test-matrix -> build-containers.");
    y.push_str(
        "name: CI\n\non:\n  push:\n    branches: [main]\n  pull_request:\n  workflow_dispatch:\n\n\
         permissions:\n  contents: read\n\nconcurrency:\n  group: ci-${{ github.ref }}\n  cancel-in-progress: true\n\njobs:\n",
    );
    prebuild(&mut y, config);
    test_matrix(&mut y, config);
    build_containers(&mut y, config);
    smoke(&mut y, config);
    publish(&mut y, config);
    y
}

/// Pushes to the default branch, the only events that publish.
fn on_default_branch() -> String {
    expr(
        "github.event_name == 'push' && github.ref == format('refs/heads/{0}', github.event.repository.default_branch)",
    )
}

/// What a job that pushes to GHCR needs.
fn registry_env() -> [(&'static str, String); 4] {
    [
        ("REPOSITORY", expr("github.repository")),
        ("SHA", expr("github.sha")),
        ("REGISTRY_USER", expr("github.actor")),
        ("REGISTRY_TOKEN", expr("secrets.GITHUB_TOKEN")),
    ]
}

/// The deps key the prebuild job emits, for the jobs after it.
fn deps_key_env() -> (&'static str, String) {
    (DEPS_CACHE_KEY, expr(&format!("needs.{PREBUILD_JOB}.outputs.{CACHE_KEY}")))
}

fn prebuild(y: &mut String, config: &Config) {
    let _ = write!(
        y,
        "  {PREBUILD_JOB}:\n    name: {PREBUILD_JOB}\n    runs-on: ubuntu-latest\n    outputs:\n      {CACHE_KEY}: {}\n    steps:\n{}{}",
        expr(&format!("steps.{PREBUILD}.outputs.{CACHE_KEY}")),
        setup(config, true),
        xtask(config, Some(PREBUILD), "prebuild", &[])
    );
}

fn test_matrix(y: &mut String, config: &Config) {
    let tests: Vec<String> = config.tests.iter().map(|(t, _)| t.clone()).collect();
    let _ = write!(
        y,
        "\n  test-matrix:\n    name: test (${{{{ matrix.os }}}}, ${{{{ matrix.test-type }}}})\n    needs: {PREBUILD_JOB}\n    runs-on: ${{{{ matrix.os }}}}\n\
         \x20   strategy:\n      fail-fast: false\n      matrix:\n        os: {}\n        test-type: {}\n    steps:\n{}{}",
        list(&config.os),
        list(&tests),
        setup(config, true),
        xtask(
            config,
            None,
            r#"test --type "$TEST_TYPE" --os "$MATRIX_OS""#,
            &[("TEST_TYPE", expr("matrix.test-type")), ("MATRIX_OS", expr("matrix.os")), deps_key_env()]
        )
    );
}

fn build_containers(y: &mut String, config: &Config) {
    let images: Vec<String> = config.images.iter().map(|(i, _)| i.clone()).collect();
    let _ = write!(
        y,
        "\n  build-containers:\n    name: container (${{{{ matrix.image }}}}, ${{{{ matrix.arch }}}})\n    needs: [{PREBUILD_JOB}, test-matrix]\n    runs-on: ${{{{ matrix.runner }}}}\n\
         \x20   permissions:\n      contents: read\n      packages: write # this job alone: it publishes the images to GHCR (default branch only)\n\
         \x20   strategy:\n      fail-fast: false\n      matrix:\n        image: {}\n        arch: {}\n        include:\n",
        list(&images),
        list(&config.arches)
    );
    for arch in &config.arches {
        let _ =
            write!(y, "          - arch: {arch}\n            runner: {}\n", runner(arch).expect("checked in generate"));
    }
    let image = [("IMAGE", expr("matrix.image")), ("ARCH", expr("matrix.arch")), deps_key_env()];
    let _ = write!(
        y,
        "    steps:\n{}{}      # Pull requests build and cache the images; pushes to the default branch also push each\n      # arch's manifest (`<tag>-<arch>`), which the publish job joins.\n{}",
        setup(config, true),
        xtask(config, None, r#"build-containers --image "$IMAGE" --arch "$ARCH""#, &image),
        xtask_if(
            config,
            &on_default_branch(),
            r#"build-containers --image "$IMAGE" --arch "$ARCH" --push "ghcr.io/$REPOSITORY" --tag "$SHA" --tag latest"#,
            &[image.as_slice(), registry_env().as_slice()].concat()
        )
    );
}

/// The images run together on x86_64 (GitHub's ubuntu runners have Docker). The real ollama
/// image ships no model, so `ask` is skipped.
fn smoke(y: &mut String, config: &Config) {
    let _ = write!(
        y,
        "\n  smoke:\n    name: smoke (x86_64)\n    needs: [{PREBUILD_JOB}, build-containers]\n    runs-on: ubuntu-latest\n    steps:\n{}{}",
        setup(config, true),
        xtask(config, None, "smoke --skip-ask", &[deps_key_env()])
    );
}

/// One index per tag, of every arch, once every arch's job pushed; the default branch only.
fn publish(y: &mut String, config: &Config) {
    let _ = write!(
        y,
        "\n  publish:\n    name: publish\n    needs: [build-containers, smoke]\n    if: {}\n    runs-on: ubuntu-latest\n\
         \x20   permissions:\n      contents: read\n      packages: write # it writes each tag's index to GHCR\n    steps:\n{}{}",
        on_default_branch(),
        setup(config, false),
        // zizmor takes any `cargo … publish` for a crate upload that should use trusted publishing;
        // this one writes image indexes to GHCR with the job's own short-lived GITHUB_TOKEN.
        xtask_without_secrets(
            r#"publish --push "ghcr.io/$REPOSITORY" --tag "$SHA" --tag latest # zizmor: ignore[use-trusted-publishing]"#,
            &registry_env()
        )
    );
}

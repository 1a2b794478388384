//! cache-warming.yml, the seed's cache warming: pre-populates the cache from main.

use std::fmt::Write as _;

use super::{
    header, list,
    steps::{expr, setup, xtask, xtask_without_secrets},
    WARMING,
};
use crate::{config::Config, github::names::env::NEEDS};

pub fn generate(config: &Config) -> String {
    let mut y = header(WARMING, "The seed's cache warming: pre-populates the cache from main.");
    let _ = write!(
        y,
        "name: Cache warming\n\non:\n  push:\n    branches: [main]\n    paths:\n      - flake.lock\n      - Cargo.lock\n      - Cargo.toml\n      - \"**/Cargo.toml\"\n      - {WARMING}\n\
         \x20 workflow_dispatch:\n    inputs:\n      force_rebuild:\n        description: Build and push even when the cache already has everything\n        type: boolean\n        default: false\n\n\
         permissions:\n  contents: read\n\nconcurrency:\n  group: cache-warming-${{{{ github.ref }}}}\n  cancel-in-progress: false\n\njobs:\n"
    );
    warm_dependencies(&mut y, config);
    warm_containers(&mut y, config);
    warm_cross_platform(&mut y, config);
    summary(&mut y, config);
    y
}

fn force() -> (&'static str, String) {
    ("FORCE_REBUILD", expr("inputs.force_rebuild || false"))
}

fn warm_dependencies(y: &mut String, config: &Config) {
    let _ = write!(
        y,
        "  warm-dependencies:\n    name: warm-dependencies\n    runs-on: ubuntu-latest\n    steps:\n{}{}",
        setup(config, true),
        xtask(config, None, r#"warm-deps --force="$FORCE_REBUILD""#, &[force()])
    );
}

fn warm_containers(y: &mut String, config: &Config) {
    let images: Vec<String> = config.images.iter().map(|(i, _)| i.clone()).collect();
    let _ = write!(
        y,
        "\n  warm-containers:\n    name: warm-containers (${{{{ matrix.image }}}})\n    needs: warm-dependencies\n    runs-on: ubuntu-latest\n\
         \x20   strategy:\n      fail-fast: false\n      matrix:\n        image: {}\n    steps:\n{}{}",
        list(&images),
        setup(config, true),
        xtask(
            config,
            None,
            r#"warm-containers --image "$IMAGE" --force="$FORCE_REBUILD""#,
            &[("IMAGE", expr("matrix.image")), force()]
        )
    );
}

fn warm_cross_platform(y: &mut String, config: &Config) {
    let others: Vec<String> = config.arches.iter().skip(1).cloned().collect();
    let _ = write!(
        y,
        "\n  # Disabled, as in the seed: cross-platform caches. Images for the other arches are built natively\n  # by CI's build-containers job; set the repository variable WARM_CROSS_PLATFORM=true to enable it.\n\
         \x20 warm-cross-platform:\n    name: warm-cross-platform (${{{{ matrix.arch }}}})\n    if: vars.WARM_CROSS_PLATFORM == 'true'\n    needs: warm-dependencies\n    runs-on: ubuntu-latest\n\
         \x20   strategy:\n      matrix:\n        arch: {}\n    steps:\n{}{}",
        list(if others.is_empty() { &config.arches } else { &others }),
        setup(config, true),
        xtask(
            config,
            None,
            r#"warm-containers --arch "$ARCH" --force="$FORCE_REBUILD""#,
            &[("ARCH", expr("matrix.arch")), force()]
        )
    );
}

fn summary(y: &mut String, config: &Config) {
    let _ = write!(
        y,
        "\n  summary:\n    name: summary\n    if: always()\n    needs: [warm-dependencies, warm-containers, warm-cross-platform]\n    runs-on: ubuntu-latest\n    steps:\n{}{}",
        setup(config, false),
        xtask_without_secrets("summary", &[(NEEDS, expr("toJSON(needs)"))])
    );
}

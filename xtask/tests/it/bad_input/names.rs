//! Names and values that reach a command line, a tag or a path: each checked before anything
//! runs.

use super::{edit_config, Case, BUILDS};

/// The bad names and values, for the tasks that take them (`all`: every task).
pub(super) fn cases(all: &[&'static [&'static str]]) -> Vec<Case> {
    let nothing = |_: &std::path::Path| {};
    vec![
        Case {
            input: "an image tag that is no tag",
            setup: nothing,
            args: &["--push", "127.0.0.1:5000/x", "--tag", "v1 && curl evil"],
            tasks: vec![&["build-containers"]],
            expected: "is not an image tag: up to 128 letters, digits",
        },
        Case {
            input: "a tag of 121 characters that -aarch64 takes over 128 (-x86_64 does not)",
            setup: nothing,
            args: Box::leak(Box::new([
                "--push",
                "127.0.0.1:5000/x",
                "--tag",
                Box::leak("a".repeat(121).into_boxed_str()),
            ])),
            tasks: vec![&["build-containers"], &["publish"]],
            expected: "with its arch suffix (-aarch64) it is over the 128 a tag may have",
        },
        Case {
            input: "a registry that is no registry",
            setup: nothing,
            args: &["--push", "../x", "--tag", "t"],
            tasks: vec![&["build-containers"], &["publish"]],
            expected: "--push: \"../x\" is not a registry and repository prefix",
        },
        Case {
            input: "a registry with credentials before its host",
            setup: nothing,
            args: &["--push", "127.0.0.1:5000@evil.com/x", "--tag", "t"],
            tasks: vec![&["build-containers"], &["publish"]],
            expected: "is not a registry and repository prefix",
        },
        Case {
            input: "a runner that is no runner",
            setup: nothing,
            args: &["--os", "a;b"],
            tasks: vec![&["test", "--type", "unit"], &["cache-key", "--test-type", "unit"]],
            expected: "a runner is lowercase letters, digits, '-' and '.'",
        },
        Case {
            input: "a runner that is a path",
            setup: nothing,
            args: &["--os", "../x"],
            tasks: vec![&["test", "--type", "unit"], &["cache-key", "--test-type", "unit"]],
            expected: "a runner is lowercase letters, digits, '-' and '.'",
        },
        Case {
            input: "a Rust version that is no version",
            setup: nothing,
            args: &["--rust", "x"],
            tasks: vec![&["test", "--type", "unit"], &["cache-key", "--test-type", "unit"]],
            expected: "a Rust version is MAJOR.MINOR.PATCH",
        },
        Case {
            input: "a system with a command in it",
            setup: nothing,
            args: &["--system", "x86_64-linux;id"],
            tasks: BUILDS.to_vec(),
            expected: "a Nix system is <arch>-<os> in lowercase",
        },
        Case {
            input: "an empty system",
            setup: nothing,
            args: &["--system", ""],
            tasks: BUILDS.to_vec(),
            expected: "a Nix system is <arch>-<os> in lowercase",
        },
        Case {
            input: "an image name in capitals",
            setup: |d| edit_config(d, "harness = \"harnessImage\"", "Harness = \"harnessImage\""),
            args: &[],
            tasks: all.to_vec(),
            expected: "a table of image name (lowercase, as registries take it)",
        },
    ]
}

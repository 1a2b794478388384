//! The real flake.nix and flake.lock. Their inputs cannot be fetched here, so the flake is parsed
//! with `nix-instantiate --parse`, and its outputs' attribute names are evaluated against stand-in
//! inputs (xtask/tests/flake-inputs) that never force a package.

use std::{collections::BTreeSet, fs, process::Command};

use crate::support::*;
use serde_json::Value;

fn nix_eval(expr: &str) -> Value {
    let out = run(Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "-E", expr])
        .current_dir(workspace_root())
        .env("NIX_CONFIG", nix_config("")));
    assert!(out.status.success(), "{expr}\n{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn names(value: &Value) -> BTreeSet<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_flake_parses() {
    needs!(Nix);
    let out = run(Command::new("nix-instantiate").args(["--parse", "flake.nix"]).current_dir(workspace_root()));
    assert!(out.status.success(), "{}", out.stderr);
}

#[test]
fn every_attribute_the_config_names_is_defined_for_every_system() {
    needs!(Nix);
    let config = cache_config();
    let outputs = nix_eval(
        "let inputs = import ./xtask/tests/flake-inputs; outputs = (import ./flake.nix).outputs (inputs // { self = outputs; }); \
         in builtins.mapAttrs (_: bySystem: builtins.mapAttrs (_: builtins.attrNames) bySystem) outputs",
    );
    let systems = systems_of_the_config();
    let tests: BTreeSet<String> = config["tests"].as_object().unwrap().keys().cloned().collect();
    let images: BTreeSet<String> =
        config["images"].as_object().unwrap().values().map(|v| v.as_str().unwrap().to_owned()).collect();
    let deps = config["deps"]["attr"].as_str().unwrap();
    for system in &systems {
        let system = system.as_str();
        let packages = names(&outputs["packages"][system]);
        for attr in [deps, "harness", "xtask", "default"] {
            assert!(packages.contains(attr), "packages.{system} lacks {attr}: {packages:?}");
        }
        let linux = system.ends_with("-linux");
        for image in &images {
            assert_eq!(packages.contains(image), linux, "packages.{system}.{image}: images are for Linux only");
        }
        assert_eq!(names(&outputs["checks"][system]), tests, "checks.{system} must be the config's test types");
        assert_eq!(
            names(&outputs["apps"][system]),
            ["cache-analytics", "default", "harness", "xtask"].map(String::from).into()
        );
        assert_eq!(names(&outputs["devShells"][system]), ["default".to_owned()].into());
    }
}

const OUTPUTS: &str = "let inputs = import ./xtask/tests/flake-inputs; \
     outputs = (import ./flake.nix).outputs (inputs // { self = outputs; }); in outputs";

/// The systems of the config's arches, Linux and macOS.
fn systems_of_the_config() -> BTreeSet<String> {
    let arches = cache_config()["arches"].as_array().unwrap().clone();
    arches.iter().flat_map(|a| ["linux", "darwin"].map(|os| format!("{}-{os}", a.as_str().unwrap()))).collect()
}

#[test]
fn the_systems_are_the_config_arches() {
    needs!(Nix);
    let packages = nix_eval(&format!("builtins.attrNames ({OUTPUTS}).packages"));
    assert_eq!(names(&packages), systems_of_the_config());
}

/// Each check runs the config's cargo command for its type (`test` through nextest), as the pinned
/// crane builds it (in its release profile, the deps layer's); one definition for
/// `cargo xtask test --no-nix` and `nix flake check`.
#[test]
fn every_check_runs_the_command_of_its_test_type_in_the_config() {
    needs!(Nix);
    let config = cache_config();
    let checks = nix_eval(&format!(
        "builtins.mapAttrs (_: c: {{ inherit (c) builder command name warns usesDepsLayer; }}) \
         ({OUTPUTS}).checks.x86_64-linux"
    ));
    for (kind, words) in config["tests"].as_object().unwrap() {
        let words: Vec<&str> = words.as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
        let check = &checks[kind];
        let (builder, expected) = match words[0] {
            "test" => ("cargoNextest", format!("cargo nextest run --cargo-profile release {}", words[1..].join(" "))),
            "clippy" => ("cargoClippy", format!("cargo clippy --release --locked {}", words[1..].join(" "))),
            "fmt" => {
                let args: Vec<&str> = words[1..].iter().copied().filter(|w| *w != "--check").collect();
                ("cargoFmt", format!("cargo fmt {} -- --check", args.join(" ")))
            }
            other => panic!("test type {kind} runs cargo {other}"),
        };
        assert_eq!(check["builder"], builder, "checks.{kind}");
        let command: Vec<&str> = check["command"].as_str().unwrap().split_whitespace().collect();
        assert_eq!(command.join(" "), expected, "checks.{kind} must run the config's command");
        assert_eq!(check["warns"], false, "checks.{kind} ({}) needs a pname and a version", check["name"]);
        assert_eq!(check["usesDepsLayer"], kind != "fmt", "checks.{kind} and the deps layer");
    }
    assert_eq!(
        config["tests"]["integration"],
        serde_json::json!(["test", "--package", "harness", "--tests"]),
        "the xtask's own integration tests need Nix and servers: they cannot run in the sandbox"
    );
}

/// Nix 2.25 and later warn, in `nix flake check`, for every app without a description.
#[test]
fn every_app_has_a_description() {
    needs!(Nix);
    let apps = nix_eval(&format!("({OUTPUTS}).apps"));
    for (system, apps) in apps.as_object().unwrap() {
        for (name, app) in apps.as_object().unwrap() {
            assert_eq!(app["type"], "app", "apps.{system}.{name}");
            let description = app["meta"]["description"].as_str().unwrap_or_default();
            assert!(!description.is_empty(), "apps.{system}.{name} lacks meta.description");
        }
    }
}

/// The harness has no TLS (it refuses https://: harness/tests/ollama.rs), so its image ships no
/// certificates; ollama pulls models over HTTPS and keeps them.
#[test]
fn only_the_image_that_speaks_tls_ships_certificates() {
    needs!(Nix);
    let image = |attr: &str| nix_eval(&format!("({OUTPUTS}).packages.x86_64-linux.{attr}.image"));
    let harness = image("harnessImage");
    assert!(!harness.to_string().contains("cacert"), "{harness}");
    assert!(!harness.to_string().contains("SSL_CERT_FILE"), "{harness}");
    let ollama = image("ollamaImage");
    assert!(ollama["contents"].to_string().contains("cacert"), "{ollama}");
}

/// crane's buildDepsOnly builds the workspace with the union of its members' features; a member
/// built alone (`cargo build --package xtask`) reuses those artifacts only if cargo resolves the
/// same features for every crate it shares. `cargo tree` is cargo's own resolution.
#[test]
fn one_deps_layer_serves_every_member() {
    let tree = |selection: &[&str]| -> BTreeSet<String> {
        let out = run(Command::new("cargo")
            .args(["tree", "--quiet", "--locked", "--offline", "--edges", "normal,build", "--prefix", "none"])
            .args(["--format", "{p}|{f}"])
            .args(selection)
            .current_dir(workspace_root()));
        assert!(out.status.success(), "{}", out.stderr);
        out.stdout.lines().map(|l| l.trim_end_matches(" (*)").to_owned()).collect()
    };
    let union = tree(&["--workspace"]);
    let members = run(Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--locked"])
        .current_dir(workspace_root()));
    let members: Value = serde_json::from_str(&members.stdout).unwrap();
    let mut problems = Vec::new();
    for member in members["packages"].as_array().unwrap() {
        let name = member["name"].as_str().unwrap();
        for line in tree(&["--package", name]).difference(&union) {
            problems.push(format!("{name} builds {line}, the deps layer does not"));
        }
    }
    assert!(
        problems.is_empty(),
        "declare shared dependencies once in [workspace.dependencies]:\n{}",
        problems.join("\n")
    );
}

#[test]
fn nix_config_names_the_cache_of_the_config() {
    needs!(Nix);
    let config = cache_config();
    let nix_config = nix_eval("(import ./flake.nix).nixConfig");
    let name = config["name"].as_str().unwrap();
    assert_eq!(nix_config["extra-substituters"], serde_json::json!([format!("https://{name}.cachix.org")]));
    assert_eq!(nix_config["extra-trusted-public-keys"], config["public-keys"]);
}

/// The real flake.lock nodes, copied verbatim from shared/reference/flake-pins.json into the
/// repository, so this check needs nothing outside the checkout.
#[test]
fn the_lock_file_holds_the_real_pins_exactly() {
    let pins = fs::read_to_string(workspace_root().join("xtask/tests/pins/flake-pins.json")).unwrap();
    let pins: Value = serde_json::from_str(&pins).unwrap();
    let lock: Value = serde_json::from_str(&fs::read_to_string(workspace_root().join("flake.lock")).unwrap()).unwrap();
    assert_eq!(lock["version"], 7);
    assert_eq!(lock["root"], "root");
    let pinned: BTreeSet<_> = pins["nodes"].as_object().unwrap().keys().collect();
    let locked: BTreeSet<_> = lock["nodes"].as_object().unwrap().keys().collect();
    assert_eq!(locked, pinned);
    for (name, node) in pins["nodes"].as_object().unwrap() {
        assert_eq!(&lock["nodes"][name], node, "flake.lock node {name} differs from the pins");
    }
    assert_eq!(
        lock["nodes"]["rust-overlay"]["inputs"]["nixpkgs"],
        serde_json::json!(["nixpkgs"]),
        "rust-overlay follows nixpkgs"
    );
    assert_eq!(lock["nodes"]["nixpkgs"]["original"]["ref"], "nixos-unstable");
}

/// crane's buildDepsOnly builds from a dummy source derived from Cargo.toml and Cargo.lock, and
/// cleanCargoSource drops everything that is not cargo's: what a `.rs` edit cannot reach. The deps
/// layer joins the config's toolchain, those artifacts and the dev tools.
#[test]
fn the_deps_layer_is_built_from_cleaned_sources_only() {
    needs!(Nix);
    let packages = nix_eval(&format!(
        "let p = ({OUTPUTS}).packages.x86_64-linux; c = ({OUTPUTS}).checks.x86_64-linux; \
         crane = d: {{ inherit (d) name builder src; }}; in \
         {{ deps = map (d: d.name) p.deps.paths; layer = map crane (builtins.filter (d: d ? builder) p.deps.paths); \
           crates = map crane [ p.harness p.xtask c.unit c.clippy c.fmt c.integration ]; }}"
    ));
    let deps = names(&packages["deps"]);
    assert!(deps.contains("rust-toolchain") && deps.contains("nanna-coder-deps-0.1.0"), "{deps:?}");
    for drv in packages["layer"].as_array().unwrap().iter().chain(packages["crates"].as_array().unwrap()) {
        assert_eq!(drv["src"], "cleaned-source", "{drv} must build from the cleaned source");
    }
    assert_eq!(packages["layer"][0]["builder"], "buildDepsOnly", "{packages}");
}

/// The xtask reads Cargo.toml itself: its apps run the xtask's binary with the task, and ship
/// no toolchain.
#[test]
fn the_xtask_apps_run_their_task_and_ship_no_toolchain() {
    needs!(Nix);
    let apps = nix_eval(&format!("({OUTPUTS}).apps.x86_64-linux"));
    for (app, task) in [("xtask", ""), ("cache-analytics", "analytics")] {
        let program: Value = serde_json::from_str(apps[app]["program"].as_str().unwrap()).unwrap();
        let text = program["text"].as_str().unwrap();
        assert_eq!(text, format!("exec /nix/store/stand-in-xtask-tools-0.1.0/bin/xtask-tools {task} \"$@\""), "{app}");
        assert_eq!(program["runtimeInputs"], serde_json::json!([]), "{app} ships more than the xtask");
    }
}

/// Streamed images: the store holds a script and the paths an image ships, never a tarball.
#[test]
fn the_images_are_streamed_not_stored_as_tarballs() {
    needs!(Nix);
    for (attr, image) in [("harnessImage", "harness"), ("ollamaImage", "ollama")] {
        let built = nix_eval(&format!("({OUTPUTS}).packages.x86_64-linux.{attr}.name"));
        assert_eq!(built, format!("stream-{image}"), "{attr} must be dockerTools.streamLayeredImage");
    }
}

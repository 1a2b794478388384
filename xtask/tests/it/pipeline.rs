//! The core pipeline against real Nix: the example flake (xtask/tests/example-flake), a `file://`
//! cache, an nginx HTTP cache with authentication, and a chroot store standing in for a fresh runner.

use std::{fs, process::Command};

use xtask::record::Record;

use crate::support::*;

const FILTER: [&str; 2] = ["-source", "nixpkgs.tar.gz"];

fn matches_filter(path: &str) -> bool {
    FILTER.iter().any(|suffix| path.ends_with(suffix))
}

/// The kinds of the steps a record ran, in order.
fn kinds(record: &Record) -> Vec<&str> {
    record.steps.iter().map(|s| s.kind.as_str()).collect()
}

/// The steps of a warm, in order.
const WARM_STEPS: [&str; 15] = [
    "eval",
    "signing-key",
    "fresh-runner",
    "made-of",
    "build",
    "needed",
    "filter",
    "record-roots",
    "missing",
    "upstream",
    "verify-signatures",
    "contents",
    "sign",
    "repair",
    "push",
];

#[test]
fn a_first_warm_runs_every_step_and_fills_a_file_cache() {
    needs!(Nix);
    let ex = Example::new("warm-file");
    let (first, record) = ex.task(&["warm"]);
    let first = first.ok();
    let cached = cached_paths(&ex.cache);
    for attr in ["deps", "harnessImage", "ollamaImage"] {
        let path = out_path(&ex.flake, &format!("packages.x86_64-linux.{attr}"));
        assert!(cached.contains(&path), "{attr} ({path}) is not in the cache: {cached:?}");
    }
    // deps, toolchain, cargo-deps, dev-tools, harness, ollama, the certificates, the two image scripts.
    assert_eq!(cached.len(), 9, "{cached:?}");
    assert_eq!(record.pushed.paths, 9, "{:#?}", record.pushed);
    assert_eq!(kinds(&record), WARM_STEPS);
    assert!(record.steps.iter().all(|s| s.ok), "{:#?}", record.steps);
    // The log shows each step as it starts and ends.
    assert!(first.stderr.contains("==> [5/15] Build packages.x86_64-linux.deps"), "{}", first.stderr);
    assert!(
        first.stderr.contains("<== [5/15] Build packages.x86_64-linux.deps") && first.stderr.contains(": done in ")
    );
    // Built for the Nix that runs it: nothing it calls is deprecated there (`--json-format` from 2.33),
    // and the outputs are GC roots until the push ends (Nix warns of a build without one).
    let json_format = nix_version() >= (2, 33, 0);
    assert_eq!(first.stderr.contains("path-info --json --json-format 1"), json_format, "{}", first.stderr);
    let said = |text: &str| first.stderr.contains(text);
    assert!(
        !said("deprecated") && !said("specify '--add-root'") && said("/gcroots/result --indirect"),
        "{}",
        first.stderr
    );
}

#[test]
fn a_second_warm_uploads_nothing_and_keeps_its_record_in_the_history() {
    needs!(Nix);
    let ex = Example::new("warm-twice");
    ex.task(&["warm"]).0.ok();
    let before = store_files(&ex.cache);
    let (second, record) = ex.task(&["warm"]);
    second.ok();
    assert!(record.totals.up_to_date && record.totals.outputs == 3, "{:#?}", record.totals);
    assert!(!kinds(&record).iter().any(|k| ["build", "push"].contains(k)), "{:?}", kinds(&record));
    assert_eq!(record.evaluations, 1, "one evaluation of the flake");
    assert_eq!(store_files(&ex.cache), before, "the second warm wrote to the cache");
    // Its record, in the cache's history: up to date, nothing pushed (the time keeping it took is
    // known after, in the --record file only).
    let last = history(&ex.cache).pop().unwrap();
    assert!(record.history_seconds.is_some(), "{:?}", record.history_seconds);
    let kept = xtask::record::Record { history_seconds: None, ..record.clone() };
    assert!(last == kept && last.pushed.paths == 0, "{last:#?}");
}

#[test]
fn warm_force_builds_again_and_uploads_nothing_the_cache_has() {
    needs!(Nix);
    let ex = Example::new("warm-force");
    ex.task(&["warm"]).0.ok();
    // --force builds and pushes regardless: the cache is asked, nothing is missing, nothing uploaded.
    let (forced, record) = ex.task(&["warm", "--force"]);
    forced.ok();
    assert!(kinds(&record).contains(&"build"), "{:?}", kinds(&record));
    assert_eq!((record.pushed.paths, record.totals.present), (0, 9), "{record:#?}");
}

#[test]
fn nothing_matching_the_push_filter_reaches_the_cache() {
    needs!(Nix);
    let ex = Example::new("filter");
    ex.task(&["warm"]).0.ok();

    // The build really used paths the filter matches: they are in the deps derivation's inputs.
    let deps_drv = nix(&["eval", "--raw", &ex.installable("packages.x86_64-linux.deps.drvPath")]).stdout;
    let inputs = run(Command::new("nix-store").args(["--query", "--requisites", &deps_drv])).stdout;
    for suffix in FILTER {
        assert!(inputs.lines().any(|p| p.ends_with(suffix)), "no build input ends with {suffix}: {inputs}");
    }
    let cached = cached_paths(&ex.cache);
    assert!(!cached.is_empty());
    let leaked: Vec<_> = cached.iter().filter(|p| matches_filter(p)).collect();
    assert!(leaked.is_empty(), "the push filter let these through: {leaked:?}");
    // The warm pushed the build inputs' outputs, not only the runtime closure: cargo-deps is a
    // build input of harness, which the harness image refers to.
    assert!(cached.iter().any(|p| p.ends_with("-cargo-deps")), "{cached:?}");

    // A fresh runner that must build a check (not in the warm set) builds only that check:
    // everything else comes from the cache, the sources from their origin (evaluation).
    let check = ex.installable("checks.x86_64-linux.unit");
    delete_outputs(&nix(&["eval", "--raw", &format!("{check}.drvPath")]).stdout);
    let runner = run(Command::new("nix")
        .args(["build", "--no-link", "-L", &check])
        .args(["--option", "substituters", &ex.url])
        .args(["--option", "trusted-public-keys", &ex.public_key()])
        .env("NIX_CONFIG", nix_config("")));
    assert!(runner.status.success(), "{}", runner.stderr);
    let built: Vec<_> = runner.stderr.lines().filter(|l| l.starts_with("building '")).collect();
    assert_eq!(built.len(), 1, "the runner built more than the check: {built:?}");
    assert!(built[0].contains("-harness-unit.drv"), "{built:?}");
}

#[test]
fn dry_run_prints_the_commands_and_leaves_the_store_and_the_cache_untouched() {
    needs!(Nix);
    let ex = Example::new("dry-run");
    let (flake, cache) = (&ex.flake, &ex.cache);
    let dry = run(&mut ex.cmd(&["warm", "--dry-run"])).ok();

    assert!(dry.stdout.contains(&format!(r#"builtins.getFlake "{}""#, flake.display())), "{}", dry.stdout);
    assert!(dry.stdout.contains("\nnix-store --realise "), "the build realises the derivations: {}", dry.stdout);
    for step in 1..=13 {
        assert!(dry.stdout.contains(&format!("\n# {step}. ")), "step {step} is numbered: {}", dry.stdout);
    }
    assert!(
        dry.stdout.contains(&format!("store sign --key-file {}.secret <paths the cache lacks>", cache.display())),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(&format!(
            "narinfo-cache-negative-ttl 0 --to 'file://{}?compression=zstd' <paths",
            cache.display()
        )),
        "{}",
        dry.stdout
    );
    assert!(!cache.exists(), "the dry run created the cache directory");
    assert!(!std::path::PathBuf::from(format!("{}.public", cache.display())).exists(), "the dry run made a key");
    let deps = out_path(flake, "packages.x86_64-linux.deps");
    assert!(!is_valid_in_store(&deps), "the dry run built {deps}");
}

#[test]
fn a_fresh_store_substitutes_the_whole_deps_layer_without_building() {
    needs!(Nix);
    let ex = Example::new("fresh-runner");
    let prebuild = run(&mut ex.cmd(&["prebuild"])).ok();
    let public_key = ex.public_key();
    assert!(public_key.starts_with("nanna-coder-local-1:"), "{public_key}");
    assert!(prebuild.last_line().starts_with(&deps_prefix()), "prebuild emits the key last: {}", prebuild.stdout);

    // Every path must come from the cache, checked against the key the xtask signed with.
    let installable = ex.installable("packages.x86_64-linux.deps");
    let (build, store) = fresh_runner(&ex.url, Some(&public_key), &[&installable], "");
    assert!(build.status.success(), "the fresh store could not substitute the deps layer:\n{}", build.stderr);
    assert!(!build.stderr.contains("building '"), "{}", build.stderr);
    let deps = out_path(&ex.flake, "packages.x86_64-linux.deps");
    let closure = nix(&["path-info", "--recursive", &deps]).stdout;
    for path in closure.lines() {
        let in_runner = store.join(path.trim_start_matches('/'));
        assert!(in_runner.exists(), "{path} is missing from the fresh store");
    }
}

#[test]
fn warm_pushes_to_an_http_cache_that_requires_authentication() {
    needs!(Nix, Nginx);
    let ex = Example::new("http");
    let nginx = nginx(&ex.dir.join("nginx"), "ci", "s3cret");
    let www = nginx.www.clone();

    // Without credentials the upload is refused: the task fails, naming what it needs.
    // A new HTTP cache has no nix-cache-info yet: asking it counts as empty, the build goes on,
    // and the push is what fails.
    let (denied, record) = recorded(&mut ex.cmd_on(&nginx.url, &["warm"]));
    let denied = denied.failed();
    assert!(denied.stderr.contains("does not appear to be a binary cache: taken as empty"), "{}", denied.stderr);
    let build = record.steps.iter().find(|s| s.kind == "build").unwrap();
    // The build succeeded; the first write to the cache failed.
    assert!(build.ok && record.steps.last().is_some_and(|s| !s.ok), "{:#?}", record.steps);
    assert!(denied.stderr.contains("credentials"), "{}", denied.stderr);

    let with_auth = |args: &[&str]| recorded(&mut ex.cmd_on_nginx(&nginx, args));
    with_auth(&["warm"]).0.ok();
    let cached = cached_paths(&www);
    assert_eq!(cached.len(), 9, "{cached:?}");
    assert!(cached.iter().all(|p| !matches_filter(p)));
    let before = store_files(&www);
    let (second, record) = with_auth(&["warm"]);
    second.ok();
    assert!(record.totals.up_to_date, "{:#?}", record.totals);
    assert_eq!(store_files(&www), before, "the second warm uploaded to the HTTP cache");
}

#[test]
fn test_builds_the_check_pushes_it_and_prints_the_job_key() {
    needs!(Nix);
    let ex = Example::new("test-job");
    let out = run(&mut ex.cmd(&["test", "--type", "unit", "--os", "ubuntu-latest"])).ok();
    let check = out_path(&ex.flake, "checks.x86_64-linux.unit");
    assert!(cached_paths(&ex.cache).contains(&check));
    assert!(
        out.last_line().starts_with(&deps_prefix()) && out.last_line().ends_with("-ubuntu-latest-1.84.0-unit"),
        "{}",
        out.stdout
    );

    let unknown = run(xtask().args(["test", "--type", "bench", "--flake", &ex.flake.display().to_string()])).failed();
    assert!(
        unknown.stderr.contains("unknown test type `bench`: the test types are clippy, fmt, integration, unit"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn under_github_actions_steps_are_grouped_and_the_key_and_summary_are_written() {
    needs!(Nix);
    let ex = Example::new("github");
    let (output, summary) = (ex.dir.join("github-output"), ex.dir.join("step-summary.md"));
    let out = run(ex
        .cmd(&["prebuild"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary))
    .ok();
    let key = out.last_line().to_owned();
    assert_eq!(fs::read_to_string(&output).unwrap(), format!("cache-key={key}\n"));
    assert!(
        out.stderr.contains("::group::[5/15] Build packages.x86_64-linux.deps") && out.stderr.contains("::endgroup::"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("building '/nix/store/"), "the build's log is shown: {}", out.stderr);
    let summary = fs::read_to_string(&summary).unwrap();
    for expected in [
        format!("| cache-key | `{key}` |"),
        "| pushed | 4 (0.0 MiB) |".to_owned(),
        "| Build packages.x86_64-linux.deps |".to_owned(),
    ] {
        assert!(summary.contains(&expected), "summary lacks {expected}:\n{summary}");
    }
}

/// The cache question at the cost of what a runner fetches: once the deps layer is cached, the
/// fresh-runner step asks the cache alone (its narinfos, their References, NAR files, signatures:
/// no empty store, no dry run); a cache that lost one path of the closure cannot prove it, the
/// dry run asks again, and that path is what a runner would build.
#[test]
fn an_up_to_date_target_is_proven_by_the_cache_alone_and_a_lost_path_is_not() {
    needs!(Nix);
    let ex = Example::new("proven");
    ex.task(&["warm-deps"]).0.ok();
    let asked = |record: &Record| -> Vec<String> {
        record.steps.iter().find(|s| s.kind == "fresh-runner").expect("a fresh-runner step").commands.clone()
    };
    let empty_store = |commands: &[String]| commands.iter().any(|c| c.contains("--dry-run") || c.contains(" copy "));

    let (out, record) = ex.task(&["warm-deps"]);
    out.ok();
    assert!(record.totals.up_to_date, "{record:#?}");
    assert!(!empty_store(&asked(&record)), "an up-to-date target made an empty store: {:#?}", asked(&record));

    let toolchain = narinfos(&ex.cache).into_iter().find(|n| n.store_path.ends_with("-rust-toolchain-1.84.0")).unwrap();
    fs::remove_file(ex.cache.join(narinfo::file_of(&toolchain.store_path).unwrap())).unwrap();
    let (out, record) = ex.task(&["warm-deps"]);
    out.ok();
    assert!(!record.totals.up_to_date, "a cache that lost a path of the closure was up to date");
    assert!(empty_store(&asked(&record)), "{:#?}", asked(&record));
    let before = record.target("deps").and_then(|t| t.before.as_ref()).expect("the deps layer's view");
    assert!(before.to_build.iter().any(|name| name.contains("rust-toolchain-1.84.0")), "{before:#?}");
}

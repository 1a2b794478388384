//! Explain every miss: each cause provoked on a runnable flake with a real cache (a `file://`
//! directory and its history), and the record's explanation checked field by field, never its
//! wording.

use std::fs;

use xtask::record::{Cause, Explanation, Moved, Record};

use crate::support::*;

/// The example flake in a workspace of its own, its deps layer reading the workspace's lock files
/// (as crane's does Cargo.lock) and its harness taking the `app` file as a source.
fn explained(name: &str) -> Example {
    let ex = Example::in_workspace(name, "");
    let nix = fs::read_to_string(ex.flake.join("flake.nix")).unwrap();
    let reads_locks = r#"filter = path: type: builtins.elem (baseNameOf path) [ "salt" "locks" ];"#;
    let app = r#"read -r a < ${builtins.path { path = ./app; name = "app"; }}; echo "harness $a built with $d" > $out"#;
    let nix = nix
        .replace(r#"filter = path: type: baseNameOf path == "salt";"#, reads_locks)
        .replace(r#"echo "harness ${builtins.readFile ./app} built with $d" > $out"#, app);
    assert!(nix.contains(reads_locks) && nix.contains(app), "the example flake changed: adapt this test");
    fs::write(ex.flake.join("flake.nix"), nix).unwrap();
    sync_locks(&ex);
    ex
}

/// The workspace's lock files, as the deps layer's sources read them.
fn sync_locks(ex: &Example) {
    let [cargo, flake] = ["Cargo.lock", "flake.lock"].map(|f| fs::read_to_string(ex.workspace.join(f)).unwrap());
    fs::write(ex.flake.join("locks"), cargo + &flake).unwrap();
}

/// Replaces `from` in a workspace file (once, and it must be there).
fn edit(ex: &Example, file: &str, from: &str, to: &str) {
    let path = ex.workspace.join(file);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn warm(ex: &Example) -> Record {
    let (out, record) = ex.task(&["warm"]);
    out.ok();
    record
}

/// Each target's explanation, by name (the targets a fresh runner would build).
fn why(record: &Record) -> std::collections::BTreeMap<&str, &Explanation> {
    record.targets.iter().filter_map(|t| Some((t.name.as_str(), t.why.as_ref()?))).collect()
}

fn moved(name: &str, from: &str, to: &str) -> Moved {
    Moved { name: name.into(), from: from.into(), to: to.into() }
}

/// One chain on one cache: a first run (no history), a crate bumped, an input moved, both at
/// once, a source file changed, bump-version with a path deleted, a NAR file cut short, and a
/// path gc dropped. Each miss is named by its cause, against the run that had the target.
#[test]
fn every_miss_is_explained_by_its_cause() {
    needs!(Nix);
    let ex = explained("explain");
    let (deps, harness, ollama) = ("deps", "image harness", "image ollama");

    // A first run: no history to compare with, said as such.
    let first = warm(&ex);
    assert_eq!(why(&first)[deps], &Explanation { since: None, causes: vec![Cause::NoEarlierRun] });
    let files =
        |r: &Record, name: &str| r.targets.iter().find(|t| t.name == name).unwrap().made_of.clone().unwrap().files;
    assert!(files(&first, harness).contains_key("app"), "{:#?}", first.targets);
    assert!(!files(&first, deps).contains_key("app") && !files(&first, ollama).contains_key("app"));
    let cached = warm(&ex);
    assert!(why(&cached).is_empty(), "nothing to build, nothing to explain: {:#?}", cached.targets);

    // One crate's version bumped in Cargo.lock: that crate, both versions, no other.
    edit(&ex, "Cargo.lock", "name = \"anyhow\"\nversion = \"1.0.104\"", "name = \"anyhow\"\nversion = \"1.0.999\"");
    sync_locks(&ex);
    // As a CI job: its summary's "Why it built" table and a notice say it too.
    let summary = ex.dir.join("summary.md");
    let mut job = ex.cmd(&["warm"]);
    job.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", &summary).env("GITHUB_OUTPUT", ex.dir.join("out"));
    let (out, bumped) = recorded(&mut job);
    let out = out.ok();
    let crates = Cause::Crates { added: vec![], removed: vec![], changed: vec![moved("anyhow", "1.0.104", "1.0.999")] };
    // Compared with the run that built it (a run that builds nothing keeps nothing to compare).
    assert_eq!(why(&bumped)[deps], &Explanation { since: Some(first.id.clone()), causes: vec![crates.clone()] });
    // What builds on the deps layer names the same crate, not a change of the flake.
    assert_eq!(why(&bumped)[harness].causes, [crates]);
    assert!(!why(&bumped).contains_key(ollama), "the ollama image does not build on the deps layer");
    let summary = fs::read_to_string(&summary).unwrap();
    let row = |name: &str| summary.lines().any(|l| l.starts_with(&format!("| {name} | {} |", first.id)));
    assert!(summary.contains("### Why it built") && row(deps) && row(harness) && !row(ollama), "{summary}");
    let deps_key = bumped.deps_key.clone().unwrap();
    assert!(out.stderr.lines().any(|l| l.starts_with("::notice::") && l.contains(&deps_key)), "{}", out.stderr);

    // One flake.lock input moved: status --why says it before the build, the warm's record after.
    let (old, new) = ("0147c2f1d54b30b5dd6d4a8c8542e8d7edf93b5d", "1111111111111111111111111111111111111111");
    edit(&ex, "flake.lock", old, new);
    sync_locks(&ex);
    let (out, status) = ex.task(&["status", "--why"]);
    out.ok();
    let input = Cause::FlakeInputs { changed: vec![moved("nixpkgs", "0147c2f", "1111111")] };
    let expected = Explanation { since: Some(bumped.id.clone()), causes: vec![input] };
    assert_eq!(why(&status)[deps], &expected);
    let moved_input = warm(&ex);
    assert_eq!(why(&moved_input)[deps], &expected);

    // Both at once: both named, the crates first.
    edit(&ex, "Cargo.lock", "version = \"1.0.999\"", "version = \"1.0.1000\"");
    edit(&ex, "flake.lock", new, "2222222222222222222222222222222222222222");
    sync_locks(&ex);
    let both = warm(&ex);
    let causes = vec![
        Cause::Crates { added: vec![], removed: vec![], changed: vec![moved("anyhow", "1.0.999", "1.0.1000")] },
        Cause::FlakeInputs { changed: vec![moved("nixpkgs", "1111111", "2222222")] },
    ];
    assert_eq!(why(&both)[deps], &Explanation { since: Some(moved_input.id.clone()), causes });

    // The harness's source file: that file, and only the target that takes it.
    fs::write(ex.flake.join("app"), "the app, changed\n").unwrap();
    let source = warm(&ex);
    let files_changed = Cause::Files { changed: vec!["app".into()], added: vec![], removed: vec![] };
    assert_eq!(why(&source).keys().copied().collect::<Vec<_>>(), [harness], "{:#?}", source.targets);
    assert_eq!(why(&source)[harness], &Explanation { since: Some(both.id.clone()), causes: vec![files_changed] });

    // The cache version raised (what bump-version writes), and the deps layer's narinfo deleted
    // (not by gc): both said, with the run that had it.
    let version = cache_version();
    edit(&ex, "Cargo.toml", &format!("\nversion = {version}\n"), &format!("\nversion = {}\n", version + 1));
    let deps_out = source.targets.iter().find(|t| t.name == deps).unwrap().outputs[0].clone();
    let hash = deps_out.trim_start_matches("/nix/store/").split('-').next().unwrap().to_owned();
    fs::remove_file(ex.cache.join(format!("{hash}.narinfo"))).unwrap();
    let lost = warm(&ex);
    let causes =
        vec![Cause::CacheVersion { from: version, to: version + 1 }, Cause::Lost { last: source.id.clone(), gc: None }];
    assert_eq!(why(&lost)[deps], &Explanation { since: Some(source.id.clone()), causes });

    // A NAR file cut short: the cache serves it broken.
    let ollama_nar = narinfos(&ex.cache).into_iter().find(|i| i.store_path.ends_with("-ollama-0.12.0")).unwrap().url;
    let nar = ex.cache.join(ollama_nar);
    let bytes = fs::read(&nar).unwrap();
    fs::write(&nar, &bytes[..bytes.len() / 2]).unwrap();
    let broken = warm(&ex);
    let causes = &why(&broken)[ollama].causes;
    assert!(
        matches!(causes.as_slice(), [Cause::Broken { problems }] if problems.iter().any(|p| p.contains("-ollama-0.12.0"))),
        "{causes:#?}"
    );

    // gc drops the key of the run that had the harness's image (the last that built under it:
    // the repair above): after the app and the key moved and back, the miss names that run and
    // the gc.
    let had = broken;
    assert!(warm(&ex).totals.up_to_date, "the repair left the cache whole");
    let app = fs::read_to_string(ex.flake.join("app")).unwrap();
    fs::write(ex.flake.join("app"), "the app, for a while\n").unwrap();
    edit(&ex, "Cargo.lock", "version = \"1.0.1000\"", "version = \"1.0.1001\"");
    warm(&ex);
    let (out, gc) = ex.task(&["gc", "--keep", "1", "--grace", "0"]);
    out.ok();
    assert!(gc.gc.as_ref().is_some_and(|g| g.dropped_keys.contains(had.deps_key.as_ref().unwrap())), "{gc:#?}");
    fs::write(ex.flake.join("app"), app).unwrap();
    edit(&ex, "Cargo.lock", "version = \"1.0.1001\"", "version = \"1.0.1000\"");
    let dropped = warm(&ex);
    let causes = vec![Cause::Lost { last: had.id.clone(), gc: Some(gc.id.clone()) }];
    assert_eq!(why(&dropped)[harness], &Explanation { since: Some(had.id.clone()), causes });
}

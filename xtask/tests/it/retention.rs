//! Retention of a cache this project owns: each task records its paths under its key, and
//! `gc --keep N` deletes what the newest N keys (and those used within the grace period) do not
//! need, never a path a kept root refers to. Cachix's side (pins) is in keys_and_backends.rs; gc
//! racing pushes is in integrity.rs.

use std::{collections::BTreeSet, fs, path::Path};

use crate::support::*;

/// The references of every path the cache holds, as store paths.
pub fn references(cache: &Path) -> BTreeSet<String> {
    narinfos(cache).into_iter().flat_map(|info| info.references).collect()
}

/// The manifests of the keys a cache records (not its index).
fn manifests(cache: &Path) -> usize {
    let names = fs::read_dir(cache.join("xtask-roots")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap());
    names.filter(|n| n.ends_with(".json") && n != "index.json").count()
}

/// The app and its image script of each of two generations: a warm, then a new key (Cargo.lock
/// changed) and a new app, then another warm. The deps layer and the certificates are shared.
struct Generations {
    old: [String; 2],
    new: [String; 2],
}

fn two_generations(flake: &Path, workspace: &Path, warm: &impl Fn()) -> Generations {
    let shipped =
        || ["packages.x86_64-linux.harness", "packages.x86_64-linux.harnessImage"].map(|attr| out_path(flake, attr));
    warm();
    let old = shipped();
    fs::write(workspace.join("Cargo.lock"), fs::read_to_string(workspace.join("Cargo.lock")).unwrap() + "\n").unwrap();
    fs::write(flake.join("app"), "0.2.0\n").unwrap();
    warm();
    Generations { old, new: shipped() }
}

#[test]
fn gc_keeps_the_newest_keys_layers_and_everything_they_refer_to() {
    needs!(Nix);
    let ex = Example::in_workspace("gc", "");
    let (flake, dir, cache) = (&ex.flake, &ex.dir, &ex.cache);
    let warm = || {
        run(&mut ex.cmd(&["warm"])).ok();
    };
    let Generations { old: [old_app, old_image], new: [new_app, new_image] } = two_generations(flake, dir, &warm);
    let before = cached_paths(cache);
    assert!(before.contains(&old_image) && before.contains(&new_image));

    let gc = |extra: &[&str]| run(ex.cache_cmd(&["gc", "--keep", "1", "--grace", "0"]).args(extra)).ok();
    let snapshot_before = snapshot(cache);
    let dry = gc(&["--dry-run"]);
    assert!(dry.stdout.contains(&format!("would delete {old_image}")), "{}", dry.stdout);
    assert!(dry.stdout.contains(&format!("would delete {old_app}")), "{}", dry.stdout);
    assert!(dry.stdout.contains("would delete 2 path(s), "), "{}", dry.stdout);
    assert_eq!(snapshot(cache), snapshot_before, "the dry run deleted something");

    gc(&[]);
    let after = cached_paths(cache);
    assert_eq!(before.difference(&after).cloned().collect::<BTreeSet<_>>(), [old_app, old_image].into());
    assert!(after.contains(&new_image) && after.contains(&new_app));
    let missing: Vec<_> = references(cache).into_iter().filter(|r| !after.contains(r)).collect();
    assert!(missing.is_empty(), "gc deleted paths a kept root refers to: {missing:?}");
    assert_eq!(manifests(cache), 1, "only the kept key's manifest is left");

    // A fresh runner still substitutes the kept key's layers, signatures checked.
    let image = ex.installable("packages.x86_64-linux.harnessImage");
    let deps = ex.installable("packages.x86_64-linux.deps");
    let (build, _) = fresh_runner(&ex.url, Some(&ex.public_key()), &[&image, &deps], "");
    assert!(build.status.success(), "{}", build.stderr);

    // Within the grace period a dropped key keeps its layers: a push under way, or one that just
    // finished, may still need them.
    let warm_again = fs::read_to_string(dir.join("Cargo.lock")).unwrap() + "\n";
    fs::write(dir.join("Cargo.lock"), warm_again).unwrap();
    fs::write(flake.join("app"), "0.3.0\n").unwrap();
    warm();
    let (graced, record) = recorded(&mut ex.cache_cmd(&["gc", "--keep", "1"]));
    graced.ok();
    assert_eq!(record.gc.unwrap().deleted, 0, "within the grace period");
}

#[test]
fn gc_on_an_http_cache_deletes_through_the_server_what_the_kept_keys_do_not_need() {
    needs!(Nix, Nginx);
    let flake = example_flake("gc-http");
    let dir = workspace_with("gc-http", "");
    let nginx = nginx(&dir.join("nginx"), "ci", "s3cret");
    let (www, netrc) = (nginx.www.clone(), nginx.netrc.clone());
    let xtask_http = |args: &[&str]| {
        let mut cmd = xtask();
        cmd.current_dir(&dir).args(args).args(["--cache", &nginx.url]);
        cmd.env("NIX_CONFIG", nix_config(&format!("netrc-file = {}", netrc.display())));
        run(&mut cmd).ok()
    };
    let warm = || {
        xtask_http(&["warm", "--flake", &flake.display().to_string()]);
    };
    let Generations { old: [old_app, old_image], new: [new_app, new_image] } = two_generations(&flake, &dir, &warm);
    let before = cached_paths(&www);
    let index = fs::read_to_string(www.join("xtask-roots/index.json")).unwrap();
    assert_eq!(serde_json::from_str::<Vec<String>>(&index).unwrap().len(), 2, "{index}");

    let dry = xtask_http(&["gc", "--keep", "1", "--grace", "0", "--dry-run"]);
    assert!(dry.stdout.contains(&format!("would delete {old_image}")), "{}", dry.stdout);
    assert!(dry.stdout.contains("would delete 2 path(s), "), "{}", dry.stdout);
    assert_eq!(cached_paths(&www), before, "the dry run deleted something");

    xtask_http(&["gc", "--keep", "1", "--grace", "0"]);
    let after = cached_paths(&www);
    assert_eq!(before.difference(&after).cloned().collect::<BTreeSet<_>>(), [old_app, old_image].into());
    assert!(after.contains(&new_image) && after.contains(&new_app));
    let missing: Vec<_> = references(&www).into_iter().filter(|r| !after.contains(r)).collect();
    assert!(missing.is_empty(), "gc deleted paths a kept root refers to: {missing:?}");
    let index = fs::read_to_string(www.join("xtask-roots/index.json")).unwrap();
    assert_eq!(serde_json::from_str::<Vec<String>>(&index).unwrap().len(), 1, "{index}");

    let image = format!("{}#packages.x86_64-linux.harnessImage", flake.display());
    let (build, _) = fresh_runner(&nginx.url, None, &[&image], "");
    assert!(build.status.success(), "{}", build.stderr);
}

//! A record says what the run did, checked against what the run left, on a `file://` cache and
//! on nginx: the bytes it says it pushed are the bytes of the files the cache gained, the paths
//! it pushed the narinfos it gained, and its hit rates, before the build and after the push, are
//! what a fresh runner's own dry run (Nix, in an empty store, substituting from the cache alone)
//! says it would fetch and build.

use std::{collections::BTreeMap, fs, path::Path, process::Command};

use crate::support::*;

/// What Nix, in an empty store substituting from `cache` alone (signed by `key`, if given),
/// would build and fetch: the number of derivations and of paths (Nix's own lists: a header,
/// then a path per line).
fn fresh_dry_run(cache: &str, key: Option<&str>, installables: &[String]) -> (usize, usize) {
    let store = temp_dir("dry-runner").join("store");
    let mut cmd = Command::new("nix");
    cmd.args(["build", "--dry-run", "--store", &store.display().to_string()]).args(["--option", "substituters", cache]);
    match key {
        Some(key) => cmd.args(["--option", "trusted-public-keys", key]),
        None => cmd.args(["--option", "require-sigs", "false"]),
    };
    // A fresh runner remembers no answer of a cache (~/.cache/nix).
    let cmd =
        cmd.args(installables).env("NIX_CONFIG", nix_config("")).env("XDG_CACHE_HOME", temp_dir("dry-runner-home"));
    let out = run(cmd);
    assert!(out.status.success(), "{}", out.stderr);
    let (mut built, mut fetched, mut counting) = (0, 0, None);
    for line in out.stderr.lines() {
        if line.contains(" will be built") {
            counting = Some(true);
        } else if line.contains(" will be fetched") {
            counting = Some(false);
        } else if line.starts_with("  /nix/store/") {
            match counting {
                Some(true) => built += 1,
                Some(false) => fetched += 1,
                None => panic!("a path outside a list: {}", out.stderr),
            }
        } else {
            counting = None;
        }
    }
    (built, fetched)
}

/// The cache's narinfos and NAR files, by path, with their sizes.
fn store_bytes(dir: &Path) -> BTreeMap<String, u64> {
    store_files(dir)
        .into_iter()
        .map(|(path, len, _)| (path.strip_prefix(dir).unwrap().display().to_string(), len))
        .filter(|(path, _)| path.ends_with(".narinfo") || path.starts_with("nar/"))
        .collect()
}

#[test]
fn a_records_bytes_and_hit_rates_are_what_the_cache_and_a_fresh_runner_say() {
    needs!(Nix, Nginx);
    let ex = Example::new("record-truth");
    let nginx = nginx(&ex.dir.join("nginx"), "ci", "s3cret");
    // The file cache signs with a key of its own (beside it); the HTTP cache is unsigned.
    let caches = [
        (ex.url.clone(), ex.cache.clone(), Some(ex.dir.join("cache.public"))),
        (nginx.url.clone(), nginx.www.clone(), None),
    ];
    let installables = ["checks.x86_64-linux.unit", "packages.x86_64-linux.deps"].map(|attr| ex.installable(attr));
    let config = nix_config(&format!("netrc-file = {}", nginx.netrc.display()));
    for (url, www, public) in &caches {
        let on = |args: &[&str]| recorded(ex.cmd_on(url, args).env("NIX_CONFIG", &config));
        // The deps layer cached; the check not yet.
        on(&["warm-deps"]).0.ok();
        let key = public.as_ref().map(|p| fs::read_to_string(p).unwrap().trim().to_owned());
        let (built, fetched) = fresh_dry_run(url, key.as_deref(), &installables);
        assert!(built > 0 && fetched > 0, "{url}: a partly cached job is the case to measure");
        let before = store_bytes(www);

        let (test, record) = on(&["test", "--type", "unit"]);
        test.ok();
        // It kept its record in the cache's history, and says how long that took.
        assert!(record.history_seconds.is_some_and(|s| s > 0.0), "{url}: {:?}", record.history_seconds);
        let rates = record.rates.as_ref().unwrap();
        assert_eq!((rates.cached, rates.paths), (fetched as u64, (fetched + built) as u64), "{url}: {rates:#?}");
        assert_eq!(rates.hit_rate, fetched as f64 / (fetched + built) as f64);

        let after = store_bytes(www);
        let gained: BTreeMap<&String, &u64> =
            after.iter().filter(|(path, len)| before.get(*path) != Some(len)).collect();
        let narinfos = gained.keys().filter(|p| p.ends_with(".narinfo")).count() as u64;
        assert_eq!(record.pushed.paths, narinfos, "{url}: {gained:#?}");
        assert_eq!(record.pushed.file_bytes, Some(gained.values().copied().sum::<u64>()), "{url}: {gained:#?}");

        let (built, fetched) = fresh_dry_run(url, key.as_deref(), &installables);
        let rates = record.rates_after.as_ref().unwrap();
        assert_eq!((built, rates.cached, rates.paths), (0, fetched as u64, fetched as u64), "{url}: {rates:#?}");
    }
}

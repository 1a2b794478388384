//! The integrity of a cache, tried as a hostile user would: gc racing pushes, concurrent records,
//! a cache broken behind the xtask's back, narinfos that lie, an entry nobody built here. Each
//! fault is provoked for real (real Nix, nginx, files).

use std::{
    collections::BTreeSet,
    fs,
    path::Path,
    process::{Command, Stdio},
};

use crate::support::*;

/// What a fresh runner would fail on: a narinfo whose reference the cache lacks, or whose NAR
/// file is missing or not of its size.
fn unsound(cache: &Path) -> Vec<String> {
    let infos = narinfos(cache);
    let paths: BTreeSet<&String> = infos.iter().map(|i| &i.store_path).collect();
    let mut problems = Vec::new();
    for info in &infos {
        for reference in info.references.iter().filter(|r| !paths.contains(r)) {
            problems.push(format!("{} refers to {reference}, which is gone", info.store_path));
        }
        let size = fs::metadata(cache.join(&info.url)).map(|m| m.len()).ok();
        if size != info.file_size {
            problems.push(format!(
                "{}: its NAR {} has {size:?} bytes, not {:?}",
                info.store_path, info.url, info.file_size
            ));
        }
    }
    problems
}

fn warm_in(dir: &Path, flake: &Path, cache: &str) -> Command {
    let mut cmd = xtask();
    cmd.current_dir(dir).args(["warm", "--flake", &flake.display().to_string(), "--cache", cache]);
    cmd
}

/// A new key (Cargo.lock changed) and a new app, as a merge to the default branch makes.
fn next_generation(dir: &Path, flake: &Path, n: usize) {
    let lock = fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    fs::write(dir.join("Cargo.lock"), format!("{lock}\n# generation {n}\n")).unwrap();
    fs::write(flake.join("app"), format!("0.{n}.0\n")).unwrap();
}

#[test]
fn gc_racing_pushes_never_deletes_what_a_push_needs() {
    needs!(Nix);
    let ex = Example::in_workspace("race-gc", "");
    run(&mut ex.cmd(&["warm"])).ok();
    const ROUNDS: usize = 12;
    let (mut collections, mut deleted) = (0, 0);
    for round in 1..=ROUNDS {
        next_generation(&ex.dir, &ex.flake, round);
        let warm = ex.cmd(&["warm"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let warm = std::thread::spawn(move || Run::from(warm.wait_with_output().unwrap()));
        // gc --keep 1, again and again, while the warm builds, records and uploads.
        while !warm.is_finished() {
            let (gc, record) = recorded(&mut ex.cache_cmd(&["gc", "--keep", "1", "--grace", "0"]));
            gc.ok();
            collections += 1;
            deleted += record.gc.unwrap().deleted;
        }
        warm.join().unwrap().ok();
        let problems = unsound(&ex.cache);
        assert!(problems.is_empty(), "round {round}: gc broke the cache:\n{}", problems.join("\n"));
    }
    assert!(deleted > 0, "gc never collected anything in {collections} runs: the race was not run");
    eprintln!("{ROUNDS} rounds, {collections} collections during the pushes, {deleted} paths deleted, the cache whole");

    // A fresh runner requiring signatures substitutes the newest generation, building nothing.
    let installables =
        ["deps", "harnessImage", "ollamaImage"].map(|a| ex.installable(&format!("packages.x86_64-linux.{a}")));
    let installables: Vec<&str> = installables.iter().map(String::as_str).collect();
    let (runner, _) = fresh_runner(&ex.url, Some(&ex.public_key()), &installables, "");
    assert!(runner.status.success(), "{}", runner.stderr);
    assert!(!runner.stderr.contains("building '"), "{}", runner.stderr);
}

#[test]
fn concurrent_warms_on_an_http_cache_never_lose_a_root() {
    needs!(Nix, Nginx);
    let dir = workspace_with("race-http", "");
    let nginx = nginx(&dir.join("nginx"), "ci", "s3cret");
    let config = nix_config(&format!("netrc-file = {}", nginx.netrc.display()));
    let key = run(xtask().current_dir(&dir).arg("cache-key")).ok().last_line().to_owned();
    let mut images = Vec::new();
    for round in 0..6 {
        let flakes = [example_flake(&format!("race-http-{round}-a")), example_flake(&format!("race-http-{round}-b"))];
        let children: Vec<_> = flakes
            .iter()
            .map(|flake| {
                warm_in(&dir, flake, &nginx.url)
                    .env("NIX_CONFIG", &config)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            Run::from(child.wait_with_output().unwrap()).ok();
        }
        images.extend(flakes.iter().map(|f| out_path(f, "packages.x86_64-linux.harnessImage")));
        let manifest: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(nginx.www.join(format!("xtask-roots/{key}.json"))).unwrap())
                .unwrap();
        let roots: BTreeSet<&str> = manifest["roots"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let lost: Vec<&String> = images.iter().filter(|i| !roots.contains(i.as_str())).collect();
        assert!(lost.is_empty(), "round {round}: the manifest lost {lost:?}");
    }
}

/// A cache that `warm` filled, and two of its entries, which [`Broken::break_it`] breaks.
struct Broken {
    ex: Example,
    toolchain: narinfo::NarInfo,
    cacert: narinfo::NarInfo,
}

impl Broken {
    fn warmed(name: &str) -> Broken {
        let ex = Example::new(name);
        ex.task(&["warm"]).0.ok();
        let find = |suffix: &str| narinfos(&ex.cache).into_iter().find(|i| i.store_path.ends_with(suffix)).unwrap();
        let (toolchain, cacert) = (find("-rust-toolchain-1.84.0"), find("-cacert-3.0"));
        Broken { ex, toolchain, cacert }
    }

    /// A NAR cut short (as an interrupted upload leaves it), and a narinfo gone that another
    /// refers to.
    fn break_it(&self) {
        let nar = self.ex.cache.join(&self.cacert.url);
        fs::write(&nar, &fs::read(&nar).unwrap()[..100]).unwrap();
        let _ = fs::remove_file(self.ex.cache.join(narinfo::file_of(&self.toolchain.store_path).unwrap()));
    }
}

#[test]
fn status_and_verify_see_a_broken_cache() {
    needs!(Nix);
    let broken = Broken::warmed("broken-seen");
    let Broken { ex, toolchain, cacert } = &broken;
    broken.break_it();
    let (status, _) = ex.task(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.ok().stdout).unwrap();
    assert!(status["hit_rate"].as_f64().unwrap() < 1.0, "status saw nothing wrong: {status:#}");
    let (verify, record) = ex.task(&["verify"]);
    verify.failed();
    let problems = record.verify.unwrap().problems;
    let about = |path: &str| problems.iter().filter(|f| f.path.as_deref() == Some(path)).count();
    assert_eq!(about(&cacert.store_path), 1, "the short NAR: {problems:#?}");
    assert!(
        problems.iter().any(|f| f.problem.contains(&toolchain.store_path)),
        "the reference the cache lost is named: {problems:#?}"
    );
}

#[test]
fn a_broken_cache_is_never_up_to_date_and_warm_repairs_it() {
    needs!(Nix);
    let broken = Broken::warmed("broken-warm");
    let ex = &broken.ex;
    broken.break_it();
    let (warm, record) = ex.task(&["warm"]);
    warm.ok();
    assert!(!record.totals.up_to_date, "a broken cache was called up to date: {record:#?}");
    assert!(unsound(&ex.cache).is_empty(), "warm left the cache broken: {:?}", unsound(&ex.cache));
    ex.task(&["verify"]).0.ok();
    let (warm, record) = ex.task(&["warm"]);
    warm.ok();
    assert!(record.totals.up_to_date, "{record:#?}");
}

#[test]
fn warm_force_repairs_a_broken_cache() {
    needs!(Nix);
    let broken = Broken::warmed("broken-force");
    let ex = &broken.ex;
    broken.break_it();
    let (forced, record) = ex.task(&["warm", "--force"]);
    forced.ok();
    let repaired: Vec<&str> = record.repairs.iter().map(|p| p.path.as_str()).collect();
    assert!(repaired.contains(&broken.cacert.store_path.as_str()), "uploaded again: {repaired:?}");
    assert!(unsound(&ex.cache).is_empty(), "warm --force left the cache broken: {:?}", unsound(&ex.cache));
}

#[test]
fn verify_repair_repairs_a_broken_cache_for_a_fresh_runner() {
    needs!(Nix);
    let broken = Broken::warmed("broken-verify");
    let ex = &broken.ex;
    let deps = out_path(&ex.flake, "packages.x86_64-linux.deps");
    broken.break_it();
    let (repair, record) = ex.task(&["verify", "--repair"]);
    repair.ok();
    let verified = record.verify.unwrap();
    assert!(verified.repaired.contains(&broken.cacert.store_path) && verified.unrepaired.is_empty(), "{verified:#?}");
    ex.task(&["verify"]).0.ok();
    let image = ex.installable("packages.x86_64-linux.harnessImage");
    let (runner, _) = fresh_runner(&ex.url, Some(&ex.public_key()), &[&image], "");
    assert!(runner.status.success() && !runner.stderr.contains("building '"), "{}", runner.stderr);
    assert!(is_valid_in_store(&deps));
}

#[test]
fn gc_reports_what_it_cannot_read_and_never_deletes_outside_the_cache() {
    needs!(Nix);
    let ex = Example::in_workspace("gc-hostile", "");
    let (dir, cache) = (&ex.dir, &ex.cache);
    run(&mut ex.cmd(&["warm"])).ok();
    // Files a hostile narinfo points to, outside the cache.
    let victims = [dir.join("victim.txt"), temp_dir("victim").join("absolute.txt")];
    for victim in &victims {
        fs::write(victim, "precious\n").unwrap();
    }
    let template = fs::read_to_string(cache.join(narinfo::file_of(&narinfos(cache)[0].store_path).unwrap())).unwrap();
    let url_line = template.lines().find(|l| l.starts_with("URL: ")).unwrap();
    let hostile = [
        ("0000000000000000000000000000000a", "../victim.txt".to_owned()),
        ("0000000000000000000000000000000b", victims[1].display().to_string()),
    ];
    for (hash, target) in &hostile {
        let text = template.replace(url_line, &format!("URL: {target}"));
        let text = text.replacen("StorePath: /nix/store/", &format!("StorePath: /nix/store/{hash}-"), 1);
        fs::write(cache.join(format!("{hash}.narinfo")), text).unwrap();
    }
    fs::write(cache.join("0000000000000000000000000000000c.narinfo"), b"StorePath: \xff\xfe\n").unwrap();

    let (gc, record) = recorded(&mut ex.cache_cmd(&["gc", "--keep", "1", "--grace", "0"]));
    let gc = gc.ok();
    for victim in &victims {
        assert!(victim.exists(), "gc deleted {} outside the cache:\n{}", victim.display(), gc.stdout);
    }
    assert!(gc.stderr.contains("0000000000000000000000000000000c.narinfo is not UTF-8"), "{}", gc.stderr);
    assert!(
        gc.stderr.contains("0000000000000000000000000000000a.narinfo: `URL: ../victim.txt` points outside the cache"),
        "{}",
        gc.stderr
    );
    let unreadable = record.gc.unwrap().unreadable;
    assert_eq!(unreadable.len(), 3, "left alone: {unreadable:?}");
}

#[test]
fn a_cache_entry_nobody_built_here_is_replaced_never_signed() {
    needs!(Nix);
    let ex = Example::new("laundering");
    let cache = &ex.cache;
    let warm = || run(&mut ex.cmd(&["warm-deps"]));
    warm().ok();
    // An attacker who can write to the cache points cargo-deps' narinfo to a NAR of their own
    // (here dev-tools', a valid NAR with a valid hash), unsigned.
    let infos = narinfos(cache);
    let victim = infos.iter().find(|i| i.store_path.ends_with("-cargo-deps")).unwrap();
    let theirs = infos.iter().find(|i| i.store_path.ends_with("-dev-tools")).unwrap();
    let victim_file = cache.join(narinfo::file_of(&victim.store_path).unwrap());
    let theirs_text = fs::read_to_string(cache.join(narinfo::file_of(&theirs.store_path).unwrap())).unwrap();
    let mut forged: Vec<String> = theirs_text
        .lines()
        .filter(|l| !l.starts_with("Sig:") && !l.starts_with("References:") && !l.starts_with("Deriver:"))
        .map(|l| if l.starts_with("StorePath:") { format!("StorePath: {}", victim.store_path) } else { l.to_owned() })
        .collect();
    forged.push("References: ".to_owned());
    fs::write(&victim_file, forged.join("\n") + "\n").unwrap();

    let out = warm().ok();
    assert!(
        out.stderr
            .contains(&format!("{} in the cache is not signed by the key and its contents differ", victim.store_path)),
        "{}",
        out.stderr
    );
    let now = narinfos(cache).into_iter().find(|i| i.store_path == victim.store_path).unwrap();
    assert_eq!(
        (now.nar_hash.as_str(), now.nar_size),
        (victim.nar_hash.as_str(), victim.nar_size),
        "the forged entry is still there"
    );
    let deps = ex.installable("packages.x86_64-linux.deps");
    let (runner, store) = fresh_runner(&ex.url, Some(&ex.public_key()), &[&deps], "");
    assert!(runner.status.success(), "{}", runner.stderr);
    let substituted = fs::read_to_string(store.join(victim.store_path.trim_start_matches('/'))).unwrap();
    assert!(substituted.starts_with("deps of "), "a runner got someone else's content: {substituted}");
}

/// Someone who can write to the cache adds a reference to an entry and strips its signature (a
/// signature vouches for the references too). `verify --repair` must not sign it as it is,
/// though its NAR is the one this store holds: it uploads the entry again, with its own references.
#[test]
fn verify_repair_never_signs_an_entry_whose_references_changed() {
    needs!(Nix);
    let ex = Example::new("references-changed");
    run(&mut ex.cmd(&["warm-deps"])).ok();
    let infos = narinfos(&ex.cache);
    let victim = infos.iter().find(|i| i.store_path.ends_with("-cargo-deps")).unwrap();
    let other = infos.iter().find(|i| i.store_path.ends_with("-dev-tools")).unwrap();
    let file = ex.cache.join(narinfo::file_of(&victim.store_path).unwrap());
    let text = fs::read_to_string(&file).unwrap();
    let added = other.store_path.trim_start_matches("/nix/store/");
    let tampered: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("Sig:"))
        .map(|l| if l.starts_with("References:") { format!("{l} {added}") } else { l.to_owned() })
        .collect();
    fs::write(&file, tampered.join("\n") + "\n").unwrap();

    let (repair, record) = ex.task(&["verify", "--repair"]);
    repair.ok();
    let verified = record.verify.unwrap();
    assert!(!verified.resigned.contains(&victim.store_path), "signed with the added reference: {verified:#?}");
    assert!(verified.repaired.contains(&victim.store_path), "{verified:#?}");
    let now = narinfos(&ex.cache).into_iter().find(|i| i.store_path == victim.store_path).unwrap();
    assert_eq!(now.references, victim.references, "the entry's own references are back");
    assert!(!now.sigs.is_empty());
    ex.task(&["verify"]).0.ok();
}

/// The cache's `nar/` is a link to elsewhere: `verify --repair`, which Nix uploads through, refuses
/// to write there, saying why; nothing is written outside the cache.
#[test]
fn verify_repair_never_writes_through_a_linked_nar_directory() {
    needs!(Nix);
    let ex = Example::new("linked-nar");
    run(&mut ex.cmd(&["warm-deps"])).ok();
    let lost = narinfos(&ex.cache).into_iter().find(|i| i.store_path.ends_with("-cargo-deps")).unwrap();
    // The entry is lost whole, its narinfo and its NAR file: a repair would upload both.
    fs::remove_file(ex.cache.join(narinfo::file_of(&lost.store_path).unwrap())).unwrap();
    fs::remove_file(ex.cache.join(&lost.url)).unwrap();
    let outside = ex.dir.join("outside");
    fs::rename(ex.cache.join("nar"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, ex.cache.join("nar")).unwrap();
    let before = fs::read_dir(&outside).unwrap().count();
    let out = ex.task(&["verify", "--repair"]).0.failed();
    assert!(out.stderr.contains("nar is a symbolic link"), "{}", out.stderr);
    assert_eq!(fs::read_dir(&outside).unwrap().count(), before, "written through the link");
    assert!(!ex.cache.join(narinfo::file_of(&lost.store_path).unwrap()).exists(), "uploaded through the link");
}

/// A manifest copied under another key's name (`stale.json` saying it is the live key's): gc
/// refuses, naming it, and deletes nothing (it would drop the live key's file and keep the copy).
#[test]
fn gc_refuses_a_manifest_under_another_keys_name_and_deletes_nothing() {
    needs!(Nix);
    let ex = Example::new("gc-misnamed");
    run(&mut ex.cmd(&["warm-deps"])).ok();
    let roots = ex.cache.join("xtask-roots");
    let live = fs::read_dir(&roots)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("index.json"))
        .unwrap();
    let mut copy: serde_json::Value = serde_json::from_str(&fs::read_to_string(&live).unwrap()).unwrap();
    copy["updated"] = serde_json::json!(1000);
    fs::write(roots.join("stale.json"), copy.to_string()).unwrap();
    let before = store_files(&ex.cache);
    let out = run(&mut ex.cache_cmd(&["gc", "--keep", "1", "--grace", "0"])).failed();
    assert!(out.stderr.contains("stale.json is the manifest of another key"), "{}", out.stderr);
    assert_eq!(store_files(&ex.cache), before, "gc deleted something");
    assert!(live.exists());
}

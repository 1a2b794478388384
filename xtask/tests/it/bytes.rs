//! Trust the bytes: what a cache says of a path is checked against the path's own bytes before
//! the xtask vouches for it (signs it) or repairs around it. A narinfo naming another NAR, one
//! without FileHash and FileSize, a flipped byte, a wrong NarSize on an unsigned HTTP cache,
//! several faults at once, a narinfo under another path's name, a garbage narinfo that a sound
//! one refers to: each provoked in a real cache, each found, each repaired, nothing else touched.

use std::{fs, os::unix::fs::FileTypeExt, path::Path};

use xtask::record::Record;

use crate::support::*;

/// A narinfo's text with `key`'s line replaced by `line` (or dropped, for `None`), and without
/// its signatures.
fn edit(text: &str, key: &str, line: Option<&str>) -> String {
    let lines = text.lines().filter(|l| !l.starts_with("Sig:"));
    let lines = lines.filter_map(|l| match l.starts_with(&format!("{key}:")) {
        true => line.map(str::to_owned),
        false => Some(l.to_owned()),
    });
    lines.collect::<Vec<_>>().join("\n") + "\n"
}

fn field<'t>(text: &'t str, key: &str) -> &'t str {
    text.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap()
}

/// The cache's entry of the path named `name` (after its hash), and its narinfo file.
fn entry(cache: &Path, name: &str) -> (narinfo::NarInfo, std::path::PathBuf) {
    let named =
        |path: &str| path.rsplit('/').next().and_then(|base| base.split_once('-')).map(|(_, n)| n) == Some(name);
    let info = narinfos(cache).into_iter().find(|i| named(&i.store_path)).unwrap();
    let file = cache.join(narinfo::file_of(&info.store_path).unwrap());
    (info, file)
}

fn flip_a_byte(file: &Path) {
    let mut bytes = fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs::write(file, bytes).unwrap();
}

fn problems_of<'r>(record: &'r Record, path: &str) -> Vec<&'r str> {
    let verify = record.verify.as_ref().unwrap();
    verify.problems.iter().filter(|p| p.path.as_deref() == Some(path)).map(|p| p.problem.as_str()).collect()
}

#[test]
fn a_narinfo_naming_another_nar_or_lacking_its_file_hash_is_replaced_never_signed() {
    needs!(Nix);
    let ex = Example::new("another-nar");
    let cache = &ex.cache;
    let warm = || ex.task(&["warm-deps"]);
    warm().0.ok();
    let (victim, victim_file) = entry(cache, "cargo-deps");
    let (theirs, theirs_file) = entry(cache, "dev-tools");
    let original = fs::read_to_string(&victim_file).unwrap();
    let public = ex.public_key();
    let runner = || {
        let (run, store) = fresh_runner(&ex.url, Some(&public), &[&ex.installable("packages.x86_64-linux.deps")], "");
        assert!(run.status.success(), "{}", run.stderr);
        fs::read_to_string(store.join(victim.store_path.trim_start_matches('/'))).unwrap()
    };

    // The narinfo claims this build's NarHash and NarSize, and names a NAR of someone else's
    // (dev-tools': a valid file, of its own hash and size), unsigned.
    let their_text = fs::read_to_string(&theirs_file).unwrap();
    let mut forged = original.clone();
    for key in ["URL", "FileHash", "FileSize", "Compression"] {
        forged = edit(&forged, key, Some(field(&their_text, key)));
    }
    fs::write(&victim_file, forged).unwrap();
    let (out, record) = warm();
    out.ok();
    assert_eq!(record.totals.resigned, 0, "a narinfo's word was signed: {:#?}", record.totals);
    let repaired = record.repairs.iter().find(|r| r.path == victim.store_path).expect("the entry is repaired");
    assert!(repaired.why.contains("bytes differ"), "{repaired:?}");
    let (now, _) = entry(cache, "cargo-deps");
    assert!(now.url != theirs.url && !now.sigs.is_empty(), "{now:?}");
    assert!(runner().starts_with("deps of "), "a runner got someone else's bytes");
    assert!(warm().1.totals.up_to_date);

    // Without FileHash and FileSize, Nix can neither check nor re-sign it: replaced too.
    let stripped = edit(&edit(&fs::read_to_string(&victim_file).unwrap(), "FileHash", None), "FileSize", None);
    fs::write(&victim_file, stripped).unwrap();
    let (out, record) = warm();
    out.ok();
    let repaired = record.repairs.iter().find(|r| r.path == victim.store_path).expect("the entry is repaired");
    assert!(repaired.why.contains("lacks FileSize"), "{repaired:?}");
    assert!(runner().starts_with("deps of ") && warm().1.totals.up_to_date);
}

#[test]
fn a_flipped_byte_is_not_up_to_date_for_force_nor_verify_and_both_repair_it() {
    needs!(Nix);
    let ex = Example::new("flipped");
    let (cache, task) = (&ex.cache, |args: &[&str]| ex.task(args));
    task(&["warm-deps"]).0.ok();
    let (victim, _) = entry(cache, "cargo-deps");
    let nar = cache.join(&victim.url);

    flip_a_byte(&nar);
    // "Up to date" reads the narinfos, their signatures and the NAR files' sizes, not every
    // byte (docs/pipeline.md): a no-op warm stays cheap. --force and verify read the bytes.
    assert!(task(&["warm-deps"]).1.totals.up_to_date);
    let (out, record) = task(&["verify"]);
    out.failed();
    let found = problems_of(&record, &victim.store_path);
    assert!(found.iter().any(|p| p.contains("FileHash")), "{found:?}");
    let (out, record) = task(&["warm-deps", "--force"]);
    out.ok();
    assert!(record.repairs.iter().any(|r| r.path == victim.store_path), "{:#?}", record.repairs);
    task(&["verify"]).0.ok();

    flip_a_byte(&cache.join(&entry(cache, "cargo-deps").0.url));
    let (out, record) = task(&["verify", "--repair"]);
    out.ok();
    let verified = record.verify.unwrap();
    assert!(verified.repaired.contains(&victim.store_path) && verified.unrepaired.is_empty(), "{verified:#?}");
    task(&["verify"]).0.ok();
}

/// An nginx cache (unsigned) that `warm-deps` filled, then broken in four ways: a wrong NarSize
/// (toolchain), a NAR cut short and a reference that is no store path (cargo-deps, two faults at
/// once), and garbage in place of the narinfo of a path that a sound entry (deps) refers to
/// (dev-tools).
struct Faulty {
    ex: Example,
    nginx: Nginx,
    deps: narinfo::NarInfo,
    deps_file: std::path::PathBuf,
    /// The sound entry's narinfo, as the warm wrote it.
    deps_text: Vec<u8>,
    toolchain: narinfo::NarInfo,
    cargo_deps: narinfo::NarInfo,
    dev_tools: narinfo::NarInfo,
    /// How many narinfos the cache had before it was broken.
    narinfos: usize,
}

impl Faulty {
    fn new(name: &str) -> Faulty {
        let ex = Example::new(name);
        let nginx = nginx(&ex.dir.join("nginx"), "ci", "s3cret");
        recorded(&mut ex.cmd_on_nginx(&nginx, &["warm-deps"])).0.ok();
        let www = &nginx.www;
        let narinfos = narinfos(www).len();
        let (deps, deps_file) = entry(www, "deps");
        let deps_text = fs::read(&deps_file).unwrap();
        let (toolchain, toolchain_file) = entry(www, "rust-toolchain-1.84.0");
        let (cargo_deps, cargo_deps_file) = entry(www, "cargo-deps");
        let (dev_tools, dev_tools_file) = entry(www, "dev-tools");

        // An unsigned cache: a wrong NarSize, which runners fail on.
        let text = fs::read_to_string(&toolchain_file).unwrap();
        let wrong = format!("NarSize: {}", toolchain.nar_size + 8);
        fs::write(&toolchain_file, edit(&text, "NarSize", Some(&wrong))).unwrap();
        // Two faults at once: a NAR cut short, and a reference that is no store path.
        let nar = www.join(&cargo_deps.url);
        fs::write(&nar, &fs::read(&nar).unwrap()[..10]).unwrap();
        let text = fs::read_to_string(&cargo_deps_file).unwrap();
        fs::write(&cargo_deps_file, edit(&text, "References", Some("References: not-a-store-path"))).unwrap();
        // Garbage where a path that a sound entry (deps) refers to has its narinfo.
        fs::write(&dev_tools_file, "garbage\n").unwrap();
        Faulty { ex, nginx, deps, deps_file, deps_text, toolchain, cargo_deps, dev_tools, narinfos }
    }

    fn task(&self, args: &[&str]) -> (Run, Record) {
        recorded(&mut self.ex.cmd_on_nginx(&self.nginx, args))
    }
}

#[test]
fn verify_names_every_fault() {
    needs!(Nix, Nginx);
    let faulty = Faulty::new("faults-named");
    let (out, record) = faulty.task(&["verify"]);
    out.failed();
    let Faulty { toolchain, cargo_deps, deps, dev_tools, .. } = &faulty;
    let found = problems_of(&record, &toolchain.store_path);
    assert!(found.iter().any(|p| p.contains(&format!("NarSize says {}", toolchain.nar_size + 8))), "{found:?}");
    let found = problems_of(&record, &cargo_deps.store_path);
    assert!(found.iter().any(|p| p.contains("has 10 bytes")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("\"/nix/store/not-a-store-path\" as a reference")), "{found:?}");
    let found = problems_of(&record, &deps.store_path);
    assert!(found.iter().any(|p| p.contains(&format!("refers to {}", dev_tools.store_path))), "{found:?}");
    let problems = &record.verify.as_ref().unwrap().problems;
    assert!(
        problems.iter().any(|p| p.file.contains(&narinfo::file_of(&dev_tools.store_path).unwrap())),
        "{problems:#?}"
    );
}

#[test]
fn verify_repairs_only_what_it_proved_broken() {
    needs!(Nix, Nginx);
    let faulty = Faulty::new("faults-repaired");
    let (out, record) = faulty.task(&["verify", "--repair"]);
    out.ok();
    let Faulty { toolchain, cargo_deps, deps, dev_tools, nginx, .. } = &faulty;
    let verified = record.verify.unwrap();
    for path in [&toolchain.store_path, &cargo_deps.store_path, &dev_tools.store_path] {
        assert!(verified.repaired.contains(path), "{path} not repaired: {verified:#?}");
    }
    assert!(!verified.repaired.contains(&deps.store_path), "the sound entry was replaced: {verified:#?}");
    assert_eq!(fs::read(&faulty.deps_file).unwrap(), faulty.deps_text, "the sound entry was touched");
    assert_eq!(narinfos(&nginx.www).len(), faulty.narinfos);
    faulty.task(&["verify"]).0.ok();
    let installable = faulty.ex.installable("packages.x86_64-linux.deps");
    let (runner, _) = fresh_runner(&nginx.url, None, &[&installable], "");
    assert!(runner.status.success(), "{}", runner.stderr);
}

#[test]
fn a_narinfo_under_another_paths_name_is_named_and_deleted() {
    needs!(Nix);
    let ex = Example::new("misnamed");
    let (cache, task) = (&ex.cache, |args: &[&str]| ex.task(args));
    task(&["warm-deps"]).0.ok();
    let (_, file) = entry(cache, "cargo-deps");
    let misnamed = cache.join("00000000000000000000000000000000.narinfo");
    fs::copy(&file, &misnamed).unwrap();
    let (out, record) = task(&["verify"]);
    out.failed();
    let problems = record.verify.unwrap().problems;
    assert!(
        problems.iter().any(|p| p.file.starts_with("00000000000000000000000000000000.narinfo")
            && p.problem.contains("whose narinfo has another name")),
        "{problems:#?}"
    );
    task(&["verify", "--repair"]).0.ok();
    assert!(!misnamed.exists() && file.exists());
    task(&["verify"]).0.ok();
}

/// A FIFO where a NAR file was: verify names it as that entry's fault (it reads no FIFO, and
/// never blocks on one) and goes on: the NAR cut short beside it is named and repaired too.
#[test]
fn a_fifo_in_place_of_a_nar_file_is_one_fault_among_the_others() {
    needs!(Nix);
    let ex = Example::new("fifo-nar");
    let (cache, task) = (&ex.cache, |args: &[&str]| ex.task(args));
    task(&["warm-deps"]).0.ok();
    let (toolchain, _) = entry(cache, "rust-toolchain-1.84.0");
    let (cargo_deps, _) = entry(cache, "cargo-deps");
    let fifo = cache.join(&toolchain.url);
    fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let nar = cache.join(&cargo_deps.url);
    fs::write(&nar, &fs::read(&nar).unwrap()[..10]).unwrap();

    let (out, record) = task(&["verify"]);
    out.failed();
    let found = problems_of(&record, &toolchain.store_path);
    assert!(found.iter().any(|p| p.contains("not a regular file")), "{found:?}");
    let found = problems_of(&record, &cargo_deps.store_path);
    assert!(found.iter().any(|p| p.contains("has 10 bytes")), "{found:?}");

    let (_, record) = task(&["verify", "--repair"]);
    let verified = record.verify.unwrap();
    assert!(verified.repaired.contains(&cargo_deps.store_path), "{verified:#?}");
    assert!(!verified.repaired.contains(&toolchain.store_path), "what could not be read was repaired: {verified:#?}");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was touched");
}

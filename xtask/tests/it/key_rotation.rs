//! A signing key's rotation, for real (`cargo xtask rotate-key`): fresh runners whose
//! `require-sigs` trusts only the old key, only the new key, or both substitute every path while
//! the rotation is under way; after `--retire` the one trusting only the old key builds. On a
//! `file://` cache and on nginx (PUT and DELETE with auth): a rotation killed half-way, a warm
//! running during one, a NAR whose bytes are wrong, a retirement refused.

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::*;

/// A secret key of the test's own, mode 0600; its public key.
fn new_key(dir: &Path, name: &str) -> (String, String) {
    let secret = dir.join(format!("{name}.secret"));
    fs::write(&secret, nix(&["key", "generate-secret", "--key-name", &format!("{name}-1")]).stdout).unwrap();
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    (secret.display().to_string(), public_of(&secret))
}

fn public_of(secret: &Path) -> String {
    let out = run(Command::new("nix")
        .args(["key", "convert-secret-to-public"])
        .stdin(fs::File::open(secret).unwrap())
        .env("NIX_CONFIG", nix_config("")));
    out.stdout.trim().to_owned()
}

fn name(key: &str) -> &str {
    key.split_once(':').unwrap().0
}

/// Three fresh runners, trusting the old key, the new key, and both: whether each substituted
/// the installables without building anything. A fresh runner remembers no narinfo (this
/// machine's Nix would, for a month, as a runner that asked before the rotation).
fn runners(cache: &str, old: &str, new: &str, installables: &[&str]) -> [bool; 3] {
    let fresh = "narinfo-cache-positive-ttl = 0\nnarinfo-cache-negative-ttl = 0";
    [old.to_owned(), new.to_owned(), format!("{old} {new}")].map(|key| {
        let (out, _) = fresh_runner(cache, Some(&key), installables, fresh);
        let substituted = out.status.success() && !out.stderr.contains("building '");
        if !substituted {
            eprintln!("the runner trusting {key} did not substitute {installables:?}:\n{}", out.stderr);
        }
        substituted
    })
}

/// Every narinfo of a cache directory and the names of the keys that sign it.
fn signers(dir: &Path) -> Vec<(String, Vec<String>)> {
    narinfos(dir)
        .into_iter()
        .map(|info| (info.store_path, info.sigs.iter().map(|s| s.split_once(':').unwrap().0.to_owned()).collect()))
        .collect()
}

/// `nix store verify` of every narinfo of a cache trusting `key` alone: the paths it does not sign.
fn unsigned_by(cache: &str, dir: &Path, key: &str) -> Vec<String> {
    let paths: Vec<String> = cached_paths(dir).into_iter().collect();
    let out = run(Command::new("nix")
        .args(["store", "verify", "--no-contents", "--store", cache, "--option", "trusted-public-keys", key])
        .args(&paths)
        .env("NIX_CONFIG", nix_config("")));
    paths.into_iter().filter(|p| out.stderr.contains(&format!("'{p}' is untrusted"))).collect()
}

/// The tools binary (rotate-key, doctor) in the repository copy, on the example flake and cache.
fn tool(repo: &Path, ex: &Example, cache: &str, args: &[&str]) -> Command {
    let mut cmd = tools();
    cmd.current_dir(repo).args(args).args(["--flake", &ex.flake.display().to_string(), "--cache", cache]);
    cmd
}

#[test]
fn a_file_cache_rotates_its_key_while_every_runner_substitutes() {
    needs!(Nix, Browser);
    let repo = repo_copy("rotate-file-repo");
    let ex = Example { workspace: repo.clone(), ..Example::new("rotate-file") };
    let deps = ex.installable("packages.x86_64-linux.deps");
    let ollama = ex.installable("packages.x86_64-linux.ollamaImage");
    run(&mut ex.cmd(&["warm"])).ok();
    let old = ex.public_key();
    let next = ex.dir.join("cache.next.secret");
    let old_secret = ex.dir.join("old.secret");
    fs::copy(ex.dir.join("cache.secret"), &old_secret).unwrap();
    // Nothing is signed by another key yet: retiring the only one is refused, and changes nothing.
    let early = run(&mut tool(&repo, &ex, &ex.url, &["rotate-key", "--retire", name(&old)])).failed();
    assert!(early.stderr.contains("refusing to retire"), "{}", early.stderr);
    assert!(signers(&ex.cache).iter().all(|(_, keys)| keys == &[name(&old)]));

    // A NAR file whose bytes are wrong: the rotation names it and leaves it unsigned.
    let victim = narinfos(&ex.cache).into_iter().find(|i| i.store_path.ends_with("-deps")).unwrap();
    let nar = ex.cache.join(&victim.url);
    let mut bytes = fs::read(&nar).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&nar, &bytes).unwrap();
    let first = run(&mut tool(&repo, &ex, &ex.url, &["rotate-key", "--new"])).failed();
    assert!(first.stdout.contains(&format!("left: {}", victim.store_path)), "{}\n{}", first.stdout, first.stderr);
    assert!(first.stderr.contains("verify --repair"), "{}", first.stderr);
    let new = public_of(&next);
    assert_eq!(name(&new), format!("{}-2", name(&old).trim_end_matches("-1")), "the next name");
    let unsigned = unsigned_by(&ex.url, &ex.cache, &new);
    assert_eq!(unsigned, std::slice::from_ref(&victim.store_path), "only the broken NAR's narinfo lacks the new key");
    assert!(unsigned_by(&ex.url, &ex.cache, &old).is_empty(), "every narinfo keeps the old key's signature");

    // The repair replaces it (from this machine's store); the rotation then finishes.
    run(&mut ex.cmd(&["verify", "--repair"])).ok();
    let second = run(&mut tool(&repo, &ex, &ex.url, &["rotate-key", "--new"])).ok();
    assert!(second.stdout.contains("key ") && unsigned_by(&ex.url, &ex.cache, &new).is_empty(), "{}", second.stdout);
    for (path, keys) in signers(&ex.cache) {
        assert_eq!(keys.len(), 2, "{path} is signed by {keys:?}");
    }

    // The config, flake.nix and the workflows trust both; the local cache's public keys both.
    let manifest = read(&repo, "Cargo.toml");
    assert!(manifest.contains(&format!("\"{old}\", \"{new}\"]")), "{manifest}");
    assert!(read(&repo, "flake.nix").contains(&format!("\"{old}\" \"{new}\"")));
    assert!(read(&repo, ".github/workflows/ci.yml").contains(&format!("{old} {new}")));
    assert_eq!(fs::read_to_string(ex.dir.join("cache.public")).unwrap().trim(), format!("{old} {new}"));
    assert_eq!(runners(&ex.url, &old, &new, &[&deps, &ollama]), [true; 3], "mid-rotation, every runner substitutes");

    // A narinfo without the new key's signature: retiring the old key is refused, naming it.
    let stripped = narinfos(&ex.cache).into_iter().find(|i| i.store_path.ends_with("-deps")).unwrap();
    let file = ex.cache.join(xtask::cache::narinfo::file_of(&stripped.store_path).unwrap());
    let text = fs::read_to_string(&file).unwrap();
    let without: Vec<&str> = text.lines().filter(|l| !l.starts_with(&format!("Sig: {}:", name(&new)))).collect();
    fs::write(&file, without.join("\n") + "\n").unwrap();
    let refused = run(&mut tool(&repo, &ex, &ex.url, &["rotate-key", "--retire", name(&old)])).failed();
    assert!(refused.stderr.contains(&stripped.store_path), "{}", refused.stderr);
    assert!(refused.stderr.contains("refusing to retire"), "{}", refused.stderr);
    assert!(read(&repo, "Cargo.toml").contains(&old), "a refused retirement changes nothing");
    let resumed = run(&mut tool(&repo, &ex, &ex.url, &["rotate-key", "--new"])).ok();
    assert!(resumed.stdout.contains("signed 1 narinfo(s)"), "{}", resumed.stdout);

    // Retired: only the new key signs; the runner trusting only the old key builds.
    run(&mut tool(&repo, &ex, &ex.url, &["rotate-key", "--retire", name(&old)])).ok();
    for (path, keys) in signers(&ex.cache) {
        assert_eq!(keys, [name(&new)], "{path}");
    }
    assert!(!read(&repo, "Cargo.toml").contains(&old) && read(&repo, "Cargo.toml").contains(&new));
    assert!(!read(&repo, "flake.nix").contains(&old) && !read(&repo, ".github/workflows/ci.yml").contains(&old));
    assert_eq!(public_of(&ex.dir.join("cache.secret")), new, "the next key is the cache's own now");
    assert!(!next.exists());
    assert_eq!(runners(&ex.url, &old, &new, &[&deps, &ollama]), [false, true, true]);
    // The runner trusting only the old key: doctor names the key it lacks.
    let mut doctor = tool(&repo, &ex, &ex.url, &["doctor", "--json"]);
    doctor.env("NIX_CONFIG", nix_config(&format!("trusted-public-keys = {old}")));
    let checks: serde_json::Value = serde_json::from_str(&run(&mut doctor).stdout).unwrap();
    let trusted = checks.as_array().unwrap().iter().find(|c| c["check"] == "trusted keys").unwrap();
    assert_eq!(trusted["status"], "warn", "{trusted}");
    assert!(trusted["detail"].as_str().unwrap().contains(name(&new)), "{trusted}");

    // The history keeps each step; verify counts each key's narinfos.
    let rotations: Vec<_> = history(&ex.cache).into_iter().filter_map(|r| r.rotation).collect();
    let steps: Vec<(&str, u64)> = rotations.iter().map(|r| (r.step.as_str(), r.changed)).collect();
    let total = cached_paths(&ex.cache).len() as u64;
    // The repair re-uploaded the broken path signed by every key at hand: both.
    assert_eq!(steps, [("new", total - 1), ("new", 0), ("new", 1), ("retire", total)], "{rotations:#?}");
    let (_, record) = ex.task(&["verify"]);
    let coverage = record.verify.unwrap().keys;
    let own = coverage.iter().find(|k| k.key == new).unwrap();
    assert_eq!((own.signs, own.of), (total, total), "{coverage:?}");

    // A narinfo signed only by the retired key: a fault of verify, which --repair re-signs in
    // place (its bytes check out, and this machine's store holds the same NAR).
    fs::write(&file, without.join("\n") + "\n").unwrap();
    let old_file = old_secret.display().to_string();
    assert!(nix(&["store", "sign", "--store", &ex.url, "--key-file", &old_file, &stripped.store_path])
        .status
        .success());
    let (found, _) = ex.task(&["verify"]);
    let found = found.failed();
    let fault = format!("{}: {}", stripped.store_path, xtask::cache::narinfo::file_of(&stripped.store_path).unwrap());
    assert!(found.stdout.contains(&format!("{fault}: it is signed by no trusted key")), "{}", found.stdout);
    assert!(found.stdout.contains(&format!("only by {}", name(&old))), "{}", found.stdout);
    let (_, record) = ex.task(&["verify", "--repair"]);
    let verified = record.verify.unwrap();
    assert_eq!(verified.resigned, std::slice::from_ref(&stripped.store_path), "{verified:#?}");
    assert!(verified.repaired.is_empty(), "re-signed in place, nothing uploaded: {verified:#?}");
    assert!(unsigned_by(&ex.url, &ex.cache, &new).is_empty());

    // The dashboard: the keys in use with their coverage, and each step of the rotation.
    let out = ex.dir.join("dashboard");
    run(ex.cmd(&["dashboard"]).args(["--out", &out.display().to_string()])).ok();
    let browser = browser::Browser::start();
    browser.open(&out.join("index.html"));
    let rows = |selector: &str, fields: &str| {
        browser.eval(&format!("return [...document.querySelectorAll('{selector}')].map(e => [{fields}])"))
    };
    let keys = rows("#signing-keys tr[data-key]", "e.dataset.key, Number(e.dataset.signs), Number(e.dataset.of)");
    assert!(keys.as_array().unwrap().contains(&serde_json::json!([new, total, total])), "{keys}");
    let steps = rows("#rotations tr[data-step]", "e.dataset.step, Number(e.dataset.changed)");
    assert_eq!(steps, serde_json::json!([["new", total - 1], ["new", 0], ["new", 1], ["retire", total]]));
}

#[test]
fn an_http_cache_rotation_survives_a_kill_and_a_warm_under_way() {
    needs!(Nix, Nginx);
    let repo = repo_copy("rotate-http-repo");
    let ex = Example { workspace: repo.clone(), ..Example::new("rotate-http") };
    let later = Example { workspace: repo.clone(), ..Example::new("rotate-http-later") };
    let nginx = nginx(&ex.dir.join("nginx"), "ci", "s3cret");
    let (old_secret, old) = new_key(&ex.dir, "old");
    let (new_secret, new) = new_key(&ex.dir, "new");
    let with_netrc = |mut cmd: Command| {
        cmd.env("NIX_CONFIG", nix_config(&format!("netrc-file = {}", nginx.netrc.display())));
        cmd
    };
    run(ex.cmd_on_nginx(&nginx, &["warm"]).args(["--signing-key", &old_secret])).ok();
    let total = cached_paths(&nginx.www).len();
    assert!(total >= 6, "{total} narinfos");

    // Killed half-way (a narinfo at a time): every narinfo still has the old key's signature.
    let rotate = || {
        let args = ["rotate-key", "--new", &new_secret, "--batch", "1", "--signing-key", &old_secret];
        with_netrc(tool(&repo, &ex, &nginx.url, &args))
    };
    let mut child = rotate().stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    let with_new = || signers(&nginx.www).iter().filter(|(_, keys)| keys.contains(&"new-1".to_owned())).count();
    while with_new() < 2 {
        assert!(start.elapsed() < Duration::from_secs(120) && child.try_wait().unwrap().is_none(), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let signed = with_new();
    assert!(signed < total, "killed after {signed} of {total}");
    assert!(unsigned_by(&nginx.url, &nginx.www, &old).is_empty(), "a narinfo lost the old key's signature");
    let deps = ex.installable("packages.x86_64-linux.deps");
    assert!(runners(&nginx.url, &old, &new, &[&deps])[0], "the old key's runner substitutes");

    // Run again, with a warm of new paths under way: its pushes carry both signatures.
    let mut warm = with_netrc(later.cmd_on(&nginx.url, &["warm-deps"]));
    warm.args(["--signing-key", &old_secret, "--signing-key", &new_secret]);
    let warm = warm.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let resumed = run(&mut rotate()).ok();
    let warmed = warm.wait_with_output().unwrap();
    assert!(warmed.status.success(), "{}", String::from_utf8_lossy(&warmed.stderr));
    assert!(resumed.stdout.contains("already were"), "{}", resumed.stdout);
    for (path, keys) in signers(&nginx.www) {
        assert!(keys.contains(&"old-1".to_owned()) && keys.contains(&"new-1".to_owned()), "{path}: {keys:?}");
    }
    let later_deps = later.installable("packages.x86_64-linux.deps");
    assert_eq!(runners(&nginx.url, &old, &new, &[&deps]), [true; 3]);
    assert_eq!(runners(&nginx.url, &old, &new, &[&later_deps]), [true; 3], "what the warm pushed");

    // Retired, over HTTP: the old key's signatures go (PUT), the old runner builds.
    let mut retire = with_netrc(tool(&repo, &ex, &nginx.url, &["rotate-key", "--retire", &old]));
    retire.args(["--signing-key", &new_secret]);
    run(&mut retire).ok();
    for (path, keys) in signers(&nginx.www) {
        assert_eq!(keys, ["new-1"], "{path}");
    }
    assert_eq!(runners(&nginx.url, &old, &new, &[&deps]), [false, true, true]);
    assert_eq!(runners(&nginx.url, &old, &new, &[&later_deps]), [false, true, true]);
}

/// A directory cache signed with keys given (`--signing-key`), not its own: the rotation takes
/// the new key's file given, and leaves no key of the cache's own beside it.
#[test]
fn a_directory_signed_with_given_keys_rotates_them_and_makes_no_key_of_its_own() {
    needs!(Nix);
    let repo = repo_copy("rotate-given-repo");
    let ex = Example { workspace: repo.clone(), ..Example::new("rotate-given") };
    let cache = ex.dir.join("given-cache");
    let url = format!("file://{}", cache.display());
    let (old_secret, old) = new_key(&ex.dir, "old");
    run(ex.cmd_on(&url, &["warm-deps"]).args(["--signing-key", &old_secret])).ok();
    let new_secret = ex.dir.join("new.secret").display().to_string();
    let rotate = ["rotate-key", "--new", &new_secret, "--key-name", "new-1", "--signing-key", &old_secret];
    run(&mut tool(&repo, &ex, &url, &rotate)).ok();
    let new = public_of(Path::new(&new_secret));
    for (path, keys) in signers(&cache) {
        assert_eq!(keys, ["new-1", "old-1"], "{path}");
    }
    run(tool(&repo, &ex, &url, &["rotate-key", "--retire", &old]).args(["--signing-key", &new_secret])).ok();
    for (path, keys) in signers(&cache) {
        assert_eq!(keys, ["new-1"], "{path}");
    }
    let own: Vec<_> =
        ["secret", "next.secret", "public"].iter().map(|e| ex.dir.join(format!("given-cache.{e}"))).collect();
    assert!(own.iter().all(|f| !f.exists()), "a key of the cache's own was made: {own:?}");
    assert!(runners(&url, &old, &new, &[&ex.installable("packages.x86_64-linux.deps")])[1]);
}

#[test]
fn cachix_and_stores_it_cannot_rewrite_are_refused_naming_why() {
    let repo = repo_copy("rotate-refused");
    let cachix =
        run(tools().current_dir(&repo).args(["rotate-key", "--new", "/tmp/k", "--cache", "cachix:nanna-coder"]));
    let cachix = cachix.failed();
    assert!(cachix.stderr.contains("signs with the cache's own key"), "{}", cachix.stderr);
    let s3 = run(tools().current_dir(&repo).args(["rotate-key", "--new", "/tmp/k", "--cache", "s3://bucket"]));
    let s3 = s3.failed();
    assert!(s3.stderr.contains("rewrites each narinfo in place"), "{}", s3.stderr);
}

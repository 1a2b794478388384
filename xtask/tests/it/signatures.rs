//! Signatures, for real: a runner with `require-sigs` trusts a cache the xtask signed with
//! `--signing-key` and refuses it under another key; a cache holding paths signed by a key that
//! is not its own (a discarded one) is re-signed by the next warm.

use std::{fs, path::Path, process::Command};

use crate::support::*;

fn new_key(dir: &Path, name: &str) -> (String, String) {
    let secret = dir.join(format!("{name}.secret"));
    fs::write(&secret, nix(&["key", "generate-secret", "--key-name", &format!("{name}-1")]).stdout).unwrap();
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let public = run(Command::new("nix")
        .args(["key", "convert-secret-to-public"])
        .stdin(fs::File::open(&secret).unwrap())
        .env("NIX_CONFIG", nix_config("")))
    .stdout;
    (secret.display().to_string(), public.trim().to_owned())
}

/// Substitutes the deps layer into a fresh runner that requires signatures by `key`.
fn runner(flake: &Path, cache: &str, key: &str) -> Run {
    fresh_runner(cache, Some(key), &[&format!("{}#packages.x86_64-linux.deps", flake.display())], "").0
}

#[test]
fn a_signing_key_makes_an_http_cache_trusted_by_runners_that_require_signatures() {
    needs!(Nix, Nginx);
    let ex = Example::new("signed-http");
    let (flake, dir) = (&ex.flake, &ex.dir);
    let nginx = nginx(&dir.join("nginx"), "ci", "s3cret");
    let (secret, public) = new_key(dir, "ours");
    let (_, other) = new_key(dir, "other");

    let out = run(ex.cmd_on_nginx(&nginx, &["warm-deps"]).args(["--signing-key", &secret])).ok();
    assert!(out.stderr.contains("Read the signing key (--signing-key)"), "{}", out.stderr);
    assert!(!out.stderr.contains(&fs::read_to_string(&secret).unwrap()), "the secret key was printed");

    let trusted = runner(flake, &nginx.url, &public);
    assert!(trusted.status.success(), "a runner trusting the key could not substitute:\n{}", trusted.stderr);
    assert!(!trusted.stderr.contains("building '"), "{}", trusted.stderr);
    let refused = runner(flake, &nginx.url, &other);
    assert!(!refused.status.success(), "a runner trusting another key substituted anyway");
}

#[test]
fn a_warm_re_signs_what_the_cache_holds_under_a_key_that_is_not_its_own() {
    needs!(Nix);
    let ex = Example::new("resign");
    let (flake, dir, url) = (&ex.flake, &ex.dir, &ex.url);
    // What a lost race left before keys were created once: the cache signed by a discarded key,
    // its secret and public key files from the run that won.
    let installable = ex.installable("packages.x86_64-linux.deps");
    assert!(nix(&["build", "--no-link", &installable]).status.success());
    let (discarded, _) = new_key(dir, "discarded");
    let copy = nix(&["copy", "--to", &format!("{url}?secret-key={discarded}"), &installable]);
    assert!(copy.status.success(), "{}", copy.stderr);
    let (secret, public) = new_key(dir, "winner");
    fs::rename(secret, dir.join("cache.secret")).unwrap();
    fs::write(dir.join("cache.public"), &public).unwrap();
    assert!(!runner(flake, url, &public).status.success(), "the cache should not verify yet");

    let warm = || ex.task(&["warm-deps"]);
    let (first, record) = warm();
    let first = first.ok();
    assert!(first.stderr.contains("not signed by the key"), "{}", first.stderr);
    assert_eq!(record.totals.resigned, 4, "{:#?}", record.totals);
    let trusted = runner(flake, url, &public);
    assert!(trusted.status.success(), "the re-signed cache does not verify:\n{}", trusted.stderr);
    let (second, record) = warm();
    second.ok();
    assert!(record.totals.up_to_date, "a second warm has nothing to do: {:#?}", record.totals);
}

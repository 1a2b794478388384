//! `cargo xtask rotate-key --new [FILE] | --retire KEY`: a signing key's rotation on a cache this
//! project signs (a directory, `file://`, HTTP with `--signing-key`), in two steps days apart.
//!
//! - `--new`: a new key (made when its file does not exist) signs every narinfo beside the old
//!   one ([`xtask::cache::rotation`]), and the config's `public-keys` become [old, new]: the
//!   generated workflows, flake.nix and `doctor` trust both. Pushes sign with every key at hand.
//! - `--retire OLD`: once runners trust the new key, the old key's signatures and public key go.
//!
//! Cachix is refused: it signs with the cache's own key, which only Cachix can change.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

use super::change::Change;
use xtask::{
    cache::{
        files::Files,
        roots,
        rotation::{Outcome, Rotation},
        signing_key::{self, key_name, SigningKey, SigningKeys},
        Cache,
    },
    record::{Finding, Record, Rotated},
    session::Session,
};

/// Rotate the signing key of a cache this project signs: --new, then (once runners trust it) --retire.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("step").required(true).args(["new", "retire"])))]
pub struct RotateKey {
    /// Sign every narinfo with a new key beside the old one, and trust both. FILE holds the new
    /// secret key, made (mode 0600) when it does not exist; a local cache keeps its next key
    /// beside it (DIR.next.secret), where its pushes find it: leave FILE out.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    new: Option<Option<PathBuf>>,
    /// Remove a key's signatures and public key (its name, or NAME:BASE64), once runners trust
    /// the new one: refused while a narinfo lacks a signature by a key that remains.
    #[arg(long, value_name = "KEY")]
    retire: Option<String>,
    /// The name of a key --new makes (default: the current key's, its number raised: NAME-2).
    #[arg(long, value_name = "NAME", requires = "new")]
    key_name: Option<String>,
    /// Narinfos written at a time: the cache's lock is renewed after each batch.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
}

impl RotateKey {
    /// Takes the step asked for, into the record's `rotation`.
    pub fn run(&self, session: &Session, record: &mut Record) -> Result<()> {
        let files = owned(session)?;
        let keys = session.signing.as_ref().with_context(|| {
            format!("rotate-key needs the key {} is signed with now: --signing-key FILE", session.cache.label())
        })?;
        if session.dry_run {
            println!("# cargo xtask rotate-key (dry run: nothing is run)\n# cache: {}", session.cache.label());
            for cmd in keys.cmds() {
                println!("{}", cmd.render(None));
            }
            println!("# (in the xtask) under the cache's lock: read every narinfo, ask Nix which key signs each");
            println!(
                "# (`nix store verify --no-contents`), check the bytes of those to sign (as `verify` does), sign them"
            );
            println!("# (`nix store sign --store …`; over HTTP on a mirror, written back by PUT), or strip the retired key's `Sig:`");
            println!("# lines; then set public-keys in Cargo.toml and flake.nix, and regenerate the workflows");
            return Ok(());
        }
        keys.check()?;
        let rotation = Rotation {
            files: &files,
            url: &session.cache.substituter(),
            net: &session.net,
            batch: self.batch as usize,
        };
        let rotated = match (&self.new, &self.retire) {
            (Some(file), None) => self.add(session, &rotation, keys, file.as_deref())?,
            (None, Some(old)) => retire(session, &rotation, keys, old)?,
            _ => bail!("give one step: --new [FILE] or --retire KEY"),
        };
        let left = rotated.left.len();
        for f in &rotated.left {
            println!("left: {}: {}", f.path.as_deref().unwrap_or(&f.file), f.problem);
        }
        for key in &rotated.coverage {
            println!("key {} signs {} of {} narinfo(s)", key.key, key.signs, key.of);
        }
        record.rotation = Some(rotated);
        ensure!(
            left == 0,
            "{left} narinfo(s) were left without the new key's signature (named above): `cargo xtask verify --repair` \
             replaces or re-signs what this machine's store vouches for; then run `cargo xtask rotate-key --new` again"
        );
        Ok(())
    }

    /// `--new`: the new key made or read, the config trusting it, every sound narinfo signed by it.
    fn add(&self, session: &Session, rotation: &Rotation, keys: &SigningKeys, file: Option<&Path>) -> Result<Rotated> {
        let file = new_file(session, keys, file)?;
        let (_, at_hand) = keys.ensure()?;
        let key = match std::fs::symlink_metadata(&file) {
            Ok(_) => SigningKey::given(&file)?,
            Err(_) => {
                let old = at_hand.first().map(|k| key_name(k));
                let name = self.key_name.clone().unwrap_or_else(|| next_name(old.unwrap_or(&session.config.name)));
                SigningKey::made(file.clone(), &name)
            }
        };
        let (note, public) = key.ensure()?;
        eprintln!("the new key: {public} ({note})");
        let old: Vec<String> = at_hand.into_iter().filter(|k| *k != public).collect();
        ensure!(!old.is_empty(), "{} is the key the cache is signed with now: give a new key's file", file.display());
        let mut trusted = session.config.public_keys.clone();
        for key in old.iter().chain([&public]) {
            if !trusted.contains(key) {
                trusted.push(key.clone());
            }
        }
        if trusted != session.config.public_keys {
            super::rewrite(session, Change::PublicKeys(trusted.clone()))?;
        }
        if let Some(dir) = own_keys(session, keys) {
            // Its public keys beside it, for runners: both now.
            SigningKeys::local(dir, &session.config.name).ensure()?;
        }
        let vouching: Vec<String> = trusted.iter().filter(|k| **k != public).cloned().collect();
        let mut lock = rotation.files.lock(roots::LOCK_WAIT, roots::lease(session.config.cache_timeout))?;
        let new = SigningKeys { keys: vec![key], public: None };
        let rotated = rotated("new", &public, rotation.add(&new, &public, &vouching, &mut lock)?);
        let names: Vec<&str> = old.iter().map(|k| key_name(k)).collect();
        println!(
            "signed {} narinfo(s) with {public} ({} already were), in {} pass(es); the config trusts {}",
            rotated.changed,
            rotated.already,
            rotated.passes,
            trusted.join(" ")
        );
        println!(
            "next: commit Cargo.toml, flake.nix and the workflows; pushes sign with every key at hand{}; once every runner \
             trusts the new key (`cargo xtask doctor` on each), `cargo xtask rotate-key --retire {}`",
            match own_keys(session, keys) {
                Some(_) => String::new(),
                None => format!(" (give them --signing-key OLD --signing-key {})", file.display()),
            },
            names.join(" --retire ")
        );
        Ok(Rotated { trusted, ..rotated })
    }
}

/// `--retire OLD`: its signatures removed once every narinfo has another trusted one, then its
/// public key; a local cache's next key becomes its own.
fn retire(session: &Session, rotation: &Rotation, keys: &SigningKeys, old: &str) -> Result<Rotated> {
    let at_hand = keys.publics()?;
    let known: Vec<&String> = session.config.public_keys.iter().chain(&at_hand).collect();
    let name_of = |k: &str| key_name(k).to_owned();
    let old =
        known.iter().find(|k| k.as_str() == old || name_of(k) == old).map(|k| k.to_string()).with_context(|| {
            format!(
                "--retire {old}: not a key of the config's public-keys ({}) nor of a key at hand",
                session.config.public_keys.join(" ")
            )
        })?;
    let remaining: Vec<String> = session.config.public_keys.iter().filter(|k| **k != old).cloned().collect();
    ensure!(
        !remaining.is_empty(),
        "refusing to retire {}: the config names only it, so runners would trust no key of the cache; \
         rotate first: `cargo xtask rotate-key --new FILE`",
        name_of(&old)
    );
    let mut lock = rotation.files.lock(roots::LOCK_WAIT, roots::lease(session.config.cache_timeout))?;
    let rotated = rotated("retire", &old, rotation.retire(&old, &remaining, &mut lock)?);
    drop(lock);
    if session.config.public_keys.contains(&old) {
        super::rewrite(session, Change::PublicKeys(remaining.clone()))?;
    }
    if let Some(dir) = own_keys(session, keys) {
        let (current, next) = signing_key::local_files(dir);
        let public = |file: &Path| SigningKey::existing(file).public().ok();
        if next.exists() && public(&current).as_deref() == Some(old.as_str()) {
            std::fs::rename(&next, &current)
                .with_context(|| format!("cannot make {} the cache's key", next.display()))?;
            eprintln!("{} is the cache's key now", current.display());
        } else if public(&next).as_deref() == Some(old.as_str()) {
            std::fs::remove_file(&next)?;
        }
        SigningKeys::local(dir, &session.config.name).ensure()?;
    }
    println!(
        "removed {}'s signature from {} narinfo(s); the config trusts {}: a runner trusting only {} now builds what the cache holds",
        name_of(&old),
        rotated.changed,
        remaining.join(" "),
        name_of(&old)
    );
    Ok(Rotated { trusted: remaining, ..rotated })
}

/// The record of a step of the rotation.
fn rotated(step: &str, key: &str, outcome: Outcome) -> Rotated {
    let left = outcome.left.into_iter().map(|(path, problem)| {
        let file = xtask::cache::narinfo::file_of(&path).unwrap_or_else(|| path.clone());
        Finding { path: Some(path), file, problem }
    });
    Rotated {
        step: step.to_owned(),
        key: key.to_owned(),
        trusted: Vec::new(),
        changed: outcome.changed,
        already: outcome.already,
        left: left.collect(),
        passes: outcome.passes,
        coverage: outcome.coverage,
    }
}

/// The cache's files, when it is one this project signs; else why the rotation is refused.
fn owned(session: &Session) -> Result<Files> {
    let refusal = match &session.cache {
        Cache::Cachix { name } => format!(
            "rotate-key re-signs caches this project signs; cachix:{name} signs with the cache's own key, which only \
             Cachix holds: rotate it on app.cachix.org (a self-managed key: a new cache, or `cachix generate-keypair`), \
             then list its new public key in public-keys beside the old one (docs/caches.md)"
        ),
        Cache::ReadOnly { why, .. } => format!("rotate-key writes to the cache, which is read-only here: {why}"),
        _ => match session.files() {
            Some(files) => return Ok(files),
            None => format!(
                "rotate-key rewrites each narinfo in place, which only a directory (file://) or an HTTP cache that takes \
                 PUT lets it do; {} is neither",
                session.cache.label()
            ),
        },
    };
    bail!(refusal)
}

/// The directory of a cache signed with its own keys, kept beside it (`DIR.secret`): a local
/// cache without `--signing-key`. A cache signed with the keys given is not one, even a directory.
fn own_keys<'s>(session: &'s Session, keys: &SigningKeys) -> Option<&'s Path> {
    match &session.cache {
        Cache::Local { dir } if keys.public.is_some() => Some(dir),
        _ => None,
    }
}

/// The new key's file: a local cache's next key beside it, or the one given.
fn new_file(session: &Session, keys: &SigningKeys, given: Option<&Path>) -> Result<PathBuf> {
    let given = given.map(std::path::absolute).transpose()?;
    match (own_keys(session, keys), given) {
        (Some(dir), given) => {
            let (_, next) = signing_key::local_files(dir);
            ensure!(
                given.as_ref().is_none_or(|g| *g == next),
                "a local cache keeps its next key beside it ({}), where its pushes find it: leave out FILE",
                next.display()
            );
            Ok(next)
        }
        (None, Some(given)) => Ok(given),
        (None, None) => bail!(
            "--new needs the new key's file for {}: --new FILE (made, mode 0600, when it does not exist)",
            session.cache.label()
        ),
    }
}

/// The name of the key after `name`: its trailing number raised (`NAME-1` → `NAME-2`).
fn next_name(name: &str) -> String {
    match name.rsplit_once('-') {
        Some((base, n)) if n.parse::<u64>().is_ok() => format!("{base}-{}", n.parse::<u64>().unwrap_or(0) + 1),
        _ => format!("{name}-2"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_next_key_name_raises_its_number() {
        assert_eq!(super::next_name("nanna-coder-local-1"), "nanna-coder-local-2");
        assert_eq!(super::next_name("cache.example.org-9"), "cache.example.org-10");
        assert_eq!(super::next_name("ours"), "ours-2");
    }
}

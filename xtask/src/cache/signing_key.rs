//! The secret keys the xtask signs with: a local cache's own (`DIR.secret`, created on first use,
//! and during a rotation the next one, `DIR.next.secret`; their public keys written to
//! `DIR.public`), or the user's (`--signing-key FILE`, repeatable). Each is used only when it is
//! this user's own private file ([`check_private`]), else refused before anything is built. What
//! is pushed is signed by every key at hand, so a rotation's new key signs it too.

use std::{
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::{bail, ensure, Context, Result};

use crate::{
    command::{lit, Cmd, Io, NoSlots, Stdin},
    files, nix,
};

/// The secret key a task signs its pushes with, and the commands that make it and read its public key.
#[derive(Debug, Clone)]
pub struct SigningKey {
    /// The secret key's file.
    pub secret: PathBuf,
    /// Makes a new secret key when there is none (a local cache's; `--signing-key` is the user's).
    pub generate: Option<Cmd>,
    /// Prints the public key of the secret key.
    pub convert: Cmd,
}

impl SigningKey {
    /// A key made on first use, named `key_name`, kept in `secret`.
    pub fn made(secret: PathBuf, key_name: &str) -> SigningKey {
        let generate = nix::nix([lit("key"), lit("generate-secret"), lit("--key-name"), lit(key_name)])
            .io(Io::Quiet)
            .hint("it creates the cache's signing key");
        SigningKey { convert: convert(&secret), secret, generate: Some(generate) }
    }

    /// The user's key (`--signing-key FILE`).
    pub fn given(secret: &Path) -> Result<SigningKey> {
        ensure!(
            std::fs::symlink_metadata(secret).is_ok(),
            "--signing-key {}: no such file: create a key with `nix key generate-secret --key-name NAME-1 > FILE` \
                 (and give runners its public key: `nix key convert-secret-to-public < FILE`)",
            secret.display()
        );
        check_private(secret)?;
        Ok(SigningKey::existing(secret))
    }

    /// A key read from its file, never created.
    pub fn existing(secret: &Path) -> SigningKey {
        SigningKey { secret: secret.to_path_buf(), generate: None, convert: convert(secret) }
    }

    /// The commands it runs, for the record: `generate` (when it may) and `convert`.
    pub fn cmds(&self) -> Vec<&Cmd> {
        self.generate.iter().chain([&self.convert]).collect()
    }

    /// Creates the secret key when it is a local cache's and does not exist (when two runs race,
    /// the first one's key wins and both use it), checks it, and returns a note and the public key.
    pub fn ensure(&self) -> Result<(String, String)> {
        let mut note = format!("{} exists", self.secret.display());
        if let Some(generate) = self.generate.as_ref().filter(|_| std::fs::symlink_metadata(&self.secret).is_err()) {
            let key = generate.run(&NoSlots)?;
            eprintln!("  (written to {}, mode 0600, unless another run created it first)", self.secret.display());
            if files::create_private(&self.secret, key.trim().as_bytes())? {
                note = format!("created {}", self.secret.display());
            }
        }
        check_private(&self.secret)?;
        Ok((note, self.public()?))
    }

    /// Its public key (`NAME:BASE64`), from the secret key.
    pub fn public(&self) -> Result<String> {
        Ok(self.convert.run(&NoSlots)?.trim().to_owned())
    }
}

/// Every key the xtask signs with: what it pushes carries a signature by each.
#[derive(Debug, Clone)]
pub struct SigningKeys {
    /// The keys, the cache's current one first.
    pub keys: Vec<SigningKey>,
    /// Where their public keys are written for runners, on one line (a local cache's `DIR.public`).
    pub public: Option<PathBuf>,
}

impl SigningKeys {
    /// A local cache's own keys: `DIR.secret`, created on first use (named `<cache>-local-1`),
    /// and `DIR.next.secret`, the next key of a rotation under way (`cargo xtask rotate-key`),
    /// when it exists.
    pub fn local(dir: &Path, cache_name: &str) -> SigningKeys {
        let (current, next) = local_files(dir);
        let next = std::fs::symlink_metadata(&next).is_ok().then(|| SigningKey::existing(&next));
        let first = SigningKey::made(current, &format!("{cache_name}-local-1"));
        let keys = std::iter::once(first).chain(next).collect();
        SigningKeys { keys, public: Some(local_public(dir)) }
    }

    /// The user's keys (`--signing-key FILE`, repeatable).
    pub fn given(secrets: &[PathBuf]) -> Result<SigningKeys> {
        let keys = secrets.iter().map(|s| SigningKey::given(s)).collect::<Result<_>>()?;
        Ok(SigningKeys { keys, public: None })
    }

    /// The same keys, only read: never created, their public keys not written (`status`); those
    /// whose file exists.
    pub fn reader(&self) -> Option<SigningKeys> {
        let keys: Vec<SigningKey> =
            self.keys.iter().filter(|k| k.secret.exists()).map(|k| SigningKey::existing(&k.secret)).collect();
        (!keys.is_empty()).then_some(SigningKeys { keys, public: None })
    }

    /// What must hold before the keys are used: each existing secret key is this user's private
    /// file, and a local cache's public key has its secret (else the cache is signed by a lost key).
    pub fn check(&self) -> Result<()> {
        for key in &self.keys {
            if std::fs::symlink_metadata(&key.secret).is_ok() {
                check_private(&key.secret)?;
            } else if let Some(public) = self.public.as_ref().filter(|p| p.exists()).map(|p| p.display()) {
                bail!(
                    "{public} exists but its secret key {} does not: restore the secret key, or delete the public key \
                     and the cache directory (its paths are signed by the lost key) to start afresh",
                    key.secret.display()
                );
            }
        }
        Ok(())
    }

    /// The commands they run, for the record: `generate` (when it may) and `convert`, per key.
    pub fn cmds(&self) -> Vec<&Cmd> {
        self.keys.iter().flat_map(|k| k.generate.iter().chain([&k.convert])).collect()
    }

    /// Whether the first key is made on first use (a local cache's own).
    pub fn made_here(&self) -> bool {
        self.keys.first().is_some_and(|k| k.generate.is_some())
    }

    /// Creates what is made on first use, checks every key, writes their public keys beside a
    /// local cache, and returns a note and the public keys.
    pub fn ensure(&self) -> Result<(String, Vec<String>)> {
        let mut notes = Vec::new();
        let mut publics = Vec::new();
        for key in &self.keys {
            let (note, public) = key.ensure()?;
            notes.push(note);
            publics.push(public);
        }
        let line = publics.join(" ");
        let stale = |p: &&PathBuf| std::fs::read_to_string(p).unwrap_or_default().trim() != line;
        if let Some(path) = self.public.as_ref().filter(stale) {
            files::write_atomic(path, format!("{line}\n").as_bytes())?;
        }
        Ok((notes.join("; "), publics))
    }

    /// The public keys, read from the secret keys (none is created).
    pub fn publics(&self) -> Result<Vec<String>> {
        self.keys.iter().filter(|k| k.secret.exists()).map(SigningKey::public).collect()
    }

    /// `nix store sign` with each key, of the paths of `set`, in this machine's store or `store`.
    pub fn sign(&self, store: Option<&str>, set: crate::command::Slot, net: &nix::Network) -> Vec<Cmd> {
        self.keys.iter().map(|k| nix::sign(&k.secret, store, set, net)).collect()
    }
}

/// The name of a key (`NAME` of `NAME:BASE64`), as signatures name it: a public key, a secret
/// key, or a narinfo's `Sig:` value.
pub fn key_name(key: &str) -> &str {
    key.split_once(':').map_or(key, |(name, _)| name)
}

/// Where a local cache's public keys are written for runners: `DIR.public`.
pub(crate) fn local_public(dir: &Path) -> PathBuf {
    PathBuf::from(format!("{}.public", dir.display()))
}

/// A local cache's key files: its own, and the next one of a rotation under way.
pub fn local_files(dir: &Path) -> (PathBuf, PathBuf) {
    let base = dir.display().to_string();
    (PathBuf::from(format!("{base}.secret")), PathBuf::from(format!("{base}.next.secret")))
}

fn convert(secret: &Path) -> Cmd {
    nix::nix([lit("key"), lit("convert-secret-to-public")])
        .io(Io::Quiet)
        .stdin(Stdin::File(secret.to_path_buf()))
        .hint(format!("{} must be a Nix secret key (`nix key generate-secret --key-name NAME`)", secret.display()))
}

/// A secret key file must be this user's own regular file, private to them: a symbolic link (to
/// a key planted elsewhere), another user's file, or one group or others can read is refused.
pub(crate) fn check_private(path: &Path) -> Result<()> {
    let key = path.display();
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot read {key}"))?;
    let fix = "use a key created by this user with mode 0600 (`nix key generate-secret --key-name NAME-1 > FILE; chmod 600 FILE`)";
    ensure!(!meta.file_type().is_symlink(), "the signing key {key} is a symbolic link, which is never followed: {fix}");
    ensure!(meta.is_file(), "the signing key {key} is not a regular file: {fix}");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let (me, owner) = (unsafe { libc::geteuid() }, meta.uid());
    ensure!(owner == me, "the signing key {key} belongs to user {owner}, not to this user ({me}): {fix}");
    let mode = meta.permissions().mode() & 0o777;
    ensure!(
        mode & 0o077 == 0,
        "the signing key {key} has mode {mode:04o}: group or others may read it: `chmod 600 {key}`, or {fix}"
    );
    Ok(())
}

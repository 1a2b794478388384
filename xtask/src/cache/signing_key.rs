//! The secret key the xtask signs with: a local cache's own (`DIR.secret`, created on first use,
//! its public key written to `DIR.public`), or the user's (`--signing-key FILE`). It is used only
//! when it is this user's own private file ([`check_private`]), else refused before anything is built.

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
    /// Where the public key is written for runners (a local cache's `DIR.public`).
    pub public: Option<PathBuf>,
    /// Makes a new secret key when there is none (a local cache's; `--signing-key` is the user's).
    pub generate: Option<Cmd>,
    /// Prints the public key of the secret key.
    pub convert: Cmd,
}

impl SigningKey {
    /// A local cache's own key, created on first use: `DIR.secret`, `DIR.public`.
    pub fn local(dir: &Path, key_name: &str) -> SigningKey {
        let base = dir.display().to_string();
        let (secret, public) = (PathBuf::from(format!("{base}.secret")), PathBuf::from(format!("{base}.public")));
        let generate = nix::nix([lit("key"), lit("generate-secret"), lit("--key-name"), lit(key_name)])
            .io(Io::Quiet)
            .hint("it creates the cache's signing key");
        SigningKey { convert: convert(&secret), secret, public: Some(public), generate: Some(generate) }
    }

    /// What must hold before the key is used: an existing secret key is this user's private file,
    /// and a local cache's public key has its secret (else the cache is signed by a lost key).
    pub fn check(&self) -> Result<()> {
        if std::fs::symlink_metadata(&self.secret).is_ok() {
            return check_private(&self.secret);
        }
        if let Some(public) = self.public.as_ref().filter(|p| p.exists()).map(|p| p.display()) {
            bail!(
                "{public} exists but its secret key {} does not: restore the secret key, or delete the public key \
                 and the cache directory (its paths are signed by the lost key) to start afresh",
                self.secret.display()
            );
        }
        Ok(())
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
        Ok(SigningKey { secret: secret.to_path_buf(), public: None, generate: None, convert: convert(secret) })
    }

    /// The same key, only read: never created, its public key not written (`status`).
    pub fn reader(&self) -> SigningKey {
        SigningKey { generate: None, public: None, ..self.clone() }
    }

    /// The commands it runs, for the record: `generate` (when it may) and `convert`.
    pub fn cmds(&self) -> Vec<&Cmd> {
        self.generate.iter().chain([&self.convert]).collect()
    }

    /// Creates the secret key when it is a local cache's and does not exist (when two runs race,
    /// the first one's key wins and both use it), checks it, and returns a note and the public key,
    /// which is written beside a local cache for runners.
    pub(crate) fn ensure(&self) -> Result<(String, String)> {
        let mut note = format!("{} exists", self.secret.display());
        if let Some(generate) = self.generate.as_ref().filter(|_| std::fs::symlink_metadata(&self.secret).is_err()) {
            let key = generate.run(&NoSlots)?;
            eprintln!("  (written to {}, mode 0600, unless another run created it first)", self.secret.display());
            if files::create_private(&self.secret, key.trim().as_bytes())? {
                note = format!("created {}", self.secret.display());
            }
        }
        check_private(&self.secret)?;
        let public = self.convert.run(&NoSlots)?.trim().to_owned();
        let stale = |p: &&PathBuf| std::fs::read_to_string(p).unwrap_or_default().trim() != public;
        if let Some(path) = self.public.as_ref().filter(stale) {
            files::write_atomic(path, format!("{public}\n").as_bytes())?;
        }
        Ok((note, public))
    }
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

//! How each cache is pushed to: the commands, as values, for the pipeline's last steps, and the
//! local cache's signing key.

use std::path::PathBuf;

use anyhow::Result;
use xshell::Shell;

use super::Cache;
use crate::{
    command::{lit, Cmd, Io, NoSlots, Slot, Stdin},
    files,
    github::names::env::CACHIX_AUTH_TOKEN,
    nix,
};

/// Pushing to a cache: a signing key to create first (a local cache), then one command that
/// uploads the paths of a slot.
pub struct Push {
    pub title: String,
    pub signing_key: Option<SigningKey>,
    pub upload: Cmd,
}

/// A local cache's signing key, created once: concurrent runs agree on one key.
#[derive(Debug)]
pub struct SigningKey {
    pub secret: PathBuf,
    /// Prints a new secret key; the xtask writes it to `secret` (mode 0600), never over one.
    pub generate: Cmd,
    /// Derives the public key (`DIR.public`) from `secret`.
    pub convert: Cmd,
}

impl SigningKey {
    fn new(dir: &std::path::Path, key_name: &str) -> SigningKey {
        let (secret, public) = Cache::key_files_of(dir);
        let generate = nix::nix([lit("key"), lit("generate-secret"), lit("--key-name"), lit(key_name)]).io(Io::Quiet);
        let convert = nix::nix([lit("key"), lit("convert-secret-to-public")])
            .io(Io::Quiet)
            .stdin(Stdin::File(secret.clone()))
            .stdout_to(public.clone());
        SigningKey { secret, generate, convert }
    }

    pub fn cmds(&self) -> Vec<&Cmd> {
        vec![&self.generate, &self.convert]
    }

    /// Creates the secret key unless it exists (when two runs race, the first one's key wins
    /// and both use it), then the public key from whichever secret is in place.
    pub fn ensure(&self, sh: &Shell) -> Result<String> {
        let mut note = format!("{} exists", self.secret.display());
        if !self.secret.exists() {
            let key = self.generate.run(sh, &NoSlots)?;
            eprintln!("  (written to {}, mode 0600, unless another run created it first)", self.secret.display());
            if files::create_private(&self.secret, key.trim().as_bytes())? {
                note = format!("created {}", self.secret.display());
            }
        }
        self.convert.run(sh, &NoSlots)?;
        Ok(note)
    }
}

impl Cache {
    /// How to push the paths of `paths`; `None` for a cache that is only read.
    pub fn push(&self, key_name: &str, paths: Slot) -> Option<Push> {
        let title = format!("Push to {}", self.label());
        match self {
            Cache::Local { dir } => {
                let key = SigningKey::new(dir, key_name);
                let url = format!("file://{}?secret-key={}", dir.display(), key.secret.display());
                Some(Push { title, signing_key: Some(key), upload: nix::copy(&url, paths) })
            }
            Cache::Store { url } => Some(Push { title, signing_key: None, upload: nix::copy(url, paths) }),
            Cache::Cachix { name } => {
                let upload = Cmd::lits("cachix", ["push", name])
                    .stdin(Stdin::Slot(paths))
                    .needs(format!("it pushes to Cachix: check that {CACHIX_AUTH_TOKEN} may write to {name}"));
                Some(Push { title: format!("Push to cachix:{name}"), signing_key: None, upload })
            }
            Cache::CachixReadOnly { .. } => None,
        }
    }
}

//! How each cache is pushed to: the commands, as values, for the pipeline's last steps, and the
//! key the xtask signs with.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

use super::Cache;
use crate::{
    command::{lit, Arg, Cmd, Io, NoSlots, Slot, Stdin},
    files,
    github::names::env::CACHIX_AUTH_TOKEN,
    nix::{self, Network},
};

/// The slots the signing commands read: the public key, the paths to sign before the upload,
/// and the paths the cache has that the key cannot verify.
#[derive(Debug, Clone, Copy)]
pub struct SignSlots {
    pub public_key: Slot,
    pub push: Slot,
    pub unsigned: Slot,
}

/// Pushing to a cache: with a key the xtask holds, its signatures are checked and made first;
/// then one command uploads the paths of a slot.
pub struct Push {
    pub title: String,
    pub signing: Option<Signing>,
    pub upload: Cmd,
}

/// Signing with a key the xtask holds (a local cache's own, or `--signing-key`): the paths to
/// push are signed in the local store (the upload carries the signatures to any kind of store),
/// and paths the cache already has that the key cannot verify are signed where they are.
#[derive(Debug)]
pub struct Signing {
    pub key: SigningKey,
    store: String,
    slots: SignSlots,
}

/// The secret key to sign with, and how its public key is found.
#[derive(Debug, Clone)]
pub struct SigningKey {
    pub secret: PathBuf,
    /// A local cache's key is created on first use; `--signing-key` is the user's.
    pub generate: Option<Cmd>,
    /// Prints the public key (to `DIR.public` for a local cache).
    pub convert: Cmd,
}

impl SigningKey {
    /// A local cache's own key, created on first use (`DIR.secret`, `DIR.public`).
    fn local(dir: &Path, key_name: &str) -> SigningKey {
        let (secret, public) = Cache::key_files_of(dir);
        let generate = nix::nix([lit("key"), lit("generate-secret"), lit("--key-name"), lit(key_name)]).io(Io::Quiet);
        let convert = SigningKey::convert(&secret).stdout_to(public);
        SigningKey { secret, generate: Some(generate), convert }
    }

    /// The user's key (`--signing-key FILE`).
    fn given(secret: &Path) -> SigningKey {
        SigningKey { secret: secret.to_path_buf(), generate: None, convert: SigningKey::convert(secret) }
    }

    fn convert(secret: &Path) -> Cmd {
        nix::nix([lit("key"), lit("convert-secret-to-public")])
            .io(Io::Quiet)
            .stdin(Stdin::File(secret.to_path_buf()))
            .needs(format!("{} must be a Nix secret key (`nix key generate-secret --key-name NAME`)", secret.display()))
    }

    pub fn cmds(&self) -> Vec<&Cmd> {
        self.generate.iter().chain([&self.convert]).collect()
    }

    /// Creates the secret key when it is a local cache's and does not exist (when two runs race,
    /// the first one's key wins and both use it); returns a note and the public key.
    pub fn ensure(&self, sh: &Shell) -> Result<(String, String)> {
        let mut note = format!("{} exists", self.secret.display());
        if let Some(generate) = self.generate.as_ref().filter(|_| !self.secret.exists()) {
            let key = generate.run(sh, &NoSlots)?;
            eprintln!("  (written to {}, mode 0600, unless another run created it first)", self.secret.display());
            if files::create_private(&self.secret, key.trim().as_bytes())? {
                note = format!("created {}", self.secret.display());
            }
        }
        let printed = self.convert.run(sh, &NoSlots)?;
        let public = match &self.convert.stdout_to {
            Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
            None => printed,
        };
        Ok((note, public.trim().to_owned()))
    }
}

impl Signing {
    /// `nix store verify` of the paths of `paths` in the cache, trusting only this key: it names
    /// each path the key cannot verify (and exits non-zero).
    pub fn verify(&self, paths: Slot) -> Cmd {
        nix::nix([
            lit("store"),
            lit("verify"),
            lit("--no-contents"),
            lit("--option"),
            lit("trusted-public-keys"),
            Arg::Slot(self.slots.public_key),
            lit("--store"),
            lit(&self.store),
            Arg::Slot(paths),
        ])
        .io(Io::Quiet)
    }

    /// Signs the paths to push in the local store.
    pub fn sign(&self) -> Cmd {
        nix::nix([lit("store"), lit("sign"), lit("--key-file"), self.secret(), Arg::Slot(self.slots.push)])
            .io(Io::Quiet)
            .needs("it signs the paths to push in the local store (root or a trusted user)")
    }

    /// Signs, in the cache, the paths it has that the key cannot verify.
    pub fn resign(&self) -> Cmd {
        let store = [lit("--store"), lit(&self.store)];
        nix::nix(
            [lit("store"), lit("sign"), lit("--key-file"), self.secret()]
                .into_iter()
                .chain(store)
                .chain([Arg::Slot(self.slots.unsigned)]),
        )
        .io(Io::Quiet)
        .needs("it signs paths in the cache: check the URL and its write credentials")
    }

    fn secret(&self) -> Arg {
        lit(self.key.secret.display().to_string())
    }
}

impl Cache {
    /// How to push the paths of `slots.push`, signed with `signing_key` if given (else a local
    /// cache's own key); `None` for a cache that is only read.
    pub fn push(&self, key_name: &str, net: Network, signing_key: Option<&Path>, slots: &SignSlots) -> Option<Push> {
        let title = format!("Push to {}", self.label());
        let store = self.substituter();
        let key = match (self, signing_key) {
            (Cache::Cachix { .. } | Cache::CachixReadOnly { .. }, _) => None,
            (_, Some(path)) => Some(SigningKey::given(path)),
            (Cache::Local { dir }, None) => Some(SigningKey::local(dir, key_name)),
            (Cache::Store { .. }, None) => None,
        };
        let signing = key.map(|key| Signing { key, store: store.clone(), slots: *slots });
        match self {
            // zstd: the bench's 169 MB deps closure in 0.8 s; Nix's default xz took 10.9 s for 36 MB.
            Cache::Local { .. } => {
                let upload = nix::copy(&format!("{store}?compression=zstd"), slots.push, net);
                Some(Push { title, signing, upload })
            }
            Cache::Store { .. } => Some(Push { title, signing, upload: nix::copy(&store, slots.push, net) }),
            Cache::Cachix { name } => {
                let upload = Cmd::lits("cachix", ["push", name])
                    .stdin(Stdin::Slot(slots.push))
                    .needs(format!("it pushes to Cachix: check that {CACHIX_AUTH_TOKEN} may write to {name}"));
                Some(Push { title: format!("Push to cachix:{name}"), signing: None, upload })
            }
            Cache::CachixReadOnly { .. } => None,
        }
    }
}

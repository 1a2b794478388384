//! How each cache is pushed to: the commands, as values, for the pipeline's last steps.

use std::path::PathBuf;

use super::Cache;
use crate::{
    command::{lit, Cmd, Io, Slot, Stdin},
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

/// Commands that create a signing key, run only when `file` does not exist yet.
#[derive(Debug)]
pub struct SigningKey {
    pub file: PathBuf,
    pub cmds: Vec<Cmd>,
}

impl Cache {
    /// How to push the paths of `paths`; `None` for a cache that is only read.
    pub fn push(&self, key_name: &str, paths: Slot) -> Option<Push> {
        let title = format!("Push to {}", self.label());
        match self {
            Cache::Local { dir } => {
                let (secret, public) = self.key_files().expect("a local cache has key files");
                let generate = nix::nix([lit("key"), lit("generate-secret"), lit("--key-name"), lit(key_name)])
                    .io(Io::Quiet)
                    .stdout_to(secret.clone());
                let convert = nix::nix([lit("key"), lit("convert-secret-to-public")])
                    .io(Io::Quiet)
                    .stdin(Stdin::File(secret.clone()))
                    .stdout_to(public.clone());
                let url = format!("file://{}?secret-key={}", dir.display(), secret.display());
                let signing_key = SigningKey { file: public, cmds: vec![generate, convert] };
                Some(Push { title, signing_key: Some(signing_key), upload: nix::copy(&url, paths) })
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

//! How each cache is pushed to: the upload command, as a value, for the pipeline's push step.

use super::Cache;
use crate::{
    command::{Cmd, Slot, Stdin},
    github::names::env::CACHIX_AUTH_TOKEN,
    nix::{self, Network},
};

impl Cache {
    /// The step's title and the command that uploads `paths`; `None` for a cache only read.
    pub fn upload(&self, paths: Slot, net: &Network) -> Option<(String, Cmd)> {
        let title = format!("Push to {}", self.label());
        match self {
            // zstd: many times faster to write than Nix's default xz, for a little more space.
            Cache::Local { .. } => {
                Some((title, nix::copy(&format!("{}?compression=zstd", self.substituter()), paths, net)))
            }
            Cache::Store { url, .. } => Some((title, nix::copy(url, paths, net))),
            Cache::Cachix { name } => {
                let upload = Cmd::lits("cachix", ["push", name])
                    .stdin(Stdin::Slot(paths))
                    .hint(format!("it pushes to Cachix: check that {CACHIX_AUTH_TOKEN} may write to {name}"));
                Some((format!("Push to cachix:{name}"), upload))
            }
            Cache::ReadOnly { .. } => None,
        }
    }
}

//! What every task gets: the global options, one shell rooted at the workspace root, the config.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use xshell::Shell;

use crate::{cache::Cache, config::Config};

/// Options every task takes, before or after its name.
#[derive(clap::Args, Debug, Default)]
pub struct GlobalArgs {
    /// The flake to build (a path or flake reference). Default: the workspace root.
    #[arg(long, global = true, value_name = "REF")]
    pub flake: Option<String>,
    /// Where to push: a Nix store URL (file://, http(s)://, s3://, ssh-ng://) or cachix:NAME.
    /// Default: cachix:<name> when CACHIX_AUTH_TOKEN is set, else the local cache directory.
    #[arg(long, global = true, value_name = "URL")]
    pub cache: Option<String>,
    /// Print the exact commands the task would run, and run nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// A Nix secret key (`nix key generate-secret`) to sign what is pushed with, for any cache
    /// but Cachix (which signs itself), so runners with `require-sigs` can trust it.
    /// Default for the local cache: its own key, created once beside it.
    #[arg(long, global = true, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// The Nix system to build for. Default: this machine's (e.g. x86_64-linux).
    #[arg(long, global = true, value_name = "SYSTEM")]
    pub system: Option<String>,
}

pub struct Ctx {
    pub sh: Shell,
    pub root: PathBuf,
    pub config: Config,
    /// The flake, absolute when it is a path.
    pub flake: String,
    pub cache_arg: Option<String>,
    /// `--signing-key`, absolute.
    pub signing_key: Option<PathBuf>,
    pub dry_run: bool,
    /// `--system`, or this machine's.
    pub system: String,
    /// Whether `--system` was given (an explicit `--arch` must agree with it).
    pub system_given: bool,
}

impl Ctx {
    pub fn new(args: GlobalArgs) -> Result<Ctx> {
        // Before anything is printed: every secret this run knows of.
        for var in [crate::github::names::env::CACHIX_AUTH_TOKEN, crate::tasks::containers::REGISTRY_TOKEN] {
            if let Ok(token) = std::env::var(var) {
                crate::secrets::register(&token);
            }
        }
        for secret in args.cache.as_deref().map(crate::secrets::in_url).unwrap_or_default() {
            crate::secrets::register(&secret);
        }
        let sh = Shell::new()?;
        let (root, config) = Config::load(&sh.current_dir())?;
        sh.change_dir(&root);
        let flake = match args.flake {
            Some(flake) if Path::new(&flake).exists() => std::path::absolute(&flake)?.display().to_string(),
            Some(flake) => flake,
            None => root.display().to_string(),
        };
        let signing_key = args.signing_key.map(std::path::absolute).transpose()?;
        let system_given = args.system.is_some();
        let system = args.system.unwrap_or_else(host_system);
        Ok(Ctx {
            sh,
            root,
            config,
            flake,
            cache_arg: args.cache,
            signing_key,
            dry_run: args.dry_run,
            system,
            system_given,
        })
    }

    /// The cache of `--cache` or the config, announced once; `--signing-key` must suit it.
    pub fn cache(&self) -> Result<Cache> {
        let cache = Cache::resolve(self.cache_arg.as_deref(), &self.config, &self.root)?;
        if let Some(key) = &self.signing_key {
            if matches!(cache, Cache::Cachix { .. } | Cache::CachixReadOnly { .. }) {
                bail!("--signing-key is for caches the xtask signs for: Cachix signs with the cache's own key, leave it out");
            }
            if !key.is_file() {
                bail!(
                    "--signing-key {}: no such file: create a key with `nix key generate-secret --key-name NAME-1 > FILE` \
                     (and give runners its public key: `nix key convert-secret-to-public < FILE`)",
                    key.display()
                );
            }
        }
        cache.announce();
        Ok(cache)
    }

    /// The system to build images for, and its arch: `--arch A` means `A-linux`; else the arch
    /// of `--system` (or this machine's), so a container key always names the arch it was built for.
    pub fn image_platform(&self, arch: Option<&str>) -> Result<(String, String)> {
        let Some(arch) = arch else {
            let arch = self.system.split('-').next().unwrap_or_default().to_owned();
            return Ok((self.system.clone(), arch));
        };
        self.config.check_arch(arch)?;
        let system = format!("{arch}-linux");
        if self.system_given && self.system != system {
            bail!("--arch {arch} builds for {system}, but --system says {}: pass one of them", self.system);
        }
        Ok((system, arch.to_owned()))
    }
}

/// This machine as a Nix system: `x86_64-linux`, `aarch64-darwin`.
fn host_system() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    };
    format!("{}-{os}", std::env::consts::ARCH)
}

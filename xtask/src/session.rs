//! What every task works with, resolved once in `main` from the command line, environment and config.

use std::{cell::OnceCell, path::Path};

use anyhow::{bail, Result};
use xshell::Shell;

use crate::{
    cache::{files::Files, signing_key::SigningKeys, Cache},
    cli::GlobalArgs,
    config::Config,
    github::names::env::{CACHIX_AUTH_TOKEN, REGISTRY_TOKEN},
    keys::{DepsKey, LockFiles},
    nix::Network,
    scratch, secrets,
};

/// What every task works with, resolved once from the global options, the environment and the config.
pub struct Session {
    /// A shell in the workspace's root (the bench's `cmd!` commands run in it).
    pub sh: Shell,
    /// The workspace's root: the directory of the `Cargo.toml` that holds `[workspace]`.
    pub root: std::path::PathBuf,
    /// `[workspace.metadata.cache]`, validated.
    pub config: Config,
    /// The flake reference: a local flake as the nix CLI takes it ([`flake_ref`]).
    pub flake: String,
    /// `--dry-run`: commands are printed, not run.
    pub dry_run: bool,
    /// The Nix system built for, and its arch.
    pub platform: Platform,
    /// The cache read from and pushed to.
    pub cache: Cache,
    /// The keys the xtask signs with: a local cache's own, or `--signing-key` ([`SigningKeys::check`]).
    pub signing: Option<SigningKeys>,
    /// How long a cache request may stall, and the run's netrc file for an HTTP cache's credentials.
    pub net: Network,
    deps_key: OnceCell<DepsKey>,
}

/// The Nix system to build for, and its arch (the container keys name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// The Nix system (`x86_64-linux`).
    pub system: String,
    /// Its arch, the system's first part (`x86_64`).
    pub arch: String,
    /// Whether `--system` was given (an explicit `--arch` must agree with it).
    given: bool,
}

impl Session {
    /// Resolves the global options: secrets registered (and masked on GitHub) before anything is printed.
    pub fn new(args: GlobalArgs) -> Result<Session> {
        let tokens = [CACHIX_AUTH_TOKEN, REGISTRY_TOKEN].into_iter().filter_map(|var| std::env::var(var).ok());
        for secret in tokens.chain(args.cache.as_deref().map(secrets::in_url).unwrap_or_default()) {
            if secrets::register(&secret) {
                crate::github::mask(&secret);
            }
        }
        let sh = Shell::new()?;
        let (root, config) = Config::load(&sh.current_dir())?;
        sh.change_dir(&root);
        crate::command::run_in(&root);
        let flake = match args.flake {
            Some(flake) if Path::new(&flake).exists() => flake_ref(&std::path::absolute(&flake)?),
            Some(flake) => flake,
            None => flake_ref(&root),
        };
        let platform = Platform::new(args.system);
        let cache = Cache::resolve(args.cache.as_deref(), &config, &root)?;
        let given = args.signing_key.iter().map(std::path::absolute).collect::<std::io::Result<Vec<_>>>()?;
        let signing = match (&cache, given.is_empty()) {
            (Cache::Cachix { .. }, false) => {
                bail!("--signing-key is for caches the xtask signs for: Cachix signs with the cache's own key, leave it out")
            }
            (Cache::ReadOnly { .. }, _) => None,
            (_, false) => Some(SigningKeys::given(&given)?),
            (Cache::Local { dir }, true) => Some(SigningKeys::local(dir, &config.name)),
            _ => None,
        };
        let netrc = match &cache {
            Cache::Store { credentials: Some(_), .. } if args.dry_run => Some(scratch::path(true, "netrc")?),
            Cache::Store { credentials: Some(credentials), .. } => {
                Some(scratch::file("netrc", credentials.netrc().as_bytes())?)
            }
            _ => None,
        };
        let net = Network { stall_secs: config.cache_timeout, netrc };
        let dry_run = args.dry_run;
        Ok(Session { sh, root, config, flake, dry_run, platform, cache, signing, net, deps_key: OnceCell::new() })
    }

    /// The deps key of the workspace's lock files, read on first use.
    pub fn deps_key(&self) -> Result<&DepsKey> {
        if let Some(key) = self.deps_key.get() {
            return Ok(key);
        }
        let key = DepsKey::new(&self.config, &LockFiles::read(&self.root)?);
        Ok(self.deps_key.get_or_init(|| key))
    }

    /// The cache's files, when this project owns it.
    pub fn files(&self) -> Option<Files> {
        self.cache.files(self.config.cache_timeout, self.net.netrc.as_deref())
    }
}

impl Platform {
    /// Linux on an arch (a runner's, or a container's).
    pub fn of_arch(arch: &str) -> Platform {
        Platform { system: format!("{arch}-linux"), arch: arch.to_owned(), given: true }
    }

    /// `--system`, or this machine's.
    fn new(system: Option<String>) -> Platform {
        let given = system.is_some();
        // This machine as a Nix system: `x86_64-linux`, `aarch64-darwin`.
        let host = || format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS.replace("macos", "darwin"));
        let system = system.unwrap_or_else(host);
        let arch = system.split('-').next().unwrap_or_default().to_owned();
        Platform { system, arch, given }
    }

    /// The platform images are built for: `--arch A` means `A-linux`; else the arch of `--system`
    /// (or this machine's), so a container key always names the arch it was built for.
    pub(crate) fn for_images(&self, config: &Config, arch: Option<&str>) -> Result<Platform> {
        let Some(arch) = arch else { return Ok(self.clone()) };
        config.check_arch(arch)?;
        let system = format!("{arch}-linux");
        if self.given && self.system != system {
            bail!("--arch {arch} builds for {system}, but --system says {}: pass one of them", self.system);
        }
        Ok(Platform { system, arch: arch.to_owned(), given: self.given })
    }
}

/// A local flake as `nix build PATH#…` takes it: in a git work tree `git+file://TOP?dir=REL` (what
/// git tracks, and every file of the repository the flake refers to); elsewhere the directory.
pub(crate) fn flake_ref(dir: &Path) -> String {
    let Some(top) = dir.ancestors().find(|top| top.join(".git").exists()) else { return dir.display().to_string() };
    match dir.strip_prefix(top).unwrap_or(Path::new("")).display().to_string() {
        rel if rel.is_empty() => format!("git+file://{}", top.display()),
        rel => format!("git+file://{}?dir={rel}", top.display()),
    }
}

/// The directory of a local flake reference (`/abs`, `path:/abs`, `git+file:///top?dir=rel`).
pub fn flake_dir(flake: &str) -> Option<std::path::PathBuf> {
    let local = flake.strip_prefix("path:").or_else(|| flake.strip_prefix("git+file://")).unwrap_or(flake);
    let (path, query) = local.split_once('?').unwrap_or((local, ""));
    let dir = query.split('&').find_map(|p| p.strip_prefix("dir=")).unwrap_or("");
    Path::new(path).join(dir).canonicalize().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_flake_in_a_git_work_tree_is_the_repository_with_its_directory() {
        let root = std::env::temp_dir().join(format!("xtask-flake-ref-{}", std::process::id()));
        let flake = root.join("a/b");
        std::fs::create_dir_all(&flake).unwrap();
        assert_eq!(flake_ref(&flake), flake.display().to_string(), "no git: the directory");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        assert_eq!(flake_ref(&flake), format!("git+file://{}?dir=a/b", root.display()));
        assert_eq!(flake_ref(&root), format!("git+file://{}", root.display()));
        assert_eq!(flake_dir(&flake_ref(&flake)), flake.canonicalize().ok());
        std::fs::remove_dir_all(&root).unwrap();
    }
}

//! The set-up most tests share: a copy of the example flake of the test's own, a `file://` cache
//! beside it, and the xtask run on both (`--flake`, `--cache`).

use std::{fs, path::PathBuf, process::Command};

use xtask::record::Record;

use super::{example_flake, nix_config, recorded, workspace_root, workspace_with, xtask, Nginx, Run};

/// A copy of the example flake (its own salt: its derivations are the test's own) and a binary
/// cache directory for it, which the first task that writes to it creates.
pub struct Example {
    /// The copy of the example flake.
    pub flake: PathBuf,
    /// The directory of the cache and of the key files the xtask makes beside it
    /// (`cache.secret`, `cache.public`).
    pub dir: PathBuf,
    /// The cache directory: `dir/cache`.
    pub cache: PathBuf,
    /// The cache's URL: `file://` and the cache directory.
    pub url: String,
    /// Where the tasks run: the repository's root, or a workspace of the test's own.
    pub workspace: PathBuf,
}

impl Example {
    /// The example flake's copy named `name`, the cache beside it; the tasks run in the repository.
    pub fn new(name: &str) -> Example {
        Example::for_flake(example_flake(name))
    }

    /// A flake of the test's own (e.g. [`super::images::runnable_flake`]), the cache beside it;
    /// the tasks run in the repository.
    pub fn for_flake(flake: PathBuf) -> Example {
        let dir = flake.parent().unwrap().to_path_buf();
        Example::with_cache_in(flake, dir, workspace_root())
    }

    /// The example flake's copy named `name`, and a workspace of the test's own with the real
    /// config (plus `extra` lines in its table, [`workspace_with`]) and lock files, the tasks run
    /// in it and the cache in it: a test that changes the lock files changes the key.
    pub fn in_workspace(name: &str, extra: &str) -> Example {
        let workspace = workspace_with(name, extra);
        Example::with_cache_in(example_flake(name), workspace.clone(), workspace)
    }

    fn with_cache_in(flake: PathBuf, dir: PathBuf, workspace: PathBuf) -> Example {
        let cache = dir.join("cache");
        let url = format!("file://{}", cache.display());
        Example { flake, dir, cache, url, workspace }
    }

    /// The xtask with `args`, then `--flake` and `--cache` (the file cache).
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_on(&self.url, args)
    }

    /// The xtask with `args`, then `--flake` and `--cache URL`: another cache than the file one.
    pub fn cmd_on(&self, url: &str, args: &[&str]) -> Command {
        let mut cmd = xtask();
        cmd.current_dir(&self.workspace).args(args).args([
            "--flake",
            &self.flake.display().to_string(),
            "--cache",
            url,
        ]);
        cmd
    }

    /// The xtask with `args`, then `--flake` and `--cache` of nginx's cache, with nginx's
    /// credentials (its netrc file, as Nix reads it).
    pub fn cmd_on_nginx(&self, nginx: &Nginx, args: &[&str]) -> Command {
        let mut cmd = self.cmd_on(&nginx.url, args);
        cmd.env("NIX_CONFIG", nix_config(&format!("netrc-file = {}", nginx.netrc.display())));
        cmd
    }

    /// The xtask with `args` and `--cache` (the file cache) only: tasks that read no flake (gc).
    pub fn cache_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = xtask();
        cmd.current_dir(&self.workspace).args(args).args(["--cache", &self.url]);
        cmd
    }

    /// Runs [`Example::cmd`] and reads what it did from its record ([`recorded`]).
    pub fn task(&self, args: &[&str]) -> (Run, Record) {
        recorded(&mut self.cmd(args))
    }

    /// The installable of a flake attribute: `<flake>#<attr>`.
    pub fn installable(&self, attr: &str) -> String {
        format!("{}#{attr}", self.flake.display())
    }

    /// The public key the xtask made beside the cache (`cache.public`), without its newline.
    pub fn public_key(&self) -> String {
        fs::read_to_string(self.dir.join("cache.public")).unwrap().trim().to_owned()
    }
}

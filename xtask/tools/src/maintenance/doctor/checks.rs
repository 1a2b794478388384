//! The checks, in the order they are printed.

use std::path::Path;

use super::{cmds, fail, ok, warn, Check};
use xtask::{
    cache::{self, signing_key::key_name, Cache},
    command::{on_path, Cmd, Io, NoSlots},
    config::{is_cache_name, Config},
    files::Mode,
    github::names::env::CACHIX_AUTH_TOKEN,
    keys::{DepsKey, LockFiles, LOCK_FILES},
    nix::{json::Settings, version},
    session::{flake_dir, Session},
};

use crate::workflows;

pub fn all(session: &Session) -> Vec<Check> {
    let nix_config = read(cmds::nix_config()).and_then(|s| Settings::parse(&s).ok());
    let mut checks = vec![nix(session), flakes(nix_config.as_ref())];
    checks.extend(LOCK_FILES.iter().map(|f| lock_file(session, f.name, f.creates)));
    checks.extend([key(session), names(session), token(session), substituter(session, nix_config.as_ref())]);
    checks.push(trusted_keys(session, nix_config.as_ref()));
    checks.push(
        match workflows::generate(&session.config).and_then(|f| workflows::update(&session.root, &f, Mode::Check)) {
            Ok(()) => ok("workflows", "generated workflows are up to date"),
            Err(e) => fail("workflows", format!("{e:#}").lines().next().unwrap_or_default(), xtask::workflows::COMMAND),
        },
    );
    checks
}

/// The command's stdout, when it ran and succeeded (and its program is installed).
fn read(cmd: Cmd) -> Option<String> {
    on_path(&cmd.program).then(|| cmd.io(Io::Quiet).run_quietly(&NoSlots).ok())?
}

fn nix(session: &Session) -> Check {
    if !on_path("nix") {
        return fail(
            "nix",
            "not installed",
            "apt-get install nix-bin (Debian, Ubuntu) or the installer from https://nixos.org/download",
        );
    }
    // The version the tasks detected (`nix --version`, asked once per run).
    let Some(found) = version::detected() else {
        return fail("nix", "`nix --version` failed or printed no version", "reinstall Nix");
    };
    let tested = format!("tested: {} and {}", version::OLDEST_TESTED, version::NEWEST_TESTED);
    let workspace_flake =
        flake_dir(&session.flake).is_some_and(|flake| Some(flake) == session.root.canonicalize().ok());
    if found < version::FLAKE_NEEDS && workspace_flake {
        return fail(
            "nix",
            format!(
                "Nix {found}: the workspace's flake needs {} or later (crane supports no older Nix)",
                version::FLAKE_NEEDS
            ),
            "upgrade Nix (cachix/install-nix-action installs a current one), or check another flake with --flake",
        );
    }
    ok("nix", format!("Nix {found} ({tested}; the workspace's flake needs {} or later)", version::FLAKE_NEEDS))
}

fn flakes(config: Option<&Settings>) -> Check {
    match config.map(|c| c.experimental_features().iter().any(|f| f == "flakes")) {
        None => warn("flakes", "cannot read Nix's configuration", "install Nix first"),
        Some(true) => ok("flakes", "enabled"),
        Some(false) => warn(
            "flakes",
            "not enabled in nix.conf (the xtask enables them for its own commands)",
            "add `experimental-features = nix-command flakes` to /etc/nix/nix.conf for `nix develop` and `nix run`",
        ),
    }
}

fn lock_file(session: &Session, file: &str, creates: &str) -> Check {
    if !session.root.join(file).exists() {
        fail("lock files", format!("{file} is missing"), format!("{creates}, then commit it"))
    } else if !cmds::tracked(file).succeeds() {
        fail(
            "lock files",
            format!("{file} is not committed: CI cannot see it"),
            format!("git add {file} && git commit"),
        )
    } else if !cmds::unchanged(file).succeeds() {
        warn("lock files", format!("{file} has uncommitted changes"), format!("commit {file}"))
    } else {
        ok("lock files", format!("{file} present and committed"))
    }
}

/// The key of the working tree, and as CI computes it: from the committed lock files.
fn key(session: &Session) -> Check {
    let Ok(ours) = session.deps_key() else {
        return fail("key", "cannot compute the key: a lock file is missing", "see the lock files check");
    };
    let [flake, cargo] = LOCK_FILES.map(|f| read(cmds::committed(f.name)).map(String::into_bytes));
    let (Some(flake), Some(cargo)) = (flake, cargo) else {
        return warn("key", format!("{ours} (no commit to compare with)"), "commit the lock files");
    };
    let ci = DepsKey::new(&session.config, &LockFiles { flake, cargo });
    if ci == *ours {
        ok("key", format!("{ours} (what CI computes from the committed lock files)"))
    } else {
        fail("key", format!("this checkout gives {ours}, CI gives {ci}"), "commit flake.lock and Cargo.lock")
    }
}

/// The names of the Cachix caches a text names by URL (`https://NAME.cachix.org`).
fn cachix_names(text: &str) -> Vec<&str> {
    text.split("https://")
        .skip(1)
        .filter_map(|rest| rest.split_once(".cachix.org"))
        .map(|(name, _)| name)
        .filter(|n| is_cache_name(n))
        .collect()
}

/// The cache name of the config, in the workflows and in the flake's nixConfig.
fn names(session: &Session) -> Check {
    let name = &session.config.name;
    let mut problems = Vec::new();
    let flake = std::fs::read_to_string(session.root.join("flake.nix")).unwrap_or_default();
    let in_flake = cachix_names(&flake);
    if in_flake.is_empty() || in_flake.iter().any(|n| n != name) {
        problems.push(format!("flake.nix nixConfig names {in_flake:?}"));
    }
    for key in session.config.public_keys.iter().filter(|key| !flake.contains(key.as_str())) {
        problems.push(format!("flake.nix nixConfig lacks the config's public key {key}"));
    }
    problems.extend(workflow_cache_names(&session.root, &session.config));
    if problems.is_empty() {
        return ok("cache name", format!("{name} in the config, the workflows and flake.nix"));
    }
    fail(
        "cache name",
        problems.join("; "),
        format!("use {name} everywhere: edit flake.nix's nixConfig, run `{}`", xtask::workflows::COMMAND),
    )
}

/// cachix-action's `name:` in each committed workflow (commented out when disabled) that is not the config's.
fn workflow_cache_names(root: &Path, config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    for path in [xtask::workflows::CI, xtask::workflows::WARMING] {
        let text = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().map(|l| l.trim_start().trim_start_matches('#').trim_start()).collect();
        let found =
            lines.windows(2).filter(|pair| pair[0] == "with:").filter_map(|pair| pair[1].strip_prefix("name: "));
        problems.extend(found.filter(|name| *name != config.name).map(|name| format!("{path} names the cache {name}")));
    }
    problems
}

/// The cache the tasks would use with no `--cache`, and whether they could push to it (the
/// same preflight the tasks run: the `cachix` CLI and the token, never printed).
fn token(session: &Session) -> Check {
    let cache = match Cache::resolve(None, &session.config, &session.root) {
        Ok(cache) => cache,
        Err(e) => return fail("token", format!("{e:#}"), "fix [workspace.metadata.cache]"),
    };
    let state = if cache::token_is_set() { "is set (not shown)" } else { "is not set" };
    match (&cache, cache.preflight()) {
        (_, Err(problem)) => {
            let problem = format!("{problem:#}").replace("\n  - ", " ").replace('\n', " ");
            fail(
                "token",
                format!("{CACHIX_AUTH_TOKEN} {state}, but {problem}"),
                "see the detail: each problem names its fix",
            )
        }
        (Cache::Cachix { name }, Ok(())) => {
            ok("token", format!("{CACHIX_AUTH_TOKEN} {state}: tasks push to cachix:{name}"))
        }
        (_, Ok(())) => {
            ok("token", format!("{CACHIX_AUTH_TOKEN} {state} and not used: tasks push to {}", cache.label()))
        }
    }
}

fn substituter(session: &Session, nix_config: Option<&Settings>) -> Check {
    let cache = &session.cache;
    let url = cache.substituter();
    if let Cache::Local { .. } = cache {
        return ok("substituter", format!("{url}: the tasks add it themselves"));
    }
    let words = |name| nix_config.map(|c| c.words(name)).unwrap_or_default();
    if [words("substituters"), words("extra-substituters")].concat().iter().any(|s| s.trim_end_matches('/') == url) {
        return ok("substituter", format!("{url} is a substituter"));
    }
    warn(
        "substituter",
        format!("{url} is not among Nix's substituters (the tasks still add it to their own builds)"),
        format!("cachix use {}, or `nix develop --accept-flake-config`", session.config.name),
    )
}

/// Whether this Nix trusts every public key of the config: a runner that lacks one builds what
/// only that key signs (after a key rotation, the new key), or refuses it with `require-sigs`.
fn trusted_keys(session: &Session, nix_config: Option<&Settings>) -> Check {
    let Some(settings) = nix_config else {
        return warn("trusted keys", "cannot read Nix's configuration", "install Nix first");
    };
    let trusted = [settings.words("trusted-public-keys"), settings.words("extra-trusted-public-keys")].concat();
    let keys = &session.config.public_keys;
    let lacking: Vec<&String> = keys.iter().filter(|k| !trusted.contains(k)).collect();
    if keys.is_empty() {
        return ok("trusted keys", "the config lists no public keys (public-keys)");
    }
    if lacking.is_empty() {
        return ok("trusted keys", format!("Nix trusts every key of the config: {}", keys.join(", ")));
    }
    let names: Vec<&str> = lacking.iter().map(|k| key_name(k)).collect();
    warn(
        "trusted keys",
        format!(
            "Nix does not trust {} of the config's public-keys: {} (what only it signs is built here, not fetched)",
            names.join(", "),
            lacking.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" ")
        ),
        format!(
            "add `extra-trusted-public-keys = {}` to nix.conf (the generated workflows do it for CI)",
            keys.join(" ")
        ),
    )
}

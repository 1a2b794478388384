//! `cargo xtask doctor [--json]`: the seed's troubleshooting section as checks, one line each,
//! with the fix where one fails. Exit 0 when nothing fails; warnings do not fail.

use std::path::Path;

use anyhow::{bail, Result};
use regex_lite::Regex;
use serde_json::{json, Value};
use xshell::{cmd, Shell};

use crate::{
    cache::{on_path, Cache, TOKEN_VAR},
    cache_key,
    config::Backend,
    workflows, Ctx,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Ok,
    Warn,
    Fail,
}

struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    fix: String,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check { name, status: Status::Ok, detail: detail.into(), fix: String::new() }
}

fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { name, status: Status::Warn, detail: detail.into(), fix: fix.into() }
}

fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { name, status: Status::Fail, detail: detail.into(), fix: fix.into() }
}

/// The commands the checks run, for `--dry-run`.
const COMMANDS: &[&str] = &[
    "nix --version",
    "nix --extra-experimental-features nix-command show-config --json",
    "git ls-files --error-unmatch flake.lock Cargo.lock",
    "git diff --quiet HEAD -- flake.lock Cargo.lock",
    "git show HEAD:flake.lock",
    "git show HEAD:Cargo.lock",
];

pub fn run(ctx: &Ctx, as_json: bool) -> Result<()> {
    if ctx.dry_run {
        println!("# cargo xtask doctor (dry run: nothing is run)");
        for command in COMMANDS {
            println!("{command}");
        }
        return Ok(());
    }
    let sh = &ctx.sh;
    let nix_config = nix_config(sh);
    let mut checks = vec![nix(sh), flakes(&nix_config)];
    checks.extend(lock_files(sh, &ctx.root));
    checks.push(key(ctx));
    checks.push(names(ctx));
    checks.push(token(ctx));
    checks.push(substituter(ctx, &nix_config));
    checks.push(match workflows::generate(&ctx.config).and_then(|f| workflows::check_files(&ctx.root, &f)) {
        Ok(()) => ok("workflows", "generated workflows are up to date"),
        Err(e) => {
            fail("workflows", format!("{e:#}").lines().next().unwrap_or_default().to_owned(), "cargo xtask workflows")
        }
    });

    if as_json {
        let list: Vec<Value> = checks
            .iter()
            .map(|c| json!({ "check": c.name, "status": format!("{:?}", c.status).to_lowercase(), "detail": c.detail, "fix": c.fix }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            let fix = if c.fix.is_empty() { String::new() } else { format!(" -> fix: {}", c.fix) };
            println!("{mark} {:<12} {}{fix}", c.name, c.detail);
        }
    }
    let failed: Vec<_> = checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.name).collect();
    if !failed.is_empty() {
        bail!("doctor: {} check(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

fn nix(sh: &Shell) -> Check {
    if !on_path("nix") {
        return fail(
            "nix",
            "not installed",
            "apt-get install nix-bin (Debian, Ubuntu) or the installer from https://nixos.org/download",
        );
    }
    match cmd!(sh, "nix --version").quiet().read() {
        Ok(version) => ok("nix", version),
        Err(e) => fail("nix", format!("`nix --version` failed: {e}"), "reinstall Nix"),
    }
}

fn nix_config(sh: &Shell) -> Value {
    if !on_path("nix") {
        return Value::Null;
    }
    cmd!(sh, "nix --extra-experimental-features nix-command show-config --json")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

/// A setting of `nix show-config --json` as a list of words.
fn setting(config: &Value, name: &str) -> Vec<String> {
    match &config[name]["value"] {
        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn flakes(config: &Value) -> Check {
    if config.is_null() {
        return warn("flakes", "cannot read Nix's configuration", "install Nix first");
    }
    if setting(config, "experimental-features").iter().any(|f| f == "flakes") {
        ok("flakes", "enabled")
    } else {
        warn(
            "flakes",
            "not enabled in nix.conf (the xtask enables them for its own commands)",
            "add `experimental-features = nix-command flakes` to /etc/nix/nix.conf for `nix develop` and `nix run`",
        )
    }
}

fn lock_files(sh: &Shell, root: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    for (file, creates) in cache_key::LOCK_FILES {
        let check = if !root.join(file).exists() {
            fail("lock files", format!("{file} is missing"), format!("{creates}, then commit it"))
        } else if cmd!(sh, "git ls-files --error-unmatch {file}").quiet().ignore_stdout().ignore_stderr().run().is_err()
        {
            fail(
                "lock files",
                format!("{file} is not committed: CI cannot see it"),
                format!("git add {file} && git commit"),
            )
        } else if cmd!(sh, "git diff --quiet HEAD -- {file}").quiet().run().is_err() {
            warn("lock files", format!("{file} has uncommitted changes"), format!("commit {file}"))
        } else {
            ok("lock files", format!("{file} present and committed"))
        };
        checks.push(check);
    }
    checks
}

/// Twice from the working tree, and once as CI computes it: from the committed lock files.
fn key(ctx: &Ctx) -> Check {
    let (first, second) = (cache_key::deps_key(&ctx.root, &ctx.config), cache_key::deps_key(&ctx.root, &ctx.config));
    let (Ok(first), Ok(second)) = (first, second) else {
        return fail("key", "cannot compute the key: a lock file is missing", "see the lock files check");
    };
    if first != second {
        return fail(
            "key",
            format!("two computations differ: {first} vs {second}"),
            "is something rewriting the lock files?",
        );
    }
    let sh = &ctx.sh;
    let committed =
        |file: &str| cmd!(sh, "git show HEAD:{file}").quiet().ignore_stderr().output().ok().map(|o| o.stdout);
    match (committed("flake.lock"), committed("Cargo.lock")) {
        (Some(flake), Some(cargo)) => {
            let ci = cache_key::key_of(&ctx.config, &flake, &cargo);
            if ci == first {
                ok("key", format!("{first} (stable, and what CI computes from the committed lock files)"))
            } else {
                fail("key", format!("this checkout gives {first}, CI gives {ci}"), "commit flake.lock and Cargo.lock")
            }
        }
        _ => warn("key", format!("{first} (no commit to compare with)"), "commit the lock files"),
    }
}

/// The cache name of the config, in the workflows and in the flake's nixConfig.
fn names(ctx: &Ctx) -> Check {
    let name = &ctx.config.name;
    let mut problems = Vec::new();
    let flake = std::fs::read_to_string(ctx.root.join("flake.nix")).unwrap_or_default();
    let cachix_url = Regex::new(r"https://([a-z0-9-]+)\.cachix\.org").expect("valid regex");
    let in_flake: Vec<&str> = cachix_url.captures_iter(&flake).map(|c| c.get(1).map_or("", |m| m.as_str())).collect();
    if in_flake.iter().any(|n| n != name) || in_flake.is_empty() {
        problems.push(format!("flake.nix nixConfig names {in_flake:?}"));
    }
    if let Some(key) = &ctx.config.public_key {
        if !flake.contains(key.as_str()) {
            problems.push("flake.nix nixConfig lacks the config's public-key".to_owned());
        }
    }
    for path in [workflows::CI, workflows::WARMING] {
        let text = std::fs::read_to_string(ctx.root.join(path)).unwrap_or_default();
        // cachix-action's `name:` is the first line of its `with:` (commented out when disabled).
        let bare = |line: &str| line.trim_start().trim_start_matches('#').trim_start().to_owned();
        let lines: Vec<String> = text.lines().map(bare).collect();
        for pair in lines.windows(2) {
            if let (true, Some(found)) = (pair[0] == "with:", pair[1].strip_prefix("name: ")) {
                if found != name {
                    problems.push(format!("{path} names the cache {found}"));
                }
            }
        }
    }
    if problems.is_empty() {
        ok("cache name", format!("{name} in the config, the workflows and flake.nix"))
    } else {
        fail(
            "cache name",
            problems.join("; "),
            format!("use {name} everywhere: edit flake.nix's nixConfig, run `cargo xtask workflows`"),
        )
    }
}

fn token(ctx: &Ctx) -> Check {
    let set = std::env::var(TOKEN_VAR).is_ok_and(|t| !t.is_empty());
    match (ctx.config.backend, set) {
        (Backend::Cachix, true) => {
            ok("token", format!("{TOKEN_VAR} is set (not shown): tasks push to cachix:{}", ctx.config.name))
        }
        (_, _) => ok(
            "token",
            format!("{TOKEN_VAR} is not used: tasks push to the local cache {}", ctx.config.local_cache.display()),
        ),
    }
}

fn substituter(ctx: &Ctx, nix_config: &Value) -> Check {
    let Ok(cache) = ctx.cache() else { return warn("substituter", "no cache to check", "see --cache") };
    let url = cache.substituter();
    if let Cache::Local { .. } = cache {
        return ok("substituter", format!("{url}: the tasks add it themselves"));
    }
    let mut configured = setting(nix_config, "substituters");
    configured.extend(setting(nix_config, "extra-substituters"));
    if configured.iter().any(|s| s.trim_end_matches('/') == url) {
        ok("substituter", format!("{url} is a substituter"))
    } else {
        warn(
            "substituter",
            format!("{url} is not among Nix's substituters (the tasks still add it to their own builds)"),
            format!("cachix use {}, or `nix develop --accept-flake-config`", ctx.config.name),
        )
    }
}

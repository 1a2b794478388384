//! What a fresh runner would see: for each target of the warm set (the deps layer, each image,
//! each test type's check), the store paths it would fetch from the cache and the derivations it
//! would build, as `nix build --dry-run` reports against an empty store whose only substituter is
//! the cache. Builds nothing and writes nothing but a temporary store, removed after.
//!
//! Paths a runner gets from their origin rather than a cache (what the push filter drops, and
//! the sources evaluation adds to the store) are counted apart (`from_origin`): they are not
//! misses. `hit_rate` is cached / paths over every target; `deps_hit_rate` is the same over the
//! deps layer's paths, which by design depend on the lock files only, not the workspace's sources
//! (so it is what a cache can serve at all: 1.0 when a pull request builds only its own code).

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::{
    cache::push_filter::PushFilter,
    command::{lit, Cmd, NoSlots},
    config::Config,
    json::Json,
    layers,
    nix::{self, Attr, Network},
};

/// What the deps layer's target is called: its rate is `deps_hit_rate`.
pub const DEPS: &str = "deps";

/// A target of the warm set, by name (`deps`, `image harness`, `check unit`).
pub struct Target {
    pub name: String,
    pub attr: Attr,
}

impl Target {
    /// A flake attribute of the warm set, named by its layer.
    pub fn of(config: &Config, attr: Attr) -> Target {
        let image = config.images.iter().find(|(_, a)| *a == attr.name).map(|(image, _)| image);
        let name = match image {
            _ if attr.parent.starts_with("checks.") => format!("check {}", attr.name),
            _ if attr.name == config.deps_attr => DEPS.to_owned(),
            Some(image) => format!("image {image}"),
            None => attr.name.clone(),
        };
        Target { name, attr }
    }
}

/// Every target of the warm set: the deps layer, the images, the checks.
pub fn warm_set(config: &Config, system: &str) -> Vec<Target> {
    let images = config.images.iter().map(|(_, attr)| Attr::package(system, attr));
    let checks = config.tests.iter().map(|(test_type, _)| Attr::check(system, test_type));
    std::iter::once(layers::deps(config, system)).chain(images).chain(checks).map(|a| Target::of(config, a)).collect()
}

/// One target, as a fresh runner sees it.
#[derive(Debug, Default)]
pub struct Seen {
    pub name: String,
    pub attr: String,
    /// Paths it would fetch from the cache.
    pub cached: BTreeSet<String>,
    /// Derivations it would build (their `.drv` paths).
    pub to_build: BTreeSet<String>,
    /// Paths it gets from their origin: filtered out, or added by evaluation.
    pub from_origin: BTreeSet<String>,
}

impl Seen {
    fn paths(&self) -> usize {
        self.cached.len() + self.to_build.len()
    }

    fn names(&self) -> Vec<String> {
        self.to_build.iter().map(|drv| store_name(drv).trim_end_matches(".drv").to_owned()).collect()
    }
}

/// `nix build --dry-run` of one target into an empty store at `store`, substituting from the cache.
pub fn dry_run(flake: &str, attr: &Attr, store: &str, cache: Option<(&str, Option<&str>)>, net: Network) -> Cmd {
    let mut args = vec![lit("build"), lit("--dry-run"), lit("--store"), lit(store)];
    args.extend(net.options());
    args.extend([lit("--option"), lit("substituters"), lit(cache.map_or("", |(url, _)| url))]);
    match cache.and_then(|(_, key)| key) {
        Some(key) => args.extend([lit("--option"), lit("trusted-public-keys"), lit(key)]),
        None => args.extend([lit("--option"), lit("require-sigs"), lit("false")]),
    }
    args.push(lit(attr.installable(flake)));
    nix::nix(args).needs("it asks what a fresh runner would fetch and build (it builds nothing)")
}

/// Runs the dry run of each target, each in an empty store of its own.
pub fn look(
    sh: &Shell,
    flake: &str,
    targets: &[Target],
    cache: Option<(&str, Option<&str>)>,
    filter: &PushFilter,
    net: Network,
) -> Result<Vec<Seen>> {
    let dir = std::env::temp_dir().join(format!("xtask-status-{}", std::process::id()));
    let mut seen = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let store = dir.join(i.to_string());
        let cmd = dry_run(flake, &target.attr, &store.display().to_string(), cache, net);
        let output = cmd.output(sh, &NoSlots)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::bail!("`nix build --dry-run` of {} failed: {}\n{}", target.attr, cmd.needs, stderr.trim_end());
        }
        let (fetched, to_build) = parse_dry_run(&stderr);
        let evaluated = added_by_evaluation(&store)?;
        let (from_origin, cached): (BTreeSet<_>, BTreeSet<_>) = fetched.into_iter().partition(|p| filter.is_match(p));
        let (origin_builds, to_build): (BTreeSet<_>, BTreeSet<_>) =
            to_build.into_iter().partition(|d| filter.is_match(d.trim_end_matches(".drv")));
        let from_origin = from_origin.into_iter().chain(origin_builds).chain(evaluated).collect();
        seen.push(Seen { name: target.name.clone(), attr: target.attr.to_string(), cached, to_build, from_origin });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(seen)
}

/// The paths evaluation put into an empty store (sources, not `.drv` files).
fn added_by_evaluation(store: &std::path::Path) -> Result<BTreeSet<String>> {
    let dir = store.join("nix/store");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(BTreeSet::new()) };
    let mut paths = BTreeSet::new();
    for entry in entries {
        let name = entry.with_context(|| format!("cannot list {}", dir.display()))?.file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".drv") && !name.starts_with('.') {
            paths.insert(format!("/nix/store/{name}"));
        }
    }
    Ok(paths)
}

/// The paths `nix build --dry-run` says it would fetch, and the derivations it would build.
pub fn parse_dry_run(stderr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut fetched, mut built) = (BTreeSet::new(), BTreeSet::new());
    let mut section = None;
    for line in stderr.lines() {
        if let Some(path) = line.strip_prefix("  ").filter(|p| p.starts_with('/')) {
            match section {
                Some(true) => built.insert(path.to_owned()),
                Some(false) => fetched.insert(path.to_owned()),
                None => false,
            };
        } else {
            section = if line.contains("will be built") {
                Some(true)
            } else if line.contains("will be fetched") {
                Some(false)
            } else {
                None
            };
        }
    }
    (fetched, built)
}

/// `/nix/store/HASH-name` -> `name`.
fn store_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split_once('-').map_or(base, |(_, name)| name)
}

/// The totals over every target: distinct paths, hits, and the rates.
pub struct Totals {
    pub paths: usize,
    pub cached: usize,
    pub from_origin: usize,
    pub hit_rate: f64,
    pub deps_hit_rate: f64,
}

pub fn totals(seen: &[Seen]) -> Totals {
    let cached: BTreeSet<&String> = seen.iter().flat_map(|s| &s.cached).collect();
    let missed: BTreeSet<&String> = seen.iter().flat_map(|s| &s.to_build).collect();
    let from_origin: BTreeSet<&String> = seen.iter().flat_map(|s| &s.from_origin).collect();
    let rate = |hits: usize, all: usize| if all == 0 { 1.0 } else { hits as f64 / all as f64 };
    let deps = seen.iter().find(|s| s.name == DEPS);
    Totals {
        paths: cached.len() + missed.len(),
        cached: cached.len(),
        from_origin: from_origin.len(),
        hit_rate: rate(cached.len(), cached.len() + missed.len()),
        deps_hit_rate: deps.map_or(1.0, |d| rate(d.cached.len(), d.paths())),
    }
}

/// The JSON of `cargo xtask status --json`.
pub fn json(key: &str, cache: &str, seen: &[Seen]) -> Json {
    let t = totals(seen);
    let targets = seen.iter().map(|s| {
        Json::object([
            ("name", Json::from(s.name.as_str())),
            ("attr", Json::from(s.attr.as_str())),
            ("paths", Json::from(s.paths() as u64)),
            ("cached", Json::from(s.cached.len() as u64)),
            ("from_origin", Json::from(s.from_origin.len() as u64)),
            ("to_build", Json::Array(s.names().into_iter().map(Json::from).collect())),
        ])
    });
    Json::object([
        ("key", Json::from(key)),
        ("cache", Json::from(cache)),
        ("targets", Json::Array(targets.collect())),
        ("paths", Json::from(t.paths as u64)),
        ("cached", Json::from(t.cached as u64)),
        ("from_origin", Json::from(t.from_origin as u64)),
        ("hit_rate", Json::Number(t.hit_rate)),
        ("deps_hit_rate", Json::Number(t.deps_hit_rate)),
    ])
}

/// A markdown table: one row per target, then the totals.
pub fn markdown(seen: &[Seen]) -> String {
    let mut md = String::from("| target | paths | cached | from origin | to build |\n|---|---:|---:|---:|---|\n");
    for s in seen {
        let names = s.names();
        let to_build = if names.is_empty() { "nothing".to_owned() } else { names.join(", ") };
        md += &format!("| {} | {} | {} | {} | {to_build} |\n", s.name, s.paths(), s.cached.len(), s.from_origin.len());
    }
    let t = totals(seen);
    md += &format!(
        "\nA fresh runner: {} of {} paths from the cache (hit rate {:.2}; deps layer {:.2}), {} from their origin.\n",
        t.cached, t.paths, t.hit_rate, t.deps_hit_rate, t.from_origin
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_a_dry_run_would_fetch_and_build() {
        let stderr = "this derivation will be built:\n  /nix/store/aaa-app-0.1.0.drv\n\
                      these 2 paths will be fetched (0.10 MiB download, 0.50 MiB unpacked):\n  /nix/store/bbb-deps\n  /nix/store/ccc-vendor\n";
        let (fetched, built) = parse_dry_run(stderr);
        assert_eq!(fetched.into_iter().collect::<Vec<_>>(), ["/nix/store/bbb-deps", "/nix/store/ccc-vendor"]);
        assert_eq!(built.into_iter().collect::<Vec<_>>(), ["/nix/store/aaa-app-0.1.0.drv"]);
    }

    #[test]
    fn rates_count_distinct_paths_and_the_deps_layer_apart() {
        let set = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>();
        let seen = [
            Seen { name: DEPS.into(), cached: set(&["/d", "/v"]), ..Seen::default() },
            Seen { name: "check unit".into(), cached: set(&["/d"]), to_build: set(&["/u.drv"]), ..Seen::default() },
        ];
        let t = totals(&seen);
        assert_eq!((t.paths, t.cached), (3, 2));
        assert!((t.hit_rate - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(t.deps_hit_rate, 1.0);
        assert_eq!(seen[1].names(), ["u"]);
    }
}

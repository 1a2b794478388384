//! What a run keeps to be compared against: the lock files' entries ([`basis`]), and what each
//! target is made of ([`made_of`]): read from the lock files and from the derivations the
//! evaluation put in this machine's store, never from git (CI checkouts are shallow).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::de::DeTable;

use crate::{
    config::Config,
    keys::LockFiles,
    layers::{Layer, Target},
    nix::json::{Evaluated, PathInfo},
    record::{Basis, Crate, FlakeInput, MadeOf},
};

/// At most this many inputs, and this many files, per target: a record stays small.
const MAX_INPUTS: usize = 256;
const MAX_FILES: usize = 2_000;
/// A file bigger than this is named by its size, not read.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// The deps key's inputs, entry by entry: the config's version and toolchain, Cargo.lock's
/// packages, flake.lock's inputs. A lock file that does not parse gives no entries (the deps
/// key still hashes its bytes).
pub(crate) fn basis(config: &Config, locks: &LockFiles) -> Basis {
    #[derive(Deserialize)]
    struct FlakeLock {
        #[serde(default)]
        nodes: BTreeMap<String, Node>,
        #[serde(default)]
        root: String,
    }
    #[derive(Deserialize)]
    struct Node {
        locked: Option<Locked>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Locked {
        rev: Option<String>,
        nar_hash: Option<String>,
    }
    let mut crates = std::str::from_utf8(&locks.cargo).ok().map(crates).unwrap_or_default();
    crates.sort();
    let flake: Option<FlakeLock> = serde_json::from_slice(&locks.flake).ok();
    let inputs = flake
        .map(|lock| {
            let root = lock.root;
            let nodes = lock.nodes.into_iter().filter(|(name, _)| *name != root);
            nodes
                .map(|(name, node)| {
                    let locked = node.locked.unwrap_or(Locked { rev: None, nar_hash: None });
                    FlakeInput { name, rev: locked.rev, nar_hash: locked.nar_hash }
                })
                .collect()
        })
        .unwrap_or_default();
    Basis { version: config.version, toolchain: config.rust.clone(), crates, inputs }
}

/// Cargo.lock's `[[package]]` entries (toml's parser: the xtask has no serde for TOML).
fn crates(text: &str) -> Vec<Crate> {
    let Ok(doc) = DeTable::parse(text) else { return Vec::new() };
    let packages = doc.get_ref().get("package").and_then(|p| p.get_ref().as_array());
    let field = |t: &DeTable, key: &str| t.get(key).and_then(|v| v.get_ref().as_str()).map(str::to_owned);
    let each = packages.into_iter().flatten().filter_map(|p| p.get_ref().as_table());
    each.filter_map(|p| {
        let source = field(p, "checksum").or_else(|| field(p, "source"));
        Some(Crate { name: field(p, "name")?, version: field(p, "version")?, source })
    })
    .collect()
}

/// What each target is made of, from the derivations' closure in this machine's store (`infos`:
/// `nix path-info --recursive --derivation`): its derivation; what it takes of the deps layer's
/// build graph; the derivations and sources of its build graph beside the deps layer's (for the
/// deps layer itself, those it takes directly); the files of those sources. A target of another
/// system than the deps layer evaluated here (an arch another runner builds) gets none: its graph
/// beside its own deps layer is not known here.
pub(crate) fn made_of<'a>(
    targets: &[Target],
    evaluated: &'a [Evaluated],
    infos: &'a [PathInfo],
) -> Vec<Option<MadeOf>> {
    let refs: BTreeMap<&str, &[String]> = infos.iter().map(|i| (i.path.as_str(), i.references.as_slice())).collect();
    let closure = |start: &'a str| {
        let mut seen: BTreeSet<&'a str> = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(path) = todo.pop() {
            if seen.insert(path) {
                todo.extend(
                    refs.get(path).into_iter().flat_map(|r| r.iter()).map(String::as_str).filter(|p| *p != path),
                );
            }
        }
        seen
    };
    let deps_of = targets.iter().zip(evaluated).find(|(t, _)| t.layer == Layer::Deps);
    let system = |t: &Target| t.attr.to_string().split('.').nth(1).map(str::to_owned);
    let deps_drv = deps_of.map(|(_, e)| e.drv.as_str());
    let deps = deps_drv.map(closure).unwrap_or_default();
    // Each source's files, hashed once whatever the targets that take it.
    let mut hashed: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let mut made = Vec::new();
    for (target, evaluated) in targets.iter().zip(evaluated) {
        if deps_of.is_some_and(|(d, _)| system(d) != system(target)) {
            made.push(None);
            continue;
        }
        let drv = evaluated.drv.as_str();
        let graph = closure(drv);
        let direct = refs.get(drv).into_iter().flat_map(|r| r.iter()).map(String::as_str);
        let mut taken: BTreeSet<&str> = match target.layer {
            Layer::Deps => BTreeSet::new(),
            _ => graph.iter().copied().filter(|p| !deps.contains(p) && *p != drv).collect(),
        };
        taken.extend(direct.filter(|p| *p != drv));
        taken.extend(deps_drv.filter(|d| target.layer != Layer::Deps && graph.contains(d)));
        // What it takes of the deps layer's graph (the toolchain, the crates' builds, nixpkgs).
        let inside: Vec<&str> = graph.iter().copied().filter(|p| deps.contains(p)).collect();
        let on_deps = (!inside.is_empty()).then(|| short(inside.join("\n").as_bytes()));
        // By name (the store hash orders nothing a person would): the same names every run.
        let mut named: Vec<(String, String)> = taken.iter().map(|p| name_and_hash(p)).collect();
        named.sort();
        let truncated = named.len() > MAX_INPUTS;
        let mut inputs: BTreeMap<String, String> = BTreeMap::new();
        for (name, hash) in named.into_iter().take(MAX_INPUTS) {
            // Two inputs of one name (`source`) keep both hashes.
            inputs.entry(name).and_modify(|h| *h = format!("{h},{hash}")).or_insert(hash);
        }
        let mut sources: Vec<&str> = taken.iter().copied().filter(|p| !p.ends_with(".drv")).collect();
        sources.sort_by_key(|p| name_and_hash(p));
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        for source in sources {
            let each = hashed.entry(source).or_insert_with(|| {
                let mut each = BTreeMap::new();
                hash_files(Path::new(source), &name_and_hash(source).0, &mut each);
                each
            });
            for (file, hash) in each.iter() {
                if files.len() >= MAX_FILES && !files.contains_key(file) {
                    break;
                }
                files.entry(file.clone()).and_modify(|h| also(h, hash)).or_insert_with(|| hash.clone());
            }
        }
        let truncated = truncated || files.len() >= MAX_FILES;
        made.push(Some(MadeOf { drv: drv.to_owned(), deps: on_deps, inputs, files, truncated }));
    }
    made
}

/// `/nix/store/<hash>-<name>` as (`<name>`, `<hash>`).
fn name_and_hash(path: &str) -> (String, String) {
    let base = path.rsplit('/').next().unwrap_or(path);
    match base.split_once('-') {
        Some((hash, name)) => (name.to_owned(), hash.to_owned()),
        None => (base.to_owned(), String::new()),
    }
}

/// Each file under `path` (a source in the store), as `<name>/<relative path>`, with the first
/// 16 hex digits of its sha256; a single file as `<name>`. Unreadable ones are left out.
fn hash_files(path: &Path, name: &str, files: &mut BTreeMap<String, String>) {
    if files.len() > MAX_FILES {
        return;
    }
    let Ok(meta) = fs::symlink_metadata(path) else { return };
    if meta.is_dir() {
        let Ok(entries) = fs::read_dir(path) else { return };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            hash_files(&entry.path(), &format!("{name}/{}", entry.file_name().to_string_lossy()), files);
        }
    } else if meta.is_symlink() {
        let target = fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
        files.insert(name.to_owned(), short(target.as_bytes()));
    } else if meta.len() > MAX_FILE_BYTES {
        files.insert(name.to_owned(), format!("{} bytes", meta.len()));
    } else if let Ok(bytes) = fs::read(path) {
        files.insert(name.to_owned(), short(&bytes));
    }
}

/// A file two sources of one name both have: its hashes, sorted, so which source's store hash
/// sorts first (it changes with either's contents) never makes an unchanged file look changed.
fn also(hashes: &mut String, hash: &str) {
    let mut all: Vec<&str> = hashes.split(',').chain([hash]).collect();
    all.sort_unstable();
    *hashes = all.join(",");
}

fn short(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_two_sources_of_one_name_has_its_hashes_in_one_order() {
        let (mut one, mut other) = ("b".to_owned(), "a".to_owned());
        also(&mut one, "a");
        also(&mut other, "b");
        assert_eq!(one, other);
    }

    #[test]
    fn the_lock_files_entries_are_read_entry_by_entry() {
        let cargo = br#"
version = 4
[[package]]
name = "tokio"
version = "1.47.1"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "abc"
[[package]]
name = "harness"
version = "0.1.0"
"#;
        let flake = br#"{"nodes":{"nixpkgs":{"locked":{"rev":"deadbeef","narHash":"sha256-x"}},"root":{"inputs":{"nixpkgs":"nixpkgs"}}},"root":"root","version":7}"#;
        let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
        let config = Config::from_manifest(&manifest).unwrap();
        let basis = basis(&config, &LockFiles { flake: flake.to_vec(), cargo: cargo.to_vec() });
        assert_eq!((basis.version, &basis.toolchain), (config.version, &config.rust));
        let crates: Vec<(&str, &str, Option<&str>)> =
            basis.crates.iter().map(|c| (c.name.as_str(), c.version.as_str(), c.source.as_deref())).collect();
        assert_eq!(crates, [("harness", "0.1.0", None), ("tokio", "1.47.1", Some("abc"))]);
        let input =
            FlakeInput { name: "nixpkgs".into(), rev: Some("deadbeef".into()), nar_hash: Some("sha256-x".into()) };
        assert_eq!(basis.inputs, [input]);
    }
}

//! Why a fresh runner would build a target: what a run keeps to be compared against (the lock
//! files' entries, the cache version and toolchain, each target's derivation, the derivations and
//! workspace files it takes), and the causes a later run names for each miss against it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What every target of a run shares: the deps key's inputs, entry by entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Basis {
    /// The cache version (`version` of the config, in every key).
    pub version: u64,
    /// The Rust toolchain the config names.
    pub toolchain: String,
    /// Cargo.lock's packages.
    pub crates: Vec<Crate>,
    /// flake.lock's inputs (its nodes but the root).
    pub inputs: Vec<FlakeInput>,
}

/// A package of Cargo.lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default)]
pub struct Crate {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its checksum, else its source (git, a path: none for the workspace's own).
    pub source: Option<String>,
}

/// An input of flake.lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlakeInput {
    /// Its node's name.
    pub name: String,
    /// The locked revision (`locked.rev`), when it has one.
    pub rev: Option<String>,
    /// The locked contents' hash (`locked.narHash`).
    pub nar_hash: Option<String>,
}

/// What one target is made of, beyond the [`Basis`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MadeOf {
    /// Its derivation.
    pub drv: String,
    /// What it takes of the deps layer's build graph (the toolchain, the crates' builds,
    /// nixpkgs): the first 16 hex digits of the sha256 of those derivations' paths; none when it
    /// takes nothing of it.
    pub deps: Option<String>,
    /// The derivations and sources of its build graph beside the deps layer's (the deps layer's
    /// own derivation among them; for the deps layer, those it takes directly), by name: their
    /// store hash (two of one name: both, comma-separated). At most 256, the first by name.
    pub inputs: BTreeMap<String, String>,
    /// The files of those sources (`<source name>/<path>`): the first 16 hex digits of each
    /// one's sha256. At most 2,000.
    pub files: BTreeMap<String, String>,
    /// `inputs` or `files` reached its bound: they are not compared.
    pub truncated: bool,
}

/// A target a run forgotten by `gc` had cached (the newest such run of each derivation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Forgotten {
    /// The run's record id.
    pub record: String,
    /// The target's layer.
    pub layer: String,
    /// Its attribute.
    pub attr: String,
    /// Its derivation.
    pub drv: String,
}

/// Why a fresh runner would build a target: the run compared with, and the causes found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Explanation {
    /// The newest earlier run that had the target cached (its record's id): `None` when the
    /// history holds none.
    pub since: Option<String>,
    /// The causes, the most specific first.
    pub causes: Vec<Cause>,
}

/// One cause of a miss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum Cause {
    /// The cache version changed (`bump-version`): every key is new.
    CacheVersion {
        /// The version of the run compared with.
        from: u64,
        /// This run's.
        to: u64,
    },
    /// The Rust toolchain the config names changed.
    Toolchain {
        /// The toolchain of the run compared with.
        from: String,
        /// This run's.
        to: String,
    },
    /// Cargo.lock's packages changed (the deps layer, and what builds on it).
    Crates {
        /// Packages it locks now and did not.
        added: Vec<String>,
        /// Packages it locked and does not now.
        removed: Vec<String>,
        /// Packages whose versions (or sources) changed.
        changed: Vec<Moved>,
    },
    /// flake.lock's inputs moved.
    FlakeInputs {
        /// Inputs whose revision or hash changed (added and removed ones too: `-` for none).
        changed: Vec<Moved>,
    },
    /// The workspace files the target's sources take.
    Files {
        /// Files whose contents changed.
        changed: Vec<String>,
        /// Files it takes now and did not.
        added: Vec<String>,
        /// Files it took and does not now.
        removed: Vec<String>,
    },
    /// The flake's own definition changed the derivation: the inputs that differ, by name.
    Derivation {
        /// The derivations and sources it takes whose hash differs, or that came or went.
        differ: Vec<String>,
    },
    /// Nothing it is made of changed, yet the cache no longer serves it.
    Lost {
        /// The run that had it cached (its record's id).
        last: String,
        /// The `gc` run that dropped its key since, when the history shows one.
        gc: Option<String>,
    },
    /// The cache serves it broken.
    Broken {
        /// What is wrong, path by path.
        problems: Vec<String>,
    },
    /// No earlier run in the history had it cached: nothing to compare with.
    NoEarlierRun,
    /// What it is compared with could not be read: said, never guessed.
    Unknown {
        /// Why.
        why: String,
    },
}

/// Something that moved: a name, what it was and what it is (`-`: absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Moved {
    /// The package or input.
    pub name: String,
    /// Before.
    pub from: String,
    /// Now.
    pub to: String,
}

impl Cause {
    /// The cause in words, for logs, summaries and pages.
    pub fn said(&self) -> String {
        let list = |items: &[String]| items.join(", ");
        let moved = |m: &[Moved]| m.iter().map(|m| format!("{} {} → {}", m.name, m.from, m.to)).collect::<Vec<_>>();
        // Each non-empty list after its label, the lists apart by `; `.
        let lists = |parts: [(&str, &[String]); 3]| {
            let said = parts.iter().filter(|(_, items)| !items.is_empty());
            said.map(|(label, items)| format!("{label}{}", items.join(", "))).collect::<Vec<_>>().join("; ")
        };
        match self {
            Cause::CacheVersion { from, to } => format!("the cache version changed: {from} → {to} (bump-version)"),
            Cause::Toolchain { from, to } => format!("the Rust toolchain changed: {from} → {to}"),
            Cause::Crates { added, removed, changed } => {
                format!("Cargo.lock: {}", lists([("", &moved(changed)), ("added ", added), ("removed ", removed)]))
            }
            Cause::FlakeInputs { changed } => format!("flake.lock: {}", moved(changed).join(", ")),
            Cause::Files { changed, added, removed } => {
                format!("its sources: {}", lists([("changed ", changed), ("added ", added), ("removed ", removed)]))
            }
            Cause::Derivation { differ } => format!("the flake's definition changed: {}", list(differ)),
            Cause::Lost { last, gc: Some(gc) } => {
                format!("the cache lost it: run {last} had it; gc run {gc} dropped its key")
            }
            Cause::Lost { last, gc: None } => {
                format!("the cache lost it: run {last} had it; not in the history: deleted outside this project")
            }
            Cause::Broken { problems } => format!("the cache serves it broken: {}", list(problems)),
            Cause::NoEarlierRun => "no earlier run in the history had it cached: nothing to compare with".to_owned(),
            Cause::Unknown { why } => format!("not known: {why}"),
        }
    }
}

//! A task's work as a [`Plan`]: numbered [`Step`]s holding the exact commands. The dry run prints
//! it ([`Plan::render`]); `Plan::run` (in `steps.rs`) executes the same value.

use std::fmt::Write as _;

use crate::{
    cache::{files::Files, push_filter::PushFilter, signing_key::SigningKeys},
    command::Cmd,
    layers::Target,
};

/// One unit of a plan: its commands and what their output means.
#[derive(Debug)]
pub struct Step {
    pub title: String,
    pub kind: StepKind,
}

/// What a failed push does to the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPushFailure {
    /// The task fails (`warm`, `prebuild`: pushing is what they are for).
    Fail,
    /// A warning; the task's verdict is its build's (`test`, unless `--require-push`).
    Warn,
}

/// The commands that ask what a fresh runner would fetch and build, without evaluating.
#[derive(Debug, Clone)]
pub struct FreshRunner {
    /// The cache's URL, as a substituter.
    pub url: String,
    /// The derivations into an empty store.
    pub copy: Cmd,
    /// The derivations' closure in that store: which sources each one reads.
    pub graph: Cmd,
    /// Whether the cache can be reached (and which outputs it has).
    pub probe: Cmd,
    /// Each upstream cache, asked only when something would be built without it.
    pub upstream: Vec<(String, Cmd)>,
    /// The dry run of one target (run once per target).
    pub dry_run: Cmd,
    /// The outputs of the derivations a target's dry run would build, in that store.
    pub outputs: Cmd,
    /// What this machine's store has of those outputs and of what a runner would fetch.
    pub local: Cmd,
    /// What the cache says of the paths a runner would fetch.
    pub fetched: Cmd,
    /// Whether the key signed those (with a key the xtask signs with).
    pub verify: Option<Cmd>,
    /// The cache's files, to check the NAR of each path (a cache this project owns).
    pub files: Option<Files>,
    pub filter: PushFilter,
    /// When everything is cached, stop the plan (not with `--force`, not in `status`).
    pub stop_when_cached: bool,
}

#[derive(Debug)]
pub enum StepKind {
    /// The one evaluation: every target's derivation and outputs (stdout: JSON).
    Eval(Cmd),
    /// What each target is made of (the derivations' closure in this machine's store, as
    /// `nix path-info --json`, and the files of its workspace sources): what a later run
    /// compares a miss with ([`crate::explain`]).
    MadeOf(Cmd),
    /// Creates a local cache's signing key once; finds the public key.
    SigningKey(SigningKeys),
    /// What a fresh runner would fetch and build ([`super::fresh_runner`]): the cache's narinfos
    /// first, the empty store's dry runs only when they cannot prove every target whole; with
    /// `stop_when_cached`, the plan ends when it would build nothing and every path it would
    /// fetch from the cache is whole and signed.
    FreshRunner(Box<FreshRunner>),
    /// Builds the derivations (stdout: the outputs).
    Build(Cmd),
    /// What a fresh runner needs (`requisites`: the outputs and their build inputs' outputs,
    /// one a line), then their sizes, hashes and references (`infos`: `nix path-info --json`).
    Needed { requisites: Cmd, infos: Cmd },
    /// Drops what the push filter matches, in the xtask itself.
    Filter(PushFilter),
    /// Records the paths about to be pushed under the task's key, before any upload (gc keeps them).
    Record { files: Files, key: String, timeout: u64 },
    /// Asks the cache which candidates it has, and (a cache this project owns) whether each one's
    /// NAR is whole; compares what it has with what was built here.
    Missing { cmd: Cmd, files: Option<Files>, cache: String },
    /// Asks each upstream cache which of the paths to push it serves: those are not pushed.
    Upstream(Vec<(String, Cmd)>),
    /// Checks the signatures of the candidates the cache has, against the key.
    Verify(Cmd),
    /// Signs the paths to push (`sign`), and re-signs in the cache (`resign`) the paths the key
    /// cannot verify whose contents equal what was built here.
    Sign { sign: Vec<Cmd>, resign: Vec<Cmd> },
    /// Checks the cache's bytes (NAR hashes) of the paths to re-sign, or with `every` of every
    /// present path (`--force`); what differs is repaired (a cache this project owns).
    Contents { cmd: Cmd, every: bool },
    /// Deletes the narinfos of what the cache holds broken or unlike this build, so the push
    /// uploads them again (a cache this project owns).
    Repair(Files),
    /// Pushes the paths the cache lacks; skipped when there are none. A cache this project
    /// owns is then asked what it holds of them (`landed`): the bytes it gained.
    Push { cmd: Cmd, cache: String, on_failure: OnPushFailure, landed: Option<(Cmd, Files)> },
    /// Pins each target's output under its key (Cachix): one command per target.
    Pin(Vec<Cmd>),
    /// Runs a command for its effect.
    Run(Cmd),
}

impl StepKind {
    pub fn cmds(&self) -> Vec<&Cmd> {
        match self {
            StepKind::Eval(cmd)
            | StepKind::MadeOf(cmd)
            | StepKind::Build(cmd)
            | StepKind::Verify(cmd)
            | StepKind::Run(cmd)
            | StepKind::Missing { cmd, .. }
            | StepKind::Contents { cmd, .. } => vec![cmd],
            StepKind::Push { cmd, landed, .. } => std::iter::once(cmd).chain(landed.iter().map(|(q, _)| q)).collect(),
            StepKind::Sign { sign, resign } => sign.iter().chain(resign).collect(),
            StepKind::Needed { requisites, infos } => vec![requisites, infos],
            StepKind::Upstream(queries) => queries.iter().map(|(_, cmd)| cmd).collect(),
            StepKind::SigningKey(key) => key.cmds(),
            StepKind::FreshRunner(f) => {
                let upstream = f.upstream.iter().map(|(_, cmd)| cmd);
                [&f.probe, &f.copy, &f.graph, &f.dry_run, &f.outputs]
                    .into_iter()
                    .chain(upstream)
                    .chain([&f.fetched])
                    .chain(&f.verify)
                    .chain([&f.local])
                    .collect()
            }
            StepKind::Pin(cmds) => cmds.iter().collect(),
            StepKind::Filter(_) | StepKind::Record { .. } | StepKind::Repair(_) => vec![],
        }
    }

    /// The commands a run of the step ran: its commands, but the empty store's (the copy of the
    /// derivations, their graph, the dry runs) when the cache proved every target whole.
    pub(crate) fn ran(&self, state: &super::State) -> Vec<&Cmd> {
        match self {
            StepKind::FreshRunner(f) if state.proven => {
                let store = [&f.copy, &f.graph, &f.dry_run, &f.outputs];
                self.cmds().into_iter().filter(|c| !store.iter().any(|s| std::ptr::eq(*s, *c))).collect()
            }
            _ => self.cmds(),
        }
    }

    /// What kind of step it is, as a record names it.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Eval(_) => "eval",
            StepKind::MadeOf(_) => "made-of",
            StepKind::SigningKey(_) => "signing-key",
            StepKind::FreshRunner(_) => "fresh-runner",
            StepKind::Build(_) => "build",
            StepKind::Needed { .. } => "needed",
            StepKind::Filter(_) => "filter",
            StepKind::Record { .. } => "record-roots",
            StepKind::Missing { .. } => "missing",
            StepKind::Upstream(_) => "upstream",
            StepKind::Verify(_) => "verify-signatures",
            StepKind::Sign { .. } => "sign",
            StepKind::Contents { .. } => "contents",
            StepKind::Repair(_) => "repair",
            StepKind::Push { .. } => "push",
            StepKind::Pin(_) => "pin",
            StepKind::Run(_) => "run",
        }
    }

    /// What the dry run says besides the commands: when the step is skipped, or what the xtask
    /// itself does.
    fn note(&self) -> Option<String> {
        let note = match self {
            StepKind::Filter(filter) => format!(
                "(in the xtask) drop paths matching {}, unless a pushed path refers to them",
                filter.patterns().collect::<Vec<_>>().join(" or ")
            ),
            StepKind::SigningKey(keys) if keys.made_here() => format!(
                "(only if {} does not exist: the xtask writes the new key there, mode 0600, never over another run's; then the public keys)",
                keys.keys[0].secret.display()
            ),
            StepKind::FreshRunner(f) => format!(
                "(the cache asked for the outputs, an unreachable one counts as empty, then for their closure by the narinfos' References, level by level, and the upstream caches for what it lacks{}{}; when that proves every target whole, the empty store is not made; else the derivations into an empty store, a dry run per target, the upstream caches only when something would be built{})",
                if f.files.is_some() { "; the NAR file of each path it serves checked" } else { "" },
                if f.verify.is_some() { "; its signatures checked" } else { "" },
                if f.stop_when_cached { "; when nothing would be built and all is sound, stop here" } else { "" }
            ),
            StepKind::Record { key, .. } => format!(
                "(in the xtask, under the cache's lock) add the candidates to xtask-roots/{key}.json before anything is uploaded"
            ),
            StepKind::Missing { files, .. } => format!(
                "(an unreachable cache counts as empty{}; a path unlike the one built here is noted)",
                if files.is_some() { "; a present path whose NAR file is missing or short is repaired" } else { "" }
            ),
            StepKind::Needed { .. } => "(`.drv` files are left out of the list)".to_owned(),
            StepKind::Upstream(_) => "(skipped when nothing is to be pushed; an unreachable upstream serves nothing)".to_owned(),
            StepKind::Verify(_) => "(skipped when the cache has none of the paths)".to_owned(),
            StepKind::Sign { .. } => "(each command skipped when it has no path; a path the key cannot verify is re-signed only when its NAR hash and size equal this build's, else replaced by it)".to_owned(),
            StepKind::Repair(_) => "(in the xtask) delete the narinfos of broken or replaced paths, so the push uploads them again".to_owned(),
            StepKind::Push { on_failure, .. } => format!(
                "(skipped when the cache has every path; a failed push {})",
                match on_failure {
                    OnPushFailure::Fail => "fails the task, after the build",
                    OnPushFailure::Warn => "is a warning (--require-push makes it fail the task)",
                }
            ),
            StepKind::Pin(_) => "(also when the cache had everything)".to_owned(),
            _ => return None,
        };
        Some(note)
    }
}

#[derive(Default)]
pub struct Plan {
    /// The task, for headers and the summary (`warm`, `test --type unit`).
    pub task: String,
    pub steps: Vec<Step>,
    /// Lines shown at the top of the dry run and the summary (`flake`, `cache`, keys).
    pub facts: Vec<(String, String)>,
    /// What the plan evaluates and looks at, in order: the steps' per-target commands follow it.
    pub targets: Vec<Target>,
    /// How many of the targets, from the first, the plan builds.
    pub builds: usize,
    /// How many of the targets, from the first, its hit rates count (the rest are asked about
    /// for later jobs).
    pub counted: usize,
    /// The task uses the outputs here (it streams images): they are fetched from the cache even
    /// when it has everything, which a fresh runner's store lacks.
    pub fetch_outputs: bool,
    /// Each miss is explained against the history (and what the targets are made of is kept).
    pub explain: bool,
}

impl Plan {
    pub fn new(task: impl Into<String>, targets: Vec<Target>) -> Plan {
        Plan { task: task.into(), builds: targets.len(), counted: targets.len(), targets, ..Plan::default() }
    }

    pub fn step(&mut self, title: impl Into<String>, kind: StepKind) {
        self.steps.push(Step { title: title.into(), kind });
    }

    pub fn fact(&mut self, name: &str, value: impl Into<String>) {
        self.facts.push((name.to_owned(), value.into()));
    }

    /// Every command of the plan, in order.
    pub fn cmds(&self) -> impl Iterator<Item = &Cmd> {
        self.steps.iter().flat_map(|s| s.kind.cmds())
    }

    /// The dry run: every step, numbered as a run numbers them, with its commands; nothing run.
    pub fn render(&self) -> String {
        let mut out = format!("# cargo xtask {} (dry run: nothing is run)\n", self.task);
        for (name, value) in &self.facts {
            let _ = writeln!(out, "# {name}: {value}");
        }
        for (i, step) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "\n# {}. {}", i + 1, step.title);
            if let Some(note) = step.kind.note() {
                let _ = writeln!(out, "#    {note}");
            }
            for cmd in step.kind.cmds() {
                let _ = writeln!(out, "{}", cmd.render(None));
            }
        }
        out
    }
}

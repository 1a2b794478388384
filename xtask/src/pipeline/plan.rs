//! A task's work as a [`Plan`]: [`Step`]s holding the exact commands. The dry run prints it
//! ([`Plan::render`]); `Plan::run` (in `steps.rs`) executes the same value.

use std::fmt::Write as _;

use crate::{
    cache::{push::SigningKey, push_filter::PushFilter},
    command::Cmd,
    status::Target,
};

/// One unit of a plan: a command and what its output means.
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

#[derive(Debug)]
pub enum StepKind {
    /// Evaluates output paths without building (stdout: a JSON list of paths).
    Eval(Cmd),
    /// Asks the cache for the outputs; when it has them all (and not `force`), the plan is done.
    /// A cache that cannot be reached is taken as empty, with a warning naming it.
    /// With a signing key, outputs it cannot verify count as missing.
    SkipIfCached { cmd: Cmd, verify: Option<Cmd>, cache: String, force: bool },
    /// Builds (stdout: `nix build --json`).
    Build(Cmd),
    /// What a fresh runner needs (`requisites`: the outputs and their build inputs' outputs,
    /// one a line), then their sizes and references (`infos`: `nix path-info --json`).
    Needed { requisites: Cmd, infos: Cmd },
    /// Drops what the push filter matches, in the xtask itself.
    Filter(PushFilter),
    /// Asks the cache which candidates it has; the rest are to be pushed. A cache that cannot be
    /// reached is taken as empty, with a warning naming it.
    Missing { cmd: Cmd, cache: String },
    /// Creates a local cache's signing key once; finds the public key.
    SigningKey(SigningKey),
    /// Checks the signatures of the candidates the cache has, against the public key.
    Verify(Cmd),
    /// Asks each upstream cache which of the paths to push it serves: those are not pushed.
    Upstream(Vec<(String, Cmd)>),
    /// Signs the paths to push (`sign`), and the cache's paths the key cannot verify (`resign`).
    Sign { sign: Cmd, resign: Cmd },
    /// Pushes the paths the cache lacks; skipped when there are none.
    Push { cmd: Cmd, cache: String, on_failure: OnPushFailure },
    /// Runs a command for its effect.
    Run(Cmd),
}

impl StepKind {
    pub fn cmds(&self) -> Vec<&Cmd> {
        match self {
            StepKind::Eval(c)
            | StepKind::SkipIfCached { cmd: c, verify: None, .. }
            | StepKind::Build(c)
            | StepKind::Missing { cmd: c, .. }
            | StepKind::Verify(c)
            | StepKind::Push { cmd: c, .. }
            | StepKind::Run(c) => vec![c],
            StepKind::SkipIfCached { cmd, verify: Some(verify), .. } => vec![cmd, verify],
            StepKind::Sign { sign, resign } => vec![sign, resign],
            StepKind::Needed { requisites, infos } => vec![requisites, infos],
            StepKind::Upstream(queries) => queries.iter().map(|(_, cmd)| cmd).collect(),
            StepKind::SigningKey(key) => key.cmds(),
            StepKind::Filter(_) => vec![],
        }
    }

    /// What the dry run says besides the commands: when the step is skipped, or what the xtask
    /// itself does.
    fn note(&self) -> Option<String> {
        match self {
            StepKind::Filter(filter) => Some(format!(
                "(in the xtask) drop paths matching {}, unless a pushed path refers to them",
                filter.patterns().collect::<Vec<_>>().join(" or ")
            )),
            StepKind::SigningKey(key) if key.generate.is_some() => Some(format!(
                "(only if {} does not exist: the xtask writes the new key there, mode 0600, never over another run's; then the public key)",
                key.secret.display()
            )),
            StepKind::SkipIfCached { force, .. } => Some(format!(
                "({}an unreachable cache counts as empty: the task goes on)",
                if *force { "" } else { "when the cache has every output, stop here: nothing to build or push; " }
            )),
            StepKind::Missing { .. } => Some("(an unreachable cache counts as empty: the task goes on)".to_owned()),
            StepKind::Needed { .. } => Some("(`.drv` files are left out of the list)".to_owned()),
            StepKind::Upstream(_) => {
                Some("(skipped when nothing is to be pushed; an unreachable upstream serves nothing)".to_owned())
            }
            StepKind::Verify(_) => {
                Some("(skipped when the cache has none of the paths; paths the key cannot verify are re-signed next)".to_owned())
            }
            StepKind::Sign { .. } => Some("(each command skipped when it has no path)".to_owned()),
            StepKind::Push { on_failure, .. } => Some(format!(
                "(skipped when the cache has every path; a failed push {})",
                match on_failure {
                    OnPushFailure::Fail => "fails the task, after the build",
                    OnPushFailure::Warn => "is a warning (--require-push makes it fail the task)",
                }
            )),
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct Plan {
    /// The task, for headers and the summary (`warm`, `test --type unit`).
    pub task: String,
    pub steps: Vec<Step>,
    /// Lines shown at the top of the dry run and the summary (`flake`, `cache`, keys).
    pub facts: Vec<(String, String)>,
    /// The targets whose fresh-runner view ([`crate::status`]) the job summary shows.
    pub status: Vec<Target>,
}

impl Plan {
    pub fn new(task: impl Into<String>) -> Plan {
        Plan { task: task.into(), ..Plan::default() }
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

    /// The dry run: every command as a shell line, nothing run.
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

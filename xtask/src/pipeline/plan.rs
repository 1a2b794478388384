//! A task's work as a [`Plan`]: [`Step`]s holding the exact commands. The dry run prints it
//! ([`Plan::render`]); `Plan::run` (in `steps.rs`) executes the same value.

use std::fmt::Write as _;

use crate::{
    cache::{push::SigningKey, push_filter::PushFilter},
    command::Cmd,
};

/// One unit of a plan: a command and what its output means.
#[derive(Debug)]
pub struct Step {
    pub title: String,
    pub kind: StepKind,
}

#[derive(Debug)]
pub enum StepKind {
    /// Evaluates output paths without building (stdout: a JSON list of paths).
    Eval(Cmd),
    /// Asks the cache for the outputs; when it has them all (and not `force`), the plan is done.
    SkipIfCached { cmd: Cmd, force: bool },
    /// Builds (stdout: `nix build --json`).
    Build(Cmd),
    /// Runtime closure of the outputs (stdout: `nix path-info --json --recursive`).
    Closure(Cmd),
    /// Drops what the push filter matches, in the xtask itself.
    Filter(PushFilter),
    /// Asks the cache which candidates it has; the rest are to be pushed.
    Missing(Cmd),
    /// Creates a signing key once.
    SigningKey(SigningKey),
    /// Pushes the paths the cache lacks; skipped when there are none.
    Push(Cmd),
    /// Runs a command for its effect.
    Run(Cmd),
}

impl StepKind {
    pub fn cmds(&self) -> Vec<&Cmd> {
        match self {
            StepKind::Eval(c)
            | StepKind::SkipIfCached { cmd: c, .. }
            | StepKind::Build(c)
            | StepKind::Closure(c)
            | StepKind::Missing(c)
            | StepKind::Push(c)
            | StepKind::Run(c) => vec![c],
            StepKind::SigningKey(key) => key.cmds(),
            StepKind::Filter(_) => vec![],
        }
    }

    /// What the dry run says besides the commands: when the step is skipped, or what the xtask
    /// itself does.
    fn note(&self) -> Option<String> {
        match self {
            StepKind::Filter(filter) => Some(format!(
                "(in the xtask) drop closure paths matching {}, unless a pushed path refers to them",
                filter.patterns().collect::<Vec<_>>().join(" or ")
            )),
            StepKind::SigningKey(key) => Some(format!(
                "(only if {} does not exist: the xtask writes the new key there, mode 0600, never over another run's; then the public key)",
                key.secret.display()
            )),
            StepKind::SkipIfCached { force: false, .. } => {
                Some("(when the cache has every output, stop here: nothing to build or push)".to_owned())
            }
            StepKind::Push(_) => Some("(skipped when the cache has every path)".to_owned()),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    /// The task, for headers and the summary (`warm`, `test --type unit`).
    pub task: String,
    pub steps: Vec<Step>,
    /// Lines shown at the top of the dry run and the summary (`flake`, `cache`, keys).
    pub facts: Vec<(String, String)>,
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

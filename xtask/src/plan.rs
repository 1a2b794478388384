//! Tasks build their work as a [`Plan`], a list of [`Step`]s holding the exact commands; one runner
//! executes it or, with `--dry-run`, prints it and runs nothing. The job summary and the tests read
//! the same plan.
//!
//! Some arguments are only known while the plan runs (the outputs a build produced, the paths the
//! cache lacks): they are [`Arg::Paths`] placeholders, printed as `<outputs>` in a dry run.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::{github, nix, push_filter::PushFilter, write_atomic};

/// Sets of store paths that steps produce and later steps use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSet {
    /// The outputs of the installables (evaluated, then built).
    Outputs,
    /// The runtime closure of the outputs, less the push filter.
    Candidates,
    /// The candidates the cache does not have yet.
    Push,
}

impl PathSet {
    fn placeholder(self) -> &'static str {
        match self {
            PathSet::Outputs => "<outputs>",
            PathSet::Candidates => "<closure of outputs, minus push filter>",
            PathSet::Push => "<paths the cache lacks>",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    /// Expands to every path of the set, one argument each.
    Paths(PathSet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    Null,
    /// The paths of the set, one a line.
    Paths(PathSet),
    File(PathBuf),
}

/// What happens to the command's standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// Both streams pass through.
    Inherit,
    /// Stdout is read (JSON), stderr streams through: build logs.
    ReadStdout,
    /// Both are read; stderr is shown only when the command fails: queries.
    Quiet,
}

/// One external command, as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<Arg>,
    pub stdin: Stdin,
    pub io: Io,
    /// Write stdout to this file (atomically) instead of returning it.
    pub stdout_to: Option<PathBuf>,
    /// What the command needs, for the error when it fails.
    pub needs: String,
}

impl Cmd {
    pub fn new(program: &str, args: impl IntoIterator<Item = Arg>) -> Cmd {
        Cmd {
            program: program.to_owned(),
            args: args.into_iter().collect(),
            stdin: Stdin::Null,
            io: Io::Inherit,
            stdout_to: None,
            needs: String::new(),
        }
    }

    pub fn io(mut self, io: Io) -> Cmd {
        self.io = io;
        self
    }

    pub fn stdin(mut self, stdin: Stdin) -> Cmd {
        self.stdin = stdin;
        self
    }

    pub fn stdout_to(mut self, path: PathBuf) -> Cmd {
        self.stdout_to = Some(path);
        self
    }

    pub fn needs(mut self, needs: impl Into<String>) -> Cmd {
        self.needs = needs.into();
        self
    }

    /// The literal arguments, for tests and messages.
    pub fn literal_args(&self) -> Vec<&str> {
        self.args
            .iter()
            .map(|a| match a {
                Arg::Lit(s) => s.as_str(),
                Arg::Paths(set) => set.placeholder(),
            })
            .collect()
    }

    /// The command as a shell line: placeholders when `state` is `None`.
    pub fn render(&self, state: Option<&State>) -> String {
        let mut words = vec![shell_quote(&self.program)];
        for arg in &self.args {
            match (arg, state) {
                (Arg::Lit(s), _) => words.push(shell_quote(s)),
                (Arg::Paths(set), Some(state)) => words.extend(state.set(*set).iter().map(|p| shell_quote(p))),
                (Arg::Paths(set), None) => words.push(set.placeholder().to_owned()),
            }
        }
        let mut line = words.join(" ");
        match &self.stdin {
            Stdin::Null => {}
            Stdin::Paths(set) => line = format!("printf '%s\\n' {} | {line}", set.placeholder()),
            Stdin::File(path) => line = format!("{line} < {}", shell_quote(&path.display().to_string())),
        }
        if let Some(path) = &self.stdout_to {
            let _ = write!(line, " > {}", shell_quote(&path.display().to_string()));
        }
        line
    }

    fn run(&self, sh: &Shell, state: &State) -> Result<String> {
        let mut args = Vec::new();
        for arg in &self.args {
            match arg {
                Arg::Lit(s) => args.push(s.clone()),
                Arg::Paths(set) => args.extend(state.set(*set).iter().cloned()),
            }
        }
        let mut cmd = sh.cmd(&self.program).args(args).quiet();
        cmd = match &self.stdin {
            Stdin::Null => cmd,
            Stdin::Paths(set) => cmd.stdin(state.set(*set).iter().map(|p| format!("{p}\n")).collect::<String>()),
            Stdin::File(path) => {
                cmd.stdin(sh.read_binary_file(path).with_context(|| format!("cannot read {}", path.display()))?)
            }
        };
        let failed = || format!("`{}` failed: {}", self.program, self.needs);
        let stdout = match self.io {
            Io::Inherit => {
                cmd.run().with_context(failed)?;
                String::new()
            }
            Io::ReadStdout => cmd.read().with_context(failed)?,
            Io::Quiet => {
                let output = cmd.ignore_status().output().with_context(failed)?;
                if !output.status.success() {
                    let stderr = String::from_utf8_lossy(&output.stderr);
                    bail!("{}\n{}", failed(), stderr.trim_end());
                }
                String::from_utf8(output.stdout).with_context(failed)?
            }
        };
        if let Some(path) = &self.stdout_to {
            write_atomic(path, stdout.as_bytes())?;
        }
        Ok(stdout)
    }
}

/// One unit of a plan: a command and what its output means.
#[derive(Debug, Clone)]
pub struct Step {
    pub title: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone)]
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
    /// Runs the commands unless `file` exists (creating a signing key once).
    Ensure { file: PathBuf, cmds: Vec<Cmd> },
    /// Pushes the paths the cache lacks; skipped when there are none.
    Push(Cmd),
    /// Runs a command for its effect.
    Run(Cmd),
}

impl StepKind {
    fn cmds(&self) -> Vec<&Cmd> {
        match self {
            StepKind::Eval(c)
            | StepKind::SkipIfCached { cmd: c, .. }
            | StepKind::Build(c)
            | StepKind::Closure(c)
            | StepKind::Missing(c)
            | StepKind::Push(c)
            | StepKind::Run(c) => vec![c],
            StepKind::Ensure { cmds, .. } => cmds.iter().collect(),
            StepKind::Filter(_) => vec![],
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The task, for headers and the summary (`warm`, `test --type unit`).
    pub task: String,
    pub steps: Vec<Step>,
    /// Lines shown at the top of the summary (`key`, `cache`).
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
            match &step.kind {
                StepKind::Filter(filter) => {
                    let patterns: Vec<_> = filter.patterns().collect();
                    let _ = writeln!(
                        out,
                        "#    (in the xtask) drop closure paths matching {}, unless a pushed path refers to them",
                        patterns.join(" or ")
                    );
                }
                StepKind::Ensure { file, .. } => {
                    let _ = writeln!(out, "#    (only if {} does not exist)", file.display());
                }
                StepKind::SkipIfCached { force: false, .. } => {
                    let _ =
                        writeln!(out, "#    (when the cache has every output, stop here: nothing to build or push)");
                }
                StepKind::Push(_) => {
                    let _ = writeln!(out, "#    (skipped when the cache has every path)");
                }
                _ => {}
            }
            for cmd in step.kind.cmds() {
                let _ = writeln!(out, "{}", cmd.render(None));
            }
        }
        out
    }

    /// Runs the plan: each step in a log group, with a header and its duration.
    pub fn run(&self, sh: &Shell) -> Result<Report> {
        let mut state = State::default();
        let mut report = Report { task: self.task.clone(), facts: self.facts.clone(), ..Report::default() };
        let total = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            let header = format!("[{}/{total}] {}", i + 1, step.title);
            github::group_start(&header);
            eprintln!("==> {header}");
            let started = Instant::now();
            let outcome = run_step(sh, step, &mut state);
            let elapsed = started.elapsed();
            eprintln!("<== {header}: {} in {}", if outcome.is_ok() { "done" } else { "failed" }, seconds(elapsed));
            github::group_end();
            report.steps.push((step.title.clone(), elapsed, outcome.as_ref().ok().cloned()));
            outcome.with_context(|| format!("step {header}"))?;
            if state.done {
                break;
            }
        }
        report.state = state;
        Ok(report)
    }
}

/// What the steps learnt so far.
#[derive(Debug, Default)]
pub struct State {
    outputs: Vec<String>,
    closure: BTreeMap<String, Vec<String>>,
    closure_bytes: u64,
    candidates: Vec<String>,
    push: Vec<String>,
    dropped: BTreeSet<String>,
    kept_anyway: BTreeSet<String>,
    present: usize,
    pushed: usize,
    done: bool,
}

impl State {
    fn set(&self, set: PathSet) -> &[String] {
        match set {
            PathSet::Outputs => &self.outputs,
            PathSet::Candidates => &self.candidates,
            PathSet::Push => &self.push,
        }
    }
}

/// Runs one step; returns a note for the log and the summary.
fn run_step(sh: &Shell, step: &Step, state: &mut State) -> Result<String> {
    match &step.kind {
        StepKind::Eval(cmd) => {
            eprintln!("$ {}", cmd.render(Some(state)));
            state.outputs = nix::parse_paths(&cmd.run(sh, state)?)?;
            Ok(format!("{} output(s)", state.outputs.len()))
        }
        StepKind::SkipIfCached { cmd, force } => {
            eprintln!("$ {}", cmd.render(Some(state)));
            let valid = nix::parse_valid(&cmd.run(sh, state)?)?;
            let have = state.outputs.iter().filter(|p| valid.contains(*p)).count();
            let note = format!("the cache has {have} of {} output(s)", state.outputs.len());
            if have == state.outputs.len() && !force {
                state.done = true;
                state.present = have;
                eprintln!("{note}: nothing to build or push (--force rebuilds and pushes anyway)");
                return Ok(format!("{note}: up to date"));
            }
            eprintln!("{note}");
            Ok(note)
        }
        StepKind::Build(cmd) => {
            eprintln!("$ {}", cmd.render(Some(state)));
            state.outputs = nix::parse_build(&cmd.run(sh, state)?)?;
            Ok(format!("{} output(s)", state.outputs.len()))
        }
        StepKind::Closure(cmd) => {
            eprintln!("$ {}", cmd.render(Some(state)));
            let infos = nix::parse_path_infos(&cmd.run(sh, state)?)?;
            state.closure_bytes = infos.iter().map(|i| i.nar_size).sum();
            state.closure = infos.into_iter().map(|i| (i.path, i.references)).collect();
            Ok(format!("{} path(s), {}", state.closure.len(), mib(state.closure_bytes)))
        }
        StepKind::Filter(filter) => {
            let filtered = filter.apply(&state.closure);
            for path in &filtered.dropped {
                eprintln!("  filtered out: {path}");
            }
            if !filtered.kept_anyway.is_empty() {
                github::warning(&format!(
                    "the push filter matches {} path(s) that pushed paths refer to; they are pushed anyway (a binary cache must hold whole closures):\n{}",
                    filtered.kept_anyway.len(),
                    filtered.kept_anyway.iter().cloned().collect::<Vec<_>>().join("\n")
                ));
            }
            state.candidates = filtered.push.into_iter().collect();
            state.dropped = filtered.dropped;
            state.kept_anyway = filtered.kept_anyway;
            Ok(format!("{} candidate(s), {} filtered out", state.candidates.len(), state.dropped.len()))
        }
        StepKind::Missing(cmd) => {
            eprintln!("$ {}", cmd.render(Some(state)));
            let valid = nix::parse_valid(&cmd.run(sh, state)?)?;
            state.push = state.candidates.iter().filter(|p| !valid.contains(*p)).cloned().collect();
            state.present = state.candidates.len() - state.push.len();
            Ok(format!("{} already in the cache, {} to push", state.present, state.push.len()))
        }
        StepKind::Ensure { file, cmds } => {
            if file.exists() {
                return Ok(format!("{} exists", file.display()));
            }
            for cmd in cmds {
                eprintln!("$ {}", cmd.render(Some(state)));
                cmd.run(sh, state)?;
            }
            Ok(format!("created {}", file.display()))
        }
        StepKind::Push(cmd) => {
            if state.push.is_empty() {
                eprintln!("the cache has every path: nothing to push");
                return Ok("nothing to push".to_owned());
            }
            eprintln!("$ {}", cmd.render(None));
            for path in &state.push {
                eprintln!("  {path}");
            }
            cmd.run(sh, state)?;
            state.pushed = state.push.len();
            Ok(format!("pushed {} path(s)", state.pushed))
        }
        StepKind::Run(cmd) => {
            eprintln!("$ {}", cmd.render(Some(state)));
            cmd.run(sh, state)?;
            Ok(String::new())
        }
    }
}

/// What a run did, for the terminal and `$GITHUB_STEP_SUMMARY`.
#[derive(Debug, Default)]
pub struct Report {
    pub task: String,
    pub facts: Vec<(String, String)>,
    /// Title, duration, and the step's note (`None` when it failed).
    pub steps: Vec<(String, Duration, Option<String>)>,
    /// What the steps learnt: outputs, closure, what was filtered, present and pushed.
    state: State,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!("### `cargo xtask {}`\n\n| | |\n|---|---|\n", self.task);
        for (name, value) in &self.facts {
            let _ = writeln!(md, "| {name} | `{value}` |");
        }
        if self.state.done {
            let _ = writeln!(
                md,
                "| result | the cache already had all {} output(s): nothing built or pushed |",
                self.state.present
            );
        } else {
            let _ = writeln!(
                md,
                "| outputs built | {} (closure: {} paths, {}) |",
                self.state.outputs.len(),
                self.state.closure.len(),
                mib(self.state.closure_bytes)
            );
            let _ = writeln!(md, "| pushed | {} |", self.state.pushed);
            let _ = writeln!(md, "| already in the cache | {} |", self.state.present);
            let _ = writeln!(
                md,
                "| filtered out | {} (kept because needed: {}) |",
                self.state.dropped.len(),
                self.state.kept_anyway.len()
            );
        }
        md.push_str("\n| step | duration | result |\n|---|---:|---|\n");
        for (title, duration, note) in &self.steps {
            let _ = writeln!(md, "| {title} | {} | {} |", seconds(*duration), note.as_deref().unwrap_or("**failed**"));
        }
        md
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        let total: Duration = self.steps.iter().map(|(_, d, _)| *d).sum();
        if self.state.done {
            format!(
                "cargo xtask {}: up to date ({} output(s) already cached) in {}",
                self.task,
                self.state.present,
                seconds(total)
            )
        } else {
            format!(
                "cargo xtask {}: {} output(s), closure {} path(s); pushed {}, already cached {}, filtered out {} in {}",
                self.task,
                self.state.outputs.len(),
                self.state.closure.len(),
                self.state.pushed,
                self.state.present,
                self.state.dropped.len(),
                seconds(total)
            )
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+,%^".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("nix"), "nix");
        assert_eq!(shell_quote("nix-command flakes"), "'nix-command flakes'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn renders_placeholders_in_a_dry_run_and_paths_when_known() {
        let cmd = Cmd::new("nix", [Arg::Lit("copy".into()), Arg::Paths(PathSet::Push)]);
        assert_eq!(cmd.render(None), "nix copy <paths the cache lacks>");
        let state = State { push: vec!["/nix/store/a-x".into(), "/nix/store/b-y".into()], ..State::default() };
        assert_eq!(cmd.render(Some(&state)), "nix copy /nix/store/a-x /nix/store/b-y");
        let piped = Cmd::new("cachix", [Arg::Lit("push".into())]).stdin(Stdin::Paths(PathSet::Push));
        assert_eq!(piped.render(None), "printf '%s\\n' <paths the cache lacks> | cachix push");
    }
}

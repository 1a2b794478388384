//! The command model: every external command a task runs is first a [`Cmd`] value, which one
//! runner executes ([`Cmd::run`]) and the dry run prints ([`Cmd::render`]): `--dry-run`, the logs
//! and the tests read the same value. Words known only while a task runs (the outputs a build
//! produced) are [`Slot`]s, filled from [`Slots`] when the command runs.

mod render;
mod run;

pub use run::{evaluations, kill, running, stop};
pub(crate) use run::{mark_start, own_time, run_in};

use std::path::PathBuf;

/// A list of words known only at run time, named by what a dry run prints in its place (`<outputs>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot(pub &'static str);

/// Where a running command finds the words of its slots.
pub trait Slots {
    /// The words `slot` holds now; empty when it holds none.
    fn words(&self, slot: Slot) -> &[String];
}

/// One list of words for every slot: for a command with one slot, run on its own.
pub struct Words(pub Vec<String>);

impl Slots for Words {
    fn words(&self, _: Slot) -> &[String] {
        &self.0
    }
}

/// No slot is filled: for commands that have none.
pub struct NoSlots;

impl Slots for NoSlots {
    fn words(&self, _: Slot) -> &[String] {
        &[]
    }
}

/// An argument of a command: a word, or the words of a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A word as it is.
    Lit(String),
    /// Expands to every word of the slot, one argument each.
    Slot(Slot),
    /// Expands to one argument: the words of the slot joined by spaces (a Nix list setting).
    Joined(Slot),
}

/// A literal argument.
pub fn lit(s: impl Into<String>) -> Arg {
    Arg::Lit(s.into())
}

/// What a command reads on its standard input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Stdin {
    /// Nothing: stdin is `/dev/null`.
    #[default]
    Null,
    /// The words of the slot, one a line.
    Slot(Slot),
    /// The bytes of a file.
    File(PathBuf),
    /// The value of an environment variable (a secret: it is never in a file, an argument or a log).
    Env(&'static str),
    /// One line: `before`, then a secret as [`Stdin::Env`]: a header curl reads (`--header @-`).
    EnvLine {
        /// What comes before the value on the line (`Authorization: Bearer `).
        before: &'static str,
        /// The environment variable that holds the value.
        var: &'static str,
    },
}

/// What happens to the command's standard streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Io {
    /// Both streams are relayed to the xtask's stderr, redacted: its stdout holds only what the
    /// task itself prints (a key is the last line).
    #[default]
    Relay,
    /// Stdout is read (JSON), stderr streams through: build logs.
    ReadStdout,
    /// Both are read; stderr is shown only when the command fails: queries.
    Quiet,
}

/// One external command, as a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmd {
    /// The program it runs: a name found on `PATH`, or a path.
    pub program: String,
    /// Its arguments, slots filled when it runs.
    pub args: Vec<Arg>,
    /// What it reads on its standard input.
    pub stdin: Stdin,
    /// What happens to its standard streams.
    pub io: Io,
    /// Write stdout to this file (atomically) instead of returning it.
    pub stdout_to: Option<PathBuf>,
    /// What to say when the command fails: what it needs, or where to look.
    pub hint: String,
    /// Environment variables set for it (shown before the program), and removed from it.
    pub env: Vec<(String, String)>,
    /// Environment variables removed from what it inherits.
    pub env_remove: Vec<String>,
    /// It evaluates the flake (the run record counts these).
    pub evaluates: bool,
}

impl Cmd {
    /// A command that runs `program` with `args`: stdin `/dev/null`, streams relayed, in the workspace's root.
    pub fn new(program: &str, args: impl IntoIterator<Item = Arg>) -> Cmd {
        Cmd { program: program.to_owned(), args: args.into_iter().collect(), ..Cmd::default() }
    }

    /// A command whose arguments are all literal.
    pub fn lits<S: Into<String>>(program: &str, args: impl IntoIterator<Item = S>) -> Cmd {
        Cmd::new(program, args.into_iter().map(lit))
    }

    /// Sets what happens to its standard streams.
    pub fn io(mut self, io: Io) -> Cmd {
        self.io = io;
        self
    }

    /// Sets what it reads on its standard input.
    pub fn stdin(mut self, stdin: Stdin) -> Cmd {
        self.stdin = stdin;
        self
    }

    pub(crate) fn stdout_to(mut self, path: PathBuf) -> Cmd {
        self.stdout_to = Some(path);
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Cmd {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Removes an environment variable the command would inherit.
    pub fn env_remove(mut self, name: impl Into<String>) -> Cmd {
        self.env_remove.push(name.into());
        self
    }

    /// What to say when the command fails.
    pub fn hint(mut self, hint: impl Into<String>) -> Cmd {
        self.hint = hint.into();
        self
    }
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

//! Running a [`Cmd`]: the one place where the tasks start processes, with duct. What a command
//! prints passes through [`secrets::redact`] line by line (Nix names a substituter with its
//! credentials in its own warnings), and a failure ends with the command's own error lines.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::Output,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{ensure, Context, Result};

use super::{Arg, Cmd, Io, Slots, Stdin};
use crate::secrets;

/// When the process started, and how long its commands ran: the xtask's own time is the rest.
static STARTED: OnceLock<Instant> = OnceLock::new();
static COMMANDS_NANOS: AtomicU64 = AtomicU64::new(0);
/// How many commands that evaluate the flake the run started.
static EVALUATIONS: AtomicU64 = AtomicU64::new(0);
/// Where commands run: the workspace's root, once the session found it.
static WORKSPACE: OnceLock<PathBuf> = OnceLock::new();

/// The commands running now, and whether the run was stopped: one lock, so none starts after [`stop`].
static RUNNING: Mutex<(bool, Vec<Arc<duct::Handle>>)> = Mutex::new((false, Vec::new()));

/// Stops the run's commands (a signal came): each running one gets SIGTERM (duct only kills), so
/// it can stop what it started (Nix its builders); none starts but through [`Cmd::run_after_stop`].
pub fn stop() {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running.0 = true;
    for pid in running.1.iter().flat_map(|handle| handle.pids()) {
        // SAFETY: kill(2) with a process id of a handle this run holds, not yet reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
}

/// Kills the commands still running after [`stop`] (SIGKILL, duct's `kill`).
pub fn kill() {
    for handle in &RUNNING.lock().unwrap_or_else(|e| e.into_inner()).1 {
        let _ = handle.kill();
    }
}

/// How many commands are running now.
pub fn running() -> usize {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).1.len()
}

/// Marks the start of the process (first thing in `main`).
pub(crate) fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

/// Sets where commands run (the session, once: the workspace root).
pub(crate) fn run_in(dir: &Path) {
    let _ = WORKSPACE.set(dir.to_path_buf());
}

/// How many times the run evaluated the flake so far.
pub fn evaluations() -> u64 {
    EVALUATIONS.load(Ordering::Relaxed)
}

/// The xtask's own time so far: its wall time minus the time its commands ran.
pub(crate) fn own_time() -> Duration {
    let commands = Duration::from_nanos(COMMANDS_NANOS.load(Ordering::Relaxed));
    STARTED.get().map_or(Duration::ZERO, |started| started.elapsed().saturating_sub(commands))
}

impl Cmd {
    /// Prints the command (`$ …`, slots filled), runs it, and returns its stdout (empty when relayed).
    pub fn run(&self, slots: &dyn Slots) -> Result<String> {
        eprintln!("$ {}", self.render(Some(slots)));
        self.run_quietly(slots)
    }

    /// Runs the command without printing it first.
    pub fn run_quietly(&self, slots: &dyn Slots) -> Result<String> {
        self.read(self.spawn(slots, true)?)
    }

    /// Runs the command quietly even after the run was [`stop`]ped (to remove what the run made).
    pub(crate) fn run_after_stop(&self) -> Result<String> {
        self.read(self.spawn(&super::NoSlots, false)?)
    }

    fn read(&self, output: Output) -> Result<String> {
        let failed = || format!("`{}` failed: {}", self.program, self.hint);
        ensure!(output.status.success(), "{}\n{}", failed(), String::from_utf8_lossy(&output.stderr).trim_end());
        String::from_utf8(output.stdout).with_context(failed)
    }

    /// Prints and runs the command, and returns what it did whatever its exit status (an answer).
    pub fn output(&self, slots: &dyn Slots) -> Result<Output> {
        eprintln!("$ {}", self.render(Some(slots)));
        self.clone().io(Io::Quiet).spawn(slots, true)
    }

    /// Runs the command without printing it, and returns what it did, whatever its exit status.
    pub(crate) fn output_quietly(&self) -> Result<Output> {
        self.clone().io(Io::Quiet).spawn(&super::NoSlots, true)
    }

    /// Whether the command ran and exited 0 (for checks that only ask).
    pub fn succeeds(&self) -> bool {
        self.clone().io(Io::Quiet).run_quietly(&super::NoSlots).is_ok()
    }

    /// The command as duct runs it: its words, directory, environment and standard input.
    fn expression(&self, slots: &dyn Slots) -> Result<duct::Expression> {
        let args = self.args.iter().flat_map(|arg| match arg {
            Arg::Lit(s) => vec![s.clone()],
            Arg::Slot(slot) => slots.words(*slot).to_vec(),
            Arg::Joined(slot) => vec![slots.words(*slot).join(" ")],
        });
        let mut expression = duct::cmd(&self.program, args).unchecked();
        if let Some(dir) = WORKSPACE.get() {
            expression = expression.dir(dir);
        }
        // duct applies the innermost (first added) last: the command's own values, the last of
        // them first, win over what it removes.
        for (name, value) in self.env.iter().rev() {
            expression = expression.env(name, value);
        }
        for name in &self.env_remove {
            expression = expression.env_remove(name);
        }
        let env = |var: &str| std::env::var(var).with_context(|| format!("${var} is not set"));
        Ok(match &self.stdin {
            Stdin::Null => expression.stdin_null(),
            Stdin::Slot(slot) => {
                expression.stdin_bytes(slots.words(*slot).iter().map(|p| format!("{p}\n")).collect::<String>())
            }
            Stdin::File(path) => {
                expression.stdin_bytes(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
            }
            Stdin::Env(var) => expression.stdin_bytes(env(var)?),
            Stdin::EnvLine { before, var } => expression.stdin_bytes(format!("{before}{}\n", env(var)?)),
        })
    }

    /// Runs the command to its end. Streams that pass through are printed redacted as they come;
    /// the ones read are returned (a streamed stderr returns its error lines alone).
    fn spawn(&self, slots: &dyn Slots, stoppable: bool) -> Result<Output> {
        let mut expression = self.expression(slots)?;
        // To a file: streamed there (an image is gigabytes), then renamed into place on success.
        // One partial file per process: concurrent runs write the same file (a cache's public key).
        let partial =
            self.stdout_to.as_ref().map(|path| path.with_extension(format!("partial-{}", std::process::id())));
        let mut relayed = Vec::new();
        let mut relay_to_the_end = |stdout: bool| -> Result<os_pipe::PipeWriter> {
            let (reader, writer) = os_pipe::pipe().context("cannot make a pipe")?;
            relayed.push((stdout, thread::spawn(move || relay(reader))));
            Ok(writer)
        };
        expression = match (&partial, self.io) {
            (Some(partial), _) => expression.stdout_path(partial),
            (None, Io::Relay) => expression.stdout_file(relay_to_the_end(true)?),
            (None, Io::ReadStdout | Io::Quiet) => expression.stdout_capture(),
        };
        expression = match self.io {
            Io::Relay | Io::ReadStdout => expression.stderr_file(relay_to_the_end(false)?),
            Io::Quiet => expression.stderr_capture(),
        };
        let started = Instant::now();
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        ensure!(!stoppable || !running.0, "`{}` was not started: the run is stopping (a signal)", self.program);
        let handle = expression.start().with_context(|| format!("cannot start `{}`: {}", self.program, self.hint));
        // The pipes' write ends are the expression's: gone with it, so the relays see their end.
        drop(expression);
        let handle = Arc::new(handle?);
        EVALUATIONS.fetch_add(u64::from(self.evaluates), Ordering::Relaxed);
        running.1.push(handle.clone());
        drop(running);
        let output = handle.wait().cloned();
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).1.retain(|h| !Arc::ptr_eq(h, &handle));
        let mut output = output.with_context(|| format!("`{}` did not finish", self.program))?;
        COMMANDS_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if let (Some(partial), Some(path)) = (&partial, &self.stdout_to) {
            match output.status.success() {
                true => std::fs::rename(partial, path).with_context(|| format!("cannot write {}", path.display()))?,
                false => std::fs::remove_file(partial).unwrap_or_default(),
            }
        }
        // A relayed stderr answers with its error lines; a relayed stdout with nothing.
        for (stdout, relay) in relayed {
            output.stderr.extend(relay.join().ok().filter(|_| !stdout).unwrap_or_default());
        }
        Ok(output)
    }
}

/// How many lines of a streamed command's errors a failure repeats (the last ones).
const ERROR_LINES: usize = 30;

/// Relays a stream to stderr line by line, redacted, as it comes (bytes that are not UTF-8 shown
/// lossily: a child must never die of a closed pipe because of one byte). Returns the last
/// [`ERROR_LINES`] lines that [`says_error`] (and the indented lines under them), for a failure.
fn relay(pipe: impl Read) -> Vec<u8> {
    let mut errors = std::collections::VecDeque::new();
    let mut in_error = false;
    // To the end of the stream: a reader that stops would leave the child blocked on a full pipe.
    for line in BufReader::new(pipe).split(b'\n').map_while(Result::ok) {
        let text = secrets::redact(String::from_utf8_lossy(&line).trim_end_matches('\r'));
        in_error = says_error(&text) || (in_error && (text.is_empty() || text.starts_with([' ', '\t'])));
        if in_error {
            if errors.len() == ERROR_LINES {
                errors.pop_front();
            }
            errors.push_back(format!("{text}\n"));
        }
        eprintln!("{text}");
    }
    errors.into_iter().collect::<String>().into_bytes()
}

/// Whether a line starts an error, as the tools say it: Nix and cargo (`error:`, `error[E…]`),
/// git (`fatal:`), and the Go tools' logs (skopeo, buildah: `level=fatal`).
fn says_error(line: &str) -> bool {
    let line = line.trim_start();
    ["error:", "error[", "fatal:"].iter().any(|p| line.starts_with(p)) || line.contains(" level=fatal ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::NoSlots;

    #[test]
    fn the_last_value_given_wins_over_an_earlier_one_and_a_removal() {
        let cmd = Cmd::lits("sh", ["-c", "echo \"$XTASK_A $XTASK_B\""])
            .io(Io::Quiet)
            .env_remove("XTASK_A")
            .env("XTASK_A", "first")
            .env("XTASK_A", "last")
            .env("XTASK_B", "b")
            .env_remove("XTASK_B");
        assert_eq!(cmd.run_quietly(&NoSlots).unwrap(), "last b\n");
    }
}

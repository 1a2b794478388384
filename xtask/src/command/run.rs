//! Running a [`Cmd`]: the one place where the tasks start processes. What a command prints
//! passes through [`secrets::redact`] line by line: Nix names a substituter with its
//! credentials in its own warnings.

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Command, Output, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, OnceLock,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use super::{Arg, Cmd, Io, Slots, Stdin};
use crate::secrets;

/// When the process started, and how long its commands ran: the xtask's own time is the rest.
static STARTED: OnceLock<Instant> = OnceLock::new();
static COMMANDS_NANOS: AtomicU64 = AtomicU64::new(0);
/// How many commands that evaluate the flake the run started.
static EVALUATIONS: AtomicU64 = AtomicU64::new(0);

/// The commands running now (their process ids), and whether the run was stopped: checked and
/// changed under one lock, so no command starts after [`stop`] has signalled the running ones.
static RUNNING: Mutex<(bool, Vec<u32>)> = Mutex::new((false, Vec::new()));

/// Stops the run's commands (a signal came): each running one gets SIGTERM, and none starts
/// again but through [`Cmd::run_after_stop`].
pub fn stop() {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running.0 = true;
    for pid in &running.1 {
        // SAFETY: kill(2) with a process id this run started and has not yet reaped.
        unsafe { libc::kill(*pid as libc::pid_t, libc::SIGTERM) };
    }
}

/// How many commands are running now.
pub fn running() -> usize {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).1.len()
}

/// Marks the start of the process (first thing in `main`).
pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

/// How many times the run evaluated the flake so far.
pub fn evaluations() -> u64 {
    EVALUATIONS.load(Ordering::Relaxed)
}

/// The xtask's own time so far: its wall time minus the time its commands ran.
pub fn own_time() -> Duration {
    let commands = Duration::from_nanos(COMMANDS_NANOS.load(Ordering::Relaxed));
    STARTED.get().map_or(Duration::ZERO, |started| started.elapsed().saturating_sub(commands))
}

impl Cmd {
    /// Prints the command (`$ …`, slots filled), runs it, and returns its stdout (empty when it
    /// streams through, or goes to a file).
    pub fn run(&self, sh: &Shell, slots: &dyn Slots) -> Result<String> {
        eprintln!("$ {}", self.render(Some(slots)));
        self.run_quietly(sh, slots)
    }

    /// Runs the command without printing it first.
    pub fn run_quietly(&self, sh: &Shell, slots: &dyn Slots) -> Result<String> {
        self.read(self.spawn(sh, slots, true)?)
    }

    /// Runs the command quietly even after the run was [`stop`]ped: for the removal of what the
    /// run made.
    pub fn run_after_stop(&self, sh: &Shell) -> Result<String> {
        self.read(self.spawn(sh, &super::NoSlots, false)?)
    }

    fn read(&self, output: Output) -> Result<String> {
        let failed = || format!("`{}` failed: {}", self.program, self.hint);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("{}\n{}", failed(), stderr.trim_end());
        }
        String::from_utf8(output.stdout).with_context(failed)
    }

    /// Prints and runs the command, and returns what it did, whatever its exit status: for
    /// commands whose failure is an answer (`nix store verify`).
    pub fn output(&self, sh: &Shell, slots: &dyn Slots) -> Result<Output> {
        eprintln!("$ {}", self.render(Some(slots)));
        self.clone().io(Io::Quiet).spawn(sh, slots, true)
    }

    /// Runs the command without printing it, and returns what it did, whatever its exit status:
    /// for a command that reports each of its parts (curl's transfers) on its own.
    pub fn output_quietly(&self, sh: &Shell) -> Result<Output> {
        self.clone().io(Io::Quiet).spawn(sh, &super::NoSlots, true)
    }

    /// Whether the command ran and exited 0 (for checks that only ask).
    pub fn succeeds(&self, sh: &Shell) -> bool {
        self.clone().io(Io::Quiet).run_quietly(sh, &super::NoSlots).is_ok()
    }

    /// Runs the command to its end. Streams that pass through are printed redacted as they come;
    /// the ones read are returned (a streamed stderr returns its error lines alone).
    fn spawn(&self, sh: &Shell, slots: &dyn Slots, stoppable: bool) -> Result<Output> {
        let mut args = Vec::new();
        for arg in &self.args {
            match arg {
                Arg::Lit(s) => args.push(s.clone()),
                Arg::Slot(slot) => args.extend(slots.words(*slot).iter().cloned()),
                Arg::Joined(slot) => args.push(slots.words(*slot).join(" ")),
            }
        }
        let stdin = match &self.stdin {
            Stdin::Null => None,
            Stdin::Slot(slot) => Some(slots.words(*slot).iter().map(|p| format!("{p}\n")).collect::<String>().into()),
            Stdin::File(path) => Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?),
            Stdin::Env(var) => Some(std::env::var(var).with_context(|| format!("${var} is not set"))?.into_bytes()),
            Stdin::EnvLine { before, var } => {
                let value = std::env::var(var).with_context(|| format!("${var} is not set"))?;
                Some(format!("{before}{value}\n").into_bytes())
            }
        };
        let mut command = sh.cmd(&self.program).args(args);
        for name in &self.env_remove {
            command = command.env_remove(name);
        }
        for (name, value) in &self.env {
            command = command.env(name, value);
        }
        let mut command: Command = command.into();
        command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        command.stderr(Stdio::piped());
        // To a file: streamed there (an image is gigabytes), then renamed into place on success.
        // One partial file per process: concurrent runs write the same file (a cache's public key).
        let partial =
            self.stdout_to.as_ref().map(|path| path.with_extension(format!("partial-{}", std::process::id())));
        match &partial {
            Some(partial) => command
                .stdout(std::fs::File::create(partial).with_context(|| format!("cannot write {}", partial.display()))?),
            None => command.stdout(Stdio::piped()),
        };
        let started = Instant::now();
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if stoppable && running.0 {
            bail!("`{}` was not started: the run is stopping (a signal)", self.program);
        }
        let mut child = command.spawn().with_context(|| format!("cannot start `{}`: {}", self.program, self.hint))?;
        if self.evaluates {
            EVALUATIONS.fetch_add(1, Ordering::Relaxed);
        }
        running.1.push(child.id());
        drop(running);
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            thread::spawn(move || pipe.write_all(&bytes));
        }
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take().unwrap());
        let stdout = match (stdout, self.io) {
            (None, _) => thread::spawn(Vec::new),
            (Some(stdout), Io::Relay) => thread::spawn(move || {
                relay(stdout);
                Vec::new()
            }),
            (Some(stdout), Io::ReadStdout | Io::Quiet) => thread::spawn(move || read(stdout)),
        };
        let stderr = match self.io {
            Io::Relay | Io::ReadStdout => thread::spawn(move || relay(stderr)),
            Io::Quiet => thread::spawn(move || read(stderr)),
        };
        let status = child.wait();
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).1.retain(|pid| *pid != child.id());
        let status = status.with_context(|| format!("`{}` did not finish", self.program))?;
        COMMANDS_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        if let (Some(partial), Some(path)) = (&partial, &self.stdout_to) {
            if status.success() {
                std::fs::rename(partial, path).with_context(|| format!("cannot write {}", path.display()))?;
            } else {
                let _ = std::fs::remove_file(partial);
            }
        }
        let joined = |t: thread::JoinHandle<Vec<u8>>| t.join().unwrap_or_default();
        Ok(Output { status, stdout: joined(stdout), stderr: joined(stderr) })
    }
}

/// How many lines of a streamed command's errors a failure repeats (the last ones).
const ERROR_LINES: usize = 30;

/// Relays a stream to stderr line by line, redacted, as it comes, to its end: bytes that are not
/// UTF-8 are shown lossily (a child must never die of a closed pipe because of one byte). Returns
/// the command's errors as it said them (each line that [`says_error`] and the indented lines
/// under it; the last [`ERROR_LINES`]): a failure ends with them, where a long log above would
/// bury them. An error the command went on from (a substitute it could not download) stays among
/// them, the one it stopped on last.
fn relay(pipe: impl Read) -> Vec<u8> {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    let mut errors: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut in_error = false;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {
                let text = secrets::redact(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']));
                let continues = in_error && (text.is_empty() || text.starts_with([' ', '\t']));
                in_error = says_error(&text) || continues;
                if in_error {
                    if errors.len() == ERROR_LINES {
                        errors.pop_front();
                    }
                    errors.push_back(text.clone());
                }
                eprintln!("{text}");
            }
            // Keep draining: a reader that stops would leave the child blocked on a full pipe.
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    errors.into_iter().flat_map(|l| [l, "\n".to_owned()]).collect::<String>().into_bytes()
}

/// Whether a line starts an error, as the tools say it: Nix and cargo (`error:`, `error[E…]`),
/// git (`fatal:`), and the Go tools' logs (skopeo, buildah: `level=fatal`).
fn says_error(line: &str) -> bool {
    let line = line.trim_start();
    ["error:", "error[", "fatal:"].iter().any(|p| line.starts_with(p)) || line.contains(" level=fatal ")
}

fn read(mut pipe: impl Read) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes);
    bytes
}

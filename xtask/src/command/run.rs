//! Running a [`Cmd`]: the one place where the tasks start processes.

use anyhow::{bail, Context, Result};
use xshell::Shell;

use super::{Arg, Cmd, Io, Slots, Stdin};
use crate::files::write_atomic;

impl Cmd {
    /// Prints the command (`$ …`, slots filled), runs it, and returns its stdout (empty when it
    /// streams through, or goes to a file).
    pub fn run(&self, sh: &Shell, slots: &dyn Slots) -> Result<String> {
        eprintln!("$ {}", self.render(Some(slots)));
        self.run_quietly(sh, slots)
    }

    /// Runs the command without printing it first.
    pub fn run_quietly(&self, sh: &Shell, slots: &dyn Slots) -> Result<String> {
        let mut args = Vec::new();
        for arg in &self.args {
            match arg {
                Arg::Lit(s) => args.push(s.clone()),
                Arg::Slot(slot) => args.extend(slots.words(*slot).iter().cloned()),
            }
        }
        let mut cmd = sh.cmd(&self.program).args(args).quiet();
        cmd = match &self.stdin {
            Stdin::Null => cmd,
            Stdin::Slot(slot) => cmd.stdin(slots.words(*slot).iter().map(|p| format!("{p}\n")).collect::<String>()),
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
            return Ok(String::new());
        }
        Ok(stdout)
    }

    /// Whether the command ran and exited 0 (for checks that only ask).
    pub fn succeeds(&self, sh: &Shell) -> bool {
        self.clone().io(Io::Quiet).run_quietly(sh, &super::NoSlots).is_ok()
    }
}

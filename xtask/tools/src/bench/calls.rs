//! What a job called: a `nix` that logs each call (the evaluations a job makes), and the step
//! durations a run printed.

use std::path::Path;

use anyhow::{Context, Result};
use xshell::Shell;

/// A directory whose `nix` and `nix-store` append their arguments to `$NIX_CALL_LOG`, then run the
/// real ones; the PATH with it first.
pub fn logging_nix(sh: &Shell, bin: &Path) -> Result<std::ffi::OsString> {
    use std::os::unix::fs::PermissionsExt;
    sh.create_dir(bin)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in ["nix", "nix-store"] {
        let real = std::env::split_paths(&path)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .with_context(|| format!("no {tool} on PATH"))?;
        let script = format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$NIX_CALL_LOG\"\nexec {} \"$@\"\n", real.display());
        sh.write_file(bin.join(tool), script)?;
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path)))?)
}

/// The duration a run printed for a step (`<== [i/n] TITLE: done in 1.2s …`).
pub fn step_seconds(stderr: &str, title: &str) -> f64 {
    let line = stderr.lines().find(|l| l.starts_with("<== ") && l.contains(title) && l.contains(": done in "));
    let seconds = line.and_then(|l| l.split(": done in ").nth(1)?.split('s').next()?.parse().ok());
    seconds.unwrap_or_default()
}

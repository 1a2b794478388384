//! The pipeline's signing steps: which paths the cache has that the key cannot verify, and
//! signing what is pushed and what the cache holds unverifiable.

use anyhow::Result;
use xshell::Shell;

use super::state::State;
use crate::{command::Cmd, github};

impl State {
    /// The paths of `verify` (a `nix store verify` trusting only the signing key) that the key
    /// cannot verify. When the check itself fails, a warning, and none.
    pub(super) fn untrusted(&mut self, sh: &Shell, verify: &Cmd) -> Result<Vec<String>> {
        let output = verify.output(sh, self)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let untrusted: Vec<String> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("path '")?.strip_suffix("' is untrusted"))
            .map(str::to_owned)
            .collect();
        if !output.status.success() && untrusted.is_empty() {
            let problem = format!("cannot check the cache's signatures: {}", stderr.trim_end());
            github::warning(&problem);
            self.warnings.push(problem);
        }
        for path in &untrusted {
            eprintln!("  not signed by the key: {path}");
        }
        Ok(untrusted)
    }

    /// Checks the signatures of the paths the cache has.
    pub(super) fn verify(&mut self, sh: &Shell, cmd: &Cmd) -> Result<String> {
        if self.present_paths.is_empty() {
            return Ok("the cache has none of the paths: nothing to check".to_owned());
        }
        self.unsigned = self.untrusted(sh, cmd)?;
        let (all, bad) = (self.present_paths.len(), self.unsigned.len());
        Ok(format!("{} of {all} signed by the key", all - bad))
    }

    /// Signs the paths to push (`sign`), and re-signs in the cache what the key cannot verify.
    pub(super) fn sign(&mut self, sh: &Shell, sign: &Cmd, resign: &Cmd) -> Result<String> {
        if !self.push.is_empty() {
            sign.run(sh, self)?;
        }
        if !self.unsigned.is_empty() {
            resign.run(sh, self)?;
            self.resigned = self.unsigned.len();
        }
        Ok(format!("signed {} to push, re-signed {} in the cache", self.push.len(), self.resigned))
    }
}

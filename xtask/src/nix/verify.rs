//! What `nix store verify` says of each path: which a trusted key did not sign, which do not hold
//! what their NAR hash says, and whether anything else failed (exit status bit 4, no path named).

use std::{collections::BTreeSet, process::Output};

/// What `nix store verify` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// Paths no trusted key signed.
    pub untrusted: BTreeSet<String>,
    /// Paths whose contents are not what their NAR hash says.
    pub modified: BTreeSet<String>,
    /// Some path could not be checked at all (an I/O or decompression error), unnamed.
    pub failed: bool,
}

/// Reads the paths it named on stderr and what its exit status says.
pub fn parse(output: &Output) -> Verdicts {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let named = |suffix: &str| -> BTreeSet<String> {
        stderr.lines().filter_map(|l| Some(l.split("path '").nth(1)?.split_once(suffix)?.0.to_owned())).collect()
    };
    let (untrusted, modified) = (named("' is untrusted"), named("' was modified!"));
    let code = output.status.code().unwrap_or(4);
    let failed = code & 4 != 0 || (code != 0 && untrusted.is_empty() && modified.is_empty());
    Verdicts { untrusted, modified, failed }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn names_the_untrusted_and_the_modified_paths() {
        let output = Output {
            status: std::process::ExitStatus::from_raw(3 << 8),
            stdout: Vec::new(),
            stderr: b"path '/nix/store/a-x' is untrusted\nerror: path '/nix/store/b-y' was modified! expected hash 'sha256:1', got 'sha256:2'\n".to_vec(),
        };
        let verdicts = parse(&output);
        assert_eq!(verdicts.untrusted.into_iter().collect::<Vec<_>>(), ["/nix/store/a-x"]);
        assert_eq!(verdicts.modified.into_iter().collect::<Vec<_>>(), ["/nix/store/b-y"]);
        assert!(!verdicts.failed);
    }
}

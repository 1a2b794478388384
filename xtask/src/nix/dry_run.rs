//! What `nix-store --realise --dry-run` says a store would do: the paths it would fetch, the
//! derivations it would build, and the paths it does not know how to get.

use std::collections::BTreeSet;

/// The three lists of a dry run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DryRun {
    /// Paths it would fetch from a substituter.
    pub fetched: BTreeSet<String>,
    /// `.drv` paths.
    pub built: BTreeSet<String>,
    /// Paths neither substitutable nor buildable from what the store has.
    pub unknown: BTreeSet<String>,
}

/// Reads the lists from the dry run's stderr: each header line names the indented paths below it.
pub fn parse(stderr: &str) -> DryRun {
    const HEADERS: [&str; 3] = ["will be built", "will be fetched", "don't know how to build"];
    let mut sets: [BTreeSet<String>; 3] = Default::default();
    let mut section: Option<usize> = None;
    for line in stderr.lines() {
        match line.strip_prefix("  ").map(str::trim).filter(|p| p.starts_with('/')) {
            Some(path) => {
                if let Some(s) = section {
                    sets[s].insert(path.to_owned());
                }
            }
            None => section = HEADERS.iter().position(|h| line.contains(h)),
        }
    }
    let [built, fetched, unknown] = sets;
    DryRun { fetched, built, unknown }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_would_be_fetched_built_and_not_found() {
        let stderr = "this derivation will be built:\n  /nix/store/aaa-app-0.1.0.drv\n\
                      these 2 paths will be fetched (0.10 MiB download, 0.50 MiB unpacked):\n  /nix/store/bbb-deps\n  /nix/store/ccc-vendor\n\
                      don't know how to build these paths:\n  /nix/store/ddd-glibc\n";
        let found = parse(stderr);
        assert_eq!(found.fetched.into_iter().collect::<Vec<_>>(), ["/nix/store/bbb-deps", "/nix/store/ccc-vendor"]);
        assert_eq!(found.built.into_iter().collect::<Vec<_>>(), ["/nix/store/aaa-app-0.1.0.drv"]);
        assert_eq!(found.unknown.into_iter().collect::<Vec<_>>(), ["/nix/store/ddd-glibc"]);
    }
}

//! The Nix on PATH: its version, asked once per run (`nix --version`), and the arguments that
//! depend on it. `nix path-info --json` takes `--json-format 1` from 2.33 on (without it, Nix
//! warns that the flag will become required; format 1 is the object keyed by store path that
//! 2.19 to 2.32 print). `nix config show` replaces `nix show-config` from 2.20 on.

use std::sync::OnceLock;

use crate::command::{Cmd, Io, NoSlots};

/// A Nix version: major, minor, patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The oldest Nix the tests run (Debian bookworm's): what the commands are built for when no
/// Nix answers (a dry run on a machine without it).
pub const OLDEST_TESTED: Version = Version(2, 8, 0);
/// The newest Nix the tests run (Debian sid's, `.ci/current-nix`).
pub const NEWEST_TESTED: Version = Version(2, 34, 8);
/// What the workspace's flake needs: crane supports Nix 2.28.3 and later.
pub const FLAKE_NEEDS: Version = Version(2, 28, 3);

const JSON_FORMAT_SINCE: Version = Version(2, 33, 0);
const CONFIG_SHOW_SINCE: Version = Version(2, 20, 0);

/// `nix --version` as Nix prints it: `nix (Nix) 2.34.8`, `nix (Nix) 2.18.1pre-git`.
pub fn parse(text: &str) -> Option<Version> {
    let word = text.split_whitespace().last()?;
    let mut numbers = word.split('.').map(|n| n.chars().take_while(char::is_ascii_digit).collect::<String>());
    let mut next = || numbers.next().and_then(|n| n.parse().ok());
    Some(Version(next()?, next()?, next().unwrap_or(0)))
}

/// The version of the Nix on PATH, asked on first use; `None` without one.
pub fn detected() -> Option<Version> {
    static DETECTED: OnceLock<Option<Version>> = OnceLock::new();
    *DETECTED.get_or_init(|| parse(&Cmd::lits("nix", ["--version"]).io(Io::Quiet).run_quietly(&NoSlots).ok()?))
}

/// `new` when the Nix the commands are built for is `since` or later, else `old`.
fn since(since: Version, new: &'static [&'static str], old: &'static [&'static str]) -> &'static [&'static str] {
    match detected().unwrap_or(OLDEST_TESTED) >= since {
        true => new,
        false => old,
    }
}

/// `--json`, and the format that keeps every Nix's output readable by the same parser.
pub fn path_info_json() -> &'static [&'static str] {
    since(JSON_FORMAT_SINCE, &["--json", "--json-format", "1"], &["--json"])
}

/// The command words that print Nix's settings as JSON.
pub fn config_show() -> &'static [&'static str] {
    since(CONFIG_SHOW_SINCE, &["config", "show", "--json"], &["show-config", "--json"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_each_nix_prints() {
        assert_eq!(parse("nix (Nix) 2.8.0\n"), Some(Version(2, 8, 0)));
        assert_eq!(parse("nix (Nix) 2.34.8\n"), Some(Version(2, 34, 8)));
        assert_eq!(parse("nix (Nix) 2.18.1pre-git"), Some(Version(2, 18, 1)));
        assert_eq!(parse("nix (Nix) 3.0"), Some(Version(3, 0, 0)));
        assert_eq!(parse("no version here"), None);
        assert!(Version(2, 28, 2) < FLAKE_NEEDS && Version(2, 28, 10) > FLAKE_NEEDS, "numbers, not text, compare");
    }
}

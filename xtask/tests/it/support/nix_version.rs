//! The Nix on PATH (2.8 or the current one under `.ci/current-nix`), and the words the xtask
//! gives it there: what a test that reads a plan must expect.

use std::{process::Command, sync::OnceLock};

use super::run;

/// The version of the Nix on PATH, (major, minor, patch).
pub fn nix_version() -> (u32, u32, u32) {
    static VERSION: OnceLock<(u32, u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(ask)
}

fn ask() -> (u32, u32, u32) {
    let out = run(Command::new("nix").arg("--version"));
    let version = out.stdout.split_whitespace().last().unwrap_or_default().to_owned();
    let mut numbers =
        version.split('.').map(|n| n.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0));
    let mut next = || numbers.next().unwrap_or(0);
    (next(), next(), next())
}

/// `nix path-info --json` as the xtask spells it on this machine's Nix: format 1 named where the
/// Nix knows `--json-format` (2.33 and later).
pub fn path_info_json() -> &'static str {
    if nix_version() >= (2, 33, 0) {
        "path-info --json --json-format 1"
    } else {
        "path-info --json"
    }
}

/// The Nix settings query as the xtask spells it: `config show` where Nix has it (2.20 and later).
pub fn config_show() -> &'static str {
    if nix_version() >= (2, 20, 0) {
        "config show --json"
    } else {
        "show-config --json"
    }
}

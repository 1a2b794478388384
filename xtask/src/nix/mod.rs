//! The Nix commands the tasks run, as [`Cmd`] values, and parsers for their JSON ([`json`]).
//!
//! Only stable interfaces: `nix eval --json`, `nix build --json`, `nix path-info --json`
//! (`valid: false` for a path a store lacks), `nix copy --no-recursive`. Works with Nix 2.8 and later.

pub mod json;

use crate::command::{lit, Arg, Cmd, Io, Slot};

const NEEDS: &str = "it needs Nix with flakes (see the output above)";

/// `nix --extra-experimental-features 'nix-command flakes' ARGS…`
pub fn nix(args: impl IntoIterator<Item = Arg>) -> Cmd {
    let mut all = vec![lit("--extra-experimental-features"), lit("nix-command flakes")];
    all.extend(args);
    Cmd::new("nix", all).needs(NEEDS)
}

/// How long a command waits on a cache. Nix retries a failed request (connection refused, DNS,
/// 5xx) with growing pauses, [`ATTEMPTS`] times in all, and gives an attempt up after
/// `stall_secs` without progress: a task never hangs on a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub stall_secs: u64,
}

/// Attempts per cache request (Nix's `download-attempts`; its default is 5).
pub const ATTEMPTS: u32 = 3;
/// Seconds to connect to a cache (Nix's `connect-timeout`; its default is none).
const CONNECT_TIMEOUT: u64 = 5;

impl Network {
    pub fn options(self) -> Vec<Arg> {
        [
            ("connect-timeout", CONNECT_TIMEOUT.to_string()),
            ("download-attempts", ATTEMPTS.to_string()),
            ("stalled-download-timeout", self.stall_secs.to_string()),
        ]
        .into_iter()
        .flat_map(|(name, value)| [lit("--option"), lit(name), lit(value)])
        .collect()
    }
}

/// A flake attribute such as `packages.x86_64-linux.deps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// `packages.x86_64-linux` or `checks.x86_64-linux`.
    pub parent: String,
    pub name: String,
}

impl Attr {
    pub fn package(system: &str, name: &str) -> Attr {
        Attr { parent: format!("packages.{system}"), name: name.to_owned() }
    }

    pub fn check(system: &str, name: &str) -> Attr {
        Attr { parent: format!("checks.{system}"), name: name.to_owned() }
    }

    pub fn installable(&self, flake: &str) -> String {
        format!("{flake}#{}.{}", self.parent, self.name)
    }
}

impl std::fmt::Display for Attr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.parent, self.name)
    }
}

/// Evaluates the output paths of attributes that share a parent, in one evaluation, building
/// nothing. Fetching the flake's inputs is bounded like any cache request.
pub fn eval_outputs(flake: &str, attrs: &[Attr], net: Network) -> Cmd {
    let parent = &attrs[0].parent;
    debug_assert!(attrs.iter().all(|a| &a.parent == parent));
    let list: Vec<_> = attrs.iter().map(|a| format!("set.\"{}\".outPath", a.name)).collect();
    let mut args = vec![lit("eval"), lit("--json")];
    args.extend(net.options());
    args.extend([lit(format!("{flake}#{parent}")), lit("--apply"), lit(format!("set: [ {} ]", list.join(" ")))]);
    nix(args).io(Io::Quiet).needs("it evaluates the flake (Nix says why below)")
}

/// An evaluation that failed because a flake input could not be downloaded says so, and how to
/// go on without network; any other failure is Nix's own words.
pub fn explain_eval_failure(err: anyhow::Error) -> anyhow::Error {
    let text = format!("{err:#}");
    let download = text.lines().find_map(|l| l.strip_prefix("error: unable to download "));
    match download {
        Some(what) => anyhow::anyhow!(
            "cannot download a flake input: {what}\nIs the network reachable? Without network, run against the \
             example flake, whose inputs are all local: cargo xtask <task> --flake xtask/tests/example-flake"
        ),
        None => err,
    }
}

/// Builds the attributes, printing build logs with `-L` in CI, using the cache as a substituter.
pub fn build(
    flake: &str,
    attrs: &[Attr],
    substituter: &str,
    public_key: Option<&str>,
    net: Network,
    logs: bool,
) -> Cmd {
    let mut args = vec![lit("build"), lit("--json"), lit("--no-link")];
    args.extend(net.options());
    // A substitute that fails to download is built instead: a cache hiccup never fails the build.
    args.extend([lit("--option"), lit("fallback"), lit("true")]);
    if logs {
        args.push(lit("--print-build-logs"));
    }
    args.extend([lit("--option"), lit("extra-substituters"), lit(substituter)]);
    if let Some(key) = public_key {
        args.extend([lit("--option"), lit("extra-trusted-public-keys"), lit(key)]);
    }
    args.extend(attrs.iter().map(|a| lit(a.installable(flake))));
    nix(args).io(Io::ReadStdout).needs("the build failed (see its log above)")
}

/// Which of the paths a store has: `nix path-info --json --store URL PATHS`.
pub fn query(store: &str, set: Slot, net: Network) -> Cmd {
    let mut args = vec![lit("path-info"), lit("--json")];
    args.extend(net.options());
    args.extend([lit("--store"), lit(store), Arg::Slot(set)]);
    nix(args).io(Io::Quiet).needs("it asks the cache which paths it has")
}

/// What a runner needs to build the derivations of `drvs` without building anything else: the
/// derivations' closure with the outputs of every derivation in it (and their runtime closures),
/// as far as this store has them. `.drv` files among them are left out by the caller.
pub fn requisites(drvs: Slot) -> Cmd {
    Cmd::new("nix-store", [lit("--query"), lit("--requisites"), lit("--include-outputs"), Arg::Slot(drvs)])
        .io(Io::Quiet)
        .needs("it lists the build inputs of what was built")
}

/// Sizes and references of the paths of a slot.
pub fn path_infos(set: Slot) -> Cmd {
    nix([lit("path-info"), lit("--json"), Arg::Slot(set)]).io(Io::Quiet)
}

/// Copies exactly the set (not its closure: the filter already chose) to a store.
pub fn copy(to: &str, set: Slot, net: Network) -> Cmd {
    let mut args = vec![lit("copy"), lit("--no-recursive")];
    args.extend(net.options());
    args.extend([lit("--to"), lit(to), Arg::Slot(set)]);
    nix(args)
        .io(Io::Quiet)
        .needs("it uploads to the cache: check the URL and its credentials (Nix's netrc-file for HTTP)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_sibling_attributes_in_one_call() {
        let attrs = [Attr::package("x86_64-linux", "deps"), Attr::package("x86_64-linux", "harnessImage")];
        let cmd = eval_outputs("/repo", &attrs, Network { stall_secs: 7 });
        assert_eq!(
            cmd.render(None),
            r#"nix --extra-experimental-features 'nix-command flakes' eval --json --option connect-timeout 5 --option download-attempts 3 --option stalled-download-timeout 7 '/repo#packages.x86_64-linux' --apply 'set: [ set."deps".outPath set."harnessImage".outPath ]'"#
        );
    }
}

//! The Nix commands the tasks run, as [`Cmd`] values built for the Nix on PATH ([`version`]), and
//! the parsers of what Nix prints, each tested on what Nix 2.8 and 2.34 print (`fixtures/`).
//!
//! The flake is evaluated once per task ([`eval_targets`]: every target's derivation and outputs,
//! in one `nix eval`); every later command works from those store paths and evaluates nothing.

pub mod dry_run;
pub mod export;
#[cfg(test)]
mod fixture_tests;
pub mod json;
pub mod messages;
pub mod verify;
pub mod version;

use std::path::PathBuf;

use crate::command::{lit, Arg, Cmd, Io, Slot};

/// What a Nix command's failure says when its own hint does not: Nix names the cause itself.
const FAILED: &str = "Nix's own words follow";

/// `nix --extra-experimental-features 'nix-command flakes' ARGS…`
pub fn nix(args: impl IntoIterator<Item = Arg>) -> Cmd {
    let features = [lit("--extra-experimental-features"), lit("nix-command flakes")];
    Cmd::new("nix", features.into_iter().chain(args)).hint(FAILED)
}

/// How a command talks to caches: Nix retries a failed request [`ATTEMPTS`] times in all, and gives
/// an attempt up after `stall_secs` without progress, so a task never hangs on a cache. Credentials
/// of `--cache` reach Nix in a netrc file of the run, never on a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Seconds a request may go without progress before Nix gives the attempt up (`cache-timeout`).
    pub stall_secs: u64,
    /// The run's netrc file, when the cache's URL held credentials.
    pub netrc: Option<PathBuf>,
}

/// Attempts per cache request (Nix's `download-attempts`; its default is 5).
pub(crate) const ATTEMPTS: u32 = 3;
/// Seconds to connect to a cache (Nix's `connect-timeout`; its default is none).
const CONNECT_TIMEOUT: u64 = 5;

impl Network {
    /// The `--option` arguments that hold Nix to these bounds (and hand it the netrc file).
    pub fn options(&self) -> Vec<Arg> {
        let options = [
            ("connect-timeout", CONNECT_TIMEOUT.to_string()),
            ("download-attempts", ATTEMPTS.to_string()),
            ("stalled-download-timeout", self.stall_secs.to_string()),
            // What a cache holds is asked anew each time: Nix otherwise remembers a narinfo for a
            // month, and would call present what gc or a repair just deleted.
            ("narinfo-cache-positive-ttl", "0".to_owned()),
            ("narinfo-cache-negative-ttl", "0".to_owned()),
        ];
        let netrc = self.netrc.iter().map(|netrc| ("netrc-file", netrc.display().to_string()));
        options.into_iter().chain(netrc).flat_map(|(name, value)| [lit("--option"), lit(name), lit(value)]).collect()
    }
}

/// A flake attribute such as `packages.x86_64-linux.deps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// `packages.x86_64-linux` or `checks.x86_64-linux`.
    pub parent: String,
    /// Its name under the parent (`deps`, `unit`).
    pub name: String,
}

impl Attr {
    /// `packages.<system>.<name>`.
    pub fn package(system: &str, name: &str) -> Attr {
        Attr { parent: format!("packages.{system}"), name: name.to_owned() }
    }

    /// `checks.<system>.<name>`.
    pub fn check(system: &str, name: &str) -> Attr {
        Attr { parent: format!("checks.{system}"), name: name.to_owned() }
    }

    /// The attribute as a Nix expression on `flake` (each name quoted).
    fn select(&self, flake: &str) -> String {
        let names = self.parent.split('.').chain([self.name.as_str()]);
        names.fold(flake.to_owned(), |expr, name| format!("{expr}.\"{name}\""))
    }
}

impl std::fmt::Display for Attr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.parent, self.name)
    }
}

/// Whether the flake has each attribute, in order, as `[true, false, …]`: its outputs' names only,
/// no derivation evaluated.
pub fn has_attrs(flake: &str, attrs: &[Attr], net: &Network) -> Cmd {
    let each = |a: &Attr| format!("(flake ? {})", &a.select("")[1..]);
    each_attr(flake, attrs, net, each).hint("it reads the flake's outputs (Nix says why below)")
}

fn nix_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace("${", "\\${"))
}

/// The one evaluation of a task: each attribute's derivation and output paths, in order, as
/// `[{ drv, outputs }]`. `builtins.getFlake` reaches `packages` and `checks` in one evaluation
/// (`--impure` lets it take an unlocked reference, as the command line does).
pub fn eval_targets(flake: &str, attrs: &[Attr], net: &Network) -> Cmd {
    let each = |a: &Attr| {
        let d = a.select("flake");
        format!(
            "(let d = {d}; in {{ drv = d.drvPath; outputs = map (o: d.${{o}}.outPath) (d.outputs or [ \"out\" ]); }})"
        )
    };
    Cmd { evaluates: true, ..each_attr(flake, attrs, net, each).hint("it evaluates the flake (Nix says why below)") }
}

/// `nix eval` of a list, one element per attribute of the flake.
fn each_attr(flake: &str, attrs: &[Attr], net: &Network, each: impl Fn(&Attr) -> String) -> Cmd {
    let each: Vec<String> = attrs.iter().map(each).collect();
    let expr = format!("let flake = builtins.getFlake {}; in [ {} ]", nix_string(flake), each.join(" "));
    nix(with_net(["eval", "--json", "--impure"].map(lit), net, [lit("--expr"), lit(expr)])).io(Io::Quiet)
}

fn nix_store(args: impl IntoIterator<Item = Arg>) -> Cmd {
    Cmd::new("nix-store", args).hint(FAILED)
}

/// `head`, the options that bound the network ([`Network::options`]), then `tail`.
fn with_net(head: impl IntoIterator<Item = Arg>, net: &Network, tail: impl IntoIterator<Item = Arg>) -> Vec<Arg> {
    head.into_iter().chain(net.options()).chain(tail).collect()
}

/// Builds the derivations (nothing is evaluated), substituting from `substituters` (one word,
/// space-separated: empty when the cache cannot be reached) trusting `key`; each output becomes
/// a GC root, `root`, `root-2`, … (indirect: it ends when that file goes); prints the roots.
pub fn realise(drvs: Slot, substituters: Slot, key: Option<Arg>, net: &Network, root: &str) -> Cmd {
    let mut args = with_net(["--realise", "--add-root", root, "--indirect"].map(lit), net, []);
    // A substitute that fails to download is built instead: a cache hiccup never fails the build.
    args.extend([lit("--option"), lit("fallback"), lit("true")]);
    args.extend([lit("--option"), lit("extra-substituters"), Arg::Joined(substituters)]);
    args.extend(key.into_iter().flat_map(|key| [lit("--option"), lit("extra-trusted-public-keys"), key]));
    args.push(Arg::Slot(drvs));
    nix_store(args).io(Io::ReadStdout).hint("the build failed (see its log above)")
}

/// Copies the derivations and the sources they read (not their outputs) into an empty `store`.
pub(crate) fn copy_derivations(store: &str, drvs: Slot) -> Cmd {
    nix([lit("copy"), lit("--derivation"), lit("--no-check-sigs"), lit("--to"), lit(store), Arg::Slot(drvs)])
        .io(Io::Quiet)
        .hint("it copies the derivations into an empty store")
}

/// What a fresh runner with only `store` would fetch from `substituters` and build: a dry run.
pub fn dry_run(store: &str, substituters: Slot, drvs: Slot, net: &Network) -> Cmd {
    let head = ["--realise", "--dry-run", "--store", store].map(lit);
    let tail = [lit("--option"), lit("substituters"), Arg::Joined(substituters), Arg::Slot(drvs)];
    nix_store(with_net(head, net, tail))
        .io(Io::Quiet)
        .hint("it asks what a fresh runner would fetch and build (it builds nothing)")
}

/// The output paths of derivations in `store` (`nix-store --query --outputs`).
pub fn outputs(store: &str, drvs: Slot) -> Cmd {
    nix_store([lit("--store"), lit(store), lit("--query"), lit("--outputs"), Arg::Slot(drvs)])
        .io(Io::Quiet)
        .hint("it lists the outputs of what a fresh runner would build")
}

/// `nix-store --query --requisites [--include-outputs] PATHS`: with outputs, what a runner needs to
/// build the derivations without building anything else. `.drv` files are left out by the caller.
pub fn requisites(paths: Slot, include_outputs: bool) -> Cmd {
    let outputs = include_outputs.then(|| lit("--include-outputs"));
    nix_store([lit("--query"), lit("--requisites")].into_iter().chain(outputs).chain([Arg::Slot(paths)]))
        .io(Io::Quiet)
        .hint("it lists the build inputs of what was built")
}

/// `nix path-info` with JSON this Nix prints in format 1 (or 2.8's list), then `rest`.
fn path_info(rest: impl IntoIterator<Item = Arg>) -> Cmd {
    let json = version::path_info_json().iter().copied().map(lit);
    nix([lit("path-info")].into_iter().chain(json).chain(rest)).io(Io::Quiet)
}

/// Sizes, hashes and references of the paths of a slot, in this machine's store: what it has,
/// never asked of its substituters (a path it lacks is reported invalid at once, not after a
/// query of cache.nixos.org, which takes seconds where it cannot be reached).
pub(crate) fn path_infos(set: Slot) -> Cmd {
    path_info([lit("--option"), lit("substituters"), lit(""), Arg::Slot(set)])
}

/// Every path of this machine's store, with sizes, hashes and references.
pub fn all_path_infos() -> Cmd {
    path_info([lit("--all")]).hint("it lists this machine's store")
}

/// The derivations' closure in this machine's store (derivations and the sources they read),
/// with references.
pub(crate) fn made_of(drvs: Slot) -> Cmd {
    path_info([lit("--recursive"), lit("--derivation"), Arg::Slot(drvs)])
        .hint("it lists what the derivations take, in this machine's store")
}

/// The derivations' closure in `store` (derivations and the sources they read), with references.
pub(crate) fn derivation_graph(store: &str, drvs: Slot) -> Cmd {
    path_info([lit("--recursive"), lit("--derivation"), lit("--store"), lit(store), Arg::Slot(drvs)])
        .hint("it lists the sources the derivations read")
}

/// Which of the paths a store has: `nix path-info --json --store URL PATHS`.
pub fn query(store: &str, set: Slot, net: &Network) -> Cmd {
    path_info(with_net([], net, [lit("--store"), lit(store), Arg::Slot(set)]))
        .hint("it asks the cache which paths it has")
}

/// Copies exactly the set (not its closure: the filter already chose) to a store.
pub fn copy(to: &str, set: Slot, net: &Network) -> Cmd {
    nix(with_net([lit("copy"), lit("--no-recursive")], net, [lit("--to"), lit(to), Arg::Slot(set)]))
        .io(Io::Quiet)
        .hint("it uploads to the cache: check the URL and its credentials (Nix's netrc-file for HTTP)")
}

/// `nix store verify` of paths in `store`: with `contents`, their NAR hashes too; with `key`,
/// whether that key (alone) signed them ([`verify::parse`] reads the verdicts).
pub(crate) fn store_verify(store: &str, set: Slot, key: Option<Arg>, contents: bool, net: &Network) -> Cmd {
    let mut args = vec![lit("store"), lit("verify")];
    args.extend((!contents).then(|| lit("--no-contents")));
    match key {
        Some(key) => args.extend([lit("--option"), lit("trusted-public-keys"), key]),
        None => args.push(lit("--no-trust")),
    }
    nix(with_net(args, net, [lit("--store"), lit(store), Arg::Slot(set)]))
        .io(Io::Quiet)
        .hint(format!("it checks what {store} holds (signatures, contents)"))
}

/// `nix-store --export` of paths in `store`, for [`export::read_file`] to measure: each NAR as
/// Nix fetched and decompressed it (it stops on one whose hash is not its narinfo's).
pub(crate) fn export(store: &str, set: Slot, net: &Network) -> Cmd {
    let args = with_net([lit("--store"), lit(store)], net, [lit("--export"), Arg::Slot(set)]);
    nix_store(args).io(Io::Quiet).hint(format!("it reads each NAR {store} holds"))
}

/// Signs the paths of a slot with a secret key, in this machine's store or in `store`.
pub fn sign(secret: &std::path::Path, store: Option<&str>, set: Slot, net: &Network) -> Cmd {
    let mut args = vec![lit("store"), lit("sign"), lit("--key-file"), lit(secret.display().to_string())];
    if let Some(store) = store {
        args = with_net(args, net, [lit("--store"), lit(store)]);
    }
    args.push(Arg::Slot(set));
    nix(args).io(Io::Quiet).hint(format!("it signs the paths with {}", secret.display()))
}

/// `nix config show --json` (`nix show-config --json` before 2.20): the settings in effect.
pub fn show_config() -> Cmd {
    nix(version::config_show().iter().copied().map(lit)).io(Io::Quiet).hint("it reads Nix's settings")
}

/// Every path alive in this machine's store (a GC root refers to it): never deleted.
pub fn live_paths() -> Cmd {
    nix_store([lit("--gc"), lit("--print-live")]).io(Io::Quiet).hint("it lists the paths GC roots keep")
}

/// Deletes the paths of the set from this machine's store (none of them alive).
pub fn delete(set: Slot) -> Cmd {
    nix([lit("store"), lit("delete"), Arg::Slot(set)])
        .io(Io::Quiet)
        .hint("it deletes what a fresh runner would not have")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_evaluation_reaches_packages_and_checks() {
        let attrs = [Attr::package("x86_64-linux", "deps"), Attr::check("x86_64-linux", "unit")];
        let cmd = eval_targets("/repo \"x\"", &attrs, &Network { stall_secs: 7, netrc: None });
        let rendered = cmd.render(None);
        assert!(rendered.contains(r#"builtins.getFlake "/repo \"x\"""#), "{rendered}");
        assert!(rendered.contains(r#"flake."packages"."x86_64-linux"."deps""#), "{rendered}");
        assert!(rendered.contains(r#"flake."checks"."x86_64-linux"."unit""#), "{rendered}");
        assert!(rendered.contains("--option stalled-download-timeout 7"), "{rendered}");
    }
}

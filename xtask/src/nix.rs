//! The Nix commands the tasks run, and parsers for their JSON.
//!
//! Only stable interfaces: `nix eval --json`, `nix build --json`, `nix path-info --json`
//! (`valid: false` for a path a store lacks), `nix copy --no-recursive`. Works with Nix 2.8 and later.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::plan::{Arg, Cmd, Io, PathSet};

const NEEDS: &str = "it needs Nix with flakes (see the output above)";

/// `nix --extra-experimental-features 'nix-command flakes' ARGS…`
pub fn nix(args: impl IntoIterator<Item = Arg>) -> Cmd {
    let mut all = vec![lit("--extra-experimental-features"), lit("nix-command flakes")];
    all.extend(args);
    Cmd::new("nix", all).needs(NEEDS)
}

pub fn lit(s: impl Into<String>) -> Arg {
    Arg::Lit(s.into())
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

/// Evaluates the output paths of attributes that share a parent, in one evaluation, building nothing.
pub fn eval_outputs(flake: &str, attrs: &[Attr]) -> Cmd {
    let parent = &attrs[0].parent;
    debug_assert!(attrs.iter().all(|a| &a.parent == parent));
    let list: Vec<_> = attrs.iter().map(|a| format!("set.\"{}\".outPath", a.name)).collect();
    nix([
        lit("eval"),
        lit("--json"),
        lit(format!("{flake}#{parent}")),
        lit("--apply"),
        lit(format!("set: [ {} ]", list.join(" "))),
    ])
    .io(Io::Quiet)
    .needs("it evaluates the flake: check that it defines the attribute (Nix says why below)")
}

/// Builds the attributes, printing build logs with `-L` in CI, using the cache as a substituter.
pub fn build(flake: &str, attrs: &[Attr], substituter: &str, public_key: Option<&str>, logs: bool) -> Cmd {
    let mut args = vec![lit("build"), lit("--json"), lit("--no-link")];
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
pub fn query(store: &str, set: PathSet) -> Cmd {
    nix([lit("path-info"), lit("--json"), lit("--store"), lit(store), Arg::Paths(set)]).io(Io::Quiet).needs(format!(
        "it asks the cache {store} which paths it has: check that it is reachable (a new cache is set up \
             by writing its nix-cache-info, which needs write credentials: Nix's netrc-file for HTTP)"
    ))
}

/// The runtime closure of the set, with sizes and references.
pub fn closure(set: PathSet) -> Cmd {
    nix([lit("path-info"), lit("--json"), lit("--recursive"), Arg::Paths(set)]).io(Io::Quiet)
}

/// Copies exactly the set (not its closure: the filter already chose) to a store.
pub fn copy(to: &str, set: PathSet) -> Cmd {
    nix([lit("copy"), lit("--no-recursive"), lit("--to"), lit(to), Arg::Paths(set)])
        .needs("it uploads to the cache: check the URL and its credentials (Nix's netrc-file for HTTP)")
}

pub fn parse_paths(json: &str) -> Result<Vec<String>> {
    serde_json::from_str(json).with_context(|| format!("expected a JSON list of store paths from nix, got: {json}"))
}

/// `nix build --json`: every output of every derivation.
pub fn parse_build(json: &str) -> Result<Vec<String>> {
    let value: Value = serde_json::from_str(json).with_context(|| format!("`nix build --json` printed: {json}"))?;
    let mut outputs = Vec::new();
    for built in value.as_array().context("`nix build --json` did not print a list")? {
        let Some(outs) = built["outputs"].as_object() else {
            bail!("`nix build --json` entry without outputs: {built}")
        };
        outputs.extend(outs.values().filter_map(Value::as_str).map(str::to_owned));
    }
    Ok(outputs)
}

pub struct PathInfo {
    pub path: String,
    pub nar_size: u64,
    pub references: Vec<String>,
}

/// `nix path-info --json`, as a list (Nix 2.8 to 2.18) or an object keyed by path (2.19+).
pub fn parse_path_infos(json: &str) -> Result<Vec<PathInfo>> {
    let value: Value = serde_json::from_str(json).with_context(|| format!("`nix path-info --json` printed: {json}"))?;
    let entries: Vec<(String, &Value)> = match &value {
        Value::Array(items) => items
            .iter()
            .map(|i| Ok((i["path"].as_str().context("path-info entry without a path")?.to_owned(), i)))
            .collect::<Result<_>>()?,
        Value::Object(map) => map.iter().map(|(p, i)| (p.clone(), i)).collect(),
        _ => bail!("`nix path-info --json` printed neither a list nor an object: {json}"),
    };
    Ok(entries
        .into_iter()
        .filter(|(_, info)| !info.is_null() && info["valid"].as_bool() != Some(false))
        .map(|(path, info)| PathInfo {
            path,
            nar_size: info["narSize"].as_u64().unwrap_or(0),
            references: info["references"]
                .as_array()
                .map(|refs| refs.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
        })
        .collect())
}

/// The paths a store reported as valid.
pub fn parse_valid(json: &str) -> Result<BTreeSet<String>> {
    Ok(parse_path_infos(json)?.into_iter().map(|i| i.path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_path_info_formats_and_skips_invalid_paths() {
        let old = r#"[{"path":"/nix/store/a-x","narSize":10,"references":["/nix/store/b-y"]},{"path":"/nix/store/c-z","valid":false}]"#;
        let new = r#"{"/nix/store/a-x":{"narSize":10,"references":["/nix/store/b-y"]},"/nix/store/c-z":null}"#;
        for json in [old, new] {
            let infos = parse_path_infos(json).unwrap();
            assert_eq!(infos.len(), 1);
            assert_eq!(infos[0].path, "/nix/store/a-x");
            assert_eq!(infos[0].nar_size, 10);
            assert_eq!(infos[0].references, ["/nix/store/b-y"]);
        }
    }

    #[test]
    fn reads_every_output_of_a_build() {
        let json = r#"[{"drvPath":"/nix/store/d.drv","outputs":{"out":"/nix/store/o","dev":"/nix/store/p"}}]"#;
        assert_eq!(parse_build(json).unwrap(), ["/nix/store/p", "/nix/store/o"]);
    }

    #[test]
    fn evaluates_sibling_attributes_in_one_call() {
        let attrs = [Attr::package("x86_64-linux", "deps"), Attr::package("x86_64-linux", "harnessImage")];
        let cmd = eval_outputs("/repo", &attrs);
        assert_eq!(
            cmd.render(None),
            r#"nix --extra-experimental-features 'nix-command flakes' eval --json '/repo#packages.x86_64-linux' --apply 'set: [ set."deps".outPath set."harnessImage".outPath ]'"#
        );
    }
}

//! Parsers for the JSON that Nix prints.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};

use crate::json::Json;

pub fn parse_paths(json: &str) -> Result<Vec<String>> {
    let paths = Json::parse(json)
        .ok()
        .and_then(|v| v.as_array()?.iter().map(|p| p.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>());
    paths.with_context(|| format!("expected a JSON list of store paths from nix, got: {json}"))
}

/// What `nix build --json` built: every output of every derivation, and the derivations.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Built {
    pub outputs: Vec<String>,
    pub drvs: Vec<String>,
}

pub fn parse_build(json: &str) -> Result<Built> {
    let value = Json::parse(json).with_context(|| format!("`nix build --json` printed: {json}"))?;
    let mut built = Built::default();
    for entry in value.as_array().context("`nix build --json` did not print a list")? {
        let Some(outs) = entry["outputs"].as_object() else {
            bail!("`nix build --json` entry without outputs: {entry}")
        };
        built.outputs.extend(outs.iter().filter_map(|(_, path)| path.as_str()).map(str::to_owned));
        built.drvs.extend(entry["drvPath"].as_str().map(str::to_owned));
    }
    Ok(built)
}

pub use nix_path_info::PathInfo;

/// `nix path-info --json`, either form; invalid paths are left out.
pub fn parse_path_infos(json: &str) -> Result<Vec<PathInfo>> {
    nix_path_info::parse(json)
}

/// The paths a store reported as valid.
pub fn parse_valid(json: &str) -> Result<BTreeSet<String>> {
    Ok(parse_path_infos(json)?.into_iter().map(|i| i.path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_output_of_a_build() {
        let json = r#"[{"drvPath":"/nix/store/d.drv","outputs":{"out":"/nix/store/o","dev":"/nix/store/p"}}]"#;
        let built = parse_build(json).unwrap();
        assert_eq!(built.outputs, ["/nix/store/p", "/nix/store/o"]);
        assert_eq!(built.drvs, ["/nix/store/d.drv"]);
    }
}

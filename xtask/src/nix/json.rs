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

pub struct PathInfo {
    pub path: String,
    pub nar_size: u64,
    pub references: Vec<String>,
}

/// `nix path-info --json`, as a list (Nix 2.8 to 2.18) or an object keyed by path (2.19+).
pub fn parse_path_infos(json: &str) -> Result<Vec<PathInfo>> {
    let value = Json::parse(json).with_context(|| format!("`nix path-info --json` printed: {json}"))?;
    let entries: Vec<(String, &Json)> = match &value {
        Json::Array(items) => items
            .iter()
            .map(|i| Ok((i["path"].as_str().context("path-info entry without a path")?.to_owned(), i)))
            .collect::<Result<_>>()?,
        Json::Object(map) => map.iter().map(|(p, i)| (p.clone(), i)).collect(),
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
                .map(|refs| refs.iter().filter_map(Json::as_str).map(str::to_owned).collect())
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
        let built = parse_build(json).unwrap();
        assert_eq!(built.outputs, ["/nix/store/p", "/nix/store/o"]);
        assert_eq!(built.drvs, ["/nix/store/d.drv"]);
    }
}

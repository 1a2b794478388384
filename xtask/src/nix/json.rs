//! Parsers for the JSON that Nix prints.

use std::collections::BTreeSet;

use anyhow::{Context, Result};

/// One evaluated target: its derivation and its output paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluated {
    pub drv: String,
    pub outputs: Vec<String>,
}

/// What [`super::eval_targets`] prints: `[{ "drv": …, "outputs": [ … ] }]`, in order.
pub fn parse_targets(json: &str) -> Result<Vec<Evaluated>> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let target = |t: &serde_json::Value| {
        let outputs = t["outputs"].as_array()?.iter().map(|o| o.as_str().map(str::to_owned)).collect::<Option<_>>()?;
        Some(Evaluated { drv: t["drv"].as_str()?.to_owned(), outputs })
    };
    let targets = value.as_array().and_then(|list| list.iter().map(target).collect::<Option<Vec<_>>>());
    targets.with_context(|| format!("expected a list of {{drv, outputs}} from `nix eval`, got: {json}"))
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

/// The systems this machine builds for, from `nix show-config --json`: `system` and
/// `extra-platforms`.
pub fn parse_platforms(json: &str) -> Result<Vec<String>> {
    let config: serde_json::Value = serde_json::from_str(json).context("`nix show-config --json` printed no JSON")?;
    let mut systems: Vec<String> = config["system"]["value"].as_str().map(str::to_owned).into_iter().collect();
    let extra = config["extra-platforms"]["value"].as_array().into_iter().flatten();
    systems.extend(extra.filter_map(|s| s.as_str().map(str::to_owned)));
    Ok(systems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_targets_derivation_and_outputs_in_order() {
        let json = r#"[{"drv":"/nix/store/d.drv","outputs":["/nix/store/o","/nix/store/p"]},{"drv":"/nix/store/e.drv","outputs":["/nix/store/q"]}]"#;
        let targets = parse_targets(json).unwrap();
        assert_eq!(
            targets[0],
            Evaluated { drv: "/nix/store/d.drv".into(), outputs: vec!["/nix/store/o".into(), "/nix/store/p".into()] }
        );
        assert_eq!(targets[1].outputs, ["/nix/store/q"]);
        assert!(parse_targets("[1]").is_err());
    }

    #[test]
    fn reads_the_systems_this_machine_builds() {
        let json = r#"{"system":{"value":"x86_64-linux"},"extra-platforms":{"value":["aarch64-linux"]}}"#;
        assert_eq!(parse_platforms(json).unwrap(), ["x86_64-linux", "aarch64-linux"]);
        assert!(parse_platforms("not json").is_err());
    }
}

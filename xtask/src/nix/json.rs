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

/// Nix 2.8's experimental features, in the order of its enum (each number checked by enabling
/// the feature alone).
const FEATURES_2_8: [&str; 7] = [
    "ca-derivations",
    "impure-derivations",
    "flakes",
    "nix-command",
    "recursive-nix",
    "no-url-literals",
    "fetch-closure",
];

/// Nix's settings, as `nix config show --json` (`nix show-config --json` before 2.20) prints
/// them: `{ NAME: { "value": … }, … }`.
pub struct Settings(serde_json::Value);

impl Settings {
    pub fn parse(json: &str) -> Result<Settings> {
        let value: serde_json::Value = serde_json::from_str(json).context("Nix printed its settings not as JSON")?;
        value.is_object().then_some(Settings(value)).context("Nix printed its settings not as a JSON object")
    }

    /// A setting as words: a list setting's items, a string setting split at whitespace.
    pub fn words(&self, name: &str) -> Vec<String> {
        match &self.0[name]["value"] {
            serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            serde_json::Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    /// The experimental features enabled. Nix 2.8 prints them as the numbers of its enum, whose
    /// order is [`FEATURES_2_8`]; later Nix prints their names.
    pub fn experimental_features(&self) -> Vec<String> {
        let items = self.0["experimental-features"]["value"].as_array().cloned().unwrap_or_default();
        let name = |v: &serde_json::Value| match v {
            serde_json::Value::Number(n) => {
                n.as_u64().and_then(|n| FEATURES_2_8.get(n as usize)).map(|f| f.to_string())
            }
            v => v.as_str().map(str::to_owned),
        };
        items.iter().filter_map(name).collect()
    }

    /// The systems this machine builds for: `system`, then `extra-platforms`.
    pub fn platforms(&self) -> Vec<String> {
        let mut systems = self.words("system");
        systems.extend(self.words("extra-platforms"));
        systems
    }
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
    fn reads_settings_as_words_and_the_systems_this_machine_builds() {
        let json = r#"{"system":{"value":"x86_64-linux"},"extra-platforms":{"value":["aarch64-linux"]},
            "experimental-features":{"value":"nix-command flakes"},"netrc-file":{"value":"/etc/nix/netrc"}}"#;
        let settings = Settings::parse(json).unwrap();
        assert_eq!(settings.platforms(), ["x86_64-linux", "aarch64-linux"]);
        assert_eq!(settings.words("experimental-features"), ["nix-command", "flakes"]);
        assert_eq!(settings.words("netrc-file"), ["/etc/nix/netrc"]);
        assert!(settings.words("unknown").is_empty());
        let numbered = Settings::parse(r#"{"experimental-features":{"value":[2,3,99]}}"#).unwrap();
        assert_eq!(numbered.experimental_features(), ["flakes", "nix-command"]);
        let named = Settings::parse(r#"{"experimental-features":{"value":["flakes"]}}"#).unwrap();
        assert_eq!(named.experimental_features(), ["flakes"]);
        assert!(Settings::parse("not json").is_err() && Settings::parse("[]").is_err());
    }
}

//! Parsers for the JSON that Nix prints, read leniently: fields Nix adds between versions are
//! ignored, and only those the tasks use must be there.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// One evaluated target: its derivation and its output paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Evaluated {
    /// The `.drv` path.
    pub drv: String,
    /// Its output paths.
    pub outputs: Vec<String>,
}

/// What [`super::eval_targets`] prints: `[{ "drv": …, "outputs": [ … ] }]`, in order.
pub fn parse_targets(json: &str) -> Result<Vec<Evaluated>> {
    serde_json::from_str(json)
        .with_context(|| format!("expected a list of {{drv, outputs}} from `nix eval`, got: {}", excerpt(json)))
}

/// What the tasks need of a store path.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PathInfo {
    /// The store path.
    pub path: String,
    /// The bytes of its NAR, uncompressed.
    pub nar_size: u64,
    /// The NAR's hash, as this Nix prints it.
    pub nar_hash: String,
    /// The store paths it refers to.
    #[serde(deserialize_with = "null_as_default")]
    pub references: Vec<String>,
    /// Where a binary cache keeps the NAR (`nar/….nar.xz`); empty for a local store.
    #[serde(deserialize_with = "null_as_default")]
    pub url: String,
    /// The size of that file (`FileSize`), for a binary cache.
    pub download_size: Option<u64>,
    /// The hash of that file (`FileHash`), for a binary cache.
    pub download_hash: Option<String>,
    /// 2.8's list form: `false` for a path the store lacks.
    valid: Option<bool>,
}

fn null_as_default<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `nix path-info --json`, either form: 2.8's list of objects with `path` (`"valid": false` for
/// a path the store lacks), or 2.19's object by path (`null` for one it lacks), without those.
pub fn parse_path_infos(text: &str) -> Result<Vec<PathInfo>> {
    let malformed = || format!("malformed `nix path-info --json`: {}", excerpt(text));
    let infos: Vec<PathInfo> = match text.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(text).with_context(malformed)?,
        Some(b'{') => serde_json::from_str::<BTreeMap<String, Option<PathInfo>>>(text)
            .with_context(malformed)?
            .into_iter()
            .filter_map(|(path, info)| Some(PathInfo { path, ..info? }))
            .collect(),
        _ => bail!(malformed()),
    };
    let infos: Vec<PathInfo> = infos.into_iter().filter(|info| info.valid != Some(false)).collect();
    ensure!(infos.iter().all(|i| !i.path.is_empty()), "{}: a path has no `path`", malformed());
    Ok(infos)
}

/// The start of a long text, for messages.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The paths a store reported as valid.
pub(crate) fn parse_valid(json: &str) -> Result<BTreeSet<String>> {
    Ok(parse_path_infos(json)?.into_iter().map(|i| i.path).collect())
}

/// Nix 2.8's experimental features, in the order of its enum (each number checked by enabling it alone).
const FEATURES_2_8: &str =
    "ca-derivations impure-derivations flakes nix-command recursive-nix no-url-literals fetch-closure";

/// Nix's settings, as `nix config show --json` prints them: `{ NAME: { "value": … }, … }`.
pub struct Settings(serde_json::Map<String, Value>);

impl Settings {
    /// Reads what `nix config show --json` printed.
    pub fn parse(json: &str) -> Result<Settings> {
        serde_json::from_str(json).map(Settings).context("Nix printed its settings not as a JSON object")
    }

    fn value(&self, name: &str) -> &Value {
        self.0.get(name).map_or(&Value::Null, |setting| &setting["value"])
    }

    /// A setting as words: a list setting's items, a string setting split at whitespace.
    pub fn words(&self, name: &str) -> Vec<String> {
        match self.value(name) {
            Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    /// The experimental features enabled. Nix 2.8 prints them as the numbers of its enum, whose
    /// order is [`FEATURES_2_8`]; later Nix prints their names.
    pub fn experimental_features(&self) -> Vec<String> {
        let items = self.value("experimental-features").as_array().cloned().unwrap_or_default();
        let name = |v: &Value| match v.as_u64() {
            Some(n) => FEATURES_2_8.split(' ').nth(n as usize).map(str::to_owned),
            None => v.as_str().map(str::to_owned),
        };
        items.iter().filter_map(name).collect()
    }

    /// The systems this machine builds for: `system`, then `extra-platforms`.
    pub fn platforms(&self) -> Vec<String> {
        [self.words("system"), self.words("extra-platforms")].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_targets_derivation_and_outputs_in_order() {
        let json = r#"[{"drv":"/nix/store/d.drv","outputs":["/nix/store/o","/nix/store/p"]},{"drv":"/nix/store/e.drv","outputs":["/nix/store/q"]}]"#;
        let targets = parse_targets(json).unwrap();
        assert_eq!(targets[0].drv, "/nix/store/d.drv");
        assert_eq!(targets[0].outputs, ["/nix/store/o", "/nix/store/p"]);
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

    #[test]
    fn reads_both_path_info_forms_and_skips_invalid_paths() {
        let old = r#"[{"path":"/nix/store/a-x","narHash":"sha256-h","narSize":10,"references":["/nix/store/b-y"],"signatures":["k:s"],"ca":null},{"path":"/nix/store/c-z","valid":false}]"#;
        let new = r#"{"/nix/store/a-x":{"narHash":"sha256-h","narSize":10,"references":["/nix/store/b-y"],"deriver":"/nix/store/d.drv","signatures":[]},"/nix/store/c-z":null}"#;
        let expected = PathInfo {
            path: "/nix/store/a-x".into(),
            nar_size: 10,
            nar_hash: "sha256-h".into(),
            references: vec!["/nix/store/b-y".into()],
            ..PathInfo::default()
        };
        for json in [old, new] {
            assert_eq!(parse_path_infos(json).unwrap(), std::slice::from_ref(&expected), "{json}");
        }
        assert!(parse_path_infos("[]").unwrap().is_empty() && parse_path_infos("{}").unwrap().is_empty());
        for json in ["", "[{", r#"[{"path":"/nix/store/a"#, r#"{"/nix/store/a":{"narSize":"x"}}"#, "[1 2]", "3"] {
            assert!(parse_path_infos(json).is_err(), "{json}");
        }
    }
}

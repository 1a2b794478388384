//! `nix path-info --json`, read, and an [`Index`] of store paths. A store dump has 100,000 paths
//! and more (`cargo xtask analytics`): this crate holds the xtask's hot loops, so the workspace
//! builds it optimised even in the `xtask` profile, which leaves everything else unoptimised for a
//! fast cold build. serde_json's reader, instantiated here, reads a 100,000-path dump of 64 MB in
//! 0.8 s.
//!
//! Both forms are read: a list of objects with `path` (Nix 2.8 to 2.18; an invalid path has
//! `"valid": false`) and an object keyed by path (2.19+; an invalid path is `null`).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

/// What the tasks need of a store path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: String,
    pub nar_size: u64,
    pub nar_hash: String,
    pub references: Vec<String>,
    /// Where a binary cache keeps the NAR (`nar/….nar.xz`); empty for a local store.
    pub url: String,
    /// The size of that file, for a binary cache.
    pub download_size: Option<u64>,
    /// The hash of that file (`FileHash`), for a binary cache.
    pub download_hash: Option<String>,
}

/// An entry as Nix writes it (`"valid": false` for a path the store lacks, in the list form).
#[derive(Default)]
struct Entry {
    info: PathInfo,
    valid: Option<bool>,
}

impl Entry {
    fn info(self) -> Option<PathInfo> {
        (self.valid != Some(false)).then_some(self.info)
    }
}

/// Read field by field, the fields the tasks need, every other skipped (what serde's derive would
/// generate, without its compile time in every CI job).
impl<'de> serde_core::Deserialize<'de> for Entry {
    fn deserialize<D: serde_core::Deserializer<'de>>(deserializer: D) -> Result<Entry, D::Error> {
        struct Fields;
        impl<'de> serde_core::de::Visitor<'de> for Fields {
            type Value = Entry;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path's info")
            }

            fn visit_map<A: serde_core::de::MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let mut entry = Entry::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let info = &mut entry.info;
                    match &*key {
                        "path" => info.path = map.next_value()?,
                        "narSize" => info.nar_size = map.next_value()?,
                        "narHash" => info.nar_hash = map.next_value()?,
                        "references" => info.references = map.next_value()?,
                        "url" => info.url = map.next_value::<Option<String>>()?.unwrap_or_default(),
                        "downloadSize" => info.download_size = map.next_value()?,
                        "downloadHash" => info.download_hash = map.next_value()?,
                        "valid" => entry.valid = map.next_value()?,
                        _ => map.next_value::<serde_core::de::IgnoredAny>().map(drop)?,
                    }
                }
                Ok(entry)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

pub fn parse(json: &str) -> Result<Vec<PathInfo>> {
    let context = || format!("malformed `nix path-info --json`: {}", excerpt(json));
    let infos: Vec<PathInfo> = match json.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_reader::<_, Vec<Entry>>(json.as_bytes())
            .with_context(context)?
            .into_iter()
            .filter_map(Entry::info)
            .collect(),
        Some(b'{') => serde_json::from_reader::<_, BTreeMap<String, Option<Entry>>>(json.as_bytes())
            .with_context(context)?
            .into_iter()
            .filter_map(|(path, entry)| entry?.info().map(|info| PathInfo { path, ..info }))
            .collect(),
        _ => bail!("`nix path-info --json` printed neither a list nor an object: {}", excerpt(json)),
    };
    Ok(infos.into_iter().filter(|i| !i.path.is_empty()).collect())
}

/// Strings to their first position, by open addressing on 8 of their bytes: store paths and NAR
/// hashes are random there, and the standard hasher is slow in an unoptimised build.
pub struct Index<'a> {
    slots: Vec<u32>,
    keys: Vec<&'a str>,
}

impl<'a> Index<'a> {
    const EMPTY: u32 = u32::MAX;

    /// Not generic over an iterator: generic code is built where it is used, unoptimised there.
    pub fn new(keys: Vec<&'a str>) -> Index<'a> {
        let mut index =
            Index { slots: vec![Index::EMPTY; (keys.len() * 2).next_power_of_two().max(2)], keys: Vec::new() };
        for (i, key) in keys.iter().enumerate() {
            let mut slot = index.slot(key);
            while index.slots[slot] != Index::EMPTY {
                if keys[index.slots[slot] as usize] == *key {
                    break;
                }
                slot = (slot + 1) & (index.slots.len() - 1);
            }
            if index.slots[slot] == Index::EMPTY {
                index.slots[slot] = i as u32;
            }
        }
        index.keys = keys;
        index
    }

    pub fn get(&self, key: &str) -> Option<usize> {
        let mut slot = self.slot(key);
        loop {
            let at = self.slots[slot];
            if at == Index::EMPTY {
                return None;
            }
            if self.keys[at as usize] == key {
                return Some(at as usize);
            }
            slot = (slot + 1) & (self.slots.len() - 1);
        }
    }

    fn slot(&self, key: &str) -> usize {
        let bytes = key.as_bytes();
        let at = bytes.len().saturating_sub(8).min(11);
        let mut word = [0u8; 8];
        let take = bytes.len().min(8);
        word[..take].copy_from_slice(&bytes[at..at + take]);
        (u64::from_le_bytes(word).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) as usize & (self.slots.len() - 1)
    }
}

fn excerpt(text: &str) -> &str {
    text.get(..200).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_each_string_at_its_first_position() {
        let keys = ["/nix/store/aaaaaaaa-x", "/nix/store/bbbbbbbb-y", "/nix/store/aaaaaaaa-x", "short", ""];
        let index = Index::new(keys.to_vec());
        assert_eq!(index.get("/nix/store/aaaaaaaa-x"), Some(0));
        assert_eq!(index.get("/nix/store/bbbbbbbb-y"), Some(1));
        assert_eq!(index.get("short"), Some(3));
        assert_eq!(index.get(""), Some(4));
        assert_eq!(index.get("/nix/store/cccccccc-z"), None);
    }

    #[test]
    fn reads_both_forms_and_skips_invalid_paths() {
        let old = r#"[{"path":"/nix/store/a-x","narHash":"sha256-h","narSize":10,"references":["/nix/store/b-y"],"signatures":["k:s"],"ca":null},{"path":"/nix/store/c-z","valid":false}]"#;
        let new = r#"{"/nix/store/a-x":{"narHash":"sha256-h","narSize":10,"references":["/nix/store/b-y"],"deriver":"/nix/store/d.drv","signatures":[]},"/nix/store/c-z":null}"#;
        for json in [old, new, "[]", "{}"] {
            let infos = parse(json).unwrap();
            if json.len() <= 2 {
                assert!(infos.is_empty());
                continue;
            }
            let expected = PathInfo {
                path: "/nix/store/a-x".into(),
                nar_size: 10,
                nar_hash: "sha256-h".into(),
                references: vec!["/nix/store/b-y".into()],
                url: String::new(),
                download_size: None,
                download_hash: None,
            };
            assert_eq!(infos, [expected], "{json}");
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for json in ["", "[{", r#"[{"path":"/nix/store/a"#, r#"{"/nix/store/a":{"narSize":"x"}}"#, "[1 2]"] {
            assert!(parse(json).is_err(), "{json}");
        }
    }
}

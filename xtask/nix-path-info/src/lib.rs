//! `nix path-info --json`, read in one pass without building a tree, and an [`Index`] of store
//! paths. A store dump has 100,000 paths and more (`cargo xtask analytics`): this crate is the
//! xtask's one hot loop, so the workspace builds it optimised even in the `xtask` profile, which
//! leaves everything else unoptimised for a fast cold build.
//!
//! Both forms are read: a list of objects with `path` (Nix 2.8 to 2.18; an invalid path has
//! `"valid": false`) and an object keyed by path (2.19+; an invalid path is `null`).

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
    /// The size of that file (`downloadSize`), for a binary cache.
    pub download_size: Option<u64>,
}

pub fn parse(json: &str) -> Result<Vec<PathInfo>> {
    let mut scan = Scanner { text: json, at: 0 };
    let mut infos = Vec::new();
    match scan.peek() {
        Some(b'[') => {
            scan.items(b'[', b']', |scan| {
                if let Some(info) = scan.entry(None)? {
                    infos.push(info);
                }
                Ok(())
            })?;
        }
        Some(b'{') => {
            scan.items(b'{', b'}', |scan| {
                let path = scan.string()?.to_owned();
                scan.expect(b':')?;
                if scan.peek() == Some(b'n') {
                    scan.literal()?;
                } else if let Some(info) = scan.entry(Some(path))? {
                    infos.push(info);
                }
                Ok(())
            })?;
        }
        _ => bail!("`nix path-info --json` printed neither a list nor an object: {}", excerpt(json)),
    }
    Ok(infos)
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        bytes.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<()> {
        if self.peek() != Some(byte) {
            bail!("malformed `nix path-info --json` at byte {}: expected `{}`", self.at, byte as char);
        }
        self.at += 1;
        Ok(())
    }

    /// `open item, item, … close`, calling `item` at the start of each.
    fn items(&mut self, open: u8, close: u8, mut item: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.expect(open)?;
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b) if b == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ => bail!("malformed `nix path-info --json` at byte {}: expected `,` or `{}`", self.at, close as char),
            }
        }
    }

    /// A string without its quotes (escapes are kept as written: store paths have none).
    fn string(&mut self) -> Result<&'a str> {
        self.expect(b'"')?;
        let (bytes, start) = (self.text.as_bytes(), self.at);
        loop {
            match bytes.get(self.at) {
                Some(b'"') => break,
                Some(b'\\') => self.at += 2,
                Some(_) => self.at += 1,
                None => bail!("unterminated string in `nix path-info --json`"),
            }
        }
        self.at += 1;
        self.text.get(start..self.at - 1).context("malformed string in `nix path-info --json`")
    }

    /// A number, `true`, `false` or `null`, as written.
    fn literal(&mut self) -> Result<&'a str> {
        self.peek();
        let (bytes, start) = (self.text.as_bytes(), self.at);
        while bytes.get(self.at).is_some_and(|b| !b",}] \n".contains(b)) {
            self.at += 1;
        }
        self.text.get(start..self.at).context("malformed value in `nix path-info --json`")
    }

    fn skip_value(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'[') => self.items(b'[', b']', Scanner::skip_value),
            Some(b'{') => self.items(b'{', b'}', |s| {
                s.string()?;
                s.expect(b':')?;
                s.skip_value()
            }),
            _ => self.literal().map(drop),
        }
    }

    /// One path's object; `None` for an invalid path.
    fn entry(&mut self, path: Option<String>) -> Result<Option<PathInfo>> {
        let mut info = PathInfo { path: path.unwrap_or_default(), ..PathInfo::default() };
        let mut valid = true;
        self.items(b'{', b'}', |s| {
            let key = s.string()?;
            s.expect(b':')?;
            match key {
                "path" => info.path = s.string()?.to_owned(),
                "narHash" => info.nar_hash = s.string()?.to_owned(),
                "url" => info.url = s.string()?.to_owned(),
                "narSize" => info.nar_size = s.literal()?.parse().context("narSize is not a number")?,
                "downloadSize" => {
                    info.download_size = Some(s.literal()?.parse().context("downloadSize is not a number")?)
                }
                "valid" => valid = s.literal()? != "false",
                "references" => s.items(b'[', b']', |s| {
                    info.references.push(s.string()?.to_owned());
                    Ok(())
                })?,
                _ => s.skip_value()?,
            }
            Ok(())
        })?;
        Ok((valid && !info.path.is_empty()).then_some(info))
    }
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

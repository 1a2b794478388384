//! A cache's `.narinfo` files, read by the xtask itself (gc, verify), trusted in nothing before
//! checked: errors name the file; the NAR file must be a plain relative path inside the cache.

use anyhow::{bail, ensure, Context, Result};

/// One narinfo, as Nix writes it (`Key: value` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo {
    /// `/nix/store/HASH-name`.
    pub store_path: String,
    /// The NAR file, relative to the cache (`nar/….nar.zst`), checked by [`safe_path`].
    pub url: String,
    /// `sha256:` and the Nix base-32 hash of the NAR file as stored (compressed).
    pub file_hash: Option<String>,
    /// `FileSize`: the bytes of the NAR file as stored, when the narinfo says.
    pub file_size: Option<u64>,
    /// `NarHash`: `sha256:` and the Nix base-32 hash of the NAR, uncompressed.
    pub nar_hash: String,
    /// `NarSize`: the bytes of the NAR, uncompressed.
    pub nar_size: u64,
    /// Full store paths, itself left out.
    pub references: Vec<String>,
    /// References that are not store paths at all (no valid hash or name): a broken narinfo.
    pub bad_references: Vec<String>,
    /// `Sig`: each signature, `KEY-NAME:BASE64`.
    pub sigs: Vec<String>,
}

impl NarInfo {
    /// Parses a narinfo; `name` (its file name) is only for messages.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<NarInfo> {
        let text = std::str::from_utf8(bytes).with_context(|| format!("{name} is not UTF-8 text"))?;
        // Each line as Nix reads it: the name up to the first `:`, the value from two bytes on.
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (key, rest) =
                line.split_once(':').with_context(|| format!("{name}: `{line}` is no `Key: value` line"))?;
            ensure!(rest.starts_with(' '), "{name}: `{line}` is no `Key: value` line");
            fields.push((key, &rest[1..]));
        }
        // Nix reads the last of a field given twice, and a reader taking the first would check
        // another narinfo than the one runners read: a field given twice is refused (but `Sig`).
        let mut keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        if let Some(twice) = keys.windows(2).find(|w| w[0] == w[1] && w[0] != "Sig") {
            bail!("{name} gives `{}:` twice", twice[0]);
        }
        let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let sigs: Vec<String> = fields.iter().filter(|(k, _)| *k == "Sig").map(|(_, v)| v.to_string()).collect();
        // Nix fails a whole check on a signature that is not one (its key's name, then base 64 of
        // 64 bytes): such an entry is refused here, never handed to Nix.
        if let Some(sig) = sigs.iter().find(|sig| !is_signature(sig)) {
            bail!("{name}: `Sig: {sig}` is not a signature (`NAME:` and 88 characters of base 64)");
        }
        let required = |key: &str| field(key).with_context(|| format!("{name} has no `{key}:` line"));
        let store_path = required("StorePath")?.to_owned();
        // A path of the store the cache is for, and nothing else: Nix would read any other
        // argument as a flake reference (`github:…`, a directory) and fetch or evaluate it.
        match store_path.rsplit_once('/') {
            Some((STORE_DIR, base)) if hash_part(base).is_some() => {}
            _ => bail!("{name}: `StorePath: {store_path}` is not a path of {STORE_DIR}"),
        }
        let store = STORE_DIR;
        let url = required("URL")?;
        ensure!(
            safe_path(url),
            "{name}: `URL: {url}` points outside the cache (a NAR file is a relative path such as nar/….nar.zst)"
        );
        // Where Nix keeps NAR files, and nothing else: gc deletes the file a dead narinfo names.
        ensure!(
            url.strip_prefix("nar/").is_some_and(|file| !file.contains('/')),
            "{name}: `URL: {url}` names no NAR file (one of nar/, such as nar/….nar.zst)"
        );
        let number = |key: &str| -> Result<Option<u64>> {
            field(key).map(|v| v.parse().with_context(|| format!("{name}: `{key}: {v}` is not a number"))).transpose()
        };
        let (references, bad_references): (Vec<String>, Vec<String>) = field("References")
            .unwrap_or_default()
            .split_whitespace()
            .map(|r| format!("{store}/{r}"))
            .filter(|r| *r != store_path)
            .partition(|r| r.rsplit_once('/').and_then(|(_, base)| hash_part(base)).is_some());
        Ok(NarInfo {
            url: url.to_owned(),
            file_hash: field("FileHash").map(str::to_owned),
            file_size: number("FileSize")?,
            nar_hash: required("NarHash")?.to_owned(),
            nar_size: number("NarSize")?.with_context(|| format!("{name} has no `NarSize:` line"))?,
            references,
            bad_references,
            sigs,
            store_path,
        })
    }
}

/// A signature as Nix writes one: its key's name, `:`, and an ed25519 signature (64 bytes) in
/// base 64 (86 characters and `==`).
fn is_signature(sig: &str) -> bool {
    let base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    matches!(sig.split_once(':'), Some((name, value))
        if !name.is_empty() && !name.contains(char::is_whitespace)
            && value.len() == 88 && value.ends_with("==") && value.bytes().take(86).all(base64))
}

/// The hash part of a store path's base name (`HASH-name`): 32 characters of Nix's base 32, and
/// a name Nix takes (letters, digits, `+-._?=`, not starting with `.`, at most 211 characters).
pub(crate) fn hash_part(base: &str) -> Option<&str> {
    let (hash, name) = base.split_once('-')?;
    let valid = hash.len() == 32
        && hash.bytes().all(|b| NIX32.contains(&b))
        && !name.is_empty()
        && name.len() <= 211
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._?=".contains(&b));
    valid.then_some(hash)
}

/// The narinfo file of a store path: `HASH.narinfo`.
pub fn file_of(store_path: &str) -> Option<String> {
    Some(format!("{}.narinfo", hash_part(store_path.rsplit('/').next()?)?))
}

/// A path a cache may name: relative, without empty, `.` or `..` components, of plain characters.
/// Every file the xtask reads, writes or deletes in a cache goes through this check.
pub(crate) fn safe_path(path: &str) -> bool {
    path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+/".contains(&b))
}

/// The store every cache of this project is for (its `nix-cache-info` says `StoreDir:`).
pub(crate) const STORE_DIR: &str = "/nix/store";

/// Makes `dir` a binary cache Nix reads (a mirror the xtask fills with narinfos): its
/// `nix-cache-info`.
pub(crate) fn write_cache_info(dir: &std::path::Path) -> Result<()> {
    crate::files::write_atomic(&dir.join("nix-cache-info"), format!("StoreDir: {STORE_DIR}\n").as_bytes())
}

/// Nix's base-32 alphabet (no e, o, u, t).
pub(crate) const NIX32: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// A hash in Nix's base 32, as narinfos write `FileHash` and `NarHash`.
pub fn nix32(hash: &[u8]) -> String {
    let len = (hash.len() * 8).div_ceil(5);
    (0..len)
        .rev()
        .map(|n| {
            let (i, j) = (n * 5 / 8, n * 5 % 8);
            let high = hash.get(i + 1).map_or(0, |h| h.checked_shl(8 - j as u32).unwrap_or(0));
            NIX32[usize::from((hash[i] >> j | high) & 0x1f)] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG_1: &str = "k-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    const NARINFO: &str = "StorePath: /nix/store/0c3z2dlhjvgrbqvq0lq3z6cv4kkmbn5b-deps\n\
        URL: nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.zst\nCompression: zstd\n\
        FileHash: sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3\nFileSize: 120\n\
        NarHash: sha256:0ld6wfhpcg3cbkbs9dxkrmw4dgz76zmahvrwjk6nbvp7ipiyq0n0\nNarSize: 344\n\
        References: 0c3z2dlhjvgrbqvq0lq3z6cv4kkmbn5b-deps 5f6mnx1b5mq3zi87xqjkyvbp0m3l5n4r-toolchain\n\
        Sig: k-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n";

    #[test]
    fn reads_the_fields_and_full_references() {
        let info = NarInfo::parse("x.narinfo", NARINFO.as_bytes()).unwrap();
        assert_eq!(info.store_path, "/nix/store/0c3z2dlhjvgrbqvq0lq3z6cv4kkmbn5b-deps");
        assert_eq!(info.references, ["/nix/store/5f6mnx1b5mq3zi87xqjkyvbp0m3l5n4r-toolchain"], "itself left out");
        assert_eq!((info.file_size, info.nar_size), (Some(120), 344));
        assert_eq!(info.sigs, [SIG_1]);
    }

    #[test]
    fn a_narinfo_pointing_outside_the_cache_or_not_utf8_is_an_error_naming_the_file() {
        for url in ["../victim.txt", "/etc/passwd", "nar/../../x", "nar//x", "nar/a b"] {
            let text = NARINFO.replace("nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.zst", url);
            let err = NarInfo::parse("bad.narinfo", text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("bad.narinfo") && err.contains("outside the cache"), "{url}: {err}");
        }
        // Inside the cache, but another file than a NAR: a dead narinfo would have gc delete it.
        for url in ["xtask-roots/live.json", "0c3z2dlhjvgrbqvq0lq3z6cv4kkmbn5b.narinfo", "nar/x/y.nar"] {
            let text = NARINFO.replace("nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.zst", url);
            let err = NarInfo::parse("bad.narinfo", text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("names no NAR file"), "{url}: {err}");
        }
        let err = NarInfo::parse("binary.narinfo", b"StorePath: \xff\xfe").unwrap_err().to_string();
        assert!(err.contains("binary.narinfo is not UTF-8"), "{err}");
    }

    #[test]
    fn a_store_path_outside_the_store_or_a_field_given_twice_is_an_error() {
        // Nix would take the first two for flake references, fetch them and evaluate them.
        let hash = "0c3z2dlhjvgrbqvq0lq3z6cv4kkmbn5b-deps";
        for store in ["github:attacker/repo", "/tmp/flake", "nix/store", "/nix/store/x"] {
            let text = NARINFO.replace(&format!("/nix/store/{hash}"), &format!("{store}/{hash}"));
            let err = NarInfo::parse("bad.narinfo", text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("is not a path of /nix/store"), "{store}: {err}");
        }
        let twice = format!("{NARINFO}NarHash: sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3\n");
        let err = NarInfo::parse("twice.narinfo", twice.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("gives `NarHash:` twice"), "{err}");
        // Nix reads `NarHash:X…` as a `NarHash` too (its value from the second byte on).
        let glued = format!("{NARINFO}NarHash:xsha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3\n");
        let err = NarInfo::parse("glued.narinfo", glued.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("no `Key: value` line"), "{err}");
        let sig_2 = SIG_1.replace("k-1", "k-2");
        let signed_twice = format!("{NARINFO}Sig: {sig_2}\n");
        assert_eq!(NarInfo::parse("x.narinfo", signed_twice.as_bytes()).unwrap().sigs, [SIG_1.to_owned(), sig_2]);
        // A signature Nix cannot read fails its whole check: refused here.
        for sig in ["k-1:abc", "k-1:", ":AAAA", "k-1 AAAA"] {
            let text = NARINFO.replace(SIG_1, sig);
            let err = NarInfo::parse("sig.narinfo", text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("is not a signature"), "{sig}: {err}");
        }
    }

    #[test]
    fn nix32_matches_nix() {
        // `nix hash to-base32 sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=` (sha256 of "").
        assert_eq!(
            nix32(&<sha2::Sha256 as sha2::Digest>::digest(b"")),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
    }
}

//! The shapes a value of `[workspace.metadata.cache]` may take, and the closest known key to a typo.

use std::{collections::BTreeMap, ops::RangeInclusive};

use toml::de::DeValue as Item;

/// The known key closest to `key` (same letters but `_` for `-` or case, or at most two edits).
pub(crate) fn suggest(key: &str, known: &[&str]) -> Option<String> {
    let normal = key.to_ascii_lowercase().replace('_', "-");
    let scored = known.iter().map(|k| (if *k == normal { 0 } else { 1 + edit_distance(&normal, k) }, k));
    scored.filter(|(distance, _)| *distance <= 3).min().map(|(_, k)| (*k).to_owned())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

pub(crate) fn string_array(v: &Item) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|s| s.get_ref().as_str().map(str::to_owned)).collect()
}

/// An integer, in any of TOML's notations (`1_000`, `0x10`).
pub(crate) fn int(v: &Item) -> Option<i64> {
    let int = v.as_integer()?;
    i64::from_str_radix(&int.as_str().replace('_', ""), int.radix()).ok()
}

/// An integer in `range`, as a `T`.
pub(crate) fn int_in<T: TryFrom<i64>>(range: RangeInclusive<i64>) -> impl Fn(&Item) -> Option<T> {
    move |v| int(v).filter(|n| range.contains(n))?.try_into().ok()
}

/// A number in `range`: a float, or an integer in any of TOML's notations.
pub(crate) fn number_in(range: RangeInclusive<f64>) -> impl Fn(&Item) -> Option<f64> {
    move |v| {
        v.as_float().map_or_else(|| int(v).map(|n| n as f64), |f| f.as_str().parse().ok()).filter(|n| range.contains(n))
    }
}

/// A string `valid` accepts.
pub(crate) fn string_of(valid: fn(&str) -> bool) -> impl Fn(&Item) -> Option<String> {
    move |v| v.as_str().filter(|s| valid(s)).map(str::to_owned)
}

/// A non-empty array of words (letters, digits, `-`, `_`, `.`), or `None`.
pub fn words(v: &Item) -> Option<Vec<String>> {
    non_empty(string_array(v)?).filter(|a| a.iter().all(|s| is_word(s)))
}

/// A value as a message quotes it: TOML's own notation, shortened.
pub fn show(v: &Item) -> String {
    let text = match v {
        Item::String(s) => format!("{s:?}"),
        Item::Integer(n) => n.as_str().to_owned(),
        Item::Float(f) => f.as_str().to_owned(),
        Item::Boolean(b) => b.to_string(),
        Item::Datetime(d) => d.to_string(),
        Item::Array(items) => format!("[{}]", items.iter().map(|i| show(i.get_ref())).collect::<Vec<_>>().join(", ")),
        Item::Table(t) => {
            let entries: Vec<String> =
                t.iter().map(|(k, v)| format!("{} = {}", k.get_ref(), show(v.get_ref()))).collect();
            format!("{{ {} }}", entries.join(", "))
        }
    };
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// A table's entries parsed by `value`, sorted by key.
pub(crate) fn sorted_pairs<T>(v: &Item, value: impl Fn(&Item) -> Option<T>) -> Option<Vec<(String, T)>> {
    let pairs = v.as_table()?.iter().map(|(k, v)| Some((k.get_ref().to_string(), value(v.get_ref())?)));
    Some(pairs.collect::<Option<BTreeMap<_, _>>>()?.into_iter().collect())
}

pub(crate) fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Safe in keys, file names and YAML without quoting: letters, digits, '-', '_', '.'.
pub(crate) fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// An image name as registries take it: lowercase letters, digits, '-', '_', '.', starting with a letter or digit.
pub(crate) fn is_image_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// A Nix system: `<arch>-<os>` in lowercase letters, digits and '_' (`x86_64-linux`).
pub(crate) fn is_system(s: &str) -> bool {
    matches!(s.split_once('-'), Some((arch, os))
        if !arch.is_empty() && !os.is_empty()
            && arch.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && os.bytes().all(|b| b.is_ascii_lowercase()))
}

/// A GitHub runner label (`ubuntu-24.04-arm`): lowercase letters, digits, '-' and '.', starting with a letter.
pub(crate) fn is_runner(s: &str) -> bool {
    s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
}

/// A relative directory of plain characters without `.` or `..` parts: safe in YAML and joined to the root.
pub(crate) fn is_relative_dir(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['/', '-'])
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        && s.trim_end_matches('/').split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// An HTTP(S) URL.
pub(crate) fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// A Nix attribute name that needs no quoting.
pub(crate) fn is_attr(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_'".contains(&b))
}

pub(crate) fn is_version(s: &str) -> bool {
    s.split('.').count() == 3 && s.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether no two keys have one name: a signature names its key by name alone.
pub(crate) fn distinct_names(keys: &[String]) -> bool {
    let names: std::collections::BTreeSet<&str> = keys.iter().filter_map(|k| Some(k.split_once(':')?.0)).collect();
    names.len() == keys.len()
}

/// A Nix public key, `NAME:BASE64`: an ed25519 key is 32 bytes, 43 characters of base 64 and `=`.
pub(crate) fn is_public_key(s: &str) -> bool {
    let base64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    matches!(s.split_once(':'), Some((name, key))
        if !name.is_empty() && !name.contains(char::is_whitespace)
            && key.len() == 44 && key.ends_with('=') && key.bytes().take(43).all(base64))
}

//! The bench workspace's application: counts the words of a text that match a pattern, and
//! reports them as JSON or TOML. Small, but built on real crates (clap, regex, serde, serde_json,
//! toml), so its dependency layer does real work.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct Counts {
    pub pattern: String,
    pub total: usize,
    pub words: BTreeMap<String, usize>,
}

/// Counts the words of `text` that match `pattern` (case-insensitive).
pub fn count(pattern: &str, text: &str) -> Result<Counts, regex::Error> {
    let regex = Regex::new(&format!("(?i){pattern}"))?;
    let mut words = BTreeMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if regex.is_match(word) {
            *words.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    Ok(Counts {
        pattern: pattern.to_owned(),
        total: words.values().sum(),
        words,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_matching_words_case_insensitively() {
        let counts = count("^ca", "Cache, cargo and the CACHE; a cat.").unwrap();
        assert_eq!(counts.total, 4);
        assert_eq!(counts.words["cache"], 2);
    }

    #[test]
    fn a_bad_pattern_is_an_error() {
        assert!(count("(", "text").is_err());
    }
}

//! In-place edits of `[workspace.metadata.cache]` in the root Cargo.toml: comments, order and the
//! formatting around each value are kept.

use std::path::Path;

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item, Value};

/// The manifest's text with each `key = value` of the cache table replaced.
pub fn edit(root: &Path, edits: &[(&str, Value)]) -> Result<String> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut doc: DocumentMut = text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    let table = doc["workspace"]["metadata"]["cache"]
        .as_table_like_mut()
        .context("Cargo.toml has no [workspace.metadata.cache] table")?;
    for (key, value) in edits {
        let mut value = value.clone();
        match table.get_mut(key) {
            // Replace the value only: the key, its comments and the spacing stay.
            Some(Item::Value(old)) => {
                *value.decor_mut() = old.decor().clone();
                *old = value;
            }
            _ => {
                table.insert(key, Item::Value(value));
            }
        }
    }
    Ok(doc.to_string())
}

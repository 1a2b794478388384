//! In-place edits of `[workspace.metadata.cache]` in the root Cargo.toml: comments, order and the
//! formatting around each value are kept.

use std::path::Path;

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item, Value};

use crate::{cache_key, config::Config, workflows, write_atomic, Ctx};

/// Changes the config: `edits` in Cargo.toml (which must turn `ctx.config` into `config`), and the
/// workflows regenerated from `config`. Everything is computed before anything is written, each
/// file atomically; a dry run writes nothing. Returns the deps key before and after.
pub fn change(ctx: &Ctx, config: &Config, edits: &[(&str, Value)]) -> Result<(String, String)> {
    let manifest = edit(&ctx.root, edits)?;
    let files = workflows::generate(config)?;
    let (flake, cargo) = cache_key::lock_files(&ctx.root)?;
    let keys = (cache_key::key_of(&ctx.config, &flake, &cargo), cache_key::key_of(config, &flake, &cargo));
    if ctx.dry_run {
        let set: Vec<String> = edits.iter().map(|(key, value)| format!("{key} = {value}")).collect();
        println!("# would set {} in Cargo.toml and regenerate the workflows", set.join(", "));
    } else {
        write_atomic(&ctx.root.join("Cargo.toml"), manifest.as_bytes())?;
        workflows::write(&ctx.root, &files)?;
    }
    Ok(keys)
}

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

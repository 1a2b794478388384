//! A change of the config (bump, rollback), described once and applied to both the [`Config`]
//! and the root Cargo.toml, in place: comments, order and the formatting around each value stay.

use std::path::Path;

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item, Value};

use super::{Backend, Config, TABLE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Version(u64),
    Backend(Backend),
}

impl Change {
    fn key(self) -> &'static str {
        match self {
            Change::Version(_) => "version",
            Change::Backend(_) => "backend",
        }
    }

    fn value(self) -> Value {
        match self {
            Change::Version(n) => (n as i64).into(),
            Change::Backend(backend) => backend.as_str().into(),
        }
    }

    fn apply_to(self, config: &mut Config) {
        match self {
            Change::Version(n) => config.version = n,
            Change::Backend(backend) => config.backend = backend,
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}", self.key(), self.value())
    }
}

/// The config after `changes`, and the root manifest's new text.
pub fn apply(root: &Path, config: &Config, changes: &[Change]) -> Result<(Config, String)> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut doc: DocumentMut = text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    let table = doc["workspace"]["metadata"]["cache"]
        .as_table_like_mut()
        .with_context(|| format!("Cargo.toml has no {TABLE} table"))?;
    let mut changed = config.clone();
    for change in changes {
        change.apply_to(&mut changed);
        let mut value = change.value();
        match table.get_mut(change.key()) {
            // Replace the value only: the key, its comments and the spacing stay.
            Some(Item::Value(old)) => {
                *value.decor_mut() = old.decor().clone();
                *old = value;
            }
            _ => {
                table.insert(change.key(), Item::Value(value));
            }
        }
    }
    // The document must still describe the config the tasks will use.
    debug_assert_eq!(
        Config::from_document(&doc).map(|c| (c.version, c.backend)).ok(),
        Some((changed.version, changed.backend))
    );
    Ok((changed, doc.to_string()))
}

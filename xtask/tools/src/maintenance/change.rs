//! A change of the config (bump, rollback), described once and applied to both the [`Config`]
//! and the root Cargo.toml, in place: the value is replaced where the parser found it, so the
//! comments, the order and the formatting around it stay.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use toml::de::DeTable;

use xtask::config::{Backend, Config, TABLE};

/// One value of the config to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `version = N`.
    Version(u64),
    /// `backend = "..."`.
    Backend(Backend),
}

impl Change {
    /// The key, and the value as TOML writes it.
    pub fn key_value(self) -> (&'static str, String) {
        match self {
            Change::Version(n) => ("version", n.to_string()),
            Change::Backend(backend) => ("backend", format!("\"{}\"", backend.as_str())),
        }
    }

    fn apply_to(self, config: &mut Config) {
        match self {
            Change::Version(n) => config.version = n,
            Change::Backend(backend) => config.backend = backend,
        }
    }
}

/// The config after `change`, and the root manifest's new text.
pub fn apply(root: &Path, config: &Config, change: Change) -> Result<(Config, String)> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let changed_text = edit(&text, change).with_context(|| format!("cannot change {}", path.display()))?;
    let mut changed = config.clone();
    change.apply_to(&mut changed);
    // The text must still describe the config the tasks will use.
    let reread = Config::from_manifest(&changed_text)?;
    ensure!(
        (reread.version, reread.backend) == (changed.version, changed.backend),
        "the changed {} does not read back as the change: nothing was written",
        path.display()
    );
    Ok((changed, changed_text))
}

/// Replaces the changed value where the parser found it.
fn edit(text: &str, change: Change) -> Result<String> {
    let doc = DeTable::parse(text).context("it is not valid TOML")?;
    let table = ["workspace", "metadata", "cache"]
        .iter()
        .try_fold(doc.get_ref(), |table, name| table.get(*name)?.get_ref().as_table())
        .with_context(|| format!("it has no {TABLE} table"))?;
    let (key, value) = change.key_value();
    let span = table.get(key).with_context(|| format!("{TABLE} has no `{key}`"))?.span();
    let mut text = text.to_owned();
    text.replace_range(span, &value);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_replaces_the_value_alone() {
        let text = "[workspace.metadata.cache]\n# the version\nversion = 7 # bump me\nbackend   =   \"cachix\"\n";
        let changed = edit(&edit(text, Change::Version(8)).unwrap(), Change::Backend(Backend::ActionsCache)).unwrap();
        assert_eq!(
            changed,
            "[workspace.metadata.cache]\n# the version\nversion = 8 # bump me\nbackend   =   \"actions-cache\"\n"
        );
        assert!(edit("[workspace]\n", Change::Version(2))
            .unwrap_err()
            .to_string()
            .contains("no [workspace.metadata.cache]"));
    }
}

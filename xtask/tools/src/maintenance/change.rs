//! A change of the config (bump, rollback), described once and applied to both the [`Config`]
//! and the root Cargo.toml, in place: each value is replaced where the parser found it, so the
//! comments, the order and the formatting around it stay.

use std::path::Path;

use anyhow::{bail, Context, Result};
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
    fn key(self) -> &'static str {
        match self {
            Change::Version(_) => "version",
            Change::Backend(_) => "backend",
        }
    }

    /// The value as TOML writes it.
    fn value(self) -> String {
        match self {
            Change::Version(n) => n.to_string(),
            Change::Backend(backend) => format!("\"{}\"", backend.as_str()),
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
    let changed_text = edit(&text, changes).with_context(|| format!("cannot change {}", path.display()))?;
    let mut changed = config.clone();
    for change in changes {
        change.apply_to(&mut changed);
    }
    // The text must still describe the config the tasks will use.
    let reread = Config::from_manifest(&changed_text)?;
    if (reread.version, reread.backend) != (changed.version, changed.backend) {
        bail!("the changed {} does not read back as the change: nothing was written", path.display());
    }
    Ok((changed, changed_text))
}

/// Replaces each changed value where the parser found it, last first (so the earlier spans hold).
fn edit(text: &str, changes: &[Change]) -> Result<String> {
    let doc = DeTable::parse(text).context("it is not valid TOML")?;
    let table = ["workspace", "metadata", "cache"]
        .iter()
        .try_fold(doc.get_ref(), |table, name| table.get(*name)?.get_ref().as_table())
        .with_context(|| format!("it has no {TABLE} table"))?;
    let mut edits = Vec::new();
    for change in changes {
        let value = table.get(change.key()).with_context(|| format!("{TABLE} has no `{}`", change.key()))?;
        edits.push((value.span(), change.value()));
    }
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut text = text.to_owned();
    for (span, value) in edits {
        text.replace_range(span, &value);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_replaces_the_value_alone() {
        let text = "[workspace.metadata.cache]\n# the version\nversion = 7 # bump me\nbackend   =   \"cachix\"\n";
        let changed = edit(text, &[Change::Version(8), Change::Backend(Backend::ActionsCache)]).unwrap();
        assert_eq!(
            changed,
            "[workspace.metadata.cache]\n# the version\nversion = 8 # bump me\nbackend   =   \"actions-cache\"\n"
        );
        assert!(edit("[workspace]\n", &[Change::Version(2)])
            .unwrap_err()
            .to_string()
            .contains("no [workspace.metadata.cache]"));
    }
}

//! A change of the config (bump, rollback, a key rotation), described once and applied to both the [`Config`]
//! and the root Cargo.toml, in place: the value is replaced where the parser found it, so the
//! comments, the order and the formatting around it stay.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use toml::de::DeTable;

use xtask::config::{Backend, Config, TABLE};

/// One value of the config to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `version = N`.
    Version(u64),
    /// `backend = "..."`.
    Backend(Backend),
    /// `public-keys = [...]`: the keys runners trust (also in flake.nix's nixConfig).
    PublicKeys(Vec<String>),
}

impl Change {
    /// The key, and the value as TOML writes it.
    pub fn key_value(&self) -> (&'static str, String) {
        match self {
            Change::Version(n) => ("version", n.to_string()),
            Change::Backend(backend) => ("backend", format!("\"{}\"", backend.as_str())),
            Change::PublicKeys(keys) => ("public-keys", format!("[{}]", quoted(keys, ", "))),
        }
    }

    fn apply_to(&self, config: &mut Config) {
        match self {
            Change::Version(n) => config.version = *n,
            Change::Backend(backend) => config.backend = *backend,
            Change::PublicKeys(keys) => config.public_keys = keys.clone(),
        }
    }
}

/// Each key in double quotes (a public key is `NAME:BASE64`: nothing to escape), joined by `sep`.
fn quoted(keys: &[String], sep: &str) -> String {
    keys.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(sep)
}

/// flake.nix with its nixConfig's `extra-trusted-public-keys = [ … ];` listing `keys`; `None`
/// when it has no such line (the maintainer adds it: `doctor` says so).
pub fn flake_keys(text: &str, keys: &[String]) -> Option<String> {
    let start = text.find("extra-trusted-public-keys = [")? + "extra-trusted-public-keys = [".len();
    let end = start + text[start..].find("];")?;
    let mut text = text.to_owned();
    text.replace_range(start..end, &format!(" {} ", quoted(keys, " ")));
    Some(text)
}

/// The config after `change`, and the root manifest's new text.
pub fn apply(root: &Path, config: &Config, change: &Change) -> Result<(Config, String)> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let changed_text = edit(&text, change).with_context(|| format!("cannot change {}", path.display()))?;
    let mut changed = config.clone();
    change.apply_to(&mut changed);
    // The text must still describe the config the tasks will use.
    let reread = Config::from_manifest(&changed_text)?;
    ensure!(
        (reread.version, reread.backend, &reread.public_keys)
            == (changed.version, changed.backend, &changed.public_keys),
        "the changed {} does not read back as the change: nothing was written",
        path.display()
    );
    Ok((changed, changed_text))
}

/// Replaces the changed value where the parser found it (`public-keys`, when absent, is added
/// as the table's first key).
fn edit(text: &str, change: &Change) -> Result<String> {
    let doc = DeTable::parse(text).context("it is not valid TOML")?;
    let table = ["workspace", "metadata", "cache"]
        .iter()
        .try_fold(doc.get_ref(), |table, name| table.get(*name)?.get_ref().as_table())
        .with_context(|| format!("it has no {TABLE} table"))?;
    let (key, value) = change.key_value();
    let mut text = text.to_owned();
    match (table.get(key), change) {
        (Some(item), _) => text.replace_range(item.span(), &value),
        (None, Change::PublicKeys(_)) => {
            let header = format!("{TABLE}\n");
            let at = text.find(&header).with_context(|| format!("{TABLE} is not on a line of its own"))? + header.len();
            text.insert_str(at, &format!("{key} = {value}\n"));
        }
        (None, _) => anyhow::bail!("{TABLE} has no `{key}`"),
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_replaces_the_value_alone() {
        let text = "[workspace.metadata.cache]\n# the version\nversion = 7 # bump me\nbackend   =   \"cachix\"\n";
        let changed = edit(&edit(text, &Change::Version(8)).unwrap(), &Change::Backend(Backend::ActionsCache)).unwrap();
        assert_eq!(
            changed,
            "[workspace.metadata.cache]\n# the version\nversion = 8 # bump me\nbackend   =   \"actions-cache\"\n"
        );
        assert!(edit("[workspace]\n", &Change::Version(2))
            .unwrap_err()
            .to_string()
            .contains("no [workspace.metadata.cache]"));
    }

    #[test]
    fn public_keys_are_replaced_or_added_and_flake_nix_lists_them() {
        let keys = vec!["a-1:x".to_owned(), "a-2:y".to_owned()];
        let text = "[workspace.metadata.cache]\npublic-keys = [\"a-1:x\"] # trusted\nversion = 1\n";
        let want = "[workspace.metadata.cache]\npublic-keys = [\"a-1:x\", \"a-2:y\"] # trusted\nversion = 1\n";
        assert_eq!(edit(text, &Change::PublicKeys(keys.clone())).unwrap(), want);
        let added = edit("[workspace.metadata.cache]\nversion = 1\n", &Change::PublicKeys(keys.clone())).unwrap();
        assert_eq!(added, "[workspace.metadata.cache]\npublic-keys = [\"a-1:x\", \"a-2:y\"]\nversion = 1\n");
        let flake = "  nixConfig = {\n    extra-trusted-public-keys = [ \"a-1:x\" ];\n  };\n";
        assert_eq!(
            flake_keys(flake, &keys).unwrap(),
            "  nixConfig = {\n    extra-trusted-public-keys = [ \"a-1:x\" \"a-2:y\" ];\n  };\n"
        );
        assert_eq!(flake_keys("{ }", &keys), None);
    }
}

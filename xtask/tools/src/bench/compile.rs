//! The cold compile of the binary CI jobs run (`xtask`: what the first job of a pipeline whose
//! xtask changed pays), as a ratio to a floor crate of the design's crates with the xtask's
//! features built in turn with it, so the number means the same on a fast machine and a slow one.

use std::path::Path;

use anyhow::{Context, Result};
use toml::{de::DeTable, Spanned};
use xshell::{cmd, Shell};

use super::{in_turn, timed};

/// What `cargo xtask` runs before a CI job's first task: a build of the binary CI jobs run, with
/// its own profile.
pub const COMPILE: &str = "cargo build --package xtask --bin xtask --profile xtask --locked --offline";

/// The floor crate's manifest: the xtask's specs of the design's crates (the inherited ones read
/// from `[workspace.dependencies]`), built with the xtask profile's settings.
fn floor_manifest(xtask_manifest: &str, workspace_manifest: &str) -> Result<String> {
    let doc = DeTable::parse(xtask_manifest).context("xtask/Cargo.toml is not TOML")?;
    let workspace = DeTable::parse(workspace_manifest).context("Cargo.toml is not TOML")?;
    let deps = table(&doc, &["dependencies"]).context("xtask/Cargo.toml has no [dependencies]")?;
    let shared = table(&workspace, &["workspace", "dependencies"]).cloned().unwrap_or_default();
    let mut manifest =
        String::from("[package]\nname = \"floor\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\n");
    for name in FLOOR {
        let spec = deps.get(name).with_context(|| format!("xtask/Cargo.toml lacks {name}"))?;
        let inherited = spec.get_ref().as_table().and_then(|t| t.get("workspace")?.get_ref().as_bool()) == Some(true);
        // The spec as written: sliced from the manifest it is in.
        let (text, spec) = match inherited {
            true => (
                workspace_manifest,
                shared.get(name).with_context(|| format!("Cargo.toml's [workspace.dependencies] lacks {name}"))?,
            ),
            false => (xtask_manifest, spec),
        };
        manifest += &format!("{name} = {}\n", text[spec.span()].trim());
    }
    manifest += "\n[profile.dev]\ndebug = 0\nincremental = false\n";
    Ok(manifest)
}

/// The crates the design names, which any xtask of this shape builds.
const FLOOR: [&str; 7] = ["anyhow", "clap", "duct", "serde", "serde_json", "sha2", "xshell"];

/// The table at `path` of a document.
fn table<'d, 'i>(doc: &'d Spanned<DeTable<'i>>, path: &[&str]) -> Option<&'d DeTable<'i>> {
    path.iter().try_fold(doc.get_ref(), |table, name| table.get(*name)?.get_ref().as_table())
}

/// The xtask's and the floor's cold builds, in seconds, one after the other (the floor first when
/// `floor_first`), each into an empty target directory.
pub fn measure(sh: &Shell, root: &Path, dir: &Path, floor_first: bool) -> Result<(f64, f64)> {
    let floor = dir.join("floor");
    sh.create_dir(floor.join("src"))?;
    let manifest =
        floor_manifest(&sh.read_file(root.join("xtask/Cargo.toml"))?, &sh.read_file(root.join("Cargo.toml"))?)?;
    sh.write_file(floor.join("Cargo.toml"), manifest)?;
    sh.write_file(floor.join("src/main.rs"), "fn main() {}\n")?;
    // The workspace's lock file pins the floor to the same versions.
    sh.copy_file(root.join("Cargo.lock"), floor.join("Cargo.lock"))?;
    let target = dir.join("target");
    let build = |dir: &Path, args: Vec<&str>, what: &str| -> Result<f64> {
        let _dir = sh.push_dir(dir);
        let time = timed(|| Ok(cmd!(sh, "cargo {args...} --target-dir {target}").quiet().ignore_stderr().run()?))
            .with_context(|| format!("{what}'s build failed"))?;
        let _ = std::fs::remove_dir_all(&target);
        Ok(time)
    };
    in_turn(
        floor_first,
        || build(root, COMPILE.split(' ').skip(1).collect(), "the xtask"),
        || build(&floor, vec!["build", "--offline"], "the floor crate"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_takes_the_xtask_s_versions_and_features_from_either_manifest() {
        let xtask = "[dependencies]\nanyhow.workspace = true\nclap = { workspace = true }\nxshell = \"0.2.7\"\n\
            duct = \"1\"\nserde.workspace = true\nserde_json.workspace = true\nsha2 = \"0.10\"\n";
        let workspace =
            "[workspace.dependencies]\nanyhow = \"1.0.1\"\nclap = { version = \"4\", features = [\"derive\"] }\n\
            serde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\n";
        let manifest = floor_manifest(xtask, workspace).unwrap();
        for line in [
            "anyhow = \"1.0.1\"",
            "clap = { version = \"4\", features = [\"derive\"] }",
            "serde = { version = \"1\", features = [\"derive\"] }",
            "sha2 = \"0.10\"",
            "xshell = \"0.2.7\"",
        ] {
            assert!(manifest.lines().any(|l| l == line), "{line} in\n{manifest}");
        }
        let err = floor_manifest(xtask, "[workspace]\n").unwrap_err().to_string();
        assert!(err.contains("[workspace.dependencies] lacks anyhow"), "{err}");
    }
}

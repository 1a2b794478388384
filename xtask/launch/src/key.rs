//! The key of a kept binary: SHA-256 over everything that shapes it. Every file under `xtask/`
//! but its tests, this launcher, `xtask/tools` for the `xtask` binary and the target directory (a
//! module directory named `target` is a source like any other), the workspace's manifest, lock
//! and toolchain files, cargo's configs, the environment cargo and rustc read (`RUSTFLAGS`,
//! `CARGO_PROFILE_*`, …), and `cargo -vV` and `rustc -vV`.

use std::{
    ffi::OsString,
    fs, io,
    path::{Path, PathBuf},
    process::Command,
};

use hmac_sha256::Hash;

/// The environment that changes what cargo builds: exact names, then prefixes.
const SHAPING: [&str; 8] = [
    "RUSTFLAGS",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_BOOTSTRAP",
    "RUSTUP_TOOLCHAIN",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_INCREMENTAL",
];
const SHAPING_PREFIXES: [&str; 4] = ["CARGO_BUILD_", "CARGO_PROFILE_", "CARGO_TARGET_", "CARGO_UNSTABLE_"];

/// Files beside the xtask's own that shape it.
const WORKSPACE_FILES: [&str; 4] = ["Cargo.lock", "Cargo.toml", "rust-toolchain", "rust-toolchain.toml"];

/// The key, 64 hex digits, of `binary` (`xtask` or `xtask-tools`) built from the checkout at
/// `root` into `target`, in the environment `vars` (the process's).
pub fn key(
    root: &Path,
    target: &Path,
    cargo: &OsString,
    binary: &str,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> io::Result<String> {
    let vars: Vec<(OsString, OsString)> = vars.into_iter().collect();
    let var = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| PathBuf::from(v));
    let cargo_home = var("CARGO_HOME").or_else(|| var("HOME").map(|home| home.join(".cargo")));
    let mut files = Vec::new();
    let skipped = |path: &Path| {
        path == target
            || path == root.join("xtask/tests")
            || path == root.join("xtask/launch")
            || (binary == "xtask" && path == root.join("xtask/tools"))
    };
    walk(&root.join("xtask"), &mut files, &|path| !skipped(path))?;
    files.extend(WORKSPACE_FILES.map(|f| root.join(f)).into_iter().filter(|p| p.is_file()));
    files.sort();
    // Cargo runs in the checkout (`--manifest-path`, from the directory `cargo xtask` ran in,
    // which is inside it) and reads the configs of `.cargo/` there and in every directory above
    // (`rustflags` in a parent directory's config shapes the binary), and cargo's home's.
    let configs = root.ancestors().map(|dir| dir.join(".cargo")).chain(cargo_home);
    files.extend(configs.flat_map(|dir| [dir.join("config.toml"), dir.join("config")]).filter(|p| p.is_file()));
    let mut hash = Hash::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    for file in &files {
        field(file.strip_prefix(root).unwrap_or(file).as_os_str().as_encoded_bytes());
        field(&fs::read(file)?);
    }
    let mut shaping: Vec<(String, OsString)> = vars
        .into_iter()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value)))
        .filter(|(name, _)| {
            SHAPING.contains(&name.as_str())
                || (SHAPING_PREFIXES.iter().any(|p| name.starts_with(p)) && name != "CARGO_TARGET_DIR")
        })
        .collect();
    shaping.sort();
    for (name, value) in &shaping {
        field(name.as_bytes());
        field(value.as_encoded_bytes());
    }
    field(binary.as_bytes());
    field(&Command::new(cargo).arg("-vV").output()?.stdout);
    let rustc = shaping.iter().find(|(n, _)| n == "RUSTC").map_or_else(|| "rustc".into(), |(_, v)| v.clone());
    field(&Command::new(rustc).arg("-vV").output().map(|o| o.stdout).unwrap_or_default());
    Ok(hex(&hash.finalize()))
}

/// The SHA-256 of a file, in hex.
pub fn file_hash(path: &Path) -> io::Result<String> {
    Ok(hex(&Hash::hash(&fs::read(path)?)))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, enter: &dyn Fn(&Path) -> bool) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        match (entry.file_type()?.is_dir(), entry.path()) {
            (true, path) if enter(&path) => walk(&path, files, enter)?,
            (true, _) => {}
            (false, path) => files.push(path),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env;

    fn write(root: &Path, file: &str, text: &str) {
        let path = root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A kept binary is run only for the sources it was built from: every file the xtask is built
    /// from changes the key, a module directory named `target` included; its tests, this
    /// launcher, the target directory and a checkout's new times do not.
    #[test]
    fn the_key_follows_the_sources_not_their_times() {
        let above = env::temp_dir().join(format!("xtask-launch-key-{}", std::process::id()));
        let root = above.join("checkout");
        let _ = fs::remove_dir_all(&above);
        for file in [
            "xtask/src/main.rs",
            "xtask/other/src/lib.rs",
            "xtask/tests/it/main.rs",
            "xtask/launch/src/main.rs",
            "xtask/target/debug/old",
        ] {
            write(&root, file, "fn main() {}\n");
        }
        write(&root, "Cargo.toml", "[workspace]\n");
        write(&root, "Cargo.lock", "version = 4\n");
        let (cargo, target) = (OsString::from("cargo"), root.join("xtask/target"));
        let home = [(OsString::from("CARGO_HOME"), above.join("cargo-home").into_os_string())];
        let with = |vars: &[(&str, &str)]| {
            let vars = vars.iter().map(|(n, v)| (OsString::from(n), OsString::from(v))).chain(home.clone());
            key(&root, &target, &cargo, "xtask", vars).unwrap()
        };
        let key = || with(&[]);
        let first = key();
        assert_eq!(first.len(), 64);

        // A fresh checkout: the same contents, new modification times.
        let main = root.join("xtask/src/main.rs");
        fs::write(&main, fs::read(&main).unwrap()).unwrap();
        assert_eq!(key(), first);
        for file in ["xtask/tests/it/main.rs", "xtask/launch/src/main.rs", "xtask/target/debug/new"] {
            write(&root, file, "fn main() { changed() }\n");
            assert_eq!(key(), first, "{file} is not built into the xtask");
        }

        let mut keys = vec![first];
        for (file, text) in [
            ("xtask/src/main.rs", "fn main() { changed() }\n"),
            ("xtask/src/new.rs", "\n"),
            ("xtask/src/target/mod.rs", "\n"),
            ("xtask/other/src/lib.rs", "\n"),
            ("Cargo.lock", "version = 4\n# another dependency\n"),
            ("Cargo.toml", "[workspace]\nmembers = []\n"),
            (".cargo/config.toml", "[build]\n"),
            ("rust-toolchain.toml", "[toolchain]\n"),
            // Cargo reads the configs above the checkout, and its home's.
            ("../.cargo/config.toml", "[build]\nrustflags = [\"-Cdebug-assertions\"]\n"),
            ("../cargo-home/config.toml", "[build]\nrustflags = [\"-Coverflow-checks=off\"]\n"),
        ] {
            write(&root, file, text);
            let next = key();
            assert!(!keys.contains(&next), "a change to {file} must change the key");
            keys.push(next);
        }
        // The same bytes under another name are another source.
        fs::rename(root.join("xtask/src/new.rs"), root.join("xtask/src/renamed.rs")).unwrap();
        assert!(!keys.contains(&key()), "a renamed file must change the key");
        // What cargo reads from the environment shapes the binary too; where it builds does not.
        let plain = key();
        for vars in [[("RUSTFLAGS", "-C target-cpu=native")], [("CARGO_PROFILE_XTASK_OPT_LEVEL", "3")]] {
            assert_ne!(with(&vars), plain, "{vars:?} shapes the binary");
        }
        assert_eq!(with(&[("CARGO_TARGET_DIR", "/elsewhere"), ("HOME", "/x")]), plain);
        fs::remove_dir_all(&above).unwrap();
    }
}
